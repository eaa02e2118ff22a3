'use strict'
// `maxInflight: { limit, queue }` (added): past `limit` queries sent and unanswered, a query
// waits (FIFO, at most `queue`) instead of failing with ETOOMANYQUERIES. It is registered at
// query() (tid returned, timeout running from there), and sent when the window has room.
const test = require('node:test')
const assert = require('node:assert/strict')
const RPC = require('..')
const { rawSocket, tick } = require('./harness/loopback')
const { rerunOnRuntimePath } = require('./harness/receive-paths')

const tidOf = buf => buf.readUInt16BE(buf.indexOf('1:t2:') + 5)
const reply = tid => { const t = Buffer.alloc(2); t.writeUInt16BE(tid); return Buffer.concat([Buffer.from('d1:rd2:id1:xe1:t2:'), t, Buffer.from('1:y1:re')]) }

test('maxInflight queue: 2 sent, 3 wait in order; each reply sends the next; past the queue ETOOMANYQUERIES', async t => {
  const peer = await rawSocket()
  const rpc = RPC({ maxInflight: { limit: 2, queue: 3 }, timeout: 10000 })
  t.after(() => { rpc.destroy(); peer.close() })
  const seen = []
  peer.on('message', buf => seen.push(tidOf(buf)))
  const target = { host: '127.0.0.1', port: peer.address().port }
  const done = []
  const tids = []
  for (let i = 0; i < 5; i++) tids.push(rpc.query(target, { q: 'ping' }, err => done.push([tids[i], err])))
  const overflow = await new Promise(resolve => assert.equal(rpc.query(target, { q: 'ping' }, (...a) => resolve(a)), undefined))
  assert.equal(overflow[0].code, 'ETOOMANYQUERIES')
  assert.ok(tids.every(tid => typeof tid === 'number'))
  assert.equal(rpc.inflight, 5)
  assert.equal(rpc.queued, 3)
  await tick(50)
  assert.deepEqual(seen, tids.slice(0, 2), 'only the window is on the wire')
  for (let i = 0; i < 5; i++) {
    peer.send(reply(seen[i]), rpc.address().port, '127.0.0.1')
    await tick(30)
  }
  assert.deepEqual(seen, tids, 'the waiting ones left in FIFO order, one per reply')
  assert.deepEqual(done.map(([tid, err]) => [tid, err]), tids.map(tid => [tid, null]))
  assert.equal(rpc.queued, 0)
  assert.equal(rpc.inflight, 0)
})

test('maxInflight queue: cancel() reaches a waiting query (never sent); its timeout runs from query(); destroy() cancels waiting ones', async t => {
  const peer = await rawSocket()
  const rpc = RPC({ maxInflight: { limit: 1, queue: 10 }, timeout: 400 })
  t.after(() => peer.close())
  const seen = []
  peer.on('message', buf => seen.push(tidOf(buf)))
  const target = { host: '127.0.0.1', port: peer.address().port }
  const results = {}
  const q = () => { const tid = rpc.query(target, { q: 'ping' }, err => { results[tid] = err && err.message }); return tid }
  const first = q()
  const second = q()
  const third = q()
  rpc.cancel(second)
  assert.equal(results[second], 'Query was cancelled')
  assert.equal(rpc.queued, 1)
  // Nobody answers: the first times out, then the third is sent; both time out from query().
  const started = Date.now()
  while (!results[third] && Date.now() - started < 3000) await tick(20)
  assert.equal(results[first], 'Query timed out')
  assert.equal(results[third], 'Query timed out', 'the waiting query timed out at the same tick as the first')
  assert.deepEqual(seen, [first], 'the cancelled and the timed-out waiting query were never sent')
  const a = q()
  const b = q()
  rpc.destroy()
  assert.equal(results[a], 'Query was cancelled')
  assert.equal(results[b], 'Query was cancelled')
  await tick(50)
  assert.deepEqual(seen, [first, a])
})

test('maxInflight queue: a waiting query that is cancelled frees its place in the queue at once', async t => {
  const peer = await rawSocket()
  const rpc = RPC({ maxInflight: { limit: 1, queue: 2 }, timeout: 5000 })
  t.after(() => { rpc.destroy(); peer.close() })
  const target = { host: '127.0.0.1', port: peer.address().port }
  const errors = []
  const q = () => rpc.query(target, { q: 'ping' }, err => errors.push(err && (err.code || err.message)))
  q() // sent, never answered
  const w1 = q()
  const w2 = q()
  assert.equal(rpc.queued, 2)
  rpc.cancel(w1)
  rpc.cancel(w2)
  assert.equal(rpc.queued, 0)
  // The sent query is still unanswered, so nothing has pumped the queue: two new queries must
  // still find room (the cancelled entries do not count), the third does not.
  q()
  q()
  q()
  assert.equal(rpc.queued, 2)
  await tick(20)
  assert.deepEqual(errors, ['Query was cancelled', 'Query was cancelled', 'ETOOMANYQUERIES'])
})

rerunOnRuntimePath(__filename)
