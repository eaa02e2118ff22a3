'use strict'
// Garbage flood: a server (in a child process) receives ~20,000 malformed datagrams/s while a raw
// client pings it at 500/s. First a flood-free baseline of pings, then the flood.
//   node bench/scenarios/garbage-flood.js --impl ours|ref [--rate 20000] [--duration 3000] [--baseline 1000]
// Reports server CPU per datagram, warnings counted, answered pings and their latency. One JSON line.
const dgram = require('dgram')
const parseArgs = require('../lib/args')
const cpu = require('../lib/cpu')
const { latencySummary } = require('../lib/stats')
const { templates } = require('../lib/workloads')
const { build } = require('../lib/garbage')
const { forkServer } = require('../lib/child')
const out = require('../lib/output')

const opts = parseArgs(process.argv.slice(2), { impl: 'ref', rate: 20000, pingRate: 500, duration: 3000, baseline: 1000, grace: 400 })
const base = { scenario: 'garbage_flood', impl: opts.impl, rate: opts.rate, ping_rate: opts.pingRate }
out.guard(base, opts.baseline + opts.duration + 20000)

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const HOST = '127.0.0.1'

async function udp () {
  const s = dgram.createSocket('udp4')
  await new Promise((resolve) => s.bind(0, HOST, resolve))
  return s
}

async function main () {
  const { pool, kinds, warns } = build(4096, 42)
  const remote = forkServer(opts.impl, 'ping')
  const { port } = await remote.wait('ready', 10000)

  const tpl = templates('ping')
  const qlen = tpl.query.length
  const qo = tpl.queryTidOffset
  const ro = tpl.responseTidOffset
  const pinger = await udp()
  const flooder = await udp()
  flooder.on('message', () => {}) // nothing is expected back; drain whatever comes

  const sentAt = new Float64Array(65536)
  let tid = 0
  let phase = null
  const mkPhase = () => ({ pingsSent: 0, answered: 0, lat: new Float64Array(200000), nlat: 0, floodSent: 0, expectedWarnings: 0 })
  pinger.on('message', (buf) => {
    const t1 = performance.now()
    const id = (buf[ro] << 8) | buf[ro + 1]
    const t0 = sentAt[id]
    if (!t0) return
    sentAt[id] = 0
    const p = phase
    if (!p) return
    p.answered++
    if (p.nlat < p.lat.length) p.lat[p.nlat++] = (t1 - t0) * 1000
  })
  function ping (p) {
    tid = tid === 65535 ? 1 : tid + 1
    const b = Buffer.allocUnsafe(qlen)
    tpl.query.copy(b)
    b[qo] = tid >> 8
    b[qo + 1] = tid & 255
    sentAt[tid] = performance.now()
    pinger.send(b, 0, qlen, port, HOST)
    p.pingsSent++
  }

  // Paced sender: every ~1 ms, send what is due (bounded per turn and in total).
  async function runPhase (ms, floodRate) {
    const p = mkPhase()
    phase = p
    const t0 = performance.now()
    const maxFlood = Math.ceil(floodRate * ms / 1000)
    const maxPings = Math.ceil(opts.pingRate * ms / 1000)
    let gi = 0
    await new Promise((resolve) => {
      const iv = setInterval(() => {
        const el = performance.now() - t0
        const done = el >= ms
        const e = Math.min(el, ms)
        const pingDue = Math.min(maxPings, Math.floor(e * opts.pingRate / 1000)) - p.pingsSent
        for (let i = 0; i < pingDue; i++) ping(p)
        const floodDue = Math.min(maxFlood, Math.floor(e * floodRate / 1000)) - p.floodSent
        for (let i = 0; i < floodDue && i < 2000; i++) {
          const k = gi++ & 4095
          const b = pool[k]
          p.expectedWarnings += warns[k]
          flooder.send(b, 0, b.length, port, HOST)
          p.floodSent++
        }
        if (done) { clearInterval(iv); resolve() }
      }, 1)
    })
    p.wallMs = performance.now() - t0
    return p
  }

  async function measured (ms, floodRate) {
    await remote.request('mark', 'marked')
    const s0 = cpu.snapshot()
    const p = await runPhase(ms, floodRate)
    await sleep(opts.grace) // let the server work off its backlog and late replies arrive
    const s1 = cpu.snapshot()
    const srv = await remote.request('report', 'report')
    phase = null
    const d = cpu.delta(s0, s1)
    const lats = latencySummary(p.lat, p.nlat)
    const dgrams = p.floodSent + p.pingsSent
    return {
      flood_sent: p.floodSent,
      flood_rate: p.floodSent / (p.wallMs / 1000),
      pings_sent: p.pingsSent,
      pings_answered: p.answered,
      ping_p50_us: lats.p50,
      ping_p99_us: lats.p99,
      ping_max_us: lats.max,
      srv_cpu_ms: srv.cpu.procMs,
      srv_main_ms: srv.cpu.mainMs,
      srv_cpu_us_per_dgram: srv.cpu.procMs * 1000 / dgrams,
      srv_main_us_per_dgram: srv.cpu.mainMs * 1000 / dgrams,
      srv_cpu_pct: srv.cpu.procMs / srv.cpu.wallMs * 100,
      srv_queries: srv.queries,
      srv_warnings: srv.warnings,
      expected_warnings: p.expectedWarnings, // what k-rpc-socket would emit if every datagram arrived
      warnings_pct: p.expectedWarnings ? srv.warnings / p.expectedWarnings * 100 : null,
      srv_errors: srv.errors,
      srv_last_warning: srv.lastWarning,
      srv_rss_mb: srv.rssMb,
      client_cpu_ms: d.procMs,
      other_cpu_pct: Math.max(0, (d.sysBusyMs - d.procMs - srv.cpu.procMs) / (d.wallMs * cpu.ncpu) * 100)
    }
  }

  await runPhase(200, 0) // warm-up, unmeasured
  await sleep(100)
  const baseline = await measured(opts.baseline, 0)
  const flood = await measured(opts.duration, opts.rate)
  pinger.close()
  flooder.close()
  await remote.stop()
  const res = Object.assign(base, { ok: flood.pings_answered > 0, pool_kinds: kinds })
  for (const [k, v] of Object.entries(baseline)) res['base_' + k] = v
  Object.assign(res, flood)
  out.emit(res)
}

main().catch((err) => out.fail(base, err))
