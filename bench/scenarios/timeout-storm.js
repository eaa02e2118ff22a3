'use strict'
// Timeout storm: 50,000 queries to a loopback port where nothing answers, timeout 500 ms.
//   node --expose-gc bench/scenarios/timeout-storm.js --impl ours|ref [--count 50000] [--timeout 500]
// Measures CPU to send them, CPU to expire them, memory per pending query (after forced GC),
// and checks every callback fired with ETIMEDOUT and inflight went back to 0. Prints one JSON line.
const dgram = require('dgram')
const parseArgs = require('../lib/args')
const cpu = require('../lib/cpu')
const { loadRpc } = require('../lib/impls')
const { WORKLOADS } = require('../lib/workloads')
const out = require('../lib/output')

const opts = parseArgs(process.argv.slice(2), { impl: 'ref', count: 50000, timeout: 500 })
const base = { scenario: 'timeout_storm', impl: opts.impl, count: opts.count, timeout: opts.timeout }
out.guard(base, 60000)

const gc = global.gc || (() => { throw new Error('run with --expose-gc') })
const tick = () => new Promise((resolve) => setImmediate(resolve))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function fullGc () {
  gc(); gc()
}

function mem () {
  const m = process.memoryUsage()
  return { heap: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss }
}

// A UDP socket that is bound but never reads (receive stopped), so datagrams pile up in the
// kernel buffer and are then dropped; nothing ever answers. Fallback: a closed port.
async function blackhole () {
  const sink = dgram.createSocket('udp4')
  await new Promise((resolve) => sink.bind(0, '127.0.0.1', resolve))
  const port = sink.address().port
  const sym = Object.getOwnPropertySymbols(sink).find((x) => String(x) === 'Symbol(state symbol)')
  const h = sym && sink[sym] && sink[sym].handle
  if (h && typeof h.recvStop === 'function') {
    h.recvStop()
    return { port, kind: 'bound, recvStop()', close: () => sink.close() }
  }
  sink.close()
  return { port, kind: 'closed port', close: () => {} }
}

async function main () {
  const N = opts.count
  const RPC = loadRpc(opts.impl)
  const hole = await blackhole()
  const rpc = RPC({ timeout: opts.timeout })
  await new Promise((resolve) => rpc.bind(0, '127.0.0.1', resolve))
  const peer = { host: '127.0.0.1', port: hole.port }
  const query = WORKLOADS.ping.query

  let fired = 0
  let timedOut = 0
  let otherErr = null
  let lastAt = 0
  let firstAt = 0
  let allDone = null
  const sentAt = new Float64Array(N)
  const ages = new Float64Array(N)
  const cbFor = (i) => function (err) {
    const now = performance.now()
    if (fired === 0) firstAt = now
    lastAt = now
    ages[fired] = now - sentAt[i]
    fired++
    if (err && err.code === 'ETIMEDOUT') timedOut++
    else if (!otherErr) otherErr = String(err && err.message)
    if (fired === N && allDone) allDone()
  }
  // Closures are created before the measurement so they do not count as per-query memory.
  const cbs = new Array(N)
  for (let i = 0; i < N; i++) cbs[i] = cbFor(i)

  fullGc()
  await tick()
  fullGc()
  const m0 = mem()
  const s0 = cpu.snapshot()
  for (let i = 0; i < N; i++) {
    sentAt[i] = performance.now()
    rpc.query(peer, query, cbs[i])
  }
  const sLoop = cpu.snapshot()
  // Let dgram finish the deferred sends (address lookup on nextTick, send completions next loop turn).
  for (let i = 0; i < 3; i++) await tick()
  const s1 = cpu.snapshot()
  const inflightPending = rpc.inflight
  fullGc()
  const m1 = mem()
  const firedBeforeMem = fired

  const s2 = cpu.snapshot()
  if (fired < N) {
    await new Promise((resolve) => {
      const t = setTimeout(resolve, 30000)
      allDone = () => { clearTimeout(t); resolve() }
    })
  }
  const s3 = cpu.snapshot()
  await sleep(opts.timeout / 4 + 20) // one more tick period: nothing else may fire
  const inflightAfter = rpc.inflight
  const firedAfter = fired
  fullGc()
  const m2 = mem()

  const send = cpu.delta(s0, s1)
  const loop = cpu.delta(s0, sLoop)
  const expire = cpu.delta(s2, s3)
  const sortedAges = Float64Array.from(ages.subarray(0, fired)).sort()
  const per = (x) => x / N
  hole.close()
  await new Promise((resolve) => { const t = setTimeout(resolve, 1000); rpc.destroy(() => { clearTimeout(t); resolve() }) })

  out.emit(Object.assign(base, {
    ok: firedAfter === N && timedOut === N && inflightAfter === 0,
    blackhole: hole.kind,
    send_cpu_ms: send.procMs,
    send_main_ms: send.mainMs,
    send_loop_wall_ms: loop.wallMs,
    send_wall_ms: send.wallMs,
    send_cpu_us_per_query: send.procMs * 1000 / N,
    expire_cpu_ms: expire.procMs,
    expire_main_ms: expire.mainMs,
    expire_wall_ms: expire.wallMs,
    expire_cpu_us_per_query: expire.procMs * 1000 / N,
    inflight_pending: inflightPending,
    fired_before_mem: firedBeforeMem,
    heap_bytes_per_pending: per(m1.heap - m0.heap),
    external_bytes_per_pending: per(m1.external - m0.external),
    rss_bytes_per_pending: per(m1.rss - m0.rss),
    heap_ext_rss_bytes_per_pending: per((m1.heap - m0.heap) + (m1.external - m0.external) + (m1.rss - m0.rss)),
    heap_bytes_after_expiry_per_query: per(m2.heap - m0.heap),
    timeout_age_min_ms: sortedAges[0],
    timeout_age_p50_ms: sortedAges[fired >> 1],
    timeout_age_max_ms: sortedAges[fired - 1],
    first_to_last_ms: lastAt - firstAt,
    callbacks_fired: firedAfter,
    etimedout: timedOut,
    other_error: otherErr,
    inflight_after: inflightAfter,
    rss_mb: cpu.peakRssMb(),
    other_cpu_pct: Math.max(0, (expire.sysBusyMs - expire.procMs) / (expire.wallMs * cpu.ncpu) * 100)
  }))
}

main().catch((err) => out.fail(base, err))
