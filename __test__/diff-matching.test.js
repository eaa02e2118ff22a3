'use strict'
// Reply matching and the exact event transcript (docs/compatibility.md: "Callbacks and events", "What
// happens to each received datagram")
const { differential } = require('./harness')

const tb = tid => Buffer.from([tid >> 8, tid & 255])

// A client bound on 127.0.0.1 with every event recorded, plus the remote peer it queries.
async function setup (t, opts = { timeout: 1000 }) {
  const peer = await t.peer('remote')
  const r = t.rpc(opts)
  t.watch(r, 'client')
  await new Promise(resolve => r.bind(0, '127.0.0.1', resolve))
  const port = r.address().port
  t.namePort(port, 'client')
  return { peer, r, port, p: { host: '127.0.0.1', port: peer.port } }
}

differential('success: query/response between two instances; callback, update, postupdate, response in that order', async (RPC, t) => {
  const server = t.rpc()
  t.watch(server, 'server')
  server.on('query', (q, rinfo) => {
    t.log('server rinfo keys', Object.keys(rinfo), 'typeof q.q', Buffer.isBuffer(q.q) ? 'Buffer' : typeof q.q)
    server.response(rinfo, q, { hello: 42, s: 'str', id: Buffer.alloc(20, 1) }, t.cb('server response send cb'))
  })
  t.call('server.bind(0, 127.0.0.1, cb)', () => server.bind(0, '127.0.0.1', t.cb('server bind cb', { recordThis: false, onCall () { t.log('bind cb this === server.socket', this === server.socket) } })))
  await new Promise(resolve => server.once('listening', () => setImmediate(resolve)))
  t.namePort(server.address().port, 'server')
  t.log('server.address()', server.address())
  const client = t.rpc()
  t.watch(client, 'client')
  const peer = t.name({ host: '127.0.0.1', port: server.address().port }, 'peer')
  const cb = t.cb('client cb', { inflightOf: client })
  t.state('before query', client, ['inflight'])
  t.call('query', () => client.query(peer, { q: 'hello_world', a: { hej: 10 }, extra: 'ignored' }, cb))
  t.state('after query', client, ['inflight', '_ids'])
  await t.wait(cb.called)
  await t.sleep(20)
  t.log('after: _ids/_reqs', client._ids, client._reqs)
  const done = []
  client.destroy(function () { done.push('client'); t.log('client destroy cb', arguments.length) })
  server.destroy(function () { done.push('server'); t.log('server destroy cb', arguments.length) })
  t.state('destroyed (sync)', client, ['destroyed'])
  await t.sleep(30)
})

differential('parallel queries: replies matched by tid, not by order (k-rpc-socket test.js #2)', async (RPC, t) => {
  const { peer, r, p } = await setup(t)
  const cb1 = t.cb('cb1', { inflightOf: r })
  const cb2 = t.cb('cb2', { inflightOf: r })
  r.query(p, { q: 'echo', a: 1 }, cb1)
  r.query(p, { q: 'echo', a: 2 }, cb2)
  t.state('two in flight', r, ['inflight'])
  const m1 = await peer.recv()
  const m2 = await peer.recv()
  // answer the second query first
  await peer.inject({ t: m2.msg.t, y: 'r', r: { echo: m2.msg.a } }, r.address().port)
  await peer.inject({ t: m1.msg.t, y: 'r', r: { echo: m1.msg.a } }, r.address().port)
  await t.wait(Promise.all([cb1.called, cb2.called]))
})

differential('unknown tid, tid 0, non-Buffer t, short t (steps 4.1 to 4.3)', async (RPC, t) => {
  const { peer, r, port } = await setup(t)
  await peer.inject({ t: tb(0x999), y: 'r', r: { id: Buffer.from('x') } }, port) // Unexpected transaction id: 2457
  await peer.inject({ t: tb(0), y: 'r', r: {} }, port)
  await peer.inject({ t: tb(0x102), y: 'e', e: [201, 'x'] }, port) // error reply with unknown tid: response + warning
  await peer.inject({ t: 1, y: 'r', r: {} }, port) // dropped silently
  await peer.inject({ y: 'r', r: {} }, port) // dropped silently
  await peer.inject({ t: [1], y: 'r' }, port) // dropped silently
  await peer.inject({ y: 'e', t: 5 }, port) // dropped silently
  await peer.inject({ t: Buffer.from([1]), y: 'r', r: {} }, port) // RangeError warning
  await peer.inject({ t: Buffer.alloc(0), y: 'e', e: [201, 'x'] }, port) // RangeError warning
  await peer.inject('d1:y1:re', port) // no t: dropped
  t.state('end', r, ['inflight'])
})

differential('out of order: reply from another IP keeps the request pending; another port of the right IP is accepted; duplicate reply', async (RPC, t) => {
  const { peer, r, port, p } = await setup(t)
  const other = await t.peer('other-ip', { address: '127.0.0.2' })
  const samehost = await t.peer('same-ip-other-port')
  const cb = t.cb('cb', { inflightOf: r })
  const tid = r.query(p, { q: 'ping', a: {} }, cb)
  await peer.recv()
  await other.inject({ t: tb(tid), y: 'r', r: { from: '127.0.0.2' } }, port, '127.0.0.1')
  t.state('after out-of-order reply', r, ['inflight', '_ids'])
  await samehost.inject({ t: tb(tid), y: 'r', r: { from: 'other port' } }, port)
  await samehost.inject({ t: tb(tid), y: 'r', r: { from: 'dup' } }, port)
  t.state('end', r, ['inflight', '_ids'])
})

differential('y coercion: y as list [r] is a reply; [q,x] is "Unknown type: q,x"; error reply emits no response event', async (RPC, t) => {
  const { peer, r, port, p } = await setup(t)
  const cb = t.cb('cb list-y')
  const tid = r.query(p, { q: 'ping' }, cb)
  await peer.recv()
  await peer.inject({ t: tb(tid), y: ['r'], r: {} }, port)
  await peer.inject({ t: tb(1), y: ['q', 'x'] }, port)
  const cb2 = t.cb('cb dict-y')
  r.query(p, { q: 'ping' }, cb2)
  await peer.recv()
  await peer.inject({ t: tb(2), y: { r: 1 } }, port) // "[object Object]"
  await peer.inject({ t: tb(2), y: 0 }, port) // Unknown type: 0
  await peer.inject({ t: tb(2), y: '' }, port) // Unknown type: (empty)
  await peer.inject({ t: tb(2), y: 'e', e: ['yes'] }, port)
  await t.wait(cb2.called)
})

differential('reply with trailing garbage after the dict is accepted', async (RPC, t) => {
  const { peer, r, port, p } = await setup(t)
  const cb = t.cb('cb')
  const tid = r.query(p, { q: 'ping' }, cb)
  await peer.recv()
  await peer.inject(Buffer.concat([Buffer.from('d1:rd2:oki1ee1:t2:'), tb(tid), Buffer.from('1:y1:reGARBAGE')]), port)
  await t.wait(cb.called)
})

differential('reply to a peer with address != host: sent to address, matched against host (times out)', async (RPC, t) => {
  const { peer, r } = await setup(t, { timeout: 100 })
  peer.autoReply(m => ({ t: m.t, y: 'r', r: { ok: 1 } }))
  const target = t.name({ host: '127.0.0.9', address: '127.0.0.1', port: peer.port }, 'peer')
  const cb = t.cb('cb')
  r.query(target, { q: 'y' }, cb)
  await t.wait(cb.called, 1000)
})

differential('listener and callback exceptions escape as uncaught exceptions; the slot is already freed', async (RPC, t) => {
  const { peer, r, port, p } = await setup(t)
  r.on('query', () => { throw new Error('thrown by a query listener') })
  await peer.inject({ t: 'aa', y: 'q', q: 'ping' }, port)
  const cb = t.cb('throwing cb', { onCall: () => { throw new Error('thrown from query callback') } })
  const tid = r.query(p, { q: 'ping' }, cb)
  await peer.recv()
  await peer.inject({ t: tb(tid), y: 'r', r: {} }, port)
  t.state('after', r, ['inflight', '_ids'])
  // the instance still works afterwards
  const cb2 = t.cb('cb2')
  const tid2 = r.query(p, { q: 'ping' }, cb2)
  await peer.recv()
  await peer.inject({ t: tb(tid2), y: 'r', r: {} }, port)
  await t.wait(cb2.called)
})
