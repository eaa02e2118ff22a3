'use strict'
// The `krpc` command (bin/krpc.js): real child processes on loopback. Every spawn is killed
// after KILL_MS at the latest, so a hang fails the test instead of the run.
const { test, after } = require('node:test')
const assert = require('assert')
const path = require('path')
const dgram = require('dgram')
const { spawn } = require('child_process')
const krpc = require('..')
const cli = require('../bin/krpc.js')

const BIN = path.join(__dirname, '..', 'bin', 'krpc.js')
const KILL_MS = 8000
const SERVER_ID = '0123456789abcdef0123456789abcdef01234567'
const TARGET = 'd1c5a3e4a1e0d9a0cbc5d3a4f0ad1e2b3c4d5e6f'

const children = new Set()
after(() => { for (const child of children) child.kill('SIGKILL') })

function start (args) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  const out = { stdout: '', stderr: '' }
  child.stdout.on('data', d => { out.stdout += d })
  child.stderr.on('data', d => { out.stderr += d })
  const killer = setTimeout(() => child.kill('SIGKILL'), KILL_MS)
  const exited = new Promise(resolve => child.on('close', (code, signal) => {
    clearTimeout(killer)
    children.delete(child)
    resolve({ code, signal, stdout: out.stdout, stderr: out.stderr })
  }))
  return { child, out, exited }
}

function run (...args) {
  return start(args).exited
}

// Waits until `out.stdout` matches `re` (or the child exits).
function waitFor (proc, re) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = re.exec(proc.out.stdout)
      if (m) {
        proc.child.stdout.removeListener('data', check)
        resolve(m)
      }
    }
    proc.child.stdout.on('data', check)
    proc.exited.then(r => reject(new Error(`exited ${r.code} before ${re}: ${r.stdout}${r.stderr}`)))
    check()
  })
}

async function startServe (t, extra = []) {
  const proc = start(['serve', '--port', '0', '--host', '127.0.0.1', '--id', SERVER_ID, ...extra])
  t.after(() => proc.child.kill('SIGKILL'))
  const m = await waitFor(proc, /^listening on 127\.0\.0\.1:(\d+) id=([0-9a-f]{40})$/m)
  return { proc, port: Number(m[1]), id: m[2] }
}

// A krpc-socket peer of the test's own that answers every query with `reply(message)`.
async function fixture (t, reply) {
  const rpc = krpc()
  rpc.on('query', (message, rinfo) => reply(rpc, message, rinfo))
  await new Promise(resolve => rpc.bind(0, '127.0.0.1', resolve))
  t.after(() => new Promise(resolve => rpc.destroy(resolve)))
  return rpc.address().port
}

test('ping against `krpc serve` prints the server id and the round-trip time', async t => {
  const { port } = await startServe(t)
  const r = await run('ping', `127.0.0.1:${port}`)
  assert.strictEqual(r.code, 0, r.stderr)
  assert.match(r.stdout, new RegExp(`^reply from 127\\.0\\.0\\.1:${port} id=${SERVER_ID} time=[0-9.]+ ms\\n$`))
})

test('query find_node prints the decoded reply', async t => {
  const { port } = await startServe(t)
  const r = await run('query', `127.0.0.1:${port}`, 'find_node', `target=${TARGET}`)
  assert.strictEqual(r.code, 0, r.stderr)
  const lines = r.stdout.split('\n')
  assert.match(lines[0], new RegExp(`^find_node reply from 127\\.0\\.0\\.1:${port} in [0-9.]+ ms$`))
  assert.ok(lines.includes(`  id     ${SERVER_ID}`), r.stdout)
  assert.ok(lines.includes('  nodes  (no nodes)'), r.stdout)
})

test('--json prints one parseable object with the id (ping, get_peers)', async t => {
  const { port } = await startServe(t)
  const ping = await run('ping', `127.0.0.1:${port}`, '--json')
  assert.strictEqual(ping.code, 0, ping.stderr)
  const p = JSON.parse(ping.stdout)
  assert.strictEqual(p.id, SERVER_ID)
  assert.deepStrictEqual(p.from, { host: '127.0.0.1', port })
  assert.strictEqual(typeof p.rtt_ms, 'number')

  const gp = await run('query', `127.0.0.1:${port}`, 'get_peers', `info_hash=${TARGET}`, '--json')
  assert.strictEqual(gp.code, 0, gp.stderr)
  const g = JSON.parse(gp.stdout)
  assert.strictEqual(g.method, 'get_peers')
  assert.strictEqual(g.reply.id, SERVER_ID)
  assert.deepStrictEqual(g.reply.nodes, [])
  assert.match(g.reply.token, /^[0-9a-f]{16}$/)

  // The token it issued is accepted by announce_peer.
  const ann = await run('query', `127.0.0.1:${port}`, 'announce_peer', `info_hash=${TARGET}`, 'port=6881',
    `token=0x${g.reply.token}`, 'implied_port=1', '--json')
  assert.strictEqual(ann.code, 0, ann.stderr)
  assert.strictEqual(JSON.parse(ann.stdout).reply.id, SERVER_ID)
})

test('nodes, nodes6, values, samples, ip and text are decoded (human and --json)', async t => {
  const node = (byte, ip, p) => {
    const b = Buffer.alloc(26, byte)
    ip.split('.').forEach((x, i) => { b[20 + i] = +x })
    b.writeUInt16BE(p, 24)
    return b
  }
  const node6 = Buffer.alloc(38, 0xaa)
  node6.fill(0, 20, 36)
  node6[35] = 1 // ::1
  node6.writeUInt16BE(6881, 36)
  const peer6 = Buffer.from('20010db8000000000000000000000001c8d5', 'hex') // [2001:db8::1]:51413
  let seen = null
  const port = await fixture(t, (rpc, message, rinfo) => {
    seen = message
    rpc.send(rinfo, {
      t: message.t,
      y: 'r',
      ip: Buffer.from([127, 0, 0, 1, 0x1a, 0xe1]),
      r: {
        id: Buffer.from('abcdefghij0123456789'), // printable, still shown as hex
        nodes: Buffer.concat([node(0x11, '1.2.3.4', 6881), node(0x22, '10.0.0.1', 51413)]),
        nodes6: node6,
        values: [Buffer.from([5, 6, 7, 8, 0x1a, 0xe1]), peer6],
        samples: Buffer.alloc(40, 0x33),
        interval: 21600,
        name: Buffer.from('héllo'),
        blob: Buffer.from([0, 1, 2, 255])
      }
    })
  })
  const r = await run('query', `127.0.0.1:${port}`, 'sample_infohashes', `target=${TARGET}`,
    'n=42', 'big=0x00ff', 'h=hex:abcd', 's=str:6881', 'w=n4', '--id', SERVER_ID)
  assert.strictEqual(r.code, 0, r.stderr)
  // What was sent: the value syntax.
  assert.strictEqual(seen.q.toString(), 'sample_infohashes')
  assert.strictEqual(seen.a.id.toString('hex'), SERVER_ID)
  assert.strictEqual(seen.a.target.toString('hex'), TARGET)
  assert.strictEqual(seen.a.n, 42)
  assert.deepStrictEqual([...seen.a.big], [0, 255])
  assert.deepStrictEqual([...seen.a.h], [0xab, 0xcd])
  assert.strictEqual(seen.a.s.toString(), '6881')
  assert.strictEqual(seen.a.w.toString(), 'n4')

  const lines = r.stdout.split('\n')
  for (const expected of [
    '  id        6162636465666768696a30313233343536373839',
    '  nodes     (2 nodes)',
    '    ' + '11'.repeat(20) + '  1.2.3.4:6881',
    '    ' + '22'.repeat(20) + '  10.0.0.1:51413',
    '  nodes6    (1 node)',
    '    ' + 'aa'.repeat(20) + '  [::1]:6881',
    '  values    (2 peers)',
    '    5.6.7.8:6881',
    '    [2001:db8::1]:51413',
    '  samples   (2 hashes)',
    '    ' + '33'.repeat(20),
    '  interval  21600',
    '  name      "héllo"',
    '  blob      000102ff',
    '  ip        127.0.0.1:6881'
  ]) assert.ok(lines.includes(expected), `missing ${JSON.stringify(expected)} in\n${r.stdout}`)

  const j = await run('query', `127.0.0.1:${port}`, 'sample_infohashes', `target=${TARGET}`, '--json')
  assert.strictEqual(j.code, 0, j.stderr)
  const o = JSON.parse(j.stdout)
  assert.deepStrictEqual(o.reply.nodes[1], { id: '22'.repeat(20), host: '10.0.0.1', port: 51413 })
  assert.deepStrictEqual(o.reply.nodes6, [{ id: 'aa'.repeat(20), host: '::1', port: 6881 }])
  assert.deepStrictEqual(o.reply.values, [{ host: '5.6.7.8', port: 6881 }, { host: '2001:db8::1', port: 51413 }])
  assert.deepStrictEqual(o.reply.samples, ['33'.repeat(20), '33'.repeat(20)])
  assert.strictEqual(o.reply.name, Buffer.from('héllo').toString('hex'))
  assert.deepStrictEqual(o.extra, { ip: { host: '127.0.0.1', port: 6881 } })
})

test('no reply from a bound but silent socket: exit 3 with the message', async t => {
  const silent = dgram.createSocket('udp4')
  let received = 0
  silent.on('message', () => { received++ })
  await new Promise(resolve => silent.bind(0, '127.0.0.1', resolve))
  t.after(() => silent.close())
  const port = silent.address().port
  const began = Date.now()
  const r = await run('ping', `127.0.0.1:${port}`, '--timeout', '300')
  assert.strictEqual(r.code, 3)
  assert.strictEqual(r.stderr, `krpc: no reply from 127.0.0.1:${port} within 300 ms\n`)
  assert.strictEqual(r.stdout, '')
  assert.ok(Date.now() - began >= 300)
  assert.strictEqual(received, 1)

  const j = await run('query', `127.0.0.1:${port}`, 'find_node', `target=${TARGET}`, '--timeout=200', '--json')
  assert.strictEqual(j.code, 3)
  assert.strictEqual(JSON.parse(j.stdout).error.type, 'timeout')
})

test('bad address and other usage errors: exit 2 with usage text', async () => {
  const r = await run('ping', 'nonsense')
  assert.strictEqual(r.code, 2)
  assert.match(r.stderr, /^krpc: bad address 'nonsense': expected HOST:PORT\nusage: krpc ping HOST:PORT/)
  assert.strictEqual(r.stdout, '')

  for (const args of [['ping', '127.0.0.1:0'], ['ping', '127.0.0.1:65536'], ['ping', '::1:6881'], ['ping', '[nope]:1']]) {
    const x = await run(...args)
    assert.strictEqual(x.code, 2, args.join(' '))
    assert.match(x.stderr, /^krpc: bad address '.*': expected HOST:PORT/)
  }
  for (const args of [[], ['frobnicate'], ['ping'], ['query', '127.0.0.1:1'], ['query', '127.0.0.1:1', 'ping', 'novalue'],
    ['ping', '127.0.0.1:1', '--timeout', 'soon'], ['ping', '127.0.0.1:1', '--id', 'xyz'], ['ping', '127.0.0.1:1', '--bogus'],
    ['serve', '--port', '70000'], ['serve', '--host', 'not-an-ip']]) {
    const x = await run(...args)
    assert.strictEqual(x.code, 2, args.join(' '))
    assert.match(x.stderr, /^krpc: .*\nusage: krpc ping/, args.join(' '))
  }

  const help = await run('--help')
  assert.strictEqual(help.code, 0)
  assert.match(help.stdout, /krpc: a dig for the BitTorrent DHT/)
  assert.match(help.stdout, /exit status:/)
})

test('error reply: exit 4 with the code and message', async t => {
  const port = await fixture(t, (rpc, message, rinfo) => rpc.error(rinfo, message, [201, 'A Generic Error']))
  const r = await run('ping', `127.0.0.1:${port}`)
  assert.strictEqual(r.code, 4)
  assert.strictEqual(r.stderr, 'krpc: error reply 201: A Generic Error\n')

  const j = await run('query', `127.0.0.1:${port}`, 'get', `target=${TARGET}`, '--json')
  assert.strictEqual(j.code, 4)
  assert.deepStrictEqual(JSON.parse(j.stdout).error, { type: 'error_reply', code: 201, message: 'A Generic Error' })
  assert.strictEqual(j.stderr, 'krpc: error reply 201: A Generic Error\n')
})

test('serve answers unknown methods with error 204 (exit 4 for the client)', async t => {
  const { port } = await startServe(t)
  const r = await run('query', `127.0.0.1:${port}`, 'vote', `target=${TARGET}`)
  assert.strictEqual(r.code, 4)
  assert.strictEqual(r.stderr, 'krpc: error reply 204: Method Unknown\n')
})

test('serve prints each query it receives; SIGINT stops it with exit 0', async t => {
  const { proc, port } = await startServe(t)
  const clientId = 'ff'.repeat(20)
  assert.strictEqual((await run('ping', `127.0.0.1:${port}`, '--id', clientId)).code, 0)
  assert.strictEqual((await run('query', `127.0.0.1:${port}`, 'find_node', `target=${TARGET}`, '--id', clientId)).code, 0)
  await waitFor(proc, /^find_node from/m)
  proc.child.kill('SIGINT')
  const r = await proc.exited
  assert.strictEqual(r.signal, null)
  assert.strictEqual(r.code, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  assert.strictEqual(lines.length, 3, r.stdout)
  assert.match(lines[1], new RegExp(`^ping from 127\\.0\\.0\\.1:\\d+ id=${clientId}$`))
  assert.match(lines[2], new RegExp(`^find_node from 127\\.0\\.0\\.1:\\d+ id=${clientId} target=${TARGET}$`))
})

test('serve --json prints JSON lines; SIGTERM stops it with exit 0', async t => {
  const proc = start(['serve', '--port', '0', '--host', '127.0.0.1', '--json'])
  t.after(() => proc.child.kill('SIGKILL'))
  const m = await waitFor(proc, /^(\{"event":"listening".*)\n/m)
  const listening = JSON.parse(m[1])
  assert.match(listening.id, /^[0-9a-f]{40}$/)
  const ping = await run('ping', `127.0.0.1:${listening.port}`, '--json')
  assert.strictEqual(JSON.parse(ping.stdout).id, listening.id)
  await waitFor(proc, /"event":"query"/)
  proc.child.kill('SIGTERM')
  const r = await proc.exited
  assert.strictEqual(r.code, 0, r.stderr)
  const q = JSON.parse(r.stdout.trim().split('\n')[1])
  assert.strictEqual(q.method, 'ping')
  assert.strictEqual(q.from.host, '127.0.0.1')
  assert.match(q.args.id, /^[0-9a-f]{40}$/)
})

test('IPv6: [::1]:PORT picks an IPv6 socket', async t => {
  const probe = dgram.createSocket('udp6')
  const ok = await new Promise(resolve => {
    probe.once('error', () => resolve(false))
    probe.bind(0, '::1', () => resolve(true))
  })
  probe.close()
  if (!ok) return t.skip('no IPv6 loopback')
  const proc = start(['serve', '--port', '0', '--host', '::1', '--id', SERVER_ID])
  t.after(() => proc.child.kill('SIGKILL'))
  const m = await waitFor(proc, /^listening on \[::1\]:(\d+) id=/m)
  const r = await run('ping', `[::1]:${m[1]}`)
  assert.strictEqual(r.code, 0, r.stderr)
  assert.match(r.stdout, new RegExp(`^reply from \\[::1\\]:${m[1]} id=${SERVER_ID} `))
})

test('value parsing and address parsing (in-process)', () => {
  assert.deepStrictEqual(cli.parseValue(TARGET), Buffer.from(TARGET, 'hex'))
  assert.deepStrictEqual(cli.parseValue('0x0a0b'), Buffer.from([10, 11]))
  assert.deepStrictEqual(cli.parseValue('hex:'), Buffer.alloc(0))
  assert.strictEqual(cli.parseValue('6881'), 6881)
  assert.strictEqual(cli.parseValue('str:6881'), '6881')
  assert.strictEqual(cli.parseValue('n4'), 'n4')
  assert.throws(() => cli.parseValue('hex:abc'), /even number of hex digits/)
  assert.deepStrictEqual(cli.parseAddress('[::1]:6881'), { host: '::1', port: 6881, ipv6: true })
  assert.deepStrictEqual(cli.parseAddress('router.bittorrent.com:6881'), { host: 'router.bittorrent.com', port: 6881, ipv6: false })
  assert.strictEqual(cli.ipv6(Buffer.from('20010db8000000010000000000000001', 'hex'), 0), '2001:db8:0:1::1')
  assert.strictEqual(cli.ipv6(Buffer.alloc(16), 0), '::')
  assert.strictEqual(cli.compactNodes(Buffer.alloc(27), 4), null)
})

// Hostile peers (issue 10) and checked hex arguments (issue 11) --------------------------------

const H = require('./harness/hostile')
// What must never reach a terminal raw: C0 (tab and newline included: one record per line), DEL,
// C1, and the bidi overrides and isolates.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/ // eslint-disable-line no-control-regex
const assertClean = (text, what) => {
  for (const line of text.split('\n')) assert.doesNotMatch(line, UNSAFE, `${what}: ${JSON.stringify(line)}`)
}

// A raw UDP peer answering each query with `reply(tidBuffer)` (raw bencode bytes of our own).
async function rawPeer (t, reply) {
  const sock = dgram.createSocket('udp4')
  let received = 0
  sock.on('message', (buf, rinfo) => {
    received++
    const m = /1:t(\d+):/.exec(buf.toString('latin1'))
    if (!m || !reply) return
    const start = m.index + m[0].length
    const tid = buf.subarray(start, start + Number(m[1]))
    for (const out of [].concat(reply(tid))) sock.send(out, rinfo.port, rinfo.address)
  })
  await new Promise(resolve => sock.bind(0, '127.0.0.1', resolve))
  t.after(() => sock.close())
  return { port: sock.address().port, received: () => received }
}

const ESC_KEY = '\x1b]0;pwned\x07\x1b[2J'
const tidOf = tid => H.str(tid)

test('serve survives a query whose q is a dict with toString; remote text is escaped (text and --json)', async t => {
  for (const json of [false, true]) {
    const { proc, port } = json ? await (async () => {
      const p = start(['serve', '--port', '0', '--host', '127.0.0.1', '--json'])
      t.after(() => p.child.kill('SIGKILL'))
      const m = await waitFor(p, /"port":(\d+)/)
      return { proc: p, port: Number(m[1]) }
    })() : await startServe(t)
    const sock = dgram.createSocket('udp4')
    await new Promise(resolve => sock.bind(0, '127.0.0.1', resolve))
    const id = H.str(Buffer.alloc(20, 7))
    const datagrams = [
      H.message({ t: H.str('aa'), y: H.str('q'), q: H.dict([['toString', H.str('x')]]), a: H.dict([['id', id]]) }),
      H.message({ t: H.str('ab'), y: H.str('q'), q: H.list(H.dict([['valueOf', H.int(1)], ['toString', H.int(1)]])), a: H.dict([['id', id]]) }),
      H.message({ t: H.str('ac'), y: H.str('q'), q: H.str('\x1b[2J\x1b]0;pwned\x07\x9b31m\u00c2\u009b'), a: H.dict([['id', id], [ESC_KEY, H.str('\u202eevil')], ['\xc2\x9bk', H.str(Buffer.from('\u2066x\u0085', 'utf8'))]]) }),
      H.message({ t: H.str('ad'), y: H.str('\x1b]0;title\x07'), q: H.str('ping') }),
      H.message({ t: H.str('ae'), y: H.str('q'), q: H.str('ping'), a: H.deep(400, H.dict([['toString', H.str('x')]])) }),
      H.message({ t: H.dict([['toString', H.str('x')]]), y: H.str('q'), q: H.str('ping'), a: H.dict([['id', id], ['__proto__', H.dict([['toString', H.int(1)]])], ['constructor', H.str('x')]]) })
    ]
    for (const d of datagrams) sock.send(d, port, '127.0.0.1')
    await new Promise(resolve => setTimeout(resolve, 300))
    sock.close()
    // Still alive and answering.
    const ping = await run('ping', `127.0.0.1:${port}`)
    assert.strictEqual(ping.code, 0, ping.stderr)
    proc.child.kill('SIGTERM')
    const r = await proc.exited
    assert.strictEqual(r.code, 0, r.stderr)
    assertClean(r.stdout, 'stdout')
    assertClean(r.stderr.replace(/\n$/, ''), 'stderr')
    assert.doesNotMatch(r.stderr, /TypeError|at /)
    const lines = r.stdout.trim().split('\n')
    assert.strictEqual(lines.length, 1 + datagrams.length - 1 + 1, r.stdout) // listening, 5 queries, the ping
    if (json) {
      for (const line of lines) JSON.parse(line)
      assert.strictEqual(JSON.parse(lines[1]).method, '[object Object]')
      assert.strictEqual(JSON.parse(lines[3]).method, '\x1b[2J\x1b]0;pwned\x07\x9b31m\u00c2\u009b'.replace('\x9b31m\u00c2\u009b', '\ufffd31m\u009b'))
      assert.match(lines[3], /\\u009b/)
    } else {
      assert.match(lines[1], /^\[object Object\] from /)
      assert.match(lines[3], /^\\x1b\[2J\\x1b\]0;pwned\\x07/)
      assert.match(lines[3], /\\x1b\]0;pwned\\x07\\x1b\[2J=/) // the key, escaped
      assert.match(r.stderr, /warning: Unknown type: \\x1b\]0;title\\x07/)
    }
  }
})

test('ping/query: an error reply whose e holds a dict with toString is exit 4, not a stack trace', async t => {
  const peer = await rawPeer(t, tid => H.message({ e: H.list(H.int(201), H.dict([['toString', H.str('x')]]), H.str('\x1b[2Jmsg\u202e')), t: tidOf(tid), y: H.str('e') }))
  const r = await run('ping', `127.0.0.1:${peer.port}`)
  assert.strictEqual(r.code, 4, r.stderr)
  assert.strictEqual(r.stderr, 'krpc: error reply 201: [object Object] \\x1b[2Jmsg\\u202e\n')
  const j = await run('query', `127.0.0.1:${peer.port}`, 'get', `target=${TARGET}`, '--json')
  assert.strictEqual(j.code, 4, j.stderr)
  assertClean(j.stdout.trim(), 'json')
  assert.deepStrictEqual(JSON.parse(j.stdout).error, { type: 'error_reply', code: 201, message: '[object Object] \x1b[2Jmsg\u202e' })
  assert.match(j.stdout, /\\u202e/)
})

test('query: reply keys and values with control characters, C1 and bidi are escaped (text and --json)', async t => {
  const peer = await rawPeer(t, tid => H.message({
    r: H.dict([['id', H.str(Buffer.alloc(20, 1))], [ESC_KEY, H.str('\u202eabc')], [Buffer.from('n\u0085\u009b', 'utf8'), H.list(H.str('\u2067x'), H.dict([['toString', H.str('\x1b[2J')], ['__proto__', H.int(1)]]))], ['deep', H.deep(300, H.str('\x1b'))]]),
    t: tidOf(tid),
    v: H.str('\x1b]0;x\x07'),
    y: H.str('r')
  }))
  for (const json of [false, true]) {
    const args = ['query', `127.0.0.1:${peer.port}`, 'find_node', `target=${TARGET}`]
    const r = await run(...args, ...(json ? ['--json'] : []))
    assert.strictEqual(r.code, 0, r.stderr)
    assertClean(r.stdout.trim(), json ? 'json' : 'text')
    if (json) {
      const out = JSON.parse(r.stdout)
      assert.ok(Object.keys(out.reply).includes(ESC_KEY))
      assert.ok(Object.keys(out.reply).includes('n\u0085\u009b'))
      assert.match(r.stdout, /n\\u0085\\u009b/)
      assert.strictEqual(out.reply.deep.length, 1)
    } else {
      assert.match(r.stdout, /\\x1b\]0;pwned\\x07\\x1b\[2J/)
    }
  }
  const p = await run('ping', `127.0.0.1:${peer.port}`)
  assert.strictEqual(p.code, 0, p.stderr)
  assertClean(p.stdout.trim(), 'ping')
})

test('hex arguments are checked: odd length, bad 0x values, 39 digits, a 2-byte --id are usage errors (nothing sent)', async t => {
  const peer = await rawPeer(t, null)
  const to = `127.0.0.1:${peer.port}`
  for (const args of [
    ['ping', to, '--id', 'abcd'],
    ['ping', to, '--id', '0x' + TARGET],
    ['ping', to, '--id', TARGET.slice(1)],
    ['ping', to, '--id', TARGET + 'a'],
    ['query', to, 'find_node', 'target=' + TARGET.slice(1)],
    ['query', to, 'find_node', 'target=0x' + TARGET.slice(1)],
    ['query', to, 'find_node', 'target=abcd'],
    ['query', to, 'get_peers', 'info_hash=' + TARGET + 'ab'],
    ['query', to, 'ping', 'id=0x0102'],
    ['query', to, 'announce_peer', 'token=0x123'],
    ['query', to, 'announce_peer', 'token=0xzz'],
    ['query', to, 'get', 'k=' + 'ab'.repeat(31) + 'a']
  ]) {
    const x = await run(...args, '--timeout', '200')
    assert.strictEqual(x.code, 2, args.join(' ') + '\n' + x.stderr)
    assert.match(x.stderr, /^krpc: bad .*\nusage: krpc ping/, args.join(' '))
  }
  await new Promise(resolve => setTimeout(resolve, 50))
  assert.strictEqual(peer.received(), 0, 'no usage error sent anything')
  assert.throws(() => cli.parseValue('0x0a0'), /even number of hex digits/)
  assert.deepStrictEqual(cli.parseValue('ab'.repeat(32)), Buffer.from('ab'.repeat(32), 'hex'))
  assert.strictEqual(cli.parseQueryArgs(['target=str:abc']).target, 'abc')
})
