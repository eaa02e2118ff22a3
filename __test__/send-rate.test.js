'use strict'
// `sendRate: { perSecond, burst }` (added): the socket's driver paces every outgoing datagram
// (queries, responses, errors) with a token bucket; what waits is queued in order (at most
// 4 MiB, then ENOBUFS), counted in stats(). Measured on the wire by a plain dgram receiver.
// Reruns itself on the runtime thread's receive path (where reading must go on while the pacer
// holds a backlog).
const test = require('node:test')
const assert = require('node:assert/strict')
const RPC = require('..')
const { rawSocket, tick } = require('./harness/loopback')
const { rerunOnRuntimePath } = require('./harness/receive-paths')


// Collects `count` datagrams with their arrival times (ms), or gives up after `limitMs`.
function collect (socket, count, limitMs) {
  return new Promise(resolve => {
    const got = []
    const timer = setTimeout(() => resolve(got), limitMs)
    socket.on('message', buf => {
      got.push([performance.now(), buf])
      if (got.length === count) { clearTimeout(timer); resolve(got) }
    })
  })
}

// Datagrams per second after the initial burst: the least-squares slope of arrival time over
// datagram index. Arrival is timed on this process's event loop, which a loaded machine delays
// now and then; a slope over every datagram is not moved by one late first or last timestamp
// the way (n - burst) / (last - first) is.
function rate (got, burst) {
  const points = got.slice(burst).map(([ms], i) => [i, ms])
  const n = points.length
  const mx = points.reduce((a, [x]) => a + x, 0) / n
  const my = points.reduce((a, [, y]) => a + y, 0) / n
  let sxy = 0
  let sxx = 0
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my)
    sxx += (x - mx) * (x - mx)
  }
  return 1000 / (sxy / sxx)
}

test('sendRate: 1000 queries made at once leave at 300 per second (within 3 %), all of them, in order', async t => {
  const peer = await rawSocket()
  const rpc = RPC({ sendRate: { perSecond: 300, burst: 5 }, timeout: 60000 })
  t.after(() => { rpc.destroy(); peer.close() })
  const N = 1000
  const arrived = collect(peer, N, 10000)
  const tids = []
  const started = performance.now()
  for (let i = 0; i < N; i++) tids.push(rpc.query({ host: '127.0.0.1', port: peer.address().port }, { q: 'ping', a: { n: i } }))
  await tick(100)
  const midway = rpc.stats()
  // What the pacer may have let out by now (the timer can fire late on a loaded machine).
  const allowed = 5 + Math.ceil(300 * (performance.now() - started) / 1000) + 5
  assert.ok(midway.sendQueueLength >= N - allowed, `${midway.sendQueueLength} waiting after ${Math.round(performance.now() - started)} ms`)
  const got = await arrived
  assert.equal(got.length, N, 'nothing lost')
  const order = got.map(([, buf]) => buf.readUInt16BE(buf.indexOf('1:t2:') + 5))
  assert.deepEqual(order, tids, 'nothing reordered')
  const measured = rate(got, 5)
  t.diagnostic(`${measured.toFixed(1)} datagrams/s over ${((got[N - 1][0] - got[0][0]) / 1000).toFixed(2)} s`)
  assert.ok(Math.abs(measured - 300) / 300 < 0.03, `rate ${measured}`)
  const stats = rpc.stats()
  assert.equal(stats.datagramsOut, N)
  assert.ok(stats.sendQueued >= N - 5 - 10, `sendQueued ${stats.sendQueued}`)
  assert.equal(stats.sendQueueLength, 0)
  assert.equal(stats.sendQueueFull, 0)
})

test('sendRate paces responses and errors too; queries keep being received and emitted while the replies wait', async t => {
  const client = await rawSocket()
  const rpc = RPC({ sendRate: { perSecond: 200 } })
  t.after(() => { rpc.destroy(); client.close() })
  await new Promise(resolve => rpc.bind(0, '127.0.0.1', resolve))
  const N = 500
  let emitted = 0
  let lastQueryAt = 0
  rpc.on('query', (query, rinfo) => {
    emitted++
    lastQueryAt = performance.now()
    const n = query.a.n
    if (n % 2) rpc.error(rinfo, query, [201, 'odd'])
    else rpc.response(rinfo, query, { n })
  })
  const arrived = collect(client, N, 10000)
  const started = performance.now()
  for (let i = 0; i < N; i++) {
    const t2 = Buffer.alloc(2)
    t2.writeUInt16BE(i)
    client.send(Buffer.concat([Buffer.from('d1:ad1:ni' + i + 'ee1:q4:ping1:t2:'), t2, Buffer.from('1:y1:qe')]), rpc.address().port, '127.0.0.1')
    if (i % 50 === 49) await tick(1) // let the kernel's receive buffer drain
  }
  const got = await arrived
  assert.equal(emitted, N)
  assert.ok(lastQueryAt - started < 1000, `every query was emitted within ${Math.round(lastQueryAt - started)} ms, while the replies take 2.5 s`)
  assert.equal(got.length, N, 'no reply lost')
  const order = got.map(([, buf]) => buf.readUInt16BE(buf.indexOf('1:t2:') + 5))
  assert.deepEqual(order, [...Array(N).keys()], 'replies in the order they were made')
  assert.ok(got[1][1].toString().includes('1:y1:e'), 'error replies are paced with the rest')
  const measured = rate(got, 1)
  t.diagnostic(`${measured.toFixed(1)} datagrams/s`)
  assert.ok(Math.abs(measured - 200) / 200 < 0.03, `rate ${measured}`)
})

test('sendRate: the queue holds 4 MiB; past it a send fails with ENOBUFS, counted in sendQueueFull; destroy() drops what waits', async t => {
  const peer = await rawSocket()
  const rpc = RPC({ sendRate: { perSecond: 1 } })
  t.after(() => peer.close())
  await new Promise(resolve => rpc.bind(0, '127.0.0.1', resolve))
  const big = { y: 'x', v: Buffer.alloc(1000) }
  const results = []
  for (let i = 0; i < 4500; i++) rpc.send({ host: '127.0.0.1', port: peer.address().port }, big, (err, n) => results.push(err ? err.code : n))
  await tick(100)
  const refused = results.filter(r => r === 'ENOBUFS').length
  const accepted = results.filter(r => typeof r === 'number').length
  assert.equal(refused + accepted, 4500)
  const size = results.find(r => typeof r === 'number')
  assert.equal(accepted, 1 + Math.floor((4 << 20) / size), 'one sent at once, the rest up to 4 MiB queued')
  const stats = rpc.stats()
  assert.equal(stats.sendQueueFull, refused)
  assert.equal(stats.sendQueueLength, accepted - 1)
  let received = 0
  peer.on('message', () => received++)
  await new Promise(resolve => rpc.destroy(resolve))
  await tick(1200)
  assert.equal(received, 0, 'nothing sent after destroy()')
})

test('without sendRate, 200 queries leave at once (no pacing, nothing queued)', async t => {
  // 200: what a default receive buffer holds (at about 800 bytes of kernel memory per datagram).
  const peer = await rawSocket()
  const rpc = RPC({ timeout: 60000 })
  t.after(() => { rpc.destroy(); peer.close() })
  const arrived = collect(peer, 200, 5000)
  for (let i = 0; i < 200; i++) rpc.query({ host: '127.0.0.1', port: peer.address().port }, { q: 'ping' })
  const got = await arrived
  assert.equal(got.length, 200)
  assert.ok(got[199][0] - got[0][0] < 300, 'well under the 0.66 s a pacer at 300/s would take')
  assert.equal(rpc.stats().sendQueued, 0)
})

rerunOnRuntimePath(__filename)
