'use strict'
// End to end, a swarm: 50 bittorrent-dht 11 nodes on ours or ref in this process, bootstrapped
// from node 0 on 127.0.0.1; then, for each of L info hashes, one node announces and another
// looks it up. Reported: bootstrap time and CPU, lookup wall time (p50/p90/max), process CPU and
// main-thread CPU per lookup, queries sent per lookup, and lookups that found the announcer.
//   node bench/scenarios/dht-swarm.js --impl ours|ref [--nodes 50] [--lookups 50]
const parseArgs = require('../lib/args')
const cpu = require('../lib/cpu')
const { makeDht, listen, destroy, countQueries } = require('../lib/dht-stack')
const { bytes } = require('../lib/workloads')
const out = require('../lib/output')

const opts = parseArgs(process.argv.slice(2), { impl: 'ref', nodes: 50, lookups: 50, timeout: 1000 })
const base = { scenario: 'dht_swarm', impl: opts.impl, nodes: opts.nodes, lookups: opts.lookups }
out.guard(base, 90000)

const withTimeout = (p, ms, what) => Promise.race([p, new Promise((resolve, reject) => setTimeout(() => reject(new Error(what + ' took over ' + ms + ' ms')), ms))])

async function main () {
  const counter = { n: 0 }
  const nodes = []
  const make = (bootstrap) => makeDht(opts.impl, { bootstrap, timeout: opts.timeout, onSocket: (s) => countQueries(s, counter) })
  const s0 = cpu.snapshot()
  const first = await make(null)
  const port0 = await listen(first.dht)
  nodes.push(first.dht)
  const boot = [`127.0.0.1:${port0}`]
  const readies = []
  for (let i = 1; i < opts.nodes; i++) {
    const { dht } = await make(boot)
    readies.push(new Promise((resolve) => dht.once('ready', resolve)))
    await listen(dht)
    nodes.push(dht)
  }
  await withTimeout(Promise.all(readies), 30000, 'bootstrap')
  const s1 = cpu.snapshot()
  const q1 = counter.n
  const tables = nodes.map((d) => d.toJSON().nodes.length).sort((a, b) => a - b)

  const walls = []
  let found = 0
  let lookupCpu = 0
  let lookupMain = 0
  let lookupQueries = 0
  let lookupWall = 0
  let lookupSys = 0
  for (let i = 0; i < opts.lookups; i++) {
    const ih = bytes(20, 9000 + i)
    const announcer = nodes[(i * 7 + 3) % nodes.length]
    const seeker = nodes[(i * 13 + 29) % nodes.length]
    const annPort = 10000 + i
    await withTimeout(new Promise((resolve, reject) => announcer.announce(ih, annPort, (err) => err ? reject(err) : resolve())), 20000, 'announce')
    let hit = false
    const onPeer = (peer, h) => { if (h.equals(ih) && peer.port === annPort) hit = true }
    seeker.on('peer', onPeer)
    const a = cpu.snapshot()
    const qa = counter.n
    await withTimeout(new Promise((resolve, reject) => seeker.lookup(ih, (err) => err ? reject(err) : resolve())), 20000, 'lookup')
    const b = cpu.snapshot()
    seeker.removeListener('peer', onPeer)
    const d = cpu.delta(a, b)
    walls.push(d.wallMs)
    lookupCpu += d.procMs
    lookupMain += d.mainMs
    lookupWall += d.wallMs
    lookupSys += d.sysBusyMs
    lookupQueries += counter.n - qa
    if (hit) found++
  }
  const rss = cpu.peakRssMb()
  const threads = cpu.threadCount()
  await Promise.all(nodes.map(destroy))
  const boot1 = cpu.delta(s0, s1)
  walls.sort((x, y) => x - y)
  const at = (q) => walls[Math.min(walls.length - 1, Math.max(0, Math.ceil(q * walls.length) - 1))]
  out.emit(Object.assign(base, {
    ok: found > 0,
    error: found > 0 ? undefined : 'no lookup found its announcer',
    bootstrap_ms: boot1.wallMs,
    bootstrap_cpu_ms: boot1.procMs,
    bootstrap_queries: q1,
    table_min: tables[0],
    table_median: tables[tables.length >> 1],
    lookup_p50_ms: at(0.5),
    lookup_p90_ms: at(0.9),
    lookup_max_ms: walls[walls.length - 1],
    lookup_cpu_ms: lookupCpu / opts.lookups,
    lookup_main_ms: lookupMain / opts.lookups,
    lookup_queries: lookupQueries / opts.lookups,
    lookup_cpu_us_per_query: lookupQueries ? lookupCpu * 1000 / lookupQueries : null,
    found,
    rss_mb: rss,
    threads,
    other_cpu_pct: lookupWall ? Math.max(0, (lookupSys - lookupCpu) / (lookupWall * cpu.ncpu) * 100) : null
  }))
}

main().catch((err) => out.fail(base, err))
