'use strict'
// The native floor (bench/native, Rust + tokio): built once by run.js, driven by rtt.js --impl native.
// The binary gets the same pre-encoded bytes as the raw-dgram floor (lib/workloads.js templates)
// and prints raw measurements; toResult() maps them to the fields every implementation reports.
const { spawn, spawnSync } = require('child_process')
const fs = require('fs')
const path = require('path')
const { templates } = require('./workloads')

const DIR = path.join(__dirname, '..', 'native')
const MANIFEST = path.join(DIR, 'Cargo.toml')
const BIN = path.join(DIR, 'target', 'release', 'krpc-bench-native')

// Returns null when the binary is ready, else why not (cargo missing, build failed).
function build (log) {
  const r = spawnSync('cargo', ['build', '--release', '--quiet', '--manifest-path', MANIFEST], {
    encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 600000
  })
  if (r.error && r.error.code === 'ENOENT') return 'cargo not found: native floor skipped'
  if (r.error || r.status !== 0) {
    const why = (r.error && r.error.message) || (r.stderr || '').trim().split('\n').filter(Boolean).pop() || 'exit ' + r.status
    if (log) log(r.stderr || '')
    return 'native build failed: ' + why.slice(0, 160)
  }
  return fs.existsSync(BIN) ? null : 'native build produced no binary at ' + BIN
}

function templateArgs (workload) {
  const t = templates(workload)
  return ['--query', t.query.toString('hex'), '--response', t.response.toString('hex'),
    '--qoff', String(t.queryTidOffset), '--roff', String(t.responseTidOffset)]
}

// Runs the child to its end; resolves with its last JSON line. The child ends by itself
// (its own cap); the timer here is the last resort.
function runJson (args, timeoutMs) {
  return new Promise((resolve, reject) => {
    const c = spawn(BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    c.stdout.on('data', (d) => { out += d })
    c.stderr.on('data', (d) => { if (err.length < 4000) err += d })
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs)
    c.on('error', (e) => { clearTimeout(t); reject(e) })
    c.on('close', (code, sig) => {
      clearTimeout(t)
      const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop()
      if (line && code === 0) return resolve(JSON.parse(line))
      reject(new Error(`native client ${sig || 'exit ' + code}: ${err.trim().split('\n').pop() || 'no output'}`))
    })
  })
}

// A server child; its stdin is our pipe, so it exits when this process does.
function startServer (workload, rcvbuf) {
  return new Promise((resolve, reject) => {
    const c = spawn(BIN, ['server', ...templateArgs(workload), '--rcvbuf', String(rcvbuf || 0)], { stdio: ['pipe', 'pipe', 'inherit'] })
    let buf = ''
    const t = setTimeout(() => { c.kill('SIGKILL'); reject(new Error('native server did not start')) }, 10000)
    c.on('error', (e) => { clearTimeout(t); reject(e) })
    c.stdout.on('data', (d) => {
      buf += d
      const nl = buf.indexOf('\n')
      if (nl === -1) return
      clearTimeout(t)
      const { port, pid } = JSON.parse(buf.slice(0, nl))
      resolve({ port, pid, stop: () => { try { c.stdin.end() } catch (_) {} ; c.kill('SIGKILL') } })
    })
  })
}

async function runRtt (opts) {
  const common = [...templateArgs(opts.workload), '--inflight', String(opts.inflight), '--warmup', String(opts.warmup),
    '--duration', String(opts.duration), '--rcvbuf', String(opts.rcvbuf || 0)]
  const cap = opts.warmup + opts.duration + 10000
  if (opts.topo === '1p') return toResult(await runJson(['pair', ...common], cap), false, opts.rcvbuf)
  const srv = await startServer(opts.workload, opts.rcvbuf)
  try {
    return toResult(await runJson(['client', ...common, '--port', String(srv.port), '--server-pid', String(srv.pid)], cap), true, opts.rcvbuf)
  } finally {
    srv.stop()
  }
}

function toResult (r, twoProc, rcvbuf) {
  const k = r.completed / 1000
  const ms = (ns) => ns / 1e6
  const srvProc = twoProc ? ms(r.srv_proc_ns) : 0
  const srvMain = twoProc ? ms(r.srv_main_ns) : 0
  const wallMs = ms(r.window_ns)
  return {
    ok: r.completed > 0,
    error: r.completed > 0 ? undefined : 'no completed queries',
    qps: r.completed / (wallMs / 1000),
    p50_us: r.p50_us,
    p99_us: r.p99_us,
    p999_us: r.p999_us,
    max_us: r.max_us,
    cpu_ms_per_1k: (ms(r.proc_ns) + srvProc) / k,
    main_ms_per_1k: (ms(r.main_ns) + srvMain) / k,
    client_cpu_ms_per_1k: ms(r.proc_ns) / k,
    client_main_ms_per_1k: ms(r.main_ns) / k,
    srv_cpu_ms_per_1k: twoProc ? srvProc / k : null,
    srv_main_ms_per_1k: twoProc ? srvMain / k : null,
    procstat_cpu_ms_per_1k: null,
    rss_mb: r.rss_kb / 1024,
    srv_rss_mb: twoProc && r.srv_rss_kb !== null ? r.srv_rss_kb / 1024 : null,
    threads: r.threads,
    srv_threads: r.srv_threads,
    other_cpu_pct: Math.max(0, (ms(r.sys_busy_ns) - ms(r.proc_ns) - srvProc) / (wallMs * r.ncpu) * 100),
    window_ms: wallMs,
    completed: r.completed,
    errors: 0,
    errors_total: 0,
    warnings: 0,
    lost: r.lost + r.send_errors,
    srv_queries: null,
    rcvbuf: rcvbuf || 0,
    // The thread that runs the current-thread tokio runtime, which does all the socket work.
    main_thread_cpu_source: 'schedstat (runtime thread)'
  }
}

module.exports = { build, runRtt, BIN, MANIFEST }
