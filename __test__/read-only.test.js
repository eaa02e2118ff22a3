'use strict'
// `readOnly: true` (added, BEP 43): outgoing queries carry `ro: 1`, incoming queries are dropped in
// the engine (not answered, not emitted, counted); replies, error replies and timeouts as before.
// Run on Node's loop here, and again in a child process on the runtime thread's receive path.
const test = require('node:test')
const assert = require('node:assert/strict')
const dgram = require('node:dgram')
const RPC = require('..')
const { rawSocket, nextMessage, tick } = require('./harness/loopback')
const { rerunOnRuntimePath } = require('./harness/receive-paths')

const ID = Buffer.alloc(20, 0x61)
const QUERY_IN = Buffer.from('d1:ad2:id20:' + 'b'.repeat(20) + 'e1:q4:ping1:t2:aa1:y1:qe')

const tidOf = buf => buf.subarray(buf.indexOf('1:t2:') + 5, buf.indexOf('1:t2:') + 7)

test('readOnly: a query goes out with the top-level key ro = 1, in bencode key order, and its reply completes it', async () => {
  const peer = await rawSocket()
  const rpc = RPC({ readOnly: true, timeout: 2000 })
  const done = new Promise(resolve => rpc.query({ host: '127.0.0.1', port: peer.address().port }, { q: 'ping', a: { id: ID } }, (...a) => resolve(a)))
  const [buf, from] = await nextMessage(peer)
  const tid = tidOf(buf)
  const expected = Buffer.concat([Buffer.from('d1:ad2:id20:' + 'a'.repeat(20) + 'e1:q4:ping2:roi1e1:t2:'), tid, Buffer.from('1:y1:qe')])
  assert.equal(buf.toString('latin1'), expected.toString('latin1'))
  peer.send(Buffer.concat([Buffer.from('d1:rd2:id1:xe1:t2:'), tid, Buffer.from('1:y1:re')]), from.port, '127.0.0.1')
  const [err, res, rinfo, request] = await done
  assert.equal(err, null)
  assert.equal(res.r.id.toString(), 'x')
  assert.equal(rinfo.port, peer.address().port)
  assert.equal(request.ro, 1)
  assert.equal(rpc.inflight, 0)
  rpc.destroy(); peer.close()
})

test('readOnly: incoming queries are neither emitted nor answered, and are counted; replies, error replies, warnings and timeouts work', async () => {
  const peer = await rawSocket()
  const rpc = RPC({ readOnly: true, timeout: 200 })
  await new Promise(resolve => rpc.bind(0, '127.0.0.1', resolve))
  const port = rpc.address().port
  const queries = []
  const warnings = []
  rpc.on('query', q => queries.push(q))
  rpc.on('warning', e => warnings.push(e.message))
  let answered = 0
  peer.on('message', () => answered++)
  for (let i = 0; i < 5; i++) peer.send(QUERY_IN, port, '127.0.0.1')

  const errored = new Promise(resolve => rpc.query({ host: '127.0.0.1', port: peer.address().port }, { q: 'get_peers' }, (...a) => resolve(a)))
  const [query] = await nextMessage(peer)
  peer.send(Buffer.concat([Buffer.from('d1:eli201e7:Generice1:t2:'), tidOf(query), Buffer.from('1:y1:ee')]), port, '127.0.0.1')
  const [err] = await errored
  assert.equal(err.message, '201 Generic')
  assert.equal(err.code, 201)

  peer.send(Buffer.from('d1:y1:xe'), port, '127.0.0.1') // unknown type: still a warning
  const [timedOut] = await new Promise(resolve => rpc.query({ host: '127.0.0.1', port: peer.address().port }, { q: 'ping' }, (...a) => resolve(a)))
  assert.equal(timedOut.code, 'ETIMEDOUT')
  await tick(50)
  assert.deepEqual(queries, [])
  assert.deepEqual(warnings, ['Unknown type: x'])
  assert.equal(answered, 2, 'the peer got our two queries and no answer')
  const stats = rpc.stats()
  assert.equal(stats.droppedReadOnly, 5)
  assert.equal(stats.datagramsIn, 7)
  assert.equal(stats.timeouts, 1)
  rpc.destroy(); peer.close()
})

test('without readOnly, the same query is emitted and queries carry no ro key (the reference\'s bytes)', async () => {
  const peer = await rawSocket()
  const rpc = RPC({ timeout: 2000 })
  await new Promise(resolve => rpc.bind(0, '127.0.0.1', resolve))
  const got = new Promise(resolve => rpc.once('query', (q, rinfo) => resolve(q)))
  peer.send(QUERY_IN, rpc.address().port, '127.0.0.1')
  assert.equal((await got).q.toString(), 'ping')
  rpc.query({ host: '127.0.0.1', port: peer.address().port }, { q: 'ping', a: { id: ID } })
  const [buf] = await nextMessage(peer)
  assert.equal(buf.toString('latin1'), Buffer.concat([Buffer.from('d1:ad2:id20:' + 'a'.repeat(20) + 'e1:q4:ping1:t2:'), tidOf(buf), Buffer.from('1:y1:qe')]).toString('latin1'))
  assert.equal(rpc.stats().droppedReadOnly, 0)
  rpc.destroy(); peer.close()
})

test('readOnly with a user-supplied socket (opts.socket): ro on the wire, incoming queries dropped by the engine', async () => {
  const socket = dgram.createSocket('udp4')
  const peer = await rawSocket()
  const rpc = RPC({ readOnly: true, socket, timeout: 2000 })
  assert.equal(rpc.receivePath, 'socket')
  await new Promise(resolve => rpc.bind(0, '127.0.0.1', resolve))
  let emitted = 0
  rpc.on('query', () => emitted++)
  peer.send(QUERY_IN, rpc.address().port, '127.0.0.1')
  const done = new Promise(resolve => rpc.query({ host: '127.0.0.1', port: peer.address().port }, { q: 'ping' }, (...a) => resolve(a)))
  const [buf, from] = await nextMessage(peer)
  assert.match(buf.toString('latin1'), /^d1:q4:ping2:roi1e1:t2:..1:y1:qe$/s)
  peer.send(Buffer.concat([Buffer.from('d1:rd2:id1:xe1:t2:'), tidOf(buf), Buffer.from('1:y1:re')]), from.port, '127.0.0.1')
  assert.equal((await done)[0], null)
  await tick(30)
  assert.equal(emitted, 0)
  assert.equal(rpc.stats().droppedReadOnly, 1)
  rpc.destroy(); peer.close()
})

rerunOnRuntimePath(__filename)
