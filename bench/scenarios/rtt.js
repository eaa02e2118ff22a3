'use strict'
// Round-trip throughput/latency of one workload with N queries kept in flight.
//   node bench/scenarios/rtt.js --impl ours|ref|floor|native --workload ping|find_node|get_peers
//        --inflight 16 --topo 1p|2p [--warmup 400] [--duration 1500] [--rcvbuf 1048576]
// 1p: client and server in this process; 2p: server in a forked child (its CPU is added in).
// native: the Rust floor (lib/native.js, built by run.js) runs client and server itself, in one
// process (1p, one thread) or two (2p); this process only starts it and maps its report.
// Prints one JSON line.
const dgram = require('dgram')
const parseArgs = require('../lib/args')
const cpu = require('../lib/cpu')
const { latencySummary } = require('../lib/stats')
const { loadRpc } = require('../lib/impls')
const { WORKLOADS, templates } = require('../lib/workloads')
const { startServer } = require('../lib/serve')
const { forkServer } = require('../lib/child')
const out = require('../lib/output')

const opts = parseArgs(process.argv.slice(2), {
  impl: 'ref', workload: 'ping', inflight: 16, topo: '1p', warmup: 400, duration: 1500,
  // SO_RCVBUF of client and server sockets (all implementations alike); 0 keeps the OS default
  // (212992 here): it holds only ~125-165 replies, so a short stall with 256 in flight drops replies
  // and those queries then sit out their 2 s timeout. The limit is net.core.rmem_max (4 MiB here).
  rcvbuf: 1 << 20,
  serverExecArgv: '' // e.g. '--cpu-prof --cpu-prof-dir=/tmp/p' (used by bench/profile.js)
})
const base = { scenario: 'rtt', impl: opts.impl, workload: opts.workload, inflight: opts.inflight, topo: opts.topo }
out.guard(base, opts.warmup + opts.duration + 15000)

const MAX_SAMPLES = 2000000
const DRAIN_MS = 3000

function bindRpc (rpc) {
  return new Promise((resolve) => rpc.bind(0, '127.0.0.1', resolve))
}

// Client side: returns { start(onDone), issue... } over either an RPC instance or a raw socket.
async function makeClient (impl, workload, port, acct) {
  if (impl === 'floor') {
    const tpl = templates(workload)
    const len = tpl.query.length
    const qo = tpl.queryTidOffset
    const ro = tpl.responseTidOffset
    const sendTimes = new Float64Array(65536)
    const sock = dgram.createSocket('udp4')
    await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve))
    if (opts.rcvbuf) sock.setRecvBufferSize(opts.rcvbuf)
    let tid = 0
    sock.on('message', (buf) => {
      const t1 = performance.now()
      const id = (buf[ro] << 8) | buf[ro + 1]
      acct.complete(null, t1 - sendTimes[id])
    })
    return {
      issue () {
        tid = tid === 65535 ? 1 : tid + 1
        const b = Buffer.allocUnsafe(len)
        tpl.query.copy(b)
        b[qo] = tid >> 8
        b[qo + 1] = tid & 255
        sendTimes[tid] = performance.now()
        sock.send(b, 0, len, port, '127.0.0.1')
      },
      lossy: true,
      close: () => new Promise((resolve) => sock.close(resolve))
    }
  }
  const RPC = loadRpc(impl)
  const rpc = RPC()
  rpc.on('warning', () => { acct.warnings++ })
  await bindRpc(rpc)
  if (opts.rcvbuf) rpc.socket.setRecvBufferSize(opts.rcvbuf)
  const peer = { host: '127.0.0.1', port }
  const query = WORKLOADS[workload].query
  return {
    issue () {
      const t0 = performance.now()
      rpc.query(peer, query, function (err) {
        acct.complete(err, performance.now() - t0)
      })
    },
    lossy: false,
    rpc,
    close: () => new Promise((resolve) => {
      const t = setTimeout(resolve, 1000)
      rpc.destroy(() => { clearTimeout(t); resolve() })
    })
  }
}

async function main () {
  const { impl, workload, topo } = opts
  if (impl === 'native') {
    out.emit(Object.assign(base, await require('../lib/native').runRtt(opts)))
    return
  }
  const N = opts.inflight
  let server = null
  let remote = null
  let port
  if (topo === '2p') {
    remote = forkServer(impl, workload, opts.serverExecArgv ? String(opts.serverExecArgv).split(' ') : [], opts.rcvbuf)
    const ready = await remote.wait('ready', 10000)
    port = ready.port
  } else {
    server = await new Promise((resolve, reject) => startServer(impl, workload, (e, s) => e ? reject(e) : resolve(s), opts.rcvbuf))
    port = server.port
  }

  const lat = new Float64Array(MAX_SAMPLES)
  // Touch every page now: otherwise its resident size (up to 16 MB) grows with the number of
  // completions, and the faster implementation's peak RSS would carry more of the harness.
  for (let i = 0; i < MAX_SAMPLES; i += 512) lat[i] = 0
  let nlat = 0
  let measuring = false
  let stopping = false
  let onDrained = null
  let client = null
  const acct = {
    inflight: 0,
    completed: 0, // successful completions inside the window
    completedTotal: 0,
    errors: 0, // callback errors (timeouts) inside the window
    errorsTotal: 0,
    warnings: 0,
    lost: 0, // floor only: datagrams given up by the watchdog
    complete (err, ms) {
      this.inflight--
      this.completedTotal++
      if (err) {
        this.errorsTotal++
        if (measuring) this.errors++
      } else if (measuring) {
        this.completed++
        if (nlat < MAX_SAMPLES) lat[nlat++] = ms * 1000
      }
      if (!stopping) {
        this.inflight++
        client.issue()
      } else if (this.inflight <= 0 && onDrained) {
        onDrained()
      }
    }
  }
  client = await makeClient(impl, workload, port, acct)

  // Floor has no timeouts: if nothing came back for 250 ms, count the in-flight datagrams as lost and refill.
  let lastTotal = -1
  const watchdog = client.lossy
    ? setInterval(() => {
      if (!stopping && acct.completedTotal === lastTotal && acct.inflight > 0) {
        acct.lost += acct.inflight
        acct.inflight = 0
        for (let i = 0; i < N; i++) { acct.inflight++; client.issue() }
      }
      lastTotal = acct.completedTotal
    }, 250)
    : null

  // Ramp up to N in flight, 8 per event-loop turn: a cold burst of 256 overflows the receiver's
  // socket buffer, and each lost query would then sit out its 2 s timeout inside the window.
  await new Promise((resolve) => {
    const step = () => {
      for (let i = 0; i < 8 && acct.inflight < N; i++) { acct.inflight++; client.issue() }
      if (acct.inflight < N) setImmediate(step)
      else resolve()
    }
    step()
  })

  await new Promise((resolve) => setTimeout(resolve, opts.warmup))
  const s0 = cpu.snapshot()
  const srvQueries0 = server ? server.stats.queries : 0
  measuring = true
  if (remote) await remote.request('mark', 'marked')
  await new Promise((resolve) => setTimeout(resolve, opts.duration))
  measuring = false
  const s1 = cpu.snapshot()
  const srv = remote ? await remote.request('report', 'report') : null
  stopping = true
  const d = cpu.delta(s0, s1)

  if (acct.inflight > 0) {
    await new Promise((resolve) => {
      const t = setTimeout(resolve, client.lossy ? 300 : DRAIN_MS)
      onDrained = () => { clearTimeout(t); resolve() }
    })
  }
  if (watchdog) clearInterval(watchdog)
  const rssMb = cpu.peakRssMb()
  const threads = cpu.threadCount()
  await client.close()
  if (server) await new Promise((resolve) => { const t = setTimeout(resolve, 1000); server.close(() => { clearTimeout(t); resolve() }) })
  if (remote) await remote.stop()

  const lats = latencySummary(lat, nlat)
  const k = acct.completed / 1000
  const srvProc = srv ? srv.cpu.procMs : 0
  const srvMain = srv ? srv.cpu.mainMs : 0
  out.emit(Object.assign(base, {
    ok: acct.completed > 0,
    error: acct.completed > 0 ? undefined : 'no completed queries',
    qps: acct.completed / (d.wallMs / 1000),
    p50_us: lats.p50,
    p99_us: lats.p99,
    p999_us: lats.p999,
    max_us: lats.max,
    // CPU per 1000 completed queries, client + server (2p: both processes)
    cpu_ms_per_1k: (d.procMs + srvProc) / k,
    main_ms_per_1k: (d.mainMs + srvMain) / k,
    client_cpu_ms_per_1k: d.procMs / k,
    client_main_ms_per_1k: d.mainMs / k,
    srv_cpu_ms_per_1k: srv ? srvProc / k : null,
    srv_main_ms_per_1k: srv ? srvMain / k : null,
    procstat_cpu_ms_per_1k: (d.procStatMs + (srv ? srv.cpu.procStatMs : 0)) / k,
    rss_mb: rssMb,
    srv_rss_mb: srv ? srv.rssMb : null,
    threads,
    srv_threads: srv ? srv.threads : null,
    other_cpu_pct: Math.max(0, (d.sysBusyMs - d.procMs - srvProc) / (d.wallMs * cpu.ncpu) * 100),
    window_ms: d.wallMs,
    completed: acct.completed,
    errors: acct.errors,
    errors_total: acct.errorsTotal,
    warnings: acct.warnings,
    lost: acct.lost,
    srv_queries: srv ? srv.queries : server.stats.queries - srvQueries0, // since the window start
    rcvbuf: opts.rcvbuf,
    main_thread_cpu_source: cpu.mainThreadSource()
  }))
}

main().catch((err) => out.fail(base, err))
