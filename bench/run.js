#!/usr/bin/env node
'use strict'
// Benchmark orchestrator: `npm run bench` (full, ~7 min on 2 vCPU) or `npm run bench -- --quick` (~1.5 min).
// Every measurement runs as a fresh child process (no shared heap/JIT state); for each configuration
// the implementations alternate ours, ref, floor, native, ours, ref, ... and the table shows medians.
// native (bench/native, Rust + tokio) is built once here with cargo, and skipped if cargo is missing;
// it runs the ping and get_peers round trips only.
//
// Options:
//   --quick            1 run per cell, short windows
//   --runs N           runs per cell (default 3; quick 1)
//   --duration MS      measured window of the round-trip scenarios (default 1500; quick 600)
//   --warmup MS        unmeasured warm-up before it (default 400; quick 200)
//   --only REGEX       only configurations whose label matches, e.g. 'ping', '2p', 'storm|flood'
//   --impls LIST       subset of ours,ref,floor,native (default all)
//   --json FILE        also write the raw runs there (default bench/results/latest.json)
//   --from FILE        print the tables of a saved run again (no measurement)
//   --runtime NAME     run the scenario processes under bun or deno (the binaries of the optional
//                      packages in scripts/runtimes) instead of this node; both impls on it
const { spawn, spawnSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const parseArgs = require('./lib/args')
const { median, max } = require('./lib/stats')
const { fmt, render } = require('./lib/table')
const { ROOT, refVersion } = require('./lib/impls')
const native = require('./lib/native')

const argv = process.argv.slice(2)
const quick = argv.includes('--quick')
const opts = parseArgs(argv, {
  quick: false,
  runs: quick ? 1 : 3,
  duration: quick ? 600 : 1500,
  warmup: quick ? 200 : 400,
  floodDuration: quick ? 1500 : 3000,
  floodBaseline: quick ? 500 : 1000,
  stormCount: 50000,
  serveDuration: quick ? 1000 : 3000,
  swarmLookups: quick ? 20 : 50,
  crawlBatches: quick ? '100,1000' : '100,300,1000',
  only: '',
  impls: 'ours,ref,floor,native',
  json: path.join(__dirname, 'results', 'latest.json')
})
const IMPLS = String(opts.impls).split(',')
const RUNTIME = runtimeCommand(opts.runtime)
const only = opts.only ? new RegExp(opts.only) : null
const SCEN = path.join(__dirname, 'scenarios')

// The command that runs a scenario. Bun has no --expose-gc (the timeout storm and the garbage
// flood need it and report n/a there); Deno takes V8 flags through --v8-flags.
function runtimeCommand (name) {
  if (!name || name === true || name === 'node') return { exe: process.execPath, args: ['--expose-gc'], label: 'Node ' + process.version }
  const known = {
    bun: { pkg: '@oven/bun-linux-x64', bin: ['bin', 'bun'], args: [] },
    deno: { pkg: '@deno/linux-x64-glibc', bin: ['deno'], args: ['run', '-A', '--v8-flags=--expose-gc'] }
  }[name]
  if (!known) throw new Error('--runtime: bun, deno or node')
  let exe
  try {
    exe = path.join(path.dirname(require.resolve(known.pkg + '/package.json', { paths: [ROOT] })), ...known.bin)
  } catch (_) {
    throw new Error(`--runtime ${name}: ${known.pkg} is not installed (linux-x64 only; npm install)`)
  }
  const version = spawnSync(exe, ['--version'], { encoding: 'utf8' }).stdout.trim().split('\n')[0]
  return { exe, args: known.args, label: `${name} ${version.replace(/^deno /, '')}` }
}

// ---------------------------------------------------------------- child management
const children = new Set()
function killChildren () {
  for (const c of children) { try { process.kill(-c.pid, 'SIGKILL') } catch (_) { try { c.kill('SIGKILL') } catch (_) {} } }
  children.clear()
}
process.on('exit', killChildren)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { killChildren(); process.exit(130) })
}

function runChild (script, args, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = Date.now()
    // detached: own process group, so a kill also reaches the forked server grandchild.
    const c = spawn(RUNTIME.exe, [...RUNTIME.args, path.join(SCEN, script), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'], detached: true
    })
    children.add(c)
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (d) => { stdout += d })
    c.stderr.on('data', (d) => { if (stderr.length < 20000) stderr += d })
    const timer = setTimeout(() => {
      try { process.kill(-c.pid, 'SIGKILL') } catch (_) {}
    }, timeoutMs)
    c.on('close', (code, sig) => {
      clearTimeout(timer)
      children.delete(c)
      try { process.kill(-c.pid, 'SIGKILL') } catch (_) {} // any straggler in its group
      const line = stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop()
      let res = null
      try { res = line && JSON.parse(line) } catch (_) {}
      if (!res) {
        const why = sig ? `killed by ${sig}${Date.now() - t0 >= timeoutMs ? ' (timeout)' : ''}` : `exit ${code}`
        res = { ok: false, error: `${why}: ${(stderr.trim().split('\n').filter(Boolean).pop() || 'no output').slice(0, 200)}` }
      }
      res.child_wall_ms = Date.now() - t0
      resolve(res)
    })
  })
}

// ---------------------------------------------------------------- machine and load
function machine () {
  const cpus = os.cpus()
  let kernel = os.release()
  return {
    cpu: `${cpus.length} x ${cpus[0] && cpus[0].model}`,
    mem_gb: +(os.totalmem() / 2 ** 30).toFixed(1),
    os: `${os.type()} ${kernel}`,
    node: process.version,
    runtime: RUNTIME.label,
    ref: 'k-rpc-socket@' + refVersion(),
    ours: require(path.join(ROOT, 'package.json')).version
  }
}

function loadavg () {
  return os.loadavg().map((x) => x.toFixed(2)).join(' ')
}

function checkOurs () {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(ROOT)})`], { encoding: 'utf8', timeout: 20000 })
  if (r.status === 0 && !r.signal) return null
  const msg = (r.stderr || '').split('\n').find((l) => /Error/.test(l)) || r.signal || 'exit ' + r.status
  return msg.trim().slice(0, 160)
}

// ---------------------------------------------------------------- plan
const rttConfigs = []
for (const workload of ['ping', 'find_node', 'get_peers']) {
  for (const topo of ['1p', '2p']) {
    for (const inflight of [1, 16, 256]) {
      rttConfigs.push({ label: `rtt ${workload} ${inflight} ${topo}`, workload, inflight, topo })
    }
  }
}
// The native floor answers the two workloads of issue 12's targets (the smallest and the largest reply).
const NATIVE_WORKLOADS = ['ping', 'get_peers']
const selected = rttConfigs.filter((c) => !only || only.test(c.label))
const doStorm = !only || only.test('timeout_storm')
const doFlood = !only || only.test('garbage_flood')
// End to end with bittorrent-dht 11, and the crawler-shaped load (ours and ref only).
const doServe = !only || only.test('dht_serve')
const doSwarm = !only || only.test('dht_swarm')
const doCrawl = !only || only.test('crawl')
const CRAWL_BATCHES = String(opts.crawlBatches).split(',').map(Number)

function header (st) {
  const m = st.machine
  console.log(`# krpc-socket benchmark  ${new Date(st.startedAt).toISOString()}`)
  console.log(`command: ${st.command}`)
  console.log(`machine: ${m.cpu}, ${m.mem_gb} GB, ${m.os}, ${m.runtime || 'Node ' + m.node}`)
  console.log(`ours: @dwdht/krpc-socket ${m.ours}${st.oursError ? '  -> n/a (load error): ' + st.oursError : ''}${st.oursCommit ? ' (git ' + st.oursCommit + ')' : ''}; ref: ${m.ref}`)
  if (st.nativeError !== undefined) console.log(`native: bench/native (Rust, tokio current-thread)${st.nativeError ? '  -> n/a: ' + st.nativeError : ''}`)
  console.log(`runs per cell: ${st.opts.runs}; rtt window ${st.opts.warmup} ms warm-up + ${st.opts.duration} ms; loadavg at start: ${st.load0}`)
  console.log('')
}

function gitHead () {
  const r = spawnSync('git', ['-C', ROOT, 'log', '-1', '--format=%h'], { encoding: 'utf8' })
  const d = spawnSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'index.js', 'lib', 'src'], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() + (d.stdout && d.stdout.trim() ? '+uncommitted' : '') : null
}

async function main () {
  if (opts.from) {
    // Re-render the tables of an earlier run from its saved raw results.
    const st = JSON.parse(fs.readFileSync(opts.from, 'utf8'))
    header(st)
    report(st)
    return
  }
  const startedAt = new Date()
  const m = machine()
  const load0 = loadavg()
  const oursError = IMPLS.includes('ours') ? checkOurs() : 'not selected'
  const nativeError = IMPLS.includes('native') ? native.build((t) => process.stderr.write(t)) : 'not selected'
  const command = 'npm run bench' + (argv.length ? ' -- ' + argv.join(' ') : '')
  // The output path is recorded relative to the repository: committed runs (bench/data/) must not
  // name a directory of the machine they ran on.
  const recorded = { ...opts, json: opts.json && path.relative(ROOT, path.resolve(opts.json)) }
  const st0 = { startedAt, command, machine: m, oursError, nativeError, oursCommit: gitHead(), load0, opts: recorded }
  header(st0)

  const rttImpls = IMPLS.filter((i) => !(i === 'ours' && oursError) && !(i === 'native' && nativeError))
  const rpcImpls = rttImpls.filter((i) => i !== 'floor' && i !== 'native')
  const implsFor = (c) => rttImpls.filter((i) => i !== 'native' || NATIVE_WORKLOADS.includes(c.workload))
  const e2eCells = (doServe ? 1 : 0) + (doSwarm ? 1 : 0) + (doCrawl ? CRAWL_BATCHES.length : 0)
  const total = selected.reduce((a, c) => a + implsFor(c).length, 0) * opts.runs + (doStorm ? opts.runs * rpcImpls.length : 0) + (doFlood ? opts.runs * rpcImpls.length : 0) +
    e2eCells * opts.runs * rpcImpls.length
  let n = 0
  const t0 = Date.now()
  const progress = (label, res) => {
    n++
    const el = (Date.now() - t0) / 1000
    const eta = n ? el / n * (total - n) : 0
    const brief = !res.ok ? 'FAILED ' + res.error
      : res.scenario === 'rtt' ? `${Math.round(res.qps)} q/s p50 ${fmt(res.p50_us)} us cpu ${fmt(res.cpu_ms_per_1k)} ms/1k other ${fmt(res.other_cpu_pct)}%`
        : res.scenario === 'timeout_storm' ? `send ${fmt(res.send_cpu_ms)} ms expire ${fmt(res.expire_cpu_ms)} ms rss ${fmt(res.rss_bytes_per_pending)} B/q`
          : res.scenario === 'dht_serve' ? `${Math.round(res.served_qps)} q/s srv ${fmt(res.srv_cpu_us_per_query)} us/q other ${fmt(res.other_cpu_pct)}%`
            : res.scenario === 'dht_swarm' ? `lookup p50 ${fmt(res.lookup_p50_ms)} ms cpu ${fmt(res.lookup_cpu_ms)} ms/lookup found ${res.found}/${res.lookups}`
              : res.scenario === 'crawl' ? `issue ${Math.round(res.issue_qps)} q/s ${fmt(res.cpu_us_per_query)} us/q answered ${res.answered} late ${res.late_timeouts} other ${fmt(res.other_cpu_pct)}%`
                : `srv ${fmt(res.srv_cpu_us_per_dgram)} us/dgram warnings ${res.srv_warnings} pings ${res.pings_answered}/${res.pings_sent}`
    process.stderr.write(`[${n}/${total} ${el.toFixed(0)}s eta ${eta.toFixed(0)}s] ${label}: ${brief}\n`)
  }

  const raw = { rtt: {}, storm: {}, flood: {}, serve: {}, swarm: {}, crawl: {} }
  for (const c of selected) {
    raw.rtt[c.label] = {}
    for (let r = 0; r < opts.runs; r++) {
      for (const impl of implsFor(c)) {
        const args = ['--impl', impl, '--workload', c.workload, '--inflight', String(c.inflight), '--topo', c.topo,
          '--warmup', String(opts.warmup), '--duration', String(opts.duration)]
        const res = await runChild('rtt.js', args, opts.warmup + opts.duration + 20000)
        ;(raw.rtt[c.label][impl] = raw.rtt[c.label][impl] || []).push(res)
        progress(`${c.label} ${impl} #${r + 1}`, res)
      }
    }
  }
  if (doStorm) {
    for (let r = 0; r < opts.runs; r++) {
      for (const impl of rpcImpls) {
        const res = await runChild('timeout-storm.js', ['--impl', impl, '--count', String(opts.stormCount), '--timeout', '500'], 90000)
        ;(raw.storm[impl] = raw.storm[impl] || []).push(res)
        progress(`timeout_storm ${impl} #${r + 1}`, res)
      }
    }
  }
  if (doFlood) {
    for (let r = 0; r < opts.runs; r++) {
      for (const impl of rpcImpls) {
        const res = await runChild('garbage-flood.js', ['--impl', impl, '--duration', String(opts.floodDuration), '--baseline', String(opts.floodBaseline)], 60000)
        ;(raw.flood[impl] = raw.flood[impl] || []).push(res)
        progress(`garbage_flood ${impl} #${r + 1}`, res)
      }
    }
  }

  const e2e = async (key, script, args, cap, label) => {
    for (let r = 0; r < opts.runs; r++) {
      for (const impl of rpcImpls) {
        const res = await runChild(script, ['--impl', impl, ...args], cap)
        ;(raw[key][impl] = raw[key][impl] || []).push(res)
        progress(`${label} ${impl} #${r + 1}`, res)
      }
    }
  }
  if (doServe) await e2e('serve', 'dht-serve.js', ['--duration', String(opts.serveDuration)], opts.serveDuration + 60000, 'dht_serve')
  if (doSwarm) await e2e('swarm', 'dht-swarm.js', ['--lookups', String(opts.swarmLookups)], 120000, 'dht_swarm')
  if (doCrawl) {
    for (const b of CRAWL_BATCHES) {
      raw.crawl[b] = {}
      const sub = { crawl: raw.crawl[b] }
      for (let r = 0; r < opts.runs; r++) {
        for (const impl of rpcImpls) {
          const res = await runChild('crawl.js', ['--impl', impl, '--batch', String(b)], 150000)
          ;(sub.crawl[impl] = sub.crawl[impl] || []).push(res)
          progress(`crawl batch ${b} ${impl} #${r + 1}`, res)
        }
      }
    }
  }

  const st = Object.assign(st0, {
    load1: loadavg(),
    wallS: (Date.now() - t0) / 1000,
    impls: IMPLS,
    selected: selected.map((c) => c.label),
    doStorm,
    doFlood,
    doServe,
    doSwarm,
    doCrawl,
    raw
  })
  report(st)
  if (opts.json) {
    fs.mkdirSync(path.dirname(opts.json), { recursive: true })
    fs.writeFileSync(opts.json, JSON.stringify(st, null, 1))
    console.log(`raw results: ${path.relative(process.cwd(), opts.json)} (re-render with: node bench/run.js --from <file>)`)
  }
}

// Issue 12's targets, as ratios of medians over this run's runs, and again over its quiet runs
// only (other CPU < QUIET_PCT %: on a shared machine one busy neighbour moves a cell by 30 %).
const QUIET_PCT = 5
function issue12Targets (rtt) {
  const med = (label, impl, key, quiet) => {
    const runs = ((rtt[label] || {})[impl] || []).filter((x) => x.ok && (!quiet || x.other_cpu_pct < QUIET_PCT))
    return { v: median(runs.map((x) => x[key])), n: runs.length }
  }
  const r = (label, a, b, key, quiet) => {
    const x = med(label, a, key, quiet)
    const y = med(label, b, key, quiet)
    return { v: x.v === null || y.v === null || !y.v ? null : x.v / y.v, n: `${x.n}/${y.n}` }
  }
  const P = 'rtt ping 16 2p'
  const G = 'rtt get_peers 16 2p'
  const lines = []
  const row = (what, f, goal, ok) => {
    const all = f(false)
    const quiet = f(true)
    const txt = (x) => x.v === null ? 'n/a' : x.v
    lines.push(`| ${what} | ${txt(all)} | ${txt(quiet)}${quiet.v === null ? '' : ' (' + quiet.n + ' runs)'} | ${goal} | ${all.v === null ? '-' : ok(all.ok) ? 'yes' : 'no'} |`)
  }
  const one = (label, a, b, key) => (quiet) => {
    const x = r(label, a, b, key, quiet)
    return { v: x.v === null ? null : x.v.toFixed(2), ok: x.v, n: x.n }
  }
  const sides = (label) => (quiet) => {
    const c = r(label, 'ours', 'native', 'client_main_ms_per_1k', quiet)
    const sv = r(label, 'ours', 'native', 'srv_main_ms_per_1k', quiet)
    return {
      v: c.v === null || sv.v === null ? null : `client ${c.v.toFixed(2)}, server ${sv.v.toFixed(2)}`,
      ok: c.v === null || sv.v === null ? null : Math.max(c.v, sv.v),
      n: c.n
    }
  }
  row('ping 16/2p q/s, ours/native', one(P, 'ours', 'native', 'qps'), '>= 0.6', (v) => v >= 0.6)
  row('get_peers 16/2p q/s, ours/floor (dgram)', one(G, 'ours', 'floor', 'qps'), '>= 1.0', (v) => v >= 1.0)
  row('ping 16/2p main-thread CPU per query per side, ours/native', sides(P), '<= 1.5', (v) => v <= 1.5)
  row('get_peers 16/2p main-thread CPU per query per side, ours/native', sides(G), '<= 2.0', (v) => v <= 2.0)
  if (lines.every((l) => l.includes('| n/a | n/a |'))) return null
  return ['## Issue 12 targets (ratios of this run\'s medians)\n',
    `| target | measured, all runs | measured, runs with other CPU < ${QUIET_PCT} % (ours/other) | goal | met (all runs)? |`,
    '|:--|--:|--:|--:|:--|', ...lines, ''].join('\n')
}

// The bittorrent-dht and crawler tables: one row per implementation (medians), then ours/ref.
function e2eReport (st, rpcImpls, med, failed, ratio, na) {
  const raw = st.raw
  const parts = []
  const table = (runsByImpl, cols, lead) => {
    const rows = []
    const vals = {}
    for (const impl of rpcImpls) {
      const runs = runsByImpl[impl]
      const why = na(impl) || failed(runs)
      if (why || !runs) { rows.push([...lead, impl, why || 'n/a', ...cols.slice(1).map(() => '-')]); continue }
      vals[impl] = cols.map(([, k]) => med(runs, k))
      rows.push([...lead, impl, ...vals[impl].map((v, i) => cols[i][0] === 'other CPU % (max)' ? fmt(max(runs.map((x) => x.other_cpu_pct)), 0) : fmt(v))])
    }
    if (vals.ours && vals.ref) rows.push([...lead, 'ours/ref', ...cols.map((c, i) => c[0] === 'other CPU % (max)' ? '' : fmt(ratio(vals.ours[i], vals.ref[i]), 2))])
    return rows
  }
  if (raw.serve && Object.keys(raw.serve).length) {
    const cols = [['served q/s', 'served_qps'], ['srv CPU us/q', 'srv_cpu_us_per_query'], ['srv main us/q', 'srv_main_us_per_query'],
      ['srv CPU %', 'srv_cpu_pct'], ['p50 us', 'p50_us'], ['p99 us', 'p99_us'], ['routing table', 'table_size'], ['lost', 'lost'],
      ['srv peak RSS MB', 'srv_rss_mb'], ['other CPU % (max)', 'other_cpu_pct']]
    parts.push('## bittorrent-dht 11 node serving find_node + get_peers to 64 clients (medians)\n')
    parts.push(render(['impl', ...cols.map((c) => c[0])], table(raw.serve, cols, []), ['l']))
    parts.push('')
    parts.push('The server is a bittorrent-dht node (k-rpc 5 on the socket under test) in its own process; the 64 clients are raw dgram')
    parts.push('sockets, one query in flight each, alternating find_node (20 nodes back) and get_peers (50 values back). CPU per served query.')
    parts.push('')
  }
  if (raw.swarm && Object.keys(raw.swarm).length) {
    const cols = [['bootstrap ms', 'bootstrap_ms'], ['bootstrap CPU ms', 'bootstrap_cpu_ms'], ['lookup p50 ms', 'lookup_p50_ms'],
      ['lookup p90 ms', 'lookup_p90_ms'], ['lookup max ms', 'lookup_max_ms'], ['CPU ms/lookup', 'lookup_cpu_ms'], ['main ms/lookup', 'lookup_main_ms'],
      ['queries/lookup', 'lookup_queries'], ['found', 'found'], ['peak RSS MB', 'rss_mb'], ['threads', 'threads'], ['other CPU % (max)', 'other_cpu_pct']]
    parts.push('## 50-node bittorrent-dht swarm in one process, announce + lookup per info hash (medians)\n')
    parts.push(render(['impl', ...cols.map((c) => c[0])], table(raw.swarm, cols, []), ['l']))
    parts.push('')
    parts.push('All 50 nodes share one process, so CPU per lookup is the whole swarm\'s work for it (queries sent and answered).')
    parts.push('')
  }
  if (raw.crawl && Object.keys(raw.crawl).length) {
    const cols = [['issue q/s', 'issue_qps'], ['total ms', 'total_ms'], ['CPU us/q', 'cpu_us_per_query'], ['main us/q', 'main_us_per_query'],
      ['answered', 'answered'], ['timed out', 'timed_out'], ['late timeouts', 'late_timeouts'], ['timeout age p99 ms', 'timeout_age_p99_ms'],
      ['timeout age max ms', 'timeout_age_max_ms'], ['heap MB at issue', 'heap_mb_at_issue'], ['RSS MB at issue', 'rss_mb_at_issue'],
      ['peak RSS MB', 'rss_mb'], ['other CPU % (max)', 'other_cpu_pct']]
    const rows = []
    const best = {}
    for (const b of Object.keys(raw.crawl).map(Number).sort((x, y) => x - y)) {
      rows.push(...table(raw.crawl[b], cols, [String(b)]))
      for (const impl of rpcImpls) {
        const runs = raw.crawl[b][impl] || []
        const q = med(runs, 'issue_qps')
        const ans = med(runs, 'answered')
        const exp = med(runs, 'expected_answers')
        if (q !== null && ans !== null && exp && ans >= 0.99 * exp && (!best[impl] || q > best[impl].q)) best[impl] = { q, b, cpu: med(runs, 'cpu_us_per_query') }
      }
    }
    const ns = Object.values(raw.crawl).map((x) => Object.values(x)[0] || []).flat().find((x) => x && x.netns)
    parts.push(`## Crawler-shaped load: find_node to 20,000 distinct addresses on 127.1.0.0/16, 30 % answer, timeout 1000 ms (medians)\n`)
    parts.push(render(['batch/turn', 'impl', ...cols.map((c) => c[0])], rows, ['r', 'l']))
    parts.push('')
    parts.push(`Inside a network namespace (${ns ? ns.netns : 'unshare'}; lo up). "batch/turn" = query() calls per event-loop turn; issue q/s = 20,000 / time to issue them all`)
    parts.push('while replies and timeouts are handled in between. Late = fired more than 1.25 x timeout + 50 ms after query() (the reference')
    parts.push('checks deadlines every timeout/4). Highest issue rate with >= 99 % of the 6,000 answers received: ' +
      (rpcImpls.map((i) => best[i] ? `${i} ${fmt(best[i].q)} q/s (batch ${best[i].b}, ${fmt(best[i].cpu)} us CPU/q)` : `${i} none`).join(', ')) +
      (best.ours && best.ref ? `; ours/ref ${fmt(best.ours.q / best.ref.q, 2)}.` : '.'))
    parts.push('')
  }
  return parts
}

function report (st) {
  const { raw, oursError, nativeError, load0, load1 } = st
  const IMPLS = st.impls || ['ours', 'ref', 'floor']
  const selected = rttConfigs.filter((c) => (st.selected || Object.keys(raw.rtt)).includes(c.label))
  const doStorm = st.doStorm !== undefined ? st.doStorm : Object.keys(raw.storm).length > 0
  const doFlood = st.doFlood !== undefined ? st.doFlood : Object.keys(raw.flood).length > 0
  const opts = Object.assign({ runs: 3, stormCount: 50000, floodDuration: 3000 }, st.opts)
  const rpcImpls = IMPLS.filter((i) => i !== 'floor' && i !== 'native' && !(i === 'ours' && oursError))
  const report = []
  const na = (impl) => impl === 'ours' && oursError ? 'n/a (load error)'
    : impl === 'native' && nativeError ? 'n/a (' + nativeError.slice(0, 60) + ')' : null
  // Median of a field over the successful runs; a cell with no successful run shows why.
  const med = (runs, key) => median((runs || []).filter((x) => x.ok).map((x) => x[key]))
  const failed = (runs) => {
    if (!runs || !runs.length) return null
    if (runs.some((x) => x.ok)) return null
    return 'n/a (failed: ' + String(runs[0].error).slice(0, 60) + ')'
  }
  const ratio = (a, b) => (a === null || b === null || !b) ? null : a / b

  // ---- round trips
  if (selected.length) {
    const cols = [['q/s', 'qps'], ['p50 us', 'p50_us'], ['p99 us', 'p99_us'], ['p999 us', 'p999_us'],
      ['CPU ms/1k q', 'cpu_ms_per_1k'], ['main ms/1k q', 'main_ms_per_1k'], ['srv CPU ms/1k q', 'srv_cpu_ms_per_1k'],
      ['cli main ms/1k q', 'client_main_ms_per_1k'], ['srv main ms/1k q', 'srv_main_ms_per_1k'],
      ['peak RSS MB', 'rss_mb']]
    const headers = ['scenario', 'in flight', 'topology', 'impl', ...cols.map((c) => c[0]), 'other CPU % (max)', 'errors']
    const rows = []
    const ratioRow = (lead, vals, a, b) => {
      if (vals[b] && IMPLS.includes(a)) {
        rows.push([...lead, `${a}/${b}`, ...cols.map((_, i) => vals[a] ? fmt(ratio(vals[a][i], vals[b][i]), 2) : 'n/a'), '', ''])
      }
    }
    for (const c of selected) {
      const per = raw.rtt[c.label]
      const lead = [c.workload, String(c.inflight), c.topo === '1p' ? '1 process' : '2 processes']
      const vals = {}
      for (const impl of ['ours', 'ref', 'floor', 'native']) {
        if (!IMPLS.includes(impl)) continue
        if (impl === 'native' && !nativeError && !per[impl]) continue // not a native workload
        const why = na(impl) || failed(per[impl])
        if (why) {
          rows.push([...lead, impl, why, ...cols.slice(1).map(() => '-'), '-', '-'])
          continue
        }
        vals[impl] = cols.map(([, k]) => med(per[impl], k))
        const okRuns = per[impl].filter((x) => x.ok)
        const errs = okRuns.reduce((a, x) => a + (x.errors_total || 0) + (x.lost || 0), 0) + (per[impl].length - okRuns.length)
        rows.push([...lead, impl, ...vals[impl].map((v) => fmt(v)), fmt(max(per[impl].map((x) => x.other_cpu_pct)), 0), String(errs)])
        if (impl !== 'ours') ratioRow(lead, vals, 'ours', impl)
      }
    }
    report.push('## Round trips (medians of ' + opts.runs + ' runs)\n')
    report.push(render(headers, rows, ['l', 'r', 'l', 'l']))
    report.push('')
    report.push('CPU and main-thread CPU are per 1000 completed queries, client + server (both processes in the 2-process rows);')
    report.push('"srv CPU" is the server process alone (2-process rows). "other CPU %" is the busy time of the rest of the machine')
    report.push('during the window (as % of all CPUs), the highest over the runs: a large value marks a noisy cell.')
    report.push('ours/ref < 1 is better for latency and CPU, > 1 is better for q/s. "errors" = timeouts + lost datagrams + failed runs,')
    report.push('summed over all runs, warm-up and drain included. "cli main"/"srv main": main-thread CPU of each side alone')
    report.push('(2-process rows; for native, the thread that runs its current-thread tokio runtime and does all its socket work).')
    report.push('')
    const t = issue12Targets(raw.rtt)
    if (t) report.push(t)
  }

  // ---- timeout storm
  if (doStorm) {
    const cols = [['send CPU ms', 'send_cpu_ms'], ['send us/q', 'send_cpu_us_per_query'], ['send wall ms', 'send_wall_ms'],
      ['expire CPU ms', 'expire_cpu_ms'], ['expire us/q', 'expire_cpu_us_per_query'],
      ['heap B/pending', 'heap_bytes_per_pending'], ['external B/pending', 'external_bytes_per_pending'],
      ['RSS B/pending', 'rss_bytes_per_pending'], ['timed out after ms (min/p50/max)', null], ['peak RSS MB', 'rss_mb']]
    const headers = ['impl', ...cols.map((c) => c[0]), 'callbacks fired', 'inflight after', 'ok runs']
    const rows = []
    const vals = {}
    for (const impl of rpcImpls.concat(IMPLS.includes('ours') && oursError ? ['ours'] : [])) {
      const runs = raw.storm[impl]
      const why = na(impl) || failed(runs)
      if (why) { rows.push([impl, why, ...cols.slice(1).map(() => '-'), '-', '-', '-']); continue }
      vals[impl] = cols.map(([, k]) => k ? med(runs, k) : null)
      const age = ['timeout_age_min_ms', 'timeout_age_p50_ms', 'timeout_age_max_ms'].map((k) => fmt(med(runs, k), 0)).join('/')
      const okRuns = runs.filter((x) => x.ok).length
      const last = runs[runs.length - 1]
      rows.push([impl, ...vals[impl].map((v, i) => cols[i][1] ? fmt(v) : age),
        `${last.callbacks_fired}/${last.count}`, String(last.inflight_after), `${okRuns}/${runs.length}`])
    }
    if (vals.ours && vals.ref) rows.push(['ours/ref', ...cols.map((c, i) => c[1] ? fmt(ratio(vals.ours[i], vals.ref[i]), 2) : ''), '', '', ''])
    report.push(`## Timeout storm: ${opts.stormCount} queries to a port that never answers, timeout 500 ms (medians)\n`)
    report.push(render(headers, rows, ['l']))
    report.push('')
    report.push('send = the synchronous query() loop plus the deferred dgram sends; expire = from then until the last callback.')
    report.push('B/pending = (after - before) / count with all queries pending, each measured after a forced GC.')
    report.push('')
  }

  // ---- garbage flood
  if (doFlood) {
    const cols = [['flood dgram/s', 'flood_rate'], ['srv CPU us/dgram', 'srv_cpu_us_per_dgram'], ['srv main us/dgram', 'srv_main_us_per_dgram'],
      ['srv CPU %', 'srv_cpu_pct'], ['warnings', 'srv_warnings'], ['% of expected warnings', 'warnings_pct'], ['pings answered', 'pings_answered'], ['pings sent', 'pings_sent'],
      ['ping p50 us', 'ping_p50_us'], ['ping p99 us', 'ping_p99_us'],
      ['no-flood ping p50 us', 'base_ping_p50_us'], ['no-flood ping p99 us', 'base_ping_p99_us'], ['no-flood srv CPU us/ping', 'base_srv_cpu_us_per_dgram'],
      ['srv peak RSS MB', 'srv_rss_mb']]
    const headers = ['impl', ...cols.map((c) => c[0]), 'other CPU % (max)']
    const rows = []
    const vals = {}
    for (const impl of rpcImpls.concat(IMPLS.includes('ours') && oursError ? ['ours'] : [])) {
      const runs = raw.flood[impl]
      const why = na(impl) || failed(runs)
      if (why) { rows.push([impl, why, ...cols.slice(1).map(() => '-'), '-']); continue }
      vals[impl] = cols.map(([, k]) => med(runs, k))
      rows.push([impl, ...vals[impl].map((v) => fmt(v)), fmt(max(runs.map((x) => x.other_cpu_pct)), 0)])
    }
    if (vals.ours && vals.ref) rows.push(['ours/ref', ...cols.map((_, i) => fmt(ratio(vals.ours[i], vals.ref[i]), 2)), ''])
    const g = (raw.flood.ref || raw.flood.ours || [{}])[0].pool_kinds
    report.push(`## Garbage flood: ${(opts.floodDuration / 1000)} s of malformed datagrams at the server (child process) + 500 pings/s (medians)\n`)
    report.push(render(headers, rows, ['l']))
    report.push('')
    if (g) report.push('Garbage pool (4096 datagrams, cycled): ' + Object.entries(g).map(([k, v]) => `${k} ${v}`).join(', ') + '. No negative lengths.')
    report.push('srv CPU us/dgram = server process CPU / (garbage + pings) during the flood (+0.4 s to drain the backlog).')
    report.push('Expected warnings = what k-rpc-socket emits for the datagrams sent (replies without a Buffer `t` are silent);')
    report.push('below 100 % means datagrams were dropped (socket buffer full) or the implementation warns differently.')
    report.push('')
  }
  for (const part of e2eReport(st, rpcImpls, med, failed, ratio, na)) report.push(part)
  report.push(`loadavg (1/5/15 min) at start: ${load0}; at end: ${load1}.` + (st.wallS ? ` Wall time: ${st.wallS.toFixed(0)} s.` : ''))
  console.log(report.join('\n'))
}

main().catch((err) => { console.error(err); killChildren(); process.exit(1) })
