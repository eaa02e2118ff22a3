'use strict'
// Transaction ids and slots (docs/compatibility.md, "Transaction ids and slots")
// Duplicate live tids after a wraparound are a deliberate difference (differences.test.js); here every tid that the
// counter hands out is free, so both implementations must agree.
const { differential } = require('./harness')

const tb = tid => Buffer.from([tid >> 8, tid & 255])

differential('tids: 1, 2, 3...; _tick preset to 0x1233 and 65534; wrap to 1 (0 is never used)', async (RPC, t) => {
  const peer = await t.peer('remote')
  const r = t.rpc({ timeout: 100000 })
  const p = { host: '127.0.0.1', port: peer.port }
  for (let i = 0; i < 3; i++) {
    t.call('query', () => r.query(p, { q: 'x' }))
    await peer.recv()
  }
  t.state('after 3', r, ['inflight', '_tick', '_ids'])
  for (const tid of [1, 2, 3]) r.cancel(tid)
  r._tick = 0x1233
  t.call('query with _tick = 0x1233', () => r.query(p, { q: 'x' }))
  await peer.recv()
  r.cancel(0x1234)
  r._tick = 65534
  t.call('query with _tick = 65534', () => r.query(p, { q: 'x' }))
  await peer.recv()
  t.state('after 65535', r, ['_tick'])
  t.call('query with _tick = 65535 (wraps to 1)', () => r.query(p, { q: 'x' }))
  await peer.recv()
  t.state('after wrap', r, ['inflight', '_tick'])
  t.call('next', () => r.query(p, { q: 'x' }))
  await peer.recv()
  r._tick = 0
  r.cancel(1)
  r.cancel(2)
  t.call('query with _tick reset to 0 (tid 1 is free again)', () => r.query(p, { q: 'x' }))
  await peer.recv()
  t.state('end', r, ['inflight', '_tick'])
  r.destroy()
})

differential('tids: a reply to the tid preset through _tick completes that query', async (RPC, t) => {
  const peer = await t.peer('remote')
  peer.autoReply(m => ({ t: m.t, y: 'r', r: { echo: m.q } }))
  const r = t.rpc({ timeout: 1000 })
  t.watch(r, 'rpc')
  r._tick = 65534
  const cb1 = t.cb('cb 65535')
  t.log('tid', r.query({ host: '127.0.0.1', port: peer.port }, { q: 'a' }, cb1))
  await t.wait(cb1.called)
  const cb2 = t.cb('cb after wrap')
  t.log('tid', r.query({ host: '127.0.0.1', port: peer.port }, { q: 'b' }, cb2))
  await t.wait(cb2.called)
  await t.sleep(10)
  r.destroy()
})

differential('slots: the first free slot is reused; _ids/_reqs never shrink; _reqs[i] is {ttl, peer, message, callback}', async (RPC, t) => {
  const r = t.rpc({ timeout: 100000 })
  r.socket.send = function () {} // bookkeeping only: nothing leaves the process
  const peers = [0, 1, 2].map(i => t.name({ host: '127.0.0.1', port: 9, i }, 'peer' + i))
  const cbs = [0, 1, 2].map(i => t.cb('cb' + i))
  const tids = peers.map((p, i) => r.query(p, { q: 'q' + i, a: { i } }, cbs[i]))
  t.log('tids', tids)
  t.log('_ids', r._ids)
  t.log('_reqs', r._reqs.map(q => q && { keys: Object.keys(q), ttl: q.ttl, peer: q.peer, message: q.message, callbackIsCb: q.callback === cbs[r._reqs.indexOf(q)] }))
  r.cancel(tids[0])
  t.log('_ids after cancel of the first', r._ids, r._reqs.map(q => q && q.peer))
  const p3 = t.name({ host: '127.0.0.1', port: 9, i: 3 }, 'peer3')
  t.log('new query tid', r.query(p3, { q: 'q3' }, t.cb('cb3')))
  t.log('_ids after a new query (slot 0 reused)', r._ids, r._reqs.map(q => q && q.peer))
  for (let i = 0; i < 20; i++) r.query(p3, { q: 'more' })
  t.log('lengths after 23 in flight', r._ids.length, r._reqs.length, r.inflight)
  for (const id of r._ids.slice()) r.cancel(id)
  t.log('lengths after cancelling everything', r._ids.length, r._reqs.length, r.inflight, r._ids.every(x => x === 0), r._reqs.every(x => x === null))
  t.state('end', r)
  r.destroy()
})

differential('slots: a third party replacing _reqs[i].peer changes the peer reported by a timeout', async (RPC, t) => {
  const r = t.rpc({ timeout: 40 })
  r.socket.send = function () {}
  const original = t.name({ host: '127.0.0.1', port: 9 }, 'original')
  const replacement = t.name({ host: '127.0.0.1', port: 9, replaced: true }, 'replacement')
  const cb = t.cb('timeout cb')
  r.query(original, { q: 'x' }, cb)
  const idx = r._ids.indexOf(1)
  t.log('slot', idx, 'peer is the original', r._reqs[idx] && r._reqs[idx].peer === original)
  if (r._reqs[idx]) r._reqs[idx].peer = replacement
  await t.wait(cb.called, 1000)
  r.destroy()
})

differential('tids: t longer than 2 bytes matches on its first two bytes', async (RPC, t) => {
  const peer = await t.peer('remote')
  const r = t.rpc({ timeout: 1000 })
  t.watch(r, 'rpc')
  await new Promise(resolve => r.bind(0, '127.0.0.1', resolve))
  const cb = t.cb('cb')
  const tid = r.query({ host: '127.0.0.1', port: peer.port }, { q: 'ping', a: {} }, cb)
  await peer.recv()
  await peer.send({ t: Buffer.concat([tb(tid), Buffer.from([0xff, 0xff])]), y: 'r', r: {} }, r.address().port)
  await t.wait(cb.called)
  await t.sleep(10)
  r.destroy()
})
