'use strict'
// Robustness: floods of hostile datagrams, instance churn, destroy() from every awkward place, process exit,
// worker_threads and exceptions out of user code. Real sockets on loopback (127.0.0.1) only; every scenario is
// bounded. Measurements are printed with t.diagnostic() (visible in the test report).
const { test } = require('node:test')
const assert = require('assert')
const path = require('path')
const fs = require('fs')
const dgram = require('dgram')
const { runChild } = require('./harness')

const ROOT = path.resolve(__dirname, '..')
const FIXTURES = path.join(__dirname, 'fixtures')
const krpc = require(ROOT)
const ref = require('k-rpc-socket')

const ID = Buffer.from('abcdefghij0123456789')
const PING = Buffer.from('ping')
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const bound = rpc => new Promise(resolve => rpc.bind(0, '127.0.0.1', resolve))
const MB = n => Math.round(n / 1048576 * 10) / 10

// Runs a fixture in a child process; resolves with its exit and output (never rejects).
function runNode (script, args = [], { timeoutMs = 10000, nodeArgs = [] } = {}) {
  return runChild(null, { script: path.join(FIXTURES, script), args, timeoutMs, nodeArgs })
}

// Runs body(defer); whatever was deferred runs afterwards even when body fails, so a failing test leaves no live
// socket or timer behind (the file must still end by itself).
async function withCleanup (body) {
  const deferred = []
  try {
    return await body(fn => deferred.push(fn))
  } finally {
    for (const fn of deferred.reverse()) {
      try { await fn() } catch (_) {}
    }
  }
}
const destroyed = rpc => () => rpc.destroyed ? undefined : new Promise(resolve => rpc.destroy(resolve))

// The kernel's per-socket drop counter (receive buffer full) of a UDP socket bound to 127.0.0.1:port.
function kernelDrops (port) {
  const local = '0100007F:' + port.toString(16).toUpperCase().padStart(4, '0')
  for (const line of fs.readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f[1] === local) return Number(f[f.length - 1])
  }
  return null
}

// A raw dgram peer answering every query (of ours) with a reply carrying its tid.
async function responder () {
  const sock = dgram.createSocket('udp4')
  const head = Buffer.from('d1:rd2:id20:abcdefghij0123456789e1:t2:')
  const tail = Buffer.from('1:y1:re')
  sock.on('message', (buf, rinfo) => {
    const i = buf.indexOf('1:t2:')
    if (i >= 0) sock.send(Buffer.concat([head, buf.subarray(i + 5, i + 7), tail]), rinfo.port, rinfo.address)
  })
  await new Promise(resolve => sock.bind(0, '127.0.0.1', resolve))
  return sock
}

// 1 --------------------------------------------------------------------------------------------------------------
test('flood: 100,000 malformed and edge-case datagrams from a child process; pings answered during and after; stats account for every datagram', { timeout: 60000 }, t => withCleanup(async defer => {
  const COUNT = 100000
  const server = krpc({ timeout: 60000 })
  defer(destroyed(server))
  const ev = { query: 0, pings: 0, warning: 0, response: 0, errors: [], callbacks: 0 }
  let clientPort = -1
  server.on('query', (msg, rinfo) => {
    ev.query++
    if (rinfo.port === clientPort && Buffer.isBuffer(msg.q) && msg.q.equals(PING)) {
      ev.pings++
      server.response(rinfo, msg, { id: ID })
    }
  })
  server.on('warning', () => { ev.warning++ })
  server.on('response', () => { ev.response++ })
  server.on('error', err => { ev.errors.push(err) })
  await bound(server)
  const port = server.address().port

  // 16 queries in flight to 127.0.0.2 (tids 1..16): the flood's replies with those tids come from 127.0.0.1, the wrong source.
  const inflightTids = []
  for (let i = 0; i < 16; i++) inflightTids.push(server.query({ host: '127.0.0.2', port: 9 }, { q: 'find_node', a: { id: ID, target: ID } }, () => { ev.callbacks++ }))
  assert.deepStrictEqual(inflightTids, Array.from({ length: 16 }, (_, i) => i + 1))

  const client = krpc({ timeout: 1000 })
  defer(destroyed(client))
  client.on('error', err => { ev.errors.push(err) })
  await bound(client)
  clientPort = client.address().port
  const ping = () => new Promise(resolve => {
    const sent = process.hrtime.bigint()
    client.query({ host: '127.0.0.1', port }, { q: 'ping', a: { id: ID } }, err => resolve(err ? null : Number(process.hrtime.bigint() - sent) / 1e6))
  })

  const rss0 = process.memoryUsage.rss()
  let rssPeak = rss0
  const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage.rss()) }, 20)
  defer(() => clearInterval(sampler))

  // Pings every 10 ms while the flood runs.
  let flooding = true
  defer(() => { flooding = false })
  let pingsSent = 0
  const during = []
  const pinger = (async () => {
    while (flooding) {
      pingsSent++
      during.push(ping())
      await sleep(10)
    }
  })()

  const floodStart = Date.now()
  const flood = await runNode('robustness-flood.js', [String(port), String(COUNT), '1', '16'], { timeoutMs: 50000 })
  const floodMs = Date.now() - floodStart
  flooding = false
  await pinger
  const duringResults = await Promise.all(during)
  assert.strictEqual(flood.code, 0, 'flood child: ' + flood.stderr)
  assert.ok(flood.json, 'flood child reported')

  // Settle: the socket has read everything the kernel kept.
  let last = -1
  const settleStart = Date.now()
  while (Date.now() - settleStart < 5000) {
    await sleep(100)
    const s = server.stats()
    if (s.datagramsIn === last) break
    last = s.datagramsIn
  }

  // After the flood every ping is answered.
  const after = []
  for (let round = 0; round < 10; round++) {
    const batch = []
    for (let i = 0; i < 10; i++) { pingsSent++; batch.push(ping()) }
    after.push(...await Promise.all(batch))
  }
  await sleep(50)
  clearInterval(sampler)

  const stats = server.stats()
  const drops = kernelDrops(port)
  const answeredDuring = duringResults.filter(r => r !== null)
  const lat = answeredDuring.slice().sort((a, b) => a - b)
  const pct = p => lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] * 10) / 10 : null
  t.diagnostic(`flood: ${flood.json.sent} datagrams sent in ${flood.json.ms} ms (${Math.round(flood.json.sent / flood.json.ms * 1000)}/s; child wall time ${floodMs} ms), send errors ${flood.json.sendErrors}; kinds ${JSON.stringify(flood.json.kinds)}`)
  t.diagnostic(`server stats: ${JSON.stringify(stats)}; kernel drops (socket) ${drops}`)
  t.diagnostic(`events: query ${ev.query}, warning ${ev.warning}, response ${ev.response}, error ${ev.errors.length}`)
  t.diagnostic(`pings during the flood: ${answeredDuring.length}/${duringResults.length} answered (${Math.round(answeredDuring.length / duringResults.length * 1000) / 10}%), latency p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms; after: ${after.filter(r => r !== null).length}/${after.length}`)
  t.diagnostic(`RSS: before ${MB(rss0)} MB, peak ${MB(rssPeak)} MB (+${MB(rssPeak - rss0)} MB), after ${MB(process.memoryUsage.rss())} MB`)

  assert.deepStrictEqual(ev.errors, [], 'no error event')
  assert.ok(after.every(r => r !== null), 'every ping after the flood is answered')
  assert.ok(answeredDuring.length > 0, 'some pings are answered during the flood')
  assert.ok(rssPeak - rss0 < 300 * 1048576, `RSS growth ${MB(rssPeak - rss0)} MB < 300 MB`)
  assert.strictEqual(flood.json.sent, COUNT)
  // Every datagram that reached the socket was either read by the engine or dropped by the kernel.
  const expected = flood.json.sent + pingsSent
  assert.ok(Math.abs(stats.datagramsIn + drops - expected) <= expected * 0.001,
    `datagramsIn ${stats.datagramsIn} + kernel drops ${drops} = ${stats.datagramsIn + drops}, sent ${expected}`)
  assert.ok(stats.malformed > 0)
  assert.ok(stats.unexpectedTid > 0 && stats.wrongSource > 0 && stats.badTid > 0, 'unknown tids, wrong sources and bad tids counted')
  assert.strictEqual(typeof stats.droppedInbox, 'number')
  // Every datagram the engine kept became exactly one event: a query, or a warning (wrong-source replies: response + warning).
  assert.strictEqual(stats.datagramsIn - stats.droppedInbox - stats.badTid - stats.droppedPortZero, ev.query + ev.warning)
  assert.strictEqual(server.inflight, 16, 'the 16 queries to 127.0.0.2 are still in flight (no reply matched)')
  assert.strictEqual(ev.callbacks, 0)

  await new Promise(resolve => server.destroy(resolve))
  await new Promise(resolve => client.destroy(resolve))
  assert.strictEqual(ev.callbacks, 16)
}))

test('flood: nesting of 100,000 levels (too big for one UDP datagram) through a user socket: a warning each; 1,000,000 levels accounted for', async () => {
  const { EventEmitter } = require('events')
  const sock = new EventEmitter()
  Object.assign(sock, { send () {}, bind () {}, close () { process.nextTick(() => sock.emit('close')) }, address: () => ({ address: '127.0.0.1', family: 'IPv4', port: 1 }) })
  const rpc = krpc({ socket: sock })
  try {
    const warnings = []
    rpc.on('warning', err => warnings.push(err.message))
    const n = 100000
    sock.emit('message', Buffer.from('l'.repeat(n) + 'e'.repeat(n)), { address: '127.0.0.1', family: 'IPv4', port: 4000, size: 2 * n })
    sock.emit('message', Buffer.from('d1:a'.repeat(n)), { address: '127.0.0.1', family: 'IPv4', port: 4000, size: 4 * n })
    assert.deepStrictEqual(warnings, Array(2).fill('Invalid data: nesting deeper than 32768 levels'))
    // 1,000,000 levels (2 MB and 4 MB "datagrams", possible only through a user socket): no hang, no crash, and each is
    // accounted for. Today the engine drops inputs above ~1.4 MB silently, counted as droppedInbox (the inbox's
    // worst-case tape bound), even though the inbox is empty; a warning would be better, either is accepted here.
    const m = 1000000
    sock.emit('message', Buffer.from('l'.repeat(m) + 'e'.repeat(m)), { address: '127.0.0.1', family: 'IPv4', port: 4000, size: 2 * m })
    sock.emit('message', Buffer.from('d1:a'.repeat(m)), { address: '127.0.0.1', family: 'IPv4', port: 4000, size: 4 * m })
    const stats = rpc.stats()
    assert.strictEqual(stats.datagramsIn, 4)
    assert.strictEqual((warnings.length - 2) + stats.droppedInbox, 2)
  } finally {
    rpc.destroy()
  }
})

// 2 --------------------------------------------------------------------------------------------------------------
test('lifecycle: 10,000 instances created, bound, queried and destroyed; fds and threads return to their level, RSS growth < 50 MB', { timeout: 40000 }, async t => {
  const r = await runNode('robustness-lifecycle.js', ['10000', '4'], { timeoutMs: 35000, nodeArgs: ['--expose-gc'] })
  assert.strictEqual(r.code, 0, r.stderr)
  const j = r.json
  t.diagnostic(`lifecycle: ${j.instances} instances (${j.concurrency} at a time) in ${j.churnMs} ms for the last 10,000 (${j.perSecond}/s); errors ${j.errors}; close callbacks ${j.closeCallbacks}; fds settled in ${j.settleMs} ms`)
  t.diagnostic(`fds: start ${j.start.fds}, after 100 (runtime started) ${j.warm.fds}, max during ${j.maxFds}, end ${j.end.fds}`)
  t.diagnostic(`threads: start ${j.start.threads}, warm ${j.warm.threads}, max during ${j.maxThreads}, end ${j.end.threads}`)
  t.diagnostic(`RSS after GC: start ${j.start.rssMB} MB, warm ${j.warm.rssMB} MB, end ${j.end.rssMB} MB (growth ${Math.round((j.end.rssMB - j.start.rssMB) * 10) / 10} MB from start, ${Math.round((j.end.rssMB - j.warm.rssMB) * 10) / 10} MB from warm)`)
  assert.strictEqual(j.errors, 0, JSON.stringify(j.firstErrors))
  assert.strictEqual(j.closeCallbacks, j.instances)
  // The runtime (started on first use) keeps its own descriptors (epoll, waker) and one thread, and the first close()
  // makes the one inert socket closed descriptors point at: compare with the warm level for fds, and with the start
  // level plus that thread.
  assert.strictEqual(j.end.fds, j.warm.fds, 'fds back to their level')
  assert.ok(j.warm.fds - j.start.fds <= 4, `the runtime and the inert socket hold ${j.warm.fds - j.start.fds} fds`)
  assert.ok(j.end.threads <= j.start.threads + 1, `threads ${j.start.threads} -> ${j.end.threads}`)
  assert.ok(j.end.rssMB - j.start.rssMB < 50, `RSS growth ${Math.round((j.end.rssMB - j.start.rssMB) * 10) / 10} MB < 50 MB`)
})

// 3 --------------------------------------------------------------------------------------------------------------
test('destroy() from inside a query callback', { timeout: 5000 }, () => withCleanup(async defer => {
  const peer = await responder()
  defer(() => peer.close())
  const rpc = krpc()
  defer(destroyed(rpc))
  const events = []
  for (const e of ['query', 'response', 'warning', 'error', 'update', 'postupdate', 'close']) rpc.on(e, () => events.push(e))
  await bound(rpc)
  let closed = false
  let threw = null
  await new Promise(resolve => rpc.query({ host: '127.0.0.1', port: peer.address().port }, { q: 'ping' }, err => {
    assert.strictEqual(err, null)
    try { rpc.destroy(() => { closed = true; resolve() }) } catch (e) { threw = e; resolve() }
  }))
  assert.strictEqual(threw, null)
  assert.strictEqual(closed, true)
  assert.strictEqual(rpc.destroyed, true)
  assert.strictEqual(rpc.inflight, 0)
  await sleep(50)
  // The completion's own update/postupdate/response run after the callback, as in the reference.
  assert.deepStrictEqual(events, ['update', 'postupdate', 'response'])
}))

test("destroy() in the 3rd 'query' listener call of a 50-datagram batch: nothing after destroy", { timeout: 5000 }, () => withCleanup(async defer => {
  const rpc = krpc()
  defer(destroyed(rpc))
  const events = []
  let batch = 0
  let inBatch = false
  let calls = 0
  let afterDestroy = 0
  const onAny = name => () => { events.push(name); if (rpc.destroyed) afterDestroy++ }
  for (const e of ['response', 'warning', 'error', 'update', 'postupdate']) rpc.on(e, onAny(e))
  const batches = []
  rpc.on('query', () => {
    if (rpc.destroyed) afterDestroy++
    if (!inBatch) { inBatch = true; batch++; setImmediate(() => { inBatch = false }) }
    batches.push(batch)
    if (++calls === 3) rpc.destroy()
  })
  await bound(rpc)
  const sender = dgram.createSocket('udp4')
  defer(() => sender.close())
  await new Promise(resolve => sender.bind(0, '127.0.0.1', resolve))
  for (let i = 0; i < 50; i++) sender.send(Buffer.from(`d1:q4:ping1:t2:${String(i).padStart(2, '0')}1:y1:qe`), rpc.address().port, '127.0.0.1')
  // Busy while the datagrams arrive, so they reach JavaScript as one batch.
  await new Promise(resolve => setImmediate(() => { const end = Date.now() + 50; while (Date.now() < end); resolve() }))
  await sleep(200)
  assert.strictEqual(calls, 3)
  // Reading on Node's loop, datagrams already queued arrive as one burst. Reading on the Tokio
  // thread (KRPC_RECEIVE_ON_RUNTIME), JS may be woken while they are still arriving.
  const oneBurst = process.env.KRPC_RECEIVE_ON_RUNTIME !== '1'
  if (oneBurst) assert.deepStrictEqual(batches, [1, 1, 1], 'the three calls were one burst')
  assert.strictEqual(afterDestroy, 0)
  assert.deepStrictEqual(events, [])
  // The burst that held the three calls held more records, skipped after destroy(): reads come
  // 16 per recvmmsg, and a read bounded in time (500 us) can stop after the first 16 on a loaded
  // machine. On the Tokio path, destroy() closes the socket before it has read them all, as dgram
  // would.
  if (oneBurst) assert.ok(rpc.stats().datagramsIn >= 16, `${rpc.stats().datagramsIn} of 50 reached the engine in the burst`)
}))

test('destroy() twice: the second throws ERR_SOCKET_DGRAM_NOT_RUNNING, like k-rpc-socket', { timeout: 5000 }, async () => {
  const codes = []
  for (const RPC of [ref, krpc]) {
    const rpc = RPC()
    await bound(rpc)
    rpc.destroy()
    let err = null
    try { rpc.destroy() } catch (e) { err = e }
    codes.push(err && [err.code, err.message, err instanceof Error])
  }
  assert.deepStrictEqual(codes[1], codes[0])
  assert.strictEqual(codes[1][0], 'ERR_SOCKET_DGRAM_NOT_RUNNING')
})

test('destroy() with 100 queries in flight: every callback inside destroy() with "Query was cancelled"; inflight 0', { timeout: 5000 }, () => withCleanup(async defer => {
  const silent = dgram.createSocket('udp4')
  defer(() => silent.close())
  await new Promise(resolve => silent.bind(0, '127.0.0.1', resolve))
  const rpc = krpc({ timeout: 10000 })
  defer(destroyed(rpc))
  await bound(rpc)
  let inside = false
  const calls = []
  for (let i = 0; i < 100; i++) {
    rpc.query({ host: '127.0.0.1', port: silent.address().port }, { q: 'ping' }, (err, msg) => calls.push({ inside, message: err && err.message, msg }))
  }
  assert.strictEqual(rpc.inflight, 100)
  let updates = 0
  rpc.on('update', () => updates++)
  inside = true
  const closed = new Promise(resolve => rpc.destroy(resolve))
  inside = false
  assert.strictEqual(calls.length, 100)
  assert.ok(calls.every(c => c.inside && c.message === 'Query was cancelled' && c.msg === null))
  assert.strictEqual(updates, 100)
  assert.strictEqual(rpc.inflight, 0)
  assert.strictEqual(rpc.stats().queriesInFlight, 0)
  await closed
  await sleep(30)
  assert.strictEqual(calls.length, 100)
}))

// 4 --------------------------------------------------------------------------------------------------------------
test('process exit: clean, unref, process.exit() with live sockets, and an idle instance that keeps the process alive', { timeout: 20000 }, async t => {
  const [clean, cleanRef, unref, unrefPending, idle, idleRef, ...exits] = await Promise.all([
    runNode('robustness-exit.js', ['clean', 'ours'], { timeoutMs: 5000 }),
    runNode('robustness-exit.js', ['clean', 'ref'], { timeoutMs: 5000 }),
    runNode('robustness-exit.js', ['unref', 'ours'], { timeoutMs: 5000 }),
    runNode('robustness-exit.js', ['unref-pending', 'ours'], { timeoutMs: 5000 }),
    runNode('robustness-exit.js', ['idle', 'ours'], { timeoutMs: 1500 }),
    runNode('robustness-exit.js', ['idle', 'ref'], { timeoutMs: 1500 }),
    ...Array.from({ length: 5 }, () => runNode('robustness-exit.js', ['exit', 'ours'], { timeoutMs: 5000 })),
    runNode('robustness-exit.js', ['exit', 'ref'], { timeoutMs: 5000 })
  ])
  const show = r => `code ${r.code} signal ${r.signal} ${r.ms} ms${r.timedOut ? ' (killed)' : ''}`
  t.diagnostic(`clean: ours ${show(clean)}, k-rpc-socket ${show(cleanRef)}; unref: ${show(unref)}; unref + pending query: ${show(unrefPending)}`)
  t.diagnostic(`idle: ours ${show(idle)}, k-rpc-socket ${show(idleRef)}; process.exit(): ${exits.map(show).join('; ')}`)
  assert.strictEqual(clean.code, 0, clean.stderr)
  assert.strictEqual(clean.stdout, 'answered\nclosed\n')
  // Relative to k-rpc-socket's exit, started at the same moment: 12 processes share 2 cores here.
  assert.ok(clean.ms < Math.max(2000, cleanRef.ms + 1000), `clean exit took ${clean.ms} ms (k-rpc-socket ${cleanRef.ms} ms)`)
  for (const r of [unref, unrefPending]) {
    assert.strictEqual(r.code, 0, r.stderr)
    assert.strictEqual(r.stdout, 'unref\n')
    assert.ok(r.ms < 2000)
  }
  for (const r of exits) {
    assert.strictEqual(r.code, 0, r.stderr)
    assert.strictEqual(r.signal, null)
    assert.strictEqual(r.stderr, '', 'no crash output')
    assert.match(r.stdout, /^exiting after \d+ sends\n$/)
  }
  for (const r of [idle, idleRef]) {
    assert.strictEqual(r.timedOut, true, 'kept running until killed')
    assert.strictEqual(r.stdout, 'idle\n')
  }
})

// 5 --------------------------------------------------------------------------------------------------------------
test('worker_threads: 4 workers ping each other and the main thread; terminate() with live sockets and pending queries (3 rounds); the main thread still works', { timeout: 30000 }, async t => {
  const r = await runNode('robustness-workers.js', ['3'], { timeoutMs: 25000 })
  t.diagnostic(`workers: ${r.ms} ms, code ${r.code}, signal ${r.signal}; report ${r.stdout.trim()}`)
  assert.strictEqual(r.code, 0, r.stderr)
  assert.strictEqual(r.signal, null)
  assert.strictEqual(r.stderr, '')
  const j = r.json
  assert.deepStrictEqual(j.pingRound, { workerPingsOk: 80, workerPingsFailed: 0, mainPingsOk: 4, mainPingsFailed: 0 })
  assert.deepStrictEqual(j.terminated, [4, 4, 4])
  assert.strictEqual(j.workerErrors, undefined)
  assert.strictEqual(j.freshPingsOk, 10)
  assert.strictEqual(j.mainToFreshOk, true)
  assert.ok(j.threadsAfterTerminate <= j.threadsBefore + 1, `threads ${j.threadsBefore} -> ${j.threadsAfterTerminate} (one runtime thread allowed)`)
})

// 6 --------------------------------------------------------------------------------------------------------------
test("exceptions: a 'query' listener throwing for 1 datagram of a burst of 10 is an uncaughtException; the other 9 are delivered", { timeout: 10000 }, async t => {
  const r = await runNode('robustness-throw.js', ['listener'], { timeoutMs: 8000 })
  assert.strictEqual(r.code, 0, r.stderr)
  const j = r.json
  t.diagnostic(`listener: delivered ${j.delivered.join(',')}; batches ${j.batches.join(',')}; uncaught ${JSON.stringify(j.uncaught.map(u => u.message))}`)
  assert.deepStrictEqual(j.delivered, ['q0', 'q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7', 'q8', 'q9'])
  assert.deepStrictEqual(j.uncaught.map(u => u.message), ['listener threw for q3'])
  assert.deepStrictEqual(j.batches.slice(0, 4), [1, 1, 1, 1], 'the throw happened in the middle of one batch')
  assert.strictEqual(j.datagramsIn, 10)
})

test('exceptions: a query callback that throws: uncaughtException; inflight correct; the tid is free again after wraparound; later queries complete', { timeout: 10000 }, async t => {
  const r = await runNode('robustness-throw.js', ['callback'], { timeoutMs: 8000 })
  assert.strictEqual(r.code, 0, r.stderr)
  const j = r.json
  t.diagnostic(`callback: ${r.stdout.trim()}`)
  assert.deepStrictEqual(j.uncaught.map(u => u.message), ['callback threw'])
  assert.strictEqual(j.throwingCallbackCalls, 1)
  assert.strictEqual(j.inflightInCallback, 0)
  assert.strictEqual(j.inflightAfter, 0)
  assert.strictEqual(j.queriesInFlightAfter, 0)
  assert.strictEqual(j.thrownTid, 1)
  assert.strictEqual(j.reusedTid, 1, 'after _tick wrapped, tid 1 is handed out again')
  assert.deepStrictEqual(j.reusedResult, { tid: 1, err: null, replyTid: 1 })
  assert.strictEqual(j.laterOk, 50)
  assert.strictEqual(j.inflightEnd, 0)
  assert.deepStrictEqual(j.warnings, [])
})

// 7 --------------------------------------------------------------------------------------------------------------
// A backlog of datagrams: the receiver's JavaScript is blocked or busy while they arrive (fixtures/recv-backlog.js).
const PATHS = [['main loop', { KRPC_RECEIVE_ON_RUNTIME: undefined }], ['runtime', { KRPC_RECEIVE_ON_RUNTIME: '1' }]]
const backlog = (args, env = {}, timeoutMs = 60000) =>
  runChild(null, { script: path.join(FIXTURES, 'recv-backlog.js'), args, env: { ...env }, timeoutMs, nodeArgs: ['--expose-gc'] })

for (const [name, env] of PATHS) {
  test(`backlog (${name}): a 'query' listener throwing on every message costs the same CPU per message behind 2,000 and 20,000 queued queries; delivery in arrival order`, { timeout: 120000 }, async t => {
    const runs = []
    for (const count of [2000, 20000]) {
      const r = await backlog(['throw', String(count)], env, 90000)
      assert.strictEqual(r.code, 0, r.stderr)
      runs.push(r.json)
      t.diagnostic(`${count} queued: ${r.json.delivered} delivered, ${r.json.uncaught} uncaught, ${Math.round(r.json.usPerMessage)} us CPU per message, ${r.json.ms} ms`)
    }
    for (const j of runs) {
      assert.ok(j.delivered > 0 && j.delivered === j.uncaught, `every delivered message threw once (${j.delivered}, ${j.uncaught})`)
      assert.strictEqual(j.inOrder, true, 'delivered in arrival order')
    }
    // Linear work: the same cost per message (a quadratic resume was ~3x at 20,000 and ~10x at 60,000).
    const ratio = runs[1].usPerMessage / runs[0].usPerMessage
    assert.ok(ratio < 1.8, `CPU per message 20,000 / 2,000 queued = ${ratio.toFixed(2)}`)
  })
}

test('backlog: after a burst of 200 dense 64 KB queries to each of 4 sockets, the tapes are back to their usual size and RSS stays within 20 MB of k-rpc-socket in the same run', { timeout: 120000 }, async t => {
  const results = {}
  for (const impl of ['ours', 'ref']) {
    const r = await backlog(['memory', impl], { KRPC_RECEIVE_ON_RUNTIME: undefined }, 90000)
    assert.strictEqual(r.code, 0, r.stderr)
    results[impl] = r.json
    t.diagnostic(`${impl}: ${r.json.queries}/${r.json.sent} queries of ${r.json.bytes} bytes; RSS +${r.json.growthMB.toFixed(1)} MB after GC; tapes ${JSON.stringify(r.json.tapes)}`)
  }
  const ours = results.ours
  for (const words of ours.tapes) assert.ok(words <= 65536, `tape of ${words} words kept after the burst`)
  assert.ok(ours.queries >= ours.sent / 4, `a burst big enough to matter was received (${ours.queries})`)
  assert.ok(ours.growthMB <= results.ref.growthMB + 20, `RSS growth ${ours.growthMB.toFixed(1)} MB, k-rpc-socket ${results.ref.growthMB.toFixed(1)} MB`)
})

for (const [name, env] of PATHS) {
  // The datagrams of a backlog wait in the kernel's queue while the inbox is full, as they do for
  // dgram; before, a read burst took them and threw away what did not fit. Main loop only: the
  // runtime thread still reads into a full inbox and counts the drops (it would otherwise spin on
  // a readable socket until JS drains; see docs/ARCHITECTURE.md).
  if (name === 'main loop') test(`backlog (${name}): 120 valid 64 KB queries arrive while JavaScript is blocked (more than the inbox holds, less than the kernel's queue): all 120 delivered, droppedInbox 0, as k-rpc-socket`, { timeout: 60000 }, async t => {
    const results = {}
    for (const impl of ['ours', 'ref']) {
      const r = await backlog(['blocked', impl, '120'], env, 30000)
      assert.strictEqual(r.code, 0, r.stderr)
      results[impl] = r.json
    }
    const { ours, ref } = results
    t.diagnostic(`k-rpc-socket: ${ref.queries}/${ref.sent} queries; ours: ${ours.queries}/${ours.sent}, datagramsIn ${ours.stats.datagramsIn}, droppedInbox ${ours.stats.droppedInbox} (receive buffer ${ours.recvBuffer})`)
    if (ref.recvBuffer < 8 << 20) return t.skip(`the kernel gives a receive buffer of ${ref.recvBuffer} bytes, too small to hold the backlog`)
    assert.strictEqual(ref.queries, 120)
    assert.strictEqual(ours.stats.droppedInbox, 0, 'droppedInbox')
    assert.strictEqual(ours.queries, 120)
  })

  test(`backlog (${name}): 200 valid 64 KB queries paced 40 per 30 ms, JavaScript idle: all 200 delivered, droppedInbox 0, as k-rpc-socket in the same test`, { timeout: 60000 }, async t => {
    const results = {}
    for (const impl of ['ours', 'ref']) {
      const r = await backlog(['paced', impl], env, 30000)
      assert.strictEqual(r.code, 0, r.stderr)
      results[impl] = r.json
    }
    const { ours, ref } = results
    t.diagnostic(`k-rpc-socket: ${ref.queries}/${ref.sent} queries; ours: ${ours.queries}/${ours.sent}, datagramsIn ${ours.stats.datagramsIn}, droppedInbox ${ours.stats.droppedInbox}`)
    // The runtime thread still drops what a full inbox cannot take (see the blocked test above).
    if (name === 'main loop') assert.strictEqual(ours.stats.droppedInbox, 0, 'droppedInbox')
    assert.strictEqual(ours.queries, ours.stats.datagramsIn - ours.stats.droppedInbox, 'every datagram kept became a query event')
    // The kernel drops what arrives while JavaScript is behind: on a loaded machine that can
    // happen to either implementation, and is not what this test is about.
    if (ref.queries === 200) assert.ok(ours.queries >= 190, `${ours.queries} of 200 (k-rpc-socket 200)`)
  })
}
