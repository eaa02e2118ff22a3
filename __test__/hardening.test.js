'use strict'
// Opt-in hardening (README "Hardening"): off by default, so the defaults stay drop-in.
const test = require('node:test')
const assert = require('node:assert')
const dgram = require('dgram')
const RPC = require('..')

function rawSocket (address = '127.0.0.1') {
  return new Promise(resolve => {
    const s = dgram.createSocket('udp4')
    s.bind(0, address, () => resolve(s))
  })
}
const tick = ms => new Promise(resolve => setTimeout(resolve, ms))
const reply = (tid, extra = '') => Buffer.concat([Buffer.from('d1:rd2:id1:xe1:t2:'), tid, Buffer.from(extra + '1:y1:re')])

test('matchPort: a reply from the queried IP but another port is out of order; from the queried port it completes', async () => {
  const peer = await rawSocket()
  const impostor = await rawSocket()
  const rpc = RPC({ matchPort: true, timeout: 1000 })
  const warnings = []
  rpc.on('warning', e => warnings.push(e.message))
  const done = new Promise(resolve => {
    rpc.query({ host: '127.0.0.1', port: peer.address().port }, { q: 'ping' }, (err, res) => resolve([err, res]))
  })
  const [query] = await new Promise(resolve => peer.once('message', (...a) => resolve(a)))
  const from = rpc.address().port
  const tid = query.subarray(query.indexOf('1:t2:') + 5, query.indexOf('1:t2:') + 7)
  impostor.send(reply(tid), from, '127.0.0.1')
  await tick(50)
  assert.deepStrictEqual(warnings, ['Out of order response'])
  assert.strictEqual(rpc.inflight, 1, 'still pending')
  peer.send(reply(tid), from, '127.0.0.1')
  const [err, res] = await done
  assert.strictEqual(err, null)
  assert.strictEqual(res.r.id.toString(), 'x')
  assert.strictEqual(rpc.stats().wrongSource, 1)
  rpc.destroy(); peer.close(); impostor.close()
})

test('default (no matchPort): a reply from another port of the queried IP completes, as in k-rpc-socket', async () => {
  const peer = await rawSocket()
  const other = await rawSocket()
  const rpc = RPC({ timeout: 1000 })
  const done = new Promise(resolve => rpc.query({ host: '127.0.0.1', port: peer.address().port }, { q: 'ping' }, (err) => resolve(err)))
  const [query] = await new Promise(resolve => peer.once('message', (...a) => resolve(a)))
  const tid = query.subarray(query.indexOf('1:t2:') + 5, query.indexOf('1:t2:') + 7)
  other.send(reply(tid), rpc.address().port, '127.0.0.1')
  assert.strictEqual(await done, null)
  rpc.destroy(); peer.close(); other.close()
})

test('maxInflight: queries beyond the cap fail with ETOOMANYQUERIES (3 args, then update/postupdate), the others proceed', async () => {
  const peer = await rawSocket()
  const rpc = RPC({ maxInflight: 2, timeout: 100000 })
  const events = []
  rpc.on('update', () => events.push('update'))
  const peerInfo = { host: '127.0.0.1', port: peer.address().port }
  assert.strictEqual(typeof rpc.query(peerInfo, { q: 'a' }), 'number')
  assert.strictEqual(typeof rpc.query(peerInfo, { q: 'b' }), 'number')
  const args = await new Promise(resolve => {
    assert.strictEqual(rpc.query(peerInfo, { q: 'c' }, (...a) => resolve(a)), undefined)
  })
  assert.strictEqual(args.length, 3)
  assert.strictEqual(args[0].code, 'ETOOMANYQUERIES')
  assert.strictEqual(args[2], peerInfo)
  assert.strictEqual(rpc.inflight, 2)
  assert.deepStrictEqual(events, ['update'])
  rpc.destroy(); peer.close()
})

test('rateLimit: a source over the limit is dropped before decoding and counted; other sources are unaffected', async () => {
  const rpc = RPC({ rateLimit: { perSecond: 5, windowMs: 1000, blockMs: 60000 } })
  await new Promise(resolve => rpc.bind(0, '127.0.0.1', resolve))
  const port = rpc.address().port
  let queries = 0
  rpc.on('query', () => queries++)
  const flooder = await rawSocket()
  const polite = await rawSocket('127.0.0.2') // the limit is per source IP
  for (let i = 0; i < 100; i++) flooder.send(Buffer.from('d1:y1:qe'), port, '127.0.0.1')
  await tick(100)
  polite.send(Buffer.from('d1:y1:qe'), port, '127.0.0.1')
  await tick(50)
  const stats = rpc.stats()
  assert.strictEqual(queries, 6, '5 from the flooder, 1 from the polite source')
  assert.strictEqual(stats.rateLimited, 95)
  assert.strictEqual(stats.datagramsIn, 101)
  rpc.destroy(); flooder.close(); polite.close()
})

test('defaults: no rate limit (a burst of 100 from one source is all delivered)', async () => {
  const rpc = RPC()
  await new Promise(resolve => rpc.bind(0, '127.0.0.1', resolve))
  let queries = 0
  rpc.on('query', () => queries++)
  const s = await rawSocket()
  for (let i = 0; i < 100; i++) s.send(Buffer.from('d1:y1:qe'), rpc.address().port, '127.0.0.1')
  await tick(100)
  assert.strictEqual(queries, 100)
  assert.strictEqual(rpc.stats().rateLimited, 0)
  rpc.destroy(); s.close()
})

// The limiter under the attacks of issue 10 (rotation over source addresses and table pressure),
// on real sockets from many loopback source addresses (__test__/fixtures/ratelimit-sources.js).
// Defaults: 5 per second over 10 s, so 50 datagrams per source pass and the rest are limited.
const runSources = require('./fixtures/ratelimit-sources')
const { spawnSync } = require('child_process')
const path = require('path')
const range = (n, f) => Array.from({ length: n }, (_, i) => f(i))
const forty = range(40, i => `127.0.0.${i + 2}`)

for (const ownSocket of [false, true]) {
  test(`rateLimit: 40 source IPs in round-robin, 100 datagrams each, are limited past 50 each${ownSocket ? ' (opts.socket)' : ''}`, async () => {
    const [p] = await runSources({ server: '127.0.0.1', ownSocket, phases: [{ sources: forty, rounds: 100 }] })
    assert.strictEqual(p.datagramsIn, 4000, 'every datagram reached the limiter')
    assert.ok(p.rateLimited >= 1900 && p.rateLimited <= 2000, `rateLimited ${p.rateLimited} of 4000 (2000 are past 50 per source)`)
    assert.strictEqual(p.queries, 4000 - p.rateLimited)
  })
}

test('rateLimit: after 1000 one-shot senders (none limited), two alternating IPs are limited past 50 each', async () => {
  const oneShots = range(1000, i => `127.0.${3 + (i >> 8)}.${i & 255}`)
  const [shots, pair] = await runSources({
    server: '127.0.0.1',
    phases: [{ sources: oneShots, oneShot: true }, { sources: ['127.0.0.2', '127.0.0.3'], rounds: 200 }]
  })
  assert.deepStrictEqual(shots, { datagramsIn: 1000, rateLimited: 0, queries: 1000 }, 'one-shot senders are normal traffic')
  assert.strictEqual(pair.datagramsIn, 400)
  assert.ok(pair.rateLimited >= 290, `rateLimited ${pair.rateLimited} of 400 (300 are past 50 per source)`)
})

test('rateLimit: IPv6 rotation inside one /64 is limited; 40 distinct /64s are not merged (udp6, in a network namespace)', t => {
  // Hosts inside one /64 and 40 /64s, 30 datagrams from each address: under the limit per
  // address, over it per /64 (40 x 30 = 1200, 50 may pass).
  const inside = range(40, i => `fd00::${(i + 2).toString(16)}`)
  const prefixes = range(40, i => `fd00:0:0:${(i + 1).toString(16)}::1`)
  const addrs = [...inside.map(a => `${a}/64`), ...prefixes.map(a => `${a}/64`)]
  const script = ['ip link set lo up', ...addrs.map(a => `ip -6 addr add ${a} dev lo nodad`),
    `exec "${process.execPath}" "${path.join(__dirname, 'fixtures/ratelimit-sources.js')}" "$0"`].join(' && ')
  const runs = [
    { type: 'udp6', server: '::1', phases: [{ sources: inside, rounds: 30 }] },
    { type: 'udp6', server: '::1', phases: [{ sources: prefixes, rounds: 30 }] }
  ]
  const child = spawnSync('unshare', ['-n', 'sh', '-c', script, JSON.stringify(runs)], { encoding: 'utf8', timeout: 30000 })
  if (child.status !== 0 || !child.stdout.trim()) {
    t.skip(`no loopback-only network namespace with IPv6 addresses (unshare -n: ${(child.stderr || String(child.error)).trim().slice(0, 200)})`)
    return
  }
  const [[one64], [many64]] = JSON.parse(child.stdout)
  assert.strictEqual(one64.datagramsIn, 1200)
  assert.ok(one64.rateLimited >= 1100 && one64.rateLimited <= 1150, `one /64: rateLimited ${one64.rateLimited} of 1200 (1150 past 50)`)
  assert.deepStrictEqual(many64, { datagramsIn: 1200, rateLimited: 0, queries: 1200 }, 'distinct /64s are separate sources')
})

test('rateLimit: a perSecond beyond the engine\'s 32 bits does not wrap around to a small limit', async () => {
  const rpc = RPC({ rateLimit: { perSecond: 2 ** 32 + 1, windowMs: 1000 } })
  await new Promise(resolve => rpc.bind(0, '127.0.0.1', resolve))
  const s = await rawSocket()
  try {
    for (let i = 0; i < 20; i++) s.send(Buffer.from('d1:y1:qe'), rpc.address().port, '127.0.0.1')
    await tick(100)
    assert.strictEqual(rpc.stats().datagramsIn, 20)
    assert.strictEqual(rpc.stats().rateLimited, 0, 'was 19: 2^32 + 1 reached the engine as 1')
  } finally {
    rpc.destroy(); s.close()
  }
})
