// usage: node probe.js <impl: ref|ours> <shape> <n> [warm]
// Sends one datagram (after optional warm-up) to a k-rpc-socket and prints the events.
const path = require('path')
const dgram = require('dgram')
const WT = require('path').join(__dirname, '..', '..')
const [impl, shape, nStr, warmStr] = process.argv.slice(2)
const RPC = impl === 'ref' ? require(path.join(WT, 'node_modules/k-rpc-socket')) : require(WT)
const shapes = require('./shapes')
const n = Number(nStr)
const warm = Number(warmStr || 0)
const rpc = RPC({ timeout: 100000 })
const peer = dgram.createSocket('udp4')
const events = []
rpc.on('warning', e => events.push('warning ' + e.constructor.name + ': ' + e.message))
rpc.on('query', m => events.push('query'))
rpc.on('response', m => events.push('response'))
let total = 0
rpc.bind(0, '127.0.0.1', () => {
  peer.bind(0, '127.0.0.1', async () => {
    const port = rpc.address().port
    const send = b => new Promise(r => peer.send(b, port, '127.0.0.1', r))
    let inflight = null
    if (shape.startsWith('reply')) {
      // a query in flight to the peer, whose tid we learn from the wire
      peer.once('message', m => { inflight = m })
      rpc.query({ host: '127.0.0.1', port: peer.address().port }, { q: 'ping', a: {} }, (err, res) => { events.push('callback ' + (err ? err.message : 'ok')) })
      while (!inflight) await new Promise(r => setTimeout(r, 5))
    }
    const tid = inflight ? inflight.subarray(inflight.indexOf('1:t2:') + 5, inflight.indexOf('1:t2:') + 7) : null
    const W = process.env.WARMSHAPE || 'same'
    const id = 'x'.repeat(20)
    const warmBufs = W === 'dht'
      ? ['d1:ad2:id20:' + id + '6:target20:' + id + 'e1:q9:find_node1:t2:aa1:y1:qe', 'd1:rd2:id20:' + id + '5:nodes26:' + 'n'.repeat(26) + '6:valuesl6:abcdef6:abcdefee1:t2:zz1:y1:re', 'd1:ad2:id20:' + id + '9:info_hash20:' + id + 'e1:q9:get_peers1:t2:ab1:y1:qe'].map(s => Buffer.from(s))
      : [Buffer.from(shapes.make(W === 'same' ? shape.replace(/^reply/, 'unexp') : W, Number(process.env.WARMN || 100), Buffer.from('zz')))]
    const warmBuf = warmBufs[0]
    for (let i = 0; i < warm; i++) { await send(warmBufs[i % warmBufs.length]); if (i % 50 === 0) await new Promise(r => setTimeout(r, 1)) }
    await new Promise(r => setTimeout(r, 50))
    events.length = 0
    await send(Buffer.from(shapes.make(shape, n, tid)))
    await new Promise(r => setTimeout(r, 100))
    console.log(JSON.stringify(events))
    rpc.destroy(); peer.close()
  })
})
