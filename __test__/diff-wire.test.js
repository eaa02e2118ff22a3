'use strict'
// Exact bytes of query(), response(), error(), send() (docs/compatibility.md, "Bytes on the wire")
const { differential } = require('./harness')

// Runs fn; when it does not throw, records the next datagram the peer receives (or that none arrived).
// With opts.cb, waits for that callback first, so callback and datagram are recorded in a fixed order.
async function expectWire (t, peer, label, fn, { timeout = 300, cb = null } = {}) {
  const { err } = t.call(label, fn)
  if (cb) await t.wait(cb.called, timeout, label + ': callback')
  if (!err) await peer.recv(timeout)
}

differential('wire: query() messages and return values', async (RPC, t) => {
  const peer = await t.peer('remote')
  const r = t.rpc({ timeout: 100000 })
  const p = { host: '127.0.0.1', port: peer.port }
  await expectWire(t, peer, "query {q:'ping', a:{id: 20 x 'a'}}", () => r.query(p, { q: 'ping', a: { id: Buffer.alloc(20, 0x61) } }))
  await expectWire(t, peer, "query {q:'ping'} (no a)", () => r.query(p, { q: 'ping' }))
  await expectWire(t, peer, 'query {} (no q, no a)', () => r.query(p, {}))
  await expectWire(t, peer, 'query {q: Buffer, a: {target: <ff 00>}}', () => r.query(p, { q: Buffer.from('find_node'), a: { target: Buffer.from([0xff, 0]) } }))
  await expectWire(t, peer, 'query: extra keys t/y/others in the query argument are ignored', () => r.query(p, { q: 'hello_world', a: { hej: 10 }, extra: 'ignored', t: 'ignored', y: 'x' }))
  await expectWire(t, peer, 'query: a with many types', () => r.query(p, { q: 'x', a: { s: 'str', n: -42, z: 0, big: 2 ** 32 + 5, l: [1, 'a', [2]], nul: null, und: undefined, u8: new Uint8Array([1, 2, 3]), B: 1, 10: 1, 9: 1 } }))
  await expectWire(t, peer, 'query with q as a number and a as a list', () => r.query(p, { q: 7, a: [1, 2] }))
  t.state('after queries', r)
  r.destroy()
})

differential('wire: query() encodes synchronously; the callback\'s 4th argument is the live message object', async (RPC, t) => {
  const peer = await t.peer('remote')
  peer.autoReply(m => ({ t: m.t, y: 'r', r: { ok: 1 } }))
  const r = t.rpc({ timeout: 1000 })
  const msg = { q: 'announce_peer', a: { token: 'first' } }
  let request
  const cb = t.cb('cb', { onCall: (e, res, rinfo, req) => { request = req } })
  r.query({ host: '127.0.0.1', port: peer.port }, msg, cb)
  msg.a.token = 'second'
  msg.q = 'changed'
  await t.wait(cb.called)
  t.log('request.a === msg.a', request.a === msg.a, 'request.q', request.q, 'request.a', request.a)
  r.destroy()
})

differential('wire: response()', async (RPC, t) => {
  const peer = await t.peer('remote')
  const r = t.rpc()
  const p = { host: '127.0.0.1', port: peer.port }
  const req = { t: Buffer.from('aa'), y: Buffer.from('q'), q: Buffer.from('ping'), a: {} }
  await expectWire(t, peer, "response(p, {t:'aa'}, {id:'x'})", () => r.response(p, req, { id: 'x' }))
  await expectWire(t, peer, 'response(p, {}, {id: 1}) (no t)', () => r.response(p, {}, { id: 1 }))
  await expectWire(t, peer, "response(p, {t:'ab'}, undefined)", () => r.response(p, { t: Buffer.from('ab') }, undefined))
  await expectWire(t, peer, 'response with a 4-byte t (copied as is)', () => r.response(p, { t: Buffer.from([1, 2, 3, 4]) }, { a: 1 }))
  await expectWire(t, peer, 'response with a string t', () => r.response(p, { t: 'zz' }, { a: 1 }))
  const cb = t.cb('response send cb')
  await expectWire(t, peer, 'response with a callback', () => r.response(p, req, { hello: 42, s: 'str', id: Buffer.alloc(20, 1) }, cb), { cb })
  await expectWire(t, peer, 'response to {address, host}: goes to address', () => r.response({ address: '127.0.0.1', host: '127.0.0.9', port: peer.port }, req, { x: 1 }))
  r.destroy()
})

differential('wire: error() with every row of the error() table', async (RPC, t) => {
  const peer = await t.peer('remote')
  const r = t.rpc()
  const p = { host: '127.0.0.1', port: peer.port }
  const req = { t: Buffer.from('aa') }
  const rows = [
    ["'oh no'", () => 'oh no'],
    ["[201, 'A Generic Error']", () => [201, 'A Generic Error']],
    ["new Error('boom')", () => new Error('boom')],
    ["Error('x') with code 203", () => Object.assign(new Error('x'), { code: 203 })],
    ['202', () => 202],
    ["{message: [201, 'm']}", () => ({ message: [201, 'm'] })],
    ["new Error('')", () => new Error('')],
    ["''", () => ''],
    ["['x', null, 5]", () => ['x', null, 5]],
    ['[]', () => []],
    ['{message: 0} (falsy message: the object itself)', () => ({ message: 0, code: 1 })],
    ['Buffer', () => Buffer.from('buf')]
  ]
  for (const [label, make] of rows) await expectWire(t, peer, `error(p, req, ${label})`, () => r.error(p, req, make()))
  t.call('error(p, req, null) throws before sending', () => r.error(p, req, null))
  t.call('error(p, req, undefined) throws before sending', () => r.error(p, req, undefined))
  await expectWire(t, peer, 'error without t', () => r.error(p, {}, 'no t'))
  const cb = t.cb('error send cb')
  await expectWire(t, peer, 'error with a callback', () => r.error(p, req, 'x', cb), { cb })
  await peer.quiet(30)
  r.destroy()
})

differential('wire: send() destinations, bodies, callback and synchronous throws', async (RPC, t) => {
  const peer = await t.peer('remote')
  const r = t.rpc()
  const p = { host: '127.0.0.1', port: peer.port }
  await expectWire(t, peer, "send(p, {y:'q', anything:[1,2]})", () => r.send(p, { y: 'q', anything: [1, 2] }))
  await expectWire(t, peer, "send(p, 'raw string')", () => r.send(p, 'raw string'))
  await expectWire(t, peer, 'send(p, null): zero-length datagram', () => r.send(p, null))
  await expectWire(t, peer, 'send(p, undefined): zero-length datagram', () => r.send(p, undefined))
  await expectWire(t, peer, 'send(p, 42)', () => r.send(p, 42))
  await expectWire(t, peer, 'send(p, [1, "a"])', () => r.send(p, [1, 'a']))
  await expectWire(t, peer, 'send(p, Buffer)', () => r.send(p, Buffer.from([0, 1, 2])))
  await expectWire(t, peer, 'send: key order is JS sort order', () => r.send(p, { b: 1, a: 2, B: 3, aa: 4, 10: 5, 9: 6 }))
  await expectWire(t, peer, 'send: Map and Set', () => r.send(p, { m: new Map([['b', 1], ['a', 2]]), s: new Set([3, 1, 2]) }))
  await expectWire(t, peer, 'send: typed arrays', () => r.send(p, { u16: new Uint16Array([1, 2]), sub: new Uint8Array([9, 8, 7, 6]).subarray(1, 3), ab: new ArrayBuffer(2) }))
  await expectWire(t, peer, 'send: unicode strings', () => r.send(p, { e: 'é', smile: '\u{1F600}', lone: '\uD800' }))
  await expectWire(t, peer, 'send: nested', () => r.send(p, { a: { c: [1, { z: Buffer.from('x'), y: 'y' }] } }))
  await expectWire(t, peer, "send({address:'127.0.0.1', host:'127.0.0.9'}): address wins", () => r.send({ address: '127.0.0.1', host: '127.0.0.9', port: peer.port }, { a: 1 }))
  await expectWire(t, peer, "send({host:'localhost'}): the hostname is resolved (IPv4 on udp4)", () => r.send({ host: 'localhost', port: peer.port }, { a: 2 }))
  await expectWire(t, peer, 'send: numeric string port works', () => r.send({ host: '127.0.0.1', port: String(peer.port) }, { a: 4 }))
  const cb = t.cb('send cb')
  await expectWire(t, peer, 'send with callback', () => r.send(p, { a: 5 }, cb), { cb })
  for (const port of [0, -1, 70000, undefined]) t.call(`send to port ${port} throws`, () => r.send({ host: '127.0.0.1', port }, { a: 3 }))
  t.call('send: boxed String throws', () => r.send(p, { a: new String('x') })) // eslint-disable-line no-new-wrappers
  await peer.quiet(30)
  r.destroy()
})
