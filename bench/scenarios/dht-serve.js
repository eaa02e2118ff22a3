'use strict'
// End to end, server side: a bittorrent-dht 11 node on ours or ref (forked child) answers find_node
// and get_peers from many clients; reported is the server process's CPU per served query.
//   node bench/scenarios/dht-serve.js --impl ours|ref [--clients 64] [--warmup 500] [--duration 3000]
// The clients are raw dgram sockets in this process (the same for both stacks, so only the
// server differs): each has its own node id and keeps one query in flight, alternating find_node
// (random target from a pool) and get_peers (the info hash the server holds 50 peers for).
const dgram = require('dgram')
const bencode = require('bencode')
const parseArgs = require('../lib/args')
const cpu = require('../lib/cpu')
const { forkServer } = require('../lib/child')
const { bytes } = require('../lib/workloads')
const out = require('../lib/output')

const opts = parseArgs(process.argv.slice(2), { impl: 'ref', clients: 64, warmup: 500, duration: 3000, rcvbuf: 1 << 20 })
const base = { scenario: 'dht_serve', impl: opts.impl, clients: opts.clients }
out.guard(base, opts.warmup + opts.duration + 30000)

const INFO_HASH = bytes(20, 77)
const TARGETS = 32
const LOST_MS = 1000

function queryTemplates (clientId, k) {
  const list = []
  for (let i = 0; i < TARGETS; i++) {
    list.push(bencode.encode({ t: Buffer.from([0, 0]), y: 'q', q: 'find_node', a: { id: clientId, target: bytes(20, 5000 + k * TARGETS + i) } }))
  }
  list.push(bencode.encode({ t: Buffer.from([0, 0]), y: 'q', q: 'get_peers', a: { id: clientId, info_hash: INFO_HASH } }))
  return list
}

async function main () {
  const remote = forkServer(opts.impl, INFO_HASH.toString('hex'), [], 0, 'dht-serve-child.js')
  const ready = await remote.wait('ready', 20000)
  const port = ready.port
  const acct = { completed: 0, inWindow: 0, lost: 0, errors: 0, lat: [], checked: { find_node: null, get_peers: null } }
  let measuring = false
  let stopping = false
  const clients = []
  for (let k = 0; k < opts.clients; k++) {
    const sock = dgram.createSocket('udp4')
    await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve))
    if (opts.rcvbuf) sock.setRecvBufferSize(opts.rcvbuf)
    const c = { sock, tpls: queryTemplates(bytes(20, 3000 + k), k), n: k, tid: 0, kind: null, t0: 0 }
    c.issue = () => {
      c.n++
      // every other query is get_peers, the rest find_node over the pool of targets
      const i = (c.n & 1) ? TARGETS : (c.n >> 1) % TARGETS
      const tpl = c.tpls[i]
      const b = Buffer.from(tpl)
      c.tid = (c.tid + 1) & 0xffff
      const off = tpl.indexOf('1:t2:') + 5
      b[off] = c.tid >> 8
      b[off + 1] = c.tid & 255
      c.kind = i === TARGETS ? 'get_peers' : 'find_node'
      c.t0 = performance.now()
      sock.send(b, port, '127.0.0.1')
    }
    sock.on('message', (buf) => {
      // The server also pings its contacts now and then: only replies ('y1:r' / 'y1:e') complete.
      const y = buf[buf.length - 2]
      if (buf[buf.length - 1] !== 0x65 || (y !== 0x72 && y !== 0x65)) return
      if (y === 0x65) acct.errors++
      if (!acct.checked[c.kind]) acct.checked[c.kind] = check(c.kind, buf)
      acct.completed++
      if (measuring) {
        acct.inWindow++
        if (acct.lat.length < 1000000) acct.lat.push((performance.now() - c.t0) * 1000)
      }
      if (!stopping) c.issue()
    })
    clients.push(c)
  }
  const watchdog = setInterval(() => {
    const now = performance.now()
    for (const c of clients) if (!stopping && now - c.t0 > LOST_MS) { acct.lost++; c.issue() }
  }, 250)
  for (const c of clients) c.issue()
  await new Promise((resolve) => setTimeout(resolve, opts.warmup))
  await remote.request('mark', 'marked')
  const s0 = cpu.snapshot()
  measuring = true
  await new Promise((resolve) => setTimeout(resolve, opts.duration))
  measuring = false
  const s1 = cpu.snapshot()
  const srv = await remote.request('report', 'report')
  stopping = true
  clearInterval(watchdog)
  await new Promise((resolve) => setTimeout(resolve, 200))
  for (const c of clients) c.sock.close()
  await remote.stop()
  const d = cpu.delta(s0, s1)
  const lat = Float64Array.from(acct.lat).sort()
  const q = srv.queries
  out.emit(Object.assign(base, {
    ok: q > 0 && acct.checked.find_node === 'ok' && acct.checked.get_peers === 'ok',
    error: q > 0 ? (acct.checked.find_node !== 'ok' ? 'find_node reply: ' + acct.checked.find_node : acct.checked.get_peers !== 'ok' ? 'get_peers reply: ' + acct.checked.get_peers : undefined) : 'no served queries',
    served_qps: q / (srv.cpu.wallMs / 1000),
    answered_qps: acct.inWindow / (d.wallMs / 1000),
    srv_cpu_us_per_query: srv.cpu.procMs * 1000 / q,
    srv_main_us_per_query: srv.cpu.mainMs * 1000 / q,
    srv_cpu_pct: srv.cpu.procMs / srv.cpu.wallMs * 100,
    p50_us: lat.length ? lat[Math.floor(lat.length / 2)] : null,
    p99_us: lat.length ? lat[Math.min(lat.length - 1, Math.ceil(lat.length * 0.99) - 1)] : null,
    srv_queries: q,
    table_size: srv.tableSize,
    lost: acct.lost,
    error_replies: acct.errors,
    srv_rss_mb: srv.rssMb,
    srv_threads: srv.threads,
    other_cpu_pct: Math.max(0, (d.sysBusyMs - d.procMs - srv.cpu.procMs) / (d.wallMs * cpu.ncpu) * 100)
  }))
}

// The first reply of each kind is decoded: find_node must carry compact nodes, get_peers the 50 values.
function check (kind, buf) {
  try {
    const m = bencode.decode(buf)
    if (!m.r) return 'no r'
    if (kind === 'find_node') return Buffer.isBuffer(m.r.nodes) && m.r.nodes.length >= 26 && m.r.nodes.length % 26 === 0 ? 'ok' : 'no nodes'
    return Array.isArray(m.r.values) && m.r.values.length === 50 && Buffer.isBuffer(m.r.token) ? 'ok' : 'values ' + (m.r.values && m.r.values.length)
  } catch (e) {
    return 'undecodable'
  }
}

main().catch((err) => out.fail(base, err))
