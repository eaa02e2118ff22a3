'use strict'
// Construction, properties, subclassing and overriding (docs/compatibility.md, "Construction and options",
// "Properties")
const { differential, runChild, ROOT } = require('./harness')
const { EventEmitter } = require('events')
const net = require('net')
const util = require('util')
const dgram = require('dgram')

const METHODS = ['address', 'response', 'error', 'send', 'bind', 'destroy', 'query', 'cancel', '_cancel', '_resolveAndQuery']

differential('constructor: with and without new, defaults, own keys in order, listeners, timer', async (RPC, t) => {
  const a = t.track(RPC())
  t.log('RPC() without new: instanceof RPC / EventEmitter', a instanceof RPC, a instanceof EventEmitter)
  const b = t.track(new RPC())
  t.log('new RPC(): instanceof RPC / EventEmitter', b instanceof RPC, b instanceof EventEmitter)
  t.log('typeof export', typeof RPC)
  t.log('prototype chain: Object.getPrototypeOf(RPC.prototype) === EventEmitter.prototype', Object.getPrototypeOf(RPC.prototype) === EventEmitter.prototype)
  t.log('prototype methods are functions', METHODS.map(m => [m, typeof RPC.prototype[m], Object.prototype.hasOwnProperty.call(RPC.prototype, m)]))
  t.log('own enumerable keys', Object.keys(a))
  t.log('defaults', { timeout: a.timeout, inflight: a.inflight, destroyed: a.destroyed, _tick: a._tick, _ids: a._ids, _reqs: a._reqs })
  t.log('isIP === net.isIP', a.isIP === net.isIP)
  // docs/compatibility.md, "What third parties reach into": .socket must be a dgram.Socket or API-compatible with it (instanceof is not required)
  t.log('socket type and dgram.Socket API', a.socket.type, ['send', 'bind', 'close', 'address', 'on', 'once', 'removeListener', 'ref', 'unref', 'setRecvBufferSize', 'setSendBufferSize', 'getRecvBufferSize', 'getSendBufferSize'].map(m => [m, typeof a.socket[m]]))
  t.log('socket listener counts message/error/listening/close', ['message', 'error', 'listening', 'close'].map(e => a.socket.listenerCount(e)))
  t.log('timer period and ref', a._timer._idleTimeout, a._timer.hasRef())
  t.log('EventEmitter methods', typeof a.setMaxListeners, typeof a.on, typeof a.emit, a.getMaxListeners())
  a.setMaxListeners(0)
  t.log('setMaxListeners(0) works', a.getMaxListeners())
  t.log('falsy opts', [null, undefined, 0, '', false].map(o => { const r = t.track(RPC(o)); return r.timeout }))
  t.log('unknown options ignored', Object.keys(t.track(RPC({ foo: 1, nodes: [] }))).includes('foo'))
})

differential('constructor: timeout option -> .timeout and tick period (the tick period table)', async (RPC, t) => {
  for (const opts of [undefined, null, {}, { timeout: 0 }, { timeout: null }, { timeout: NaN }, { timeout: '' }, { timeout: 1 }, { timeout: 3 }, { timeout: 7 }, { timeout: 100 }, { timeout: 1001 }, { timeout: -5 }, { timeout: '400' }, { timeout: 'abc' }]) {
    const r = t.rpc(opts)
    t.log(util.inspect(opts), { timeout: r.timeout, period: r._timer._idleTimeout })
    r.destroy()
  }
})

differential('constructor: custom socket and isIP are kept; udp6 socket accepted', async (RPC, t) => {
  const custom = () => true
  const s = dgram.createSocket('udp4')
  const r = t.rpc({ isIP: custom, socket: s })
  t.log('custom isIP kept', r.isIP === custom)
  t.log('custom socket kept', r.socket === s)
  t.log('listeners attached to the custom socket message/error/listening', ['message', 'error', 'listening'].map(e => s.listenerCount(e)))
  const s6 = dgram.createSocket('udp6')
  const r6 = t.rpc({ socket: s6 })
  t.log('udp6 socket kept, type', r6.socket === s6, r6.socket.type)
  r.destroy()
  r6.destroy()
})

differential('constructor: timeout change after construction has no effect on the period', async (RPC, t) => {
  const r = t.rpc({ timeout: 100 })
  r.timeout = 4000
  t.log('period', r._timer._idleTimeout, 'timeout', r.timeout)
  r.destroy()
})

differential('keep-alive: an idle never-bound instance keeps the process alive; destroy() lets it exit', async (RPC, t) => {
  const impl = JSON.stringify(t.impl === 'ref' ? 'k-rpc-socket' : ROOT)
  const idle = await runChild(`const RPC = require(${impl}); RPC(); console.log('constructed')`, { timeoutMs: 900 })
  t.log('idle child: killed by the timeout (still alive after 900 ms)', idle.timedOut, idle.stdout.trim())
  const destroyed = await runChild(`const RPC = require(${impl}); const r = RPC(); r.destroy(); console.log('destroyed')`, { timeoutMs: 2000 })
  t.log('destroyed child: exited by itself, code', destroyed.timedOut, destroyed.code, destroyed.stdout.trim())
  const queried = await runChild(`const RPC = require(${impl}); const r = RPC({timeout: 40}); r.query({host: '127.0.0.1', port: 9}, {q: 'x'}, (e) => { console.log(e.message); r.destroy() })`, { timeoutMs: 2000 })
  t.log('child after a timeout + destroy: exited by itself, code', queried.timedOut, queried.code, queried.stdout.trim())
}, { runTimeout: 4000, parallel: true })

differential('subclassing with util.inherits + RPC.call(this, opts); overridden send/emit/response are used internally', async (RPC, t) => {
  function Sub (opts) {
    if (!(this instanceof Sub)) return new Sub(opts)
    RPC.call(this, opts)
    this.extra = 'sub'
  }
  util.inherits(Sub, RPC)
  Sub.prototype.send = function (peer, message, cb) {
    t.log('Sub#send', { peer, message, hasCb: typeof cb === 'function' })
    return RPC.prototype.send.call(this, peer, message, cb)
  }
  Sub.prototype.emit = function (ev, ...args) {
    if (ev !== 'newListener' && ev !== 'removeListener') t.log('Sub#emit', ev, args.length)
    return RPC.prototype.emit.call(this, ev, ...args)
  }
  Sub.prototype.response = function (peer, req, res, cb) {
    t.log('Sub#response', { res })
    return RPC.prototype.response.call(this, peer, req, Object.assign({ ip: 'added' }, res), cb)
  }
  const peer = await t.peer('remote')
  const s = t.track(new Sub({ timeout: 100 }), 'sub')
  t.log('instanceof Sub/RPC/EventEmitter', s instanceof Sub, s instanceof RPC, s instanceof EventEmitter)
  t.log('own keys', Object.keys(s))
  t.log('timeout', s.timeout, s._timer._idleTimeout)
  t.watch(s, 'sub')
  await new Promise(resolve => s.bind(0, '127.0.0.1', resolve))
  const port = s.address().port
  t.namePort(port, 'sub')
  // outgoing query goes through Sub#send
  const cb = t.cb('query cb')
  const tid = s.query({ host: '127.0.0.1', port: peer.port }, { q: 'ping', a: { x: 1 } }, cb)
  t.log('tid', tid)
  const got = await peer.recv()
  await peer.send({ t: got.msg.t, y: 'r', r: { ok: 1 } }, port)
  await t.wait(cb.called)
  // incoming query -> 'query' through Sub#emit; answer through the overridden response
  s.on('query', (q, rinfo) => s.response(rinfo, q, { pong: 1 }))
  await peer.send({ t: 'ab', y: 'q', q: 'ping', a: {} }, port)
  await peer.recv()
  // error() also goes through Sub#send
  s.error({ host: '127.0.0.1', port: peer.port }, { t: Buffer.from('zz') }, [201, 'x'])
  await peer.recv()
  // timeout path goes through emit too
  const cb2 = t.cb('timeout cb')
  s.query({ host: '127.0.0.1', port: peer.port }, { q: 'lost' }, cb2)
  await peer.recv()
  await t.wait(cb2.called, 1000)
  const done = new Promise(resolve => s.destroy(resolve))
  await t.wait(done)
  t.state('end', s)
}, { runTimeout: 2000 })

differential('duck-typed socket (opts.socket) with isIP: () => true: everything goes through the given object', async (RPC, t) => {
  // A fake socket, like k-rpc-socket-webrtc passes: only on/send/bind/close/address are used.
  const fake = new EventEmitter()
  fake.sent = []
  fake.send = function (buf, offset, length, port, host, cb) {
    t.log('fake.send', { buf: Buffer.from(buf.subarray(offset, offset + length)).toString('latin1'), offset, length, port, host, cb: typeof cb })
    if (cb) process.nextTick(cb, null, length)
  }
  fake.bind = function (...args) { t.log('fake.bind', args.map(a => typeof a === 'function' ? '<fn>' : a)); process.nextTick(() => this.emit('listening')) }
  fake.close = function () { t.log('fake.close'); process.nextTick(() => this.emit('close')) }
  fake.address = function () { return { address: 'fake', family: 'IPv4', port: 1 } }
  const r = t.rpc({ socket: fake, isIP: () => true, timeout: 100 })
  t.watch(r, 'rpc')
  t.log('listeners on fake', ['message', 'error', 'listening'].map(e => fake.listenerCount(e)))
  r.bind(1234, () => t.log('bind cb'))
  await t.sleep(5)
  t.log('address()', r.address())
  const cb = t.cb('cb1')
  const peer = { host: 'peer-a', port: 7000, id: Buffer.alloc(4, 1) }
  t.name(peer, 'peerA')
  t.log('query returned', r.query(peer, { q: 'ping', a: { id: Buffer.alloc(4, 2) } }, cb))
  // reply from the right "host" (the fake rinfo.address equals peer.host), and an out-of-order one
  fake.emit('message', Buffer.from('d1:rd2:id4:\x01\x01\x01\x01e1:t2:\x00\x011:y1:re', 'latin1'), { address: 'other', family: 'IPv4', port: 7000, size: 1 })
  fake.emit('message', Buffer.from('d1:rd2:id4:\x01\x01\x01\x01e1:t2:\x00\x011:y1:re', 'latin1'), { address: 'peer-a', family: 'IPv4', port: 7000, size: 30 })
  // port 0 rinfo is ignored
  fake.emit('message', Buffer.from('d1:y1:qe'), { address: 'peer-a', family: 'IPv4', port: 0, size: 8 })
  fake.emit('message', Buffer.from('d1:y1:qe'), { address: 'peer-a', family: 'IPv4', port: 7001, size: 8 })
  fake.emit('message', Buffer.from('d1:y1:Xe'), { address: 'peer-a', family: 'IPv4', port: 7001, size: 8 })
  fake.emit('error', Object.assign(new Error('fake EADDRINUSE'), { code: 'EADDRINUSE' }))
  fake.emit('error', Object.assign(new Error('fake other'), { code: 'EOTHER' }))
  // timeout through the fake socket
  const cb2 = t.cb('cb2')
  r.query({ host: 'peer-b', port: 7002 }, { q: 'x' }, cb2)
  await t.wait(cb2.called, 1000)
  // a reply id mismatch on the fake path
  const cb3 = t.cb('cb3')
  r.query(peer, { q: 'y' }, cb3)
  fake.emit('message', Buffer.from('d1:rd2:id4:\x09\x09\x09\x09e1:t2:\x00\x031:y1:re', 'latin1'), { address: 'peer-a', family: 'IPv4', port: 7000, size: 30 })
  r.send({ address: 'addr', host: 'host', port: 5 }, { z: 1 }, t.cb('send cb'))
  await t.sleep(5)
  r.destroy(() => t.log('destroy cb'))
  await t.sleep(10)
  t.state('end', r)
})
