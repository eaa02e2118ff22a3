'use strict'
// Crawler-shaped load: one KRPC socket (ours or ref) sends find_node to 20,000 distinct addresses
// on 127.0.0.0/8, inside its own network namespace (lib/netns.js); 30 % of them answer, the rest
// stay silent and time out. The queries go out as fast as the implementation takes them: `batch`
// query() calls per event-loop turn, replies and timeouts handled in between, so the issue rate
// is what the implementation sustains while it also receives.
//   node bench/scenarios/crawl.js --impl ours|ref [--count 20000] [--answer 3] [--timeout 1000] [--batch 100]
// Reported: issue q/s, completion q/s, CPU per query (process and main thread), memory, answered
// queries, and timeouts that fired late: k-rpc-socket checks its deadlines every timeout/4, so a
// timeout fires between 1x and 1.25x the timeout by design; late is beyond that plus `lateMs`.
const parseArgs = require('../lib/args')
const cpu = require('../lib/cpu')
const { loadRpc } = require('../lib/impls')
const { forkScript } = require('../lib/child')
const { bytes, clientId } = require('../lib/workloads')
const { reexecInNetns, netnsKind } = require('../lib/netns')
const out = require('../lib/output')

const argv = process.argv.slice(2)
const opts = parseArgs(argv, { impl: 'ref', count: 20000, answer: 3, timeout: 1000, batch: 100, lateMs: 50, rcvbuf: 1 << 20 })
const base = { scenario: 'crawl', impl: opts.impl, count: opts.count, timeout: opts.timeout, batch: opts.batch }

const PORT = 6881
const SILENT_PORT = 6882
const addr = (i) => `127.1.${i >> 8}.${i & 255}`

async function main () {
  out.guard(base, 120000)
  const responder = forkScript('crawl-responder.js', [opts.count, opts.answer, PORT, SILENT_PORT].map(String))
  const ready = await responder.wait('ready', 60000)
  const targets = []
  for (let i = 0; i < 256; i++) targets.push(bytes(20, 7000 + i))
  const RPC = loadRpc(opts.impl)
  const rpc = RPC({ timeout: opts.timeout })
  rpc.on('warning', () => {})
  await new Promise((resolve) => rpc.bind(0, '127.0.0.1', resolve))
  if (opts.rcvbuf) rpc.socket.setRecvBufferSize(opts.rcvbuf)

  const N = opts.count
  const sentAt = new Float64Array(N + 1)
  const ages = []
  let answered = 0
  let timedOut = 0
  let otherErr = 0
  let done = 0
  let late = 0
  let finish
  const finished = new Promise((resolve) => { finish = resolve })
  await responder.request('mark', 'marked')
  const mem0 = process.memoryUsage()
  const s0 = cpu.snapshot()
  let i = 0
  let issuedAt = 0
  let memIssued = null
  await new Promise((resolve) => {
    const step = () => {
      for (let k = 0; k < opts.batch && i < N; k++) {
        const n = ++i
        const port = n % 10 < opts.answer ? PORT : SILENT_PORT
        sentAt[n] = performance.now()
        rpc.query({ host: addr(n), port }, { q: 'find_node', a: { id: clientId, target: targets[n & 255] } }, (err) => {
          const age = performance.now() - sentAt[n]
          if (!err) answered++
          else if (err.code === 'ETIMEDOUT') {
            timedOut++
            ages.push(age)
            if (age > opts.timeout * 1.25 + opts.lateMs) late++
          } else otherErr++
          if (++done === N) finish()
        })
      }
      if (i < N) setImmediate(step)
      else { issuedAt = performance.now(); memIssued = process.memoryUsage(); resolve() }
    }
    step()
  })
  const sIssued = cpu.snapshot()
  const all = await Promise.race([finished.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), opts.timeout * 4 + 20000))])
  const s1 = cpu.snapshot()
  const rep = await responder.request('report', 'report').catch(() => null)
  const rss = cpu.peakRssMb()
  await new Promise((resolve) => { const t = setTimeout(resolve, 1000); rpc.destroy(() => { clearTimeout(t); resolve() }) })
  await responder.stop()
  const di = cpu.delta(s0, sIssued)
  const d = cpu.delta(s0, s1)
  ages.sort((a, b) => a - b)
  const at = (q) => ages.length ? ages[Math.min(ages.length - 1, Math.max(0, Math.ceil(q * ages.length) - 1))] : null
  out.emit(Object.assign(base, {
    ok: all && answered > 0,
    error: all ? (answered > 0 ? undefined : 'nothing answered') : `only ${done} of ${N} callbacks`,
    netns: netnsKind(),
    responders: ready.bound,
    expected_answers: ready.bound,
    issue_ms: issuedAt - s0.t,
    issue_qps: N / ((issuedAt - s0.t) / 1000),
    total_ms: d.wallMs,
    // Completion rate of the answered share: the only one the timeout does not fix.
    cpu_us_per_query: d.procMs * 1000 / N,
    main_us_per_query: d.mainMs * 1000 / N,
    issue_cpu_us_per_query: di.procMs * 1000 / N,
    issue_main_us_per_query: di.mainMs * 1000 / N,
    answered,
    timed_out: timedOut,
    other_errors: otherErr,
    late_timeouts: late,
    timeout_age_p50_ms: at(0.5),
    timeout_age_p99_ms: at(0.99),
    timeout_age_max_ms: ages.length ? ages[ages.length - 1] : null,
    heap_mb_at_issue: (memIssued.heapUsed - mem0.heapUsed) / 2 ** 20,
    external_mb_at_issue: (memIssued.external - mem0.external) / 2 ** 20,
    rss_mb_at_issue: (memIssued.rss - mem0.rss) / 2 ** 20,
    rss_mb: rss,
    responder_replies: rep && rep.replies,
    responder_cpu_ms: rep && rep.cpuMs,
    // the machine's busy time minus this process and the responder (its CPU is the responses' cost, not noise)
    other_cpu_pct: Math.max(0, (d.sysBusyMs - d.procMs - ((rep && rep.cpuMs) || 0)) / (d.wallMs * cpu.ncpu) * 100)
  }))
}

let inParent = false
try {
  inParent = reexecInNetns(__filename, argv)
} catch (err) {
  out.fail(base, err)
}
if (!inParent && netnsKind()) main().catch((err) => out.fail(base, err))
