// The real consumers on both stacks: bittorrent-dht@11.0.12 and k-rpc@5.1.0 (devDependencies), each scenario run
// in a child process (__test__/fixtures/consumers-dht.mjs) once on k-rpc-socket@1.11.1 and once on this package,
// injected through the consumers' `krpcSocket` option. Each child proves which class the consumer used, reports
// what the consumer computed, records every warning/error event and uncaught exception, and must end by itself
// (no process.exit) within EXIT_BOUND_MS of its teardown. docs/consumers.md says which README differences row each
// test covers.
import { test } from 'node:test'
import assert from 'node:assert'
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const FIXTURE = path.join(HERE, 'fixtures', 'consumers-dht.mjs')
const HOSTS_V6_FIRST = path.join(HERE, 'fixtures', 'hosts.localhost-v6-first')
const EXIT_BOUND_MS = 3000
const CHILD_TIMEOUT_MS = 30000

const sh = s => "'" + s.replace(/'/g, "'\\''") + "'"
const nodeCmd = (scenario, impl) => `exec ${sh(process.execPath)} ${sh(FIXTURE)} ${scenario} ${impl}`

// A loopback-only network namespace, where a send to an unroutable address fails at once and its query stays in
// flight (no packet leaves the machine); a mount namespace with an /etc/hosts that lists ::1 first.
const WRAPS = {
  netns: cmd => ['unshare', ['-n', 'sh', '-c', 'ip link set lo up && ' + cmd]],
  hosts: cmd => ['unshare', ['-m', 'sh', '-c', `mount --bind ${sh(HOSTS_V6_FIRST)} /etc/hosts && ` + cmd]]
}
const can = wrap => spawnSync(...WRAPS[wrap]('true'), { stdio: 'ignore', timeout: 10000 }).status === 0
const CAN = { netns: can('netns'), hosts: can('hosts') }
const SKIP = {
  netns: CAN.netns ? false : 'needs a loopback-only network namespace (root and `unshare -n`), not available here',
  hosts: CAN.hosts ? false : 'needs a private /etc/hosts (root and `unshare -m`), not available here'
}

function runChild (scenario, impl, wrap) {
  const [cmd, args] = wrap ? WRAPS[wrap](nodeCmd(scenario, impl)) : [process.execPath, [FIXTURE, scenario, impl]]
  return new Promise(resolve => {
    const started = Date.now()
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', d => { out += d })
    child.stderr.on('data', d => { err += d })
    let killed = false
    const timer = setTimeout(() => { killed = true; child.kill('SIGKILL') }, CHILD_TIMEOUT_MS)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const line = tag => {
        const l = out.split('\n').find(x => x.startsWith(tag + ' '))
        return l === undefined ? null : l.slice(tag.length + 1)
      }
      const json = tag => { const l = line(tag); return l === null ? null : JSON.parse(l) }
      resolve({
        impl,
        code,
        signal,
        killed,
        ms: Date.now() - started,
        result: json('RESULT'),
        exit: json('EXIT'),
        line,
        text: `--- ${scenario} on ${impl}: exit ${code} ${signal || ''}${killed ? ' (killed: did not end)' : ''} after ${Date.now() - started} ms\n${out}${err ? '--- stderr\n' + err : ''}`
      })
    })
  })
}

const both = (scenario, wrap) => Promise.all([runChild(scenario, 'ref', wrap), runChild(scenario, 'ours', wrap)])
let deepValue = null
const deepValueRuns = () => deepValue || (deepValue = both('deep-value'))

// The child ran to the end, ended by itself soon after its teardown, with nothing uncaught and (unless a scenario
// expects some) no warning or error event on any consumer; and the consumer used the class the run is about.
function healthy (run, { warnings = true } = {}) {
  assert.ok(!run.killed, run.text)
  assert.ok(run.result, 'no RESULT line\n' + run.text)
  assert.ok(run.exit, 'no EXIT line\n' + run.text)
  assert.deepStrictEqual(run.exit.uncaught, [], 'uncaught exceptions\n' + run.text)
  if (warnings) assert.deepStrictEqual(run.exit.warnings, [], 'warning events\n' + run.text)
  assert.deepStrictEqual(run.exit.errors, [], 'error events\n' + run.text)
  assert.strictEqual(run.code, 0, run.text)
  assert.ok(run.exit.msSinceTeardown >= 0 && run.exit.msSinceTeardown < EXIT_BOUND_MS,
    `the process must end by itself within ${EXIT_BOUND_MS} ms of its teardown\n` + run.text)
  const want = run.impl === 'ours' ? { ours: true, ref: false } : { ours: false, ref: true }
  assert.ok(run.result.loaded.length > 0, run.text)
  for (const l of run.result.loaded) assert.deepStrictEqual(l, want, 'the consumer did not use the class under test\n' + run.text)
}

const strip = ({ loaded, ...rest }) => rest
const sameOutcome = (ref, ours, pick = strip) => assert.deepStrictEqual(pick(ours.result), pick(ref.result), ref.text + ours.text)

const SWARM_OUTCOME = {
  announce: {
    ann1: { err: null, any: true },
    ann2: { err: null, any: true },
    lookupErr: null,
    peers: ['127.0.0.1:7001', '127.0.0.1:node5']
  },
  immutable: { put: { err: null, any: true, keyOk: true }, get: { err: null, v: 'immutable value put by node 2' } },
  mutable: {
    put1: { err: null, keyOk: true, any: true },
    get1: { err: null, v: 'mutable 1', seq: 1 },
    put2: { err: null, keyOk: true, any: true },
    stale: { err: 302, keyOk: true, any: false },
    casMismatch: { err: 301, keyOk: true, any: false },
    get2: { err: null, v: 'mutable 2', seq: 2 }
  }
}

test('bittorrent-dht swarm of 12 nodes: announce, lookup, BEP 44 immutable and mutable put/get (salt, seq, cas), on both stacks', { timeout: 60000 }, async () => {
  const [ref, ours] = await both('swarm')
  healthy(ref)
  healthy(ours)
  assert.deepStrictEqual(strip(ref.result), Object.assign({ tableSizes: Array(12).fill(11) }, SWARM_OUTCOME), ref.text)
  sameOutcome(ref, ours)
  assert.strictEqual(ours.line('CLOSED'), '12', ours.text)
})

test('bittorrent-dht swarm of 24 nodes, k = 8, each bootstrapped from the previous one (multi-hop lookups), on both stacks', { timeout: 60000 }, async () => {
  const [ref, ours] = await both('swarm-k8')
  healthy(ref)
  healthy(ours)
  const { stale, casMismatch, ...mutable } = SWARM_OUTCOME.mutable
  assert.deepStrictEqual(strip(ref.result), Object.assign({}, SWARM_OUTCOME, { mutable, tableSizes: true }), ref.text)
  sameOutcome(ref, ours)
})

test('k-rpc 5.1.0 directly: populate, closest(), queryAll() with replies and with a 301 error, on both stacks', { timeout: 60000 }, async () => {
  const [ref, ours] = await both('krpc')
  healthy(ref)
  healthy(ours)
  const all = [0, 1, 2, 3, 4, 5, 6]
  assert.deepStrictEqual(strip(ref.result), {
    closest: { err: null, n: 7, visited: all },
    ping: { err: null, hits: 7, pinged: all },
    store: { code: 301, message: '301 store refused', hits: 0 },
    tableSizes: Array(8).fill(7)
  }, ref.text)
  sameOutcome(ref, ours)
})

// README "query() from a callback during destroy()": bittorrent-dht's k-bucket ping chain queries again from the
// callback of a cancelled ping, and again from that query's callback.
test('bittorrent-dht destroyed with k-bucket pings, lookups, a get and an announce pending to unroutable nodes: nothing thrown, the process ends by itself', { skip: SKIP.netns, timeout: 60000 }, async () => {
  const [ref, ours] = await both('shutdown-dht', 'netns')
  for (const run of [ref, ours]) {
    healthy(run)
    assert.deepStrictEqual(run.result.inflightAtDestroy, [true, true, true], 'queries were in flight at destroy()\n' + run.text)
    assert.deepStrictEqual(run.result.threw, [], run.text)
    assert.match(run.line('CLOSED') || '', /^3 /, run.text)
  }
})

test('k-rpc destroyed with 16 queries in flight, 24 in its queue and callbacks that query again: nothing thrown, the process ends by itself', { skip: SKIP.netns, timeout: 60000 }, async () => {
  const [ref, ours] = await both('shutdown-krpc', 'netns')
  for (const run of [ref, ours]) {
    healthy(run)
    assert.deepStrictEqual(run.result.before, { inflight: 16, pending: 24 }, run.text)
    assert.strictEqual(run.result.threw, null, run.text)
  }
})

test('k-rpc destroyed while every callback retries forever: nothing thrown, the retries stop, the process ends by itself', { skip: SKIP.netns, timeout: 60000 }, async () => {
  const [ref, ours] = await both('shutdown-retry-forever', 'netns')
  for (const run of [ref, ours]) {
    healthy(run)
    assert.strictEqual(run.result.threw, null, run.text)
    const { at300, at400 } = JSON.parse(run.line('CALLBACKS'))
    assert.strictEqual(at400, at300, 'the retry chain must end\n' + run.text)
  }
})

test('bittorrent-dht restarted on a fixed port 200 times (destroy(cb), the next DHT listens inside cb): no EADDRINUSE, on both stacks', { timeout: 60000 }, async () => {
  const [ref, ours] = await both('restart')
  for (const run of [ref, ours]) {
    healthy(run)
    const { rounds, listening, EADDRINUSE, otherErrors, warnings, closeCallbacks } = run.result
    assert.deepStrictEqual({ rounds, listening, EADDRINUSE, otherErrors, warnings, closeCallbacks },
      { rounds: 200, listening: 200, EADDRINUSE: 0, otherErrors: [], warnings: 0, closeCallbacks: 200 }, run.text)
  }
})

// README "datagrams that arrive together": the peers send each round of replies in one go; the markers show that
// with ours the process.nextTick work of a reply's callback runs after the later replies of the burst (with the
// reference, before the next one), and the outcomes show that k-rpc and bittorrent-dht compute the same things.
// Both stacks through a burst scenario: healthy, and on both the work queued for one datagram runs before the next
// datagram's events (a process.nextTick marker per datagram).
async function burstOnBoth (name) {
  const [ref, ours] = await both(name)
  healthy(ref)
  healthy(ours)
  assert.strictEqual(ref.result.ticks.markersAfterLaterEvents, 0, ref.text)
  assert.strictEqual(ours.result.ticks.markersAfterLaterEvents, 0, ours.text)
  return [ref, ours]
}

test('bursts of replies, k-rpc closest() and queryAll(): same visits in the same order, same routing table, on both stacks', { timeout: 60000 }, async () => {
  const [ref, ours] = await both('burst-krpc')
  healthy(ref)
  healthy(ours)
  assert.strictEqual(ref.result.ticks.markersAfterLaterEvents, 0, 'reference: one dgram callback per datagram\n' + ref.text)
  assert.strictEqual(ours.result.ticks.markersAfterLaterEvents, 0, 'ours: the work queued for one reply runs before the next reply, as with dgram\n' + ours.text)
  assert.strictEqual(ref.result.outcome.closest.n, 20, ref.text)
  assert.strictEqual(ref.result.outcome.all.hits, 20, ref.text)
  sameOutcome(ref, ours, r => r.outcome)
})

test('bursts of replies, bittorrent-dht lookup, BEP 44 get (highest seq) and announce: same peers in the same order, same value, same table, on both stacks', { timeout: 60000 }, async () => {
  const [ref, ours] = await burstOnBoth('burst-dht')
  assert.strictEqual(ref.result.outcome.peers.length, 32, ref.text)
  assert.deepStrictEqual(ref.result.outcome.got, { err: null, seq: 16, v: 'version 16' }, ref.text)
  sameOutcome(ref, ours, r => r.outcome)
  // A lookup aborted from a process.nextTick after its first peer event: the reference emits that reply's 2 peers,
  // and so does ours now (a burst's later replies wait for the ticks of the earlier ones; before, ours emitted 32).
  assert.strictEqual(ref.result.abortedLookup.peersBeforeAbort, 2, ref.text)
  assert.strictEqual(ours.result.abortedLookup.peersBeforeAbort, 2, ours.text)
})

test('burst of 40 incoming queries of every kind to a bittorrent-dht node: same replies in the same order, same events, same routing table, on both stacks', { timeout: 60000 }, async () => {
  const [ref, ours] = await burstOnBoth('burst-incoming')
  assert.strictEqual(ref.result.outcome.replies.length, 40, ref.text)
  assert.deepStrictEqual(ref.result.outcome.replies.map(r => r.t), Array.from({ length: 40 }, (_, i) => i), ref.text)
  sameOutcome(ref, ours, r => r.outcome)
})

// README "a tid still in flight after _tick wrapped": reachable under k-rpc's cap of 16 in flight when one query
// outlives 65535 others. On ours only (the reference takes over a minute here; docs/consumers.md has its numbers).
test('k-rpc (ours): a query to a silent peer stays in flight while 65600 others complete; no reply completes the wrong query', { timeout: 90000 }, async () => {
  const run = await runChild('tid-wrap', 'ours')
  healthy(run)
  assert.deepStrictEqual(strip(run.result), { silentResult: 'pending', inflight: 1, replies: 65600, errors: 0, wrongSender: 0 }, run.text)
})

// README "nesting between about 5,100 levels and what a datagram holds".
test('bittorrent-dht BEP 44 immutable value nested 499 levels deep (998 bytes, the deepest under 1000 bytes): stored and read on both stacks', { timeout: 60000 }, async () => {
  const [ref, ours] = await deepValueRuns()
  const d499 = { bytes: 998, put: { err: null, any: true }, get: { err: null, depth: 499 } }
  assert.deepStrictEqual(ref.result && ref.result.depth499, d499, ref.text)
  assert.deepStrictEqual(ours.result && ours.result.depth499, d499, ours.text)
})

// Over BEP 44's 1000 bytes, but bittorrent-dht checks the length of Buffer values only, so between bittorrent-dht
// nodes on the reference such a value is stored and read. Ours decodes every nesting a datagram holds, so the outcome is the same.
test('bittorrent-dht BEP 44 immutable value nested 600 levels deep (1200 bytes): the same outcome as the reference', { timeout: 60000 }, async () => {
  const [ref, ours] = await deepValueRuns()
  healthy(ref)
  assert.deepStrictEqual(ref.result.depth600, { bytes: 1200, put: { err: null, any: true }, get: { err: null, depth: 600 } }, ref.text)
  healthy(ours)
  sameOutcome(ref, ours)
})

// README rows reached only by hostile peers: negative string length, an unterminated nest deeper than 32768, `y` with toString, __proto__,
// r.id not a string. The reference freezes on the first and dies on the last (shown in __test__/differences.test.js).
test('bittorrent-dht (ours) fed hostile datagrams and replies with an integer, list or dict r.id: warnings only, the node still finds peers', { timeout: 60000 }, async () => {
  const run = await runChild('hostile-dht', 'ours')
  healthy(run)
  assert.deepStrictEqual(strip(run.result), {
    lookup: { err: null, n: 1 },
    found: [7777],
    liarsQueried: ['int:true', 'list:true', 'dict:true'],
    answeredRaw: 0,
    warnings: [
      'node0: Invalid data: negative string length at buffer[1]',
      'node0: Invalid data: nesting deeper than 32768 levels',
      'node0: Unknown type: [object Object]',
      'node0: Unknown type: undefined'
    ]
  }, run.text)
})

// README "query() to a peer with address but no host" and "with neither": the reference freezes on both.
test('bittorrent-dht (ours) addNode() of an rinfo-like peer and of a peer without address: the first is pinged and added, the second fails quietly', { timeout: 60000 }, async () => {
  const run = await runChild('user-peers', 'ours')
  healthy(run)
  assert.deepStrictEqual(strip(run.result), { before: 1, after: 2, knowsZ: true, inflight: 0 }, run.text)
})

// README "a host name that resolves to IPv6 first".
test("bittorrent-dht bootstrapped from 'localhost:<port>' where localhost is ::1 first: ours finds the node, the reference times out", { skip: SKIP.hosts, timeout: 60000 }, async () => {
  const [ref, ours] = await both('localhost-v6', 'hosts')
  healthy(ref)
  healthy(ours)
  assert.deepStrictEqual(strip(ref.result), { localhostResolvesTo: '::1', aKnowsB: 0, bKnowsA: 0 }, ref.text)
  assert.deepStrictEqual(strip(ours.result), { localhostResolvesTo: '::1', aKnowsB: 1, bKnowsA: 1 }, ours.text)
})

// README "send() then socket.close() in the same tick".
test('bittorrent-dht node destroyed right after answering a ping: the reference drops the reply, ours sends it; no error either way', { timeout: 60000 }, async () => {
  const [ref, ours] = await both('close-same-tick')
  healthy(ref)
  healthy(ours)
  assert.deepStrictEqual(strip(ref.result), { pinged: 'ETIMEDOUT', bClosed: true }, ref.text)
  assert.deepStrictEqual(strip(ours.result), { pinged: 'pong', bClosed: true }, ours.text)
})

// README "rpc.socket".
test('dht._rpc.socket.socket: address() and send() from the DHT port work on both stacks; only the reference shows DHT traffic as message events', { timeout: 60000 }, async () => {
  const [ref, ours] = await both('udp-socket')
  healthy(ref)
  healthy(ours)
  const common = { sameAddress: true, side: { text: 'side channel', fromDhtPort: true } }
  assert.deepStrictEqual(strip(ref.result), Object.assign({ dhtTrafficAsMessageEvents: true }, common), ref.text)
  assert.deepStrictEqual(strip(ours.result), Object.assign({ dhtTrafficAsMessageEvents: false }, common), ours.text)
})
