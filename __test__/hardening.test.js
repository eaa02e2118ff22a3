'use strict'
// Opt-in hardening (README "Hardening"): off by default, so the defaults stay drop-in.
const test = require('node:test')
const assert = require('node:assert')
const dgram = require('dgram')
const RPC = require('..')

function rawSocket (address = '127.0.0.1') {
  return new Promise(resolve => {
    const s = dgram.createSocket('udp4')
    s.bind(0, address, () => resolve(s))
  })
}
const tick = ms => new Promise(resolve => setTimeout(resolve, ms))
const reply = (tid, extra = '') => Buffer.concat([Buffer.from('d1:rd2:id1:xe1:t2:'), tid, Buffer.from(extra + '1:y1:re')])

test('matchPort: a reply from the queried IP but another port is out of order; from the queried port it completes', async () => {
  const peer = await rawSocket()
  const impostor = await rawSocket()
  const rpc = RPC({ matchPort: true, timeout: 1000 })
  const warnings = []
  rpc.on('warning', e => warnings.push(e.message))
  const done = new Promise(resolve => {
    rpc.query({ host: '127.0.0.1', port: peer.address().port }, { q: 'ping' }, (err, res) => resolve([err, res]))
  })
  const [query] = await new Promise(resolve => peer.once('message', (...a) => resolve(a)))
  const from = rpc.address().port
  const tid = query.subarray(query.indexOf('1:t2:') + 5, query.indexOf('1:t2:') + 7)
  impostor.send(reply(tid), from, '127.0.0.1')
  await tick(50)
  assert.deepStrictEqual(warnings, ['Out of order response'])
  assert.strictEqual(rpc.inflight, 1, 'still pending')
  peer.send(reply(tid), from, '127.0.0.1')
  const [err, res] = await done
  assert.strictEqual(err, null)
  assert.strictEqual(res.r.id.toString(), 'x')
  assert.strictEqual(rpc.stats().wrongSource, 1)
  rpc.destroy(); peer.close(); impostor.close()
})

test('default (no matchPort): a reply from another port of the queried IP completes, as in k-rpc-socket', async () => {
  const peer = await rawSocket()
  const other = await rawSocket()
  const rpc = RPC({ timeout: 1000 })
  const done = new Promise(resolve => rpc.query({ host: '127.0.0.1', port: peer.address().port }, { q: 'ping' }, (err) => resolve(err)))
  const [query] = await new Promise(resolve => peer.once('message', (...a) => resolve(a)))
  const tid = query.subarray(query.indexOf('1:t2:') + 5, query.indexOf('1:t2:') + 7)
  other.send(reply(tid), rpc.address().port, '127.0.0.1')
  assert.strictEqual(await done, null)
  rpc.destroy(); peer.close(); other.close()
})

test('maxInflight: queries beyond the cap fail with ETOOMANYQUERIES (3 args, then update/postupdate), the others proceed', async () => {
  const peer = await rawSocket()
  const rpc = RPC({ maxInflight: 2, timeout: 100000 })
  const events = []
  rpc.on('update', () => events.push('update'))
  const peerInfo = { host: '127.0.0.1', port: peer.address().port }
  assert.strictEqual(typeof rpc.query(peerInfo, { q: 'a' }), 'number')
  assert.strictEqual(typeof rpc.query(peerInfo, { q: 'b' }), 'number')
  const args = await new Promise(resolve => {
    assert.strictEqual(rpc.query(peerInfo, { q: 'c' }, (...a) => resolve(a)), undefined)
  })
  assert.strictEqual(args.length, 3)
  assert.strictEqual(args[0].code, 'ETOOMANYQUERIES')
  assert.strictEqual(args[2], peerInfo)
  assert.strictEqual(rpc.inflight, 2)
  assert.deepStrictEqual(events, ['update'])
  rpc.destroy(); peer.close()
})

test('rateLimit: a source over the limit is dropped before decoding and counted; other sources are unaffected', async () => {
  const rpc = RPC({ rateLimit: { perSecond: 5, windowMs: 1000, blockMs: 60000 } })
  await new Promise(resolve => rpc.bind(0, '127.0.0.1', resolve))
  const port = rpc.address().port
  let queries = 0
  rpc.on('query', () => queries++)
  const flooder = await rawSocket()
  const polite = await rawSocket('127.0.0.2') // the limit is per source IP
  for (let i = 0; i < 100; i++) flooder.send(Buffer.from('d1:y1:qe'), port, '127.0.0.1')
  await tick(100)
  polite.send(Buffer.from('d1:y1:qe'), port, '127.0.0.1')
  await tick(50)
  const stats = rpc.stats()
  assert.strictEqual(queries, 6, '5 from the flooder, 1 from the polite source')
  assert.strictEqual(stats.rateLimited, 95)
  assert.strictEqual(stats.datagramsIn, 101)
  rpc.destroy(); flooder.close(); polite.close()
})

test('defaults: no rate limit (a burst of 100 from one source is all delivered)', async () => {
  const rpc = RPC()
  await new Promise(resolve => rpc.bind(0, '127.0.0.1', resolve))
  let queries = 0
  rpc.on('query', () => queries++)
  const s = await rawSocket()
  for (let i = 0; i < 100; i++) s.send(Buffer.from('d1:y1:qe'), rpc.address().port, '127.0.0.1')
  await tick(100)
  assert.strictEqual(queries, 100)
  assert.strictEqual(rpc.stats().rateLimited, 0)
  rpc.destroy(); s.close()
})
