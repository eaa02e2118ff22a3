'use strict'
// DELIBERATE DIFFERENCES of ours from k-rpc-socket@1.11.1. These tests assert OUR behaviour (they run only against
// ours). Where the reference hangs or crashes, it is never run in-process: the "[reference]" tests run it in a child
// process with a hard timeout to show the difference.
const { test } = require('node:test')
const assert = require('assert')
const dns = require('dns')
const { divergence, runChild } = require('./harness')

const tb = tid => Buffer.from([tid >> 8, tid & 255])
const nested = n => 'l'.repeat(n) + 'e'.repeat(n)

async function setup (t, opts = { timeout: 1000 }) {
  const peer = await t.peer('remote')
  const r = t.rpc(opts)
  const events = []
  for (const ev of ['query', 'response', 'warning', 'error', 'update', 'postupdate']) r.on(ev, (...args) => events.push({ ev, args }))
  await new Promise(resolve => r.bind(0, '127.0.0.1', resolve))
  return { peer, r, port: r.address().port, events }
}

// After a hostile datagram the socket must still answer: a query gets a query event and a round trip completes.
async function assertStillAnswers (t, peer, r, port, events) {
  events.length = 0
  await peer.inject('d1:t2:zz1:y1:q1:q4:pinge', port)
  assert.deepStrictEqual(events.map(e => e.ev), ['query'], 'a query is still delivered')
  const got = new Promise(resolve => r.query({ host: '127.0.0.1', port: peer.port }, { q: 'ping' }, (...args) => resolve(args)))
  const m = await peer.recv(500, { log: false })
  assert.ok(m, 'our query reached the peer')
  await peer.send({ t: m.msg.t, y: 'r', r: { ok: 1 } }, port)
  const args = await t.wait(got, 1000)
  assert.ok(args && args[0] === null, 'the round trip completed')
}

for (const [data, index] of [['d-3:e', 1], ['l-3:e', 1], ['d1:a-3:e', 4], ['d1:ad-3:ee', 5], ['-4:spam', 0], ['l-1:e', 1]]) {
  divergence(`negative string length ${JSON.stringify(data)}: warning "Invalid data: negative string length at buffer[${index}]"; the socket keeps answering`, async (RPC, t) => {
    const { peer, r, port, events } = await setup(t)
    await peer.inject(data, port)
    assert.deepStrictEqual(events.map(e => e.ev), ['warning'])
    const w = events[0].args[0]
    assert.ok(w instanceof Error)
    assert.strictEqual(w.message, `Invalid data: negative string length at buffer[${index}]`)
    await assertStillAnswers(t, peer, r, port, events)
  })
}

// The reference's recursive decoder overflows the JS stack at a depth that depends on how far V8
// has optimised it: about 5,100 levels in a fresh process, every depth a datagram can hold once
// warm. Ours decodes every nesting a datagram can hold (docs/ARCHITECTURE.md, decoding).
for (const n of [6000, 20000, 32000]) {
  divergence(`nesting ${n} levels of lists: decoded (here a list, so "Unknown type: undefined"); reference: RangeError 'Maximum call stack size exceeded' on a cold process`, async (RPC, t) => {
    const { peer, r, port, events } = await setup(t)
    await peer.inject(nested(n), port)
    assert.deepStrictEqual(events.map(e => e.ev), ['warning'])
    assert.strictEqual(events[0].args[0].message, 'Unknown type: undefined')
    await assertStillAnswers(t, peer, r, port, events)
  })
}

divergence('an unterminated nest of 40,000 lists: warning "Invalid data: nesting deeper than 32768 levels" (reference: RangeError)', async (RPC, t) => {
  const { peer, r, port, events } = await setup(t)
  await peer.inject('l'.repeat(40000), port)
  assert.deepStrictEqual(events.map(e => e.ev), ['warning'])
  assert.strictEqual(events[0].args[0].message, 'Invalid data: nesting deeper than 32768 levels')
  assert.ok(events[0].args[0] instanceof Error)
  await assertStillAnswers(t, peer, r, port, events)
})

divergence('5,500 levels of dicts inside a query: a query event with the whole value (reference, cold: RangeError warning)', async (RPC, t) => {
  const { peer, port, events } = await setup(t)
  // level 1 is the top dict; 5,499 nested dicts under 'a' hold an integer at level 5,501
  await peer.inject('d1:y1:q1:a' + 'd1:a'.repeat(5499) + 'i1e' + 'e'.repeat(5500), port)
  assert.deepStrictEqual(events.map(e => e.ev), ['query'])
  let v = events[0].args[0].a
  for (let i = 0; i < 5499; i++) v = v.a
  assert.strictEqual(v, 1)
})

const ID = Buffer.alloc(20, 0xaa)
const ODD_IDS = [
  ['r.id is an integer (i5e)', { id: ID }, { id: 5 }],
  ['r.id is a list', { id: ID }, { id: [1] }],
  ['r.id is a dict', { id: ID }, { id: { a: 1 } }],
  ['peer.id is a hex string', { id: ID.toString('hex') }, { id: ID }],
  ['peer.id is a plain Uint8Array (no .equals), r.id different', { id: new Uint8Array(ID) }, { id: Buffer.alloc(20, 0xbb) }],
  // As briefed: "a peer.id without .equals gives EUNEXPECTEDNODE" (even when the bytes are equal).
]
for (const [label, peerExtra, r] of ODD_IDS) {
  divergence(`${label}: EUNEXPECTEDNODE (3-arg callback) instead of an uncaught TypeError`, async (RPC, t) => {
    const { peer, r: rpc, events } = await setup(t)
    peer.autoReply(m => ({ t: m.t, y: 'r', r }), { log: false })
    const args = await t.wait(new Promise(resolve => rpc.query(Object.assign({ host: '127.0.0.1', port: peer.port }, peerExtra), { q: 'ping' }, (...a) => resolve(a))), 1000)
    await t.sleep(10)
    assert.ok(args, 'callback called')
    assert.strictEqual(args.length, 3)
    assert.ok(args[0] instanceof Error)
    assert.strictEqual(args[0].message, 'Unexpected node id')
    assert.strictEqual(args[0].code, 'EUNEXPECTEDNODE')
    assert.strictEqual(args[1], null)
    assert.deepStrictEqual(Object.keys(args[2]), ['address', 'family', 'port', 'size'])
    assert.deepStrictEqual(events.map(e => e.ev), ['update', 'postupdate'])
    assert.strictEqual(t.uncaught.length, 0)
    assert.strictEqual(rpc.inflight, 0)
  })
}

// An error reply whose `e` holds a dict with a `toString` key: the reference's `e.join(' ')` throws
// a TypeError out of its message handler (the query's callback never runs). Here that dict reads
// `[object Object]`, as any other dict does, and every other element keeps the reference's text.
const HOSTILE_E = [
  ['a dict with toString', 'ld8:toString1:xee', '[object Object]', 0],
  ['a code, then a dict with toString', 'li201ed8:toStringi1eee', '201 [object Object]', 201],
  ['a nested list holding one', 'li202el1:ad8:toString1:xe1:bee', '202 a,[object Object],b', 202],
  ['valueOf and toString', 'ld7:valueOf1:x8:toString1:xee', '[object Object]', 0],
  ['valueOf alone (the reference does not throw)', 'l1:ad7:valueOf1:xee', 'a [object Object]', 0],
  ['deeply nested', 'l' + 'l'.repeat(300) + 'd8:toString1:xe' + 'e'.repeat(300) + '1:ze', '[object Object] z', 0]
]
for (const [label, e, message, code] of HOSTILE_E) {
  divergence(`an error reply whose e holds ${label}: callback(err) with err.message ${JSON.stringify(message.slice(0, 40))}, not an uncaught TypeError`, async (RPC, t) => {
    const { peer, r, events } = await setup(t)
    peer.autoReply(m => Buffer.concat([Buffer.from('d1:e' + e + '1:t2:'), m.t, Buffer.from('1:y1:ee')]), { log: false })
    const calls = []
    const once = () => new Promise(resolve => r.query({ host: '127.0.0.1', port: peer.port }, { q: 'ping' }, (...a) => { calls.push(a); resolve() }))
    await t.wait(once(), 1000)
    await t.sleep(20)
    assert.strictEqual(t.uncaught.length, 0, 'nothing thrown out of the receive path')
    assert.strictEqual(calls.length, 1, 'the callback ran exactly once')
    const [err, msg, rinfo, sent] = calls[0]
    assert.ok(err instanceof Error)
    assert.strictEqual(err.message, message)
    assert.strictEqual(err.code, code)
    assert.strictEqual(msg.y.toString(), 'e')
    assert.strictEqual(rinfo.port, peer.port)
    assert.strictEqual(sent.q, 'ping')
    assert.deepStrictEqual(events.map(e => e.ev), ['update', 'postupdate'])
    assert.strictEqual(r.inflight, 0)
    // The socket keeps working: a second query gets the same answer.
    await t.wait(once(), 1000)
    await t.sleep(20)
    assert.strictEqual(calls.length, 2)
    assert.strictEqual(calls[1][0].message, message)
    assert.strictEqual(t.uncaught.length, 0)
    assert.strictEqual(r.inflight, 0)
  })
}

divergence('peer.id as a plain Uint8Array (no .equals) is compared by bytes: the same bytes are a success, not an uncaught TypeError', async (RPC, t) => {
  const { peer, r: rpc } = await setup(t)
  peer.autoReply(m => ({ t: m.t, y: 'r', r: { id: ID } }), { log: false })
  const args = await t.wait(new Promise(resolve => rpc.query({ host: '127.0.0.1', port: peer.port, id: new Uint8Array(ID) }, { q: 'ping' }, (...a) => resolve(a))), 1000)
  assert.ok(args, 'callback called')
  assert.strictEqual(args.length, 4)
  assert.strictEqual(args[0], null)
  assert.ok(args[1].r.id.equals(ID))
  assert.strictEqual(t.uncaught.length, 0)
  assert.strictEqual(rpc.inflight, 0)
})

divergence('a query made from a cancel callback inside destroy() is sent and never called back, as in the reference, but registers nothing (no slot, inflight 0)', async (RPC, t) => {
  const r = t.rpc()
  const sent = []
  r.socket.send = function (buf) { sent.push(Buffer.from(buf).toString('latin1')) }
  const peer = { host: '127.0.0.1', port: 9 }
  let innerTid = 'not called'
  let innerCalls = 0
  r.query(peer, { q: 'x' }, () => { innerTid = r.query(peer, { q: 'inner' }, () => { innerCalls++ }) })
  r.query(peer, { q: 'y' }, () => {})
  const sentBefore = sent.length
  r.destroy()
  assert.strictEqual(innerTid, 3, 'the tid the reference returns')
  assert.deepStrictEqual(sent.slice(sentBefore), ['d1:q5:inner1:t2:\x00\x031:y1:qe'], 'handed to the socket as the reference does')
  assert.strictEqual(r.inflight, 0, 'the reference leaks: inflight 1')
  assert.deepStrictEqual(r._ids, [0, 0], 'the reference leaks: _ids [3, 0]')
  await t.sleep(30)
  assert.strictEqual(innerCalls, 0, 'never called back')
  assert.strictEqual(t.uncaught.length, 0)
})

// Two queries per cancel callback: the reference puts one in the slot just freed and the other past its loop
// position, whose cancel makes two more, and so on: destroy() never returns (lifecycle.test.js shows it in a child).
divergence('cancel callbacks that each query twice inside destroy(): destroy() returns (the reference loops forever)', async (RPC, t) => {
  const r = t.rpc()
  let sends = 0
  r.socket.send = function () { sends++ }
  const peer = { host: '127.0.0.1', port: 9 }
  let calls = 0
  const twice = () => { calls++; r.query(peer, { q: 'a' }, twice); r.query(peer, { q: 'b' }, twice) }
  r.query(peer, { q: 'first' }, twice)
  r.query(peer, { q: 'second' }, twice)
  r.destroy()
  assert.strictEqual(calls, 2)
  assert.strictEqual(sends, 2 + 4)
  assert.strictEqual(r.inflight, 0)
  await t.sleep(20)
  assert.strictEqual(calls, 2)
})

divergence('maxInflight: a query that failed at once and whose callback runs after destroy() may query again without a throw (it counts as made inside destroy())', async (RPC, t) => {
  const r = t.rpc({ maxInflight: 1 })
  r.socket.send = function () {}
  const peer = { host: '127.0.0.1', port: 9 }
  const seen = []
  r.query(peer, { q: 'a' }, () => {})
  r.query(peer, { q: 'b' }, (err) => {
    seen.push(err.code)
    seen.push(typeof r.query(peer, { q: 'retry' }, () => seen.push('retry called back')))
  })
  r.destroy()
  await t.sleep(30)
  assert.deepStrictEqual(seen, ['ETOOMANYQUERIES', 'number'])
  assert.strictEqual(t.uncaught.length, 0)
  assert.strictEqual(r.inflight, 0)
})

divergence('send() then socket.close() in the same tick: the send callback is not called, as with dgram (which drops the datagram)', async (RPC, t) => {
  const peer = await t.peer('remote')
  const r = t.rpc()
  await new Promise(resolve => r.bind(0, '127.0.0.1', resolve))
  const calls = []
  for (let i = 0; i < 6; i++) r.send({ host: '127.0.0.1', port: peer.port }, { y: 'q', q: 'n' + i }, (...a) => calls.push(a))
  r.destroy()
  await t.sleep(50)
  assert.deepStrictEqual(calls, [], 'no callback after the socket closed')
  // Sends go to the kernel synchronously, the first 4 of a tick at once (dgram sends none of them); the rest wait
  // for the end of the tick and are dropped by the close, as dgram drops all.
  const got = await peer.quiet(20)
  assert.deepStrictEqual(got.map(i => i.msg.q.toString()), ['n0', 'n1', 'n2', 'n3'])
  // The same with dgram, for comparison: nothing arrives, no callback.
  const dgram = require('dgram').createSocket('udp4')
  await new Promise(resolve => dgram.bind(0, '127.0.0.1', resolve))
  const dgramCalls = []
  dgram.send(Buffer.from('x'), peer.port, '127.0.0.1', (...a) => dgramCalls.push(a))
  dgram.close()
  await t.sleep(30)
  assert.deepStrictEqual(dgramCalls, [])
  assert.deepStrictEqual(await peer.quiet(10), [])
})

// Not a difference any more: the row was removed when bursts started running queued ticks between
// their datagrams. The same order as dgram's one callback per datagram, on ours and the reference.
for (const [label, impl] of [['ours', () => require('..')], ['k-rpc-socket', () => require('k-rpc-socket')]]) {
  test(`datagrams that arrive together (${label}): process.nextTick and promise work queued by a listener runs before the next datagram's events`, async t => {
    const RPC = impl()
    const r = RPC()
    await new Promise(resolve => r.bind(0, '127.0.0.1', resolve))
    const port = r.address().port
    const sender = require('dgram').createSocket('udp4')
    await new Promise(resolve => sender.bind(0, '127.0.0.1', resolve))
    const order = []
    r.on('query', (q) => {
      const n = q.q.toString()
      order.push('query ' + n)
      process.nextTick(() => order.push('tick ' + n))
      Promise.resolve().then(() => order.push('promise ' + n))
    })
    // Queued in the kernel before the loop looks at the socket: one burst for ours.
    for (const n of ['1', '2', '3']) sender.send(Buffer.from(`d1:q1:${n}1:y1:qe`), port, '127.0.0.1')
    await new Promise(resolve => setTimeout(resolve, 100))
    sender.close()
    r.destroy()
    assert.deepStrictEqual(order, ['query 1', 'tick 1', 'promise 1', 'query 2', 'tick 2', 'promise 2', 'query 3', 'tick 3', 'promise 3'])
  })
}

divergence('a peer with `address` but no `host` does not hang: the query goes to `address`; timers keep running', async (RPC, t) => {
  const peer = await t.peer('remote')
  const r = t.rpc({ timeout: 100 })
  let timerFired = false
  setTimeout(() => { timerFired = true }, 10)
  const calls = []
  const done = new Promise(resolve => r.query({ address: '127.0.0.1', port: peer.port }, { q: 'ping' }, (...a) => { calls.push(a); resolve() }))
  const m = await peer.recv(500, { log: false })
  assert.ok(m, 'the query was sent to peer.address')
  assert.strictEqual(m.msg.q.toString(), 'ping')
  await t.wait(done, 1500)
  await t.sleep(20)
  assert.ok(timerFired, 'the event loop kept running timers')
  assert.strictEqual(calls.length, 1, 'the callback fires exactly once (reply or timeout)')
  assert.strictEqual(r.inflight, 0)
})

for (const host of ['', null]) {
  divergence(`a peer with host ${JSON.stringify(host)} does not hang the event loop; the callback fires once`, async (RPC, t) => {
    const r = t.rpc({ timeout: 50 })
    let timerFired = false
    setTimeout(() => { timerFired = true }, 10)
    const calls = []
    let threw = null
    try { r.query({ host, port: 9 }, { q: 'ping' }, (...a) => calls.push(a)) } catch (e) { threw = e }
    await t.sleep(400)
    assert.ok(timerFired, 'the event loop kept running timers')
    assert.ok(threw || calls.length === 1, 'either query() threw or the callback fired exactly once')
    assert.ok(calls.length <= 1)
  })
}

divergence('query() after destroy(): throws ERR_SOCKET_DGRAM_NOT_RUNNING, does not leak a slot (inflight 0), nothing fires later', async (RPC, t) => {
  const r = t.rpc({ timeout: 40 })
  const events = []
  for (const ev of ['update', 'postupdate', 'warning']) r.on(ev, () => events.push(ev))
  r.destroy()
  let calls = 0
  assert.throws(() => r.query({ host: '127.0.0.1', port: 9 }, { q: 'late' }, () => { calls++ }), err => err.code === 'ERR_SOCKET_DGRAM_NOT_RUNNING' && err.message === 'Not running')
  assert.strictEqual(r.inflight, 0)
  await t.sleep(150)
  assert.strictEqual(calls, 0)
  assert.deepStrictEqual(events, [])
  assert.strictEqual(r.inflight, 0)
  // a second destroy() has nothing left to cancel
  assert.throws(() => r.destroy(), err => err.code === 'ERR_SOCKET_DGRAM_NOT_RUNNING')
  assert.strictEqual(calls, 0)
})

divergence('tids are never handed out while in flight: after _tick wraps, the next free tid is used; replies reach the right query', async (RPC, t) => {
  const peer = await t.peer('remote')
  const r = t.rpc({ timeout: 100000 })
  await new Promise(resolve => r.bind(0, '127.0.0.1', resolve))
  const port = r.address().port
  const done = []
  const A = r.query({ host: '127.0.0.1', port: peer.port }, { q: 'A' }, (e, res) => done.push('A ' + (e ? e.message : res.r.for.toString())))
  assert.strictEqual(A, 1)
  r._tick = 0 // the reference would hand out 1 again
  const B = r.query({ host: '127.0.0.1', port: peer.port }, { q: 'B' }, (e, res) => done.push('B ' + (e ? e.message : res.r.for.toString())))
  assert.strictEqual(B, 2, 'tid 1 is in flight, so the next free tid (2) is used')
  r._tick = 65535 // wraps to 1, which is in flight; 2 too: next free is 3
  const C = r.query({ host: '127.0.0.1', port: peer.port }, { q: 'C' }, (e) => done.push('C ' + (e ? e.message : 'ok')))
  assert.strictEqual(C, 3)
  assert.notStrictEqual(A, B)
  await peer.recv(500, { log: false })
  const mB = await peer.recv(500, { log: false })
  await peer.recv(500, { log: false })
  assert.deepStrictEqual(mB.msg.t, tb(2))
  await peer.inject({ t: tb(B), y: 'r', r: { for: 'B' } }, port)
  assert.deepStrictEqual(done, ['B B'])
  r.cancel(A)
  assert.deepStrictEqual(done, ['B B', 'A Query was cancelled'])
  r.cancel(C)
  assert.strictEqual(r.inflight, 0)
})

divergence("hostnames resolve in the socket's family: 'localhost' works on udp4 even when a plain lookup answers ::1 first", async (RPC, t) => {
  // Simulate a machine whose /etc/hosts lists "::1 localhost" first: a lookup without family 4 answers ::1.
  // (If ours resolves outside dns.lookup, the patch has no effect and this machine's hosts file decides.)
  const orig = dns.lookup
  dns.lookup = function (host, opts, cb) {
    if (typeof opts === 'function') { cb = opts; opts = {} }
    const family = typeof opts === 'number' ? opts : (opts && opts.family) || 0
    if (host === 'localhost' && family !== 4) {
      if (opts && opts.all) return process.nextTick(cb, null, [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }])
      return process.nextTick(cb, null, '::1', 6)
    }
    return orig.call(this, host, opts, cb)
  }
  t.onCleanup(() => { dns.lookup = orig })
  const peer = await t.peer('remote')
  peer.autoReply(m => ({ t: m.t, y: 'r', r: { ok: 1 } }), { log: false })
  const r = t.rpc({ timeout: 300 })
  const args = await t.wait(new Promise(resolve => r.query({ host: 'localhost', port: peer.port }, { q: 'ping' }, (...a) => resolve(a))), 1500)
  assert.ok(args, 'callback called')
  assert.strictEqual(args[0], null, 'the query succeeded: ' + (args[0] && args[0].message))
  assert.strictEqual(args[2].address, '127.0.0.1')
})

divergence('a __proto__ key in a decoded dict is an own property (the prototype is not replaced)', async (RPC, t) => {
  const { peer, port, events } = await setup(t)
  // The reference decodes this to an object inheriting y and t, and emits it as a query.
  await peer.inject('d9:__proto__d1:y1:q1:t2:aaee', port)
  assert.deepStrictEqual(events.map(e => e.ev), ['warning'])
  assert.strictEqual(events[0].args[0].message, 'Unknown type: undefined')
  events.length = 0
  await peer.inject('d1:y1:q9:__proto__d1:xi1eee', port)
  assert.deepStrictEqual(events.map(e => e.ev), ['query'])
  const msg = events[0].args[0]
  assert.strictEqual(Object.getPrototypeOf(msg), Object.prototype)
  assert.ok(Object.prototype.hasOwnProperty.call(msg, '__proto__'))
  assert.deepStrictEqual(Object.keys(msg), ['y', '__proto__'])
  assert.strictEqual(msg.x, undefined)
  assert.deepStrictEqual(Object.keys(Object.getOwnPropertyDescriptor(msg, '__proto__').value), ['x'])
})

// ---- the reference, in a child process with a hard timeout, for the cases above where it hangs/crashes ----

const REF_INJECT = (data, extra = '') => `
  const RPC = require('k-rpc-socket'); const dgram = require('dgram')
  const r = RPC(); const raw = dgram.createSocket('udp4')
  r.on('warning', e => console.log('warning', e.message))
  ${extra}
  r.bind(0, '127.0.0.1', () => raw.send(Buffer.from(${JSON.stringify(data)}, 'latin1'), r.address().port, '127.0.0.1', () => {
    setTimeout(() => { console.log('survived'); r.destroy(); raw.close() }, 300)
  }))`

test('[reference, child process] d-3:e freezes the reference process (killed by the 2 s timeout)', { timeout: 6000 }, async () => {
  const res = await runChild(REF_INJECT('d-3:e'), { timeoutMs: 2000 })
  assert.strictEqual(res.timedOut, true, JSON.stringify(res))
  assert.doesNotMatch(res.stdout, /survived/)
})

test('[reference, child process] 20,000 nested lists: warning "Maximum call stack size exceeded"', { timeout: 6000 }, async () => {
  const res = await runChild(REF_INJECT(nested(20000)), { timeoutMs: 3000 })
  assert.match(res.stdout, /warning Maximum call stack size exceeded/)
  assert.match(res.stdout, /survived/)
})

test('[reference, child process] a reply with r.id = i5e to a peer with .id kills the reference process', { timeout: 6000 }, async () => {
  const code = `
    const RPC = require('k-rpc-socket'); const dgram = require('dgram'); const bencode = require('bencode')
    const raw = dgram.createSocket('udp4')
    raw.on('message', (buf, rinfo) => raw.send(bencode.encode({ t: bencode.decode(buf).t, y: 'r', r: { id: 5 } }), rinfo.port, rinfo.address))
    raw.bind(0, '127.0.0.1', () => {
      const r = RPC({ timeout: 200 })
      r.query({ host: '127.0.0.1', port: raw.address().port, id: Buffer.alloc(20, 1) }, { q: 'ping' }, e => { console.log('callback', e && e.message); r.destroy(); raw.close() })
    })`
  const res = await runChild(code, { timeoutMs: 3000 })
  assert.strictEqual(res.timedOut, false)
  assert.notStrictEqual(res.code, 0)
  assert.match(res.stderr, /ERR_INVALID_ARG_TYPE|otherBuffer/)
})

test('[reference, child process] an error reply whose e holds a dict with a toString key kills the reference process', { timeout: 6000 }, async () => {
  const code = `
    const RPC = require('k-rpc-socket'); const dgram = require('dgram'); const bencode = require('bencode')
    const raw = dgram.createSocket('udp4')
    raw.on('message', (buf, rinfo) => raw.send(Buffer.concat([Buffer.from('d1:eld8:toString1:xee1:t2:'), bencode.decode(buf).t, Buffer.from('1:y1:ee')]), rinfo.port, rinfo.address))
    raw.bind(0, '127.0.0.1', () => {
      const r = RPC({ timeout: 200 })
      r.query({ host: '127.0.0.1', port: raw.address().port }, { q: 'ping' }, e => { console.log('callback', e && e.message); r.destroy(); raw.close() })
    })`
  const res = await runChild(code, { timeoutMs: 3000 })
  assert.strictEqual(res.timedOut, false)
  assert.notStrictEqual(res.code, 0)
  assert.match(res.stderr, /TypeError: Cannot convert object to primitive value/)
  assert.doesNotMatch(res.stdout, /callback/)
})

test('[reference, child process] query({address, port}) without host: endless dns.lookup loop, timers never fire', { timeout: 6000 }, async () => {
  const code = `
    const RPC = require('k-rpc-socket')
    setTimeout(() => { console.log('timer fired'); process.exit(0) }, 50)
    RPC().query({ address: '127.0.0.1', port: 9 }, { q: 'ping' }, () => {})`
  const res = await runChild(code, { timeoutMs: 2000 })
  assert.strictEqual(res.timedOut, true)
  assert.doesNotMatch(res.stdout, /timer fired/)
})
