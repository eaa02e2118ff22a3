'use strict'
// k-rpc-socket's API on a native engine. This file mirrors the reference method by method: the
// same constructor steps, the same prototype methods calling each other through `this`, the same
// events raised through `this.emit`, in the same order. What moved to Rust is the work: decoding,
// transaction lookup, timeout bookkeeping and the socket itself (see docs/ARCHITECTURE.md).
// Differences from the reference are deliberate and listed in README.md; each is marked below.

// The global Buffer is an accessor in Node 20 (a getter call per use); a module binding is not.
const { Buffer } = require('buffer')
const { isIP } = require('net')
const dns = require('dns')
const util = require('util')
const events = require('events')
const native = require('./lib/native')
const NativeSocket = require('./lib/native-socket')
const { Encoder } = require('./lib/encode')
const { validateAddedOptions } = require('./lib/options')
const { drain, releaseAfterBurst, TAPE_WORDS } = require('./lib/receive')
const inflightQueue = require('./lib/inflight-queue')

const { queryNoTid: QUERY_NO_TID } = native.tapeFormat()

const ETIMEDOUT = new Error('Query timed out')
ETIMEDOUT.code = 'ETIMEDOUT'

const kState = Symbol('krpc.state')

module.exports = RPC

function RPC (opts) {
  if (!(this instanceof RPC)) return new RPC(opts)
  if (!opts) opts = {}
  validateAddedOptions(opts)

  const self = this

  this.timeout = opts.timeout || 2000
  this.inflight = 0
  this.destroyed = false
  this.isIP = opts.isIP || isIP

  // Added option: `type: 'udp6'` gives an IPv6 socket (BEP 32 deployments run one per family);
  // with `ipv6Only: false` it serves both families on one port (dual stack).
  const type = opts.type === 'udp6' ? 'udp6' : 'udp4'
  const engine = native.createEngine(type === 'udp6')
  const dualStack = type === 'udp6' && opts.ipv6Only === false && !opts.socket
  const state = {
    engine,
    native: !opts.socket,
    // Our NativeSocket, while `rpc.socket` is still it (queries then go out in one engine call).
    socket: null,
    // Family of DNS lookups (0: either, for a user socket or a dual-stack one).
    family: opts.socket || dualStack ? 0 : (type === 'udp6' ? 6 : 4),
    tape: new Int32Array(TAPE_WORDS),
    // Records of the last batch not delivered yet because a listener threw (see dispatch): they
    // are in `tape` from restPos to restEnd (0: none), their byte strings in restBytes.
    restBytes: null,
    restPos: 0,
    restEnd: 0,
    restRinfo: null,
    // 1: a big batch was drained since the last tick; 2: one was before it (see releaseAfterBurst).
    burst: 0,
    encoder: new Encoder(),
    // Generation of the request in each slot: records about a slot refer to one registration.
    gens: [],
    nextGen: 0,
    maxInflight: Infinity,
    // maxInflight: { limit, queue }: at most `limit` queries sent and unanswered; the others
    // wait here (FIFO, at most `queue`), registered but not sent (lib/inflight-queue.js).
    window: Infinity,
    waitingMax: 0,
    waiting: [],
    waitingHead: 0,
    waitingLive: 0,
    sent: 0,
    sentSlots: [],
    pumpScheduled: false,
    readOnly: opts.readOnly === true,
    overdue: null,
    onwake: () => drain(self, state, null)
  }
  Object.defineProperty(this, kState, { value: state })
  configureHardening(engine, state, opts)

  this.socket = opts.socket || new NativeSocket(type, engine, state.onwake)
  if (!opts.socket) state.socket = this.socket
  this.socket.on('message', onmessage)
  this.socket.on('error', onerror)
  this.socket.on('listening', onlistening)

  this._tick = 0
  this._ids = []
  this._reqs = []
  this._timer = setInterval(check, Math.floor(this.timeout / 4))

  events.EventEmitter.call(this)

  // Each call is one tick of the engine's clock: a query times out on the 5th tick after it was
  // made, as the reference's ttl of 4 makes it. Only requests whose time is up are visited
  // (O(expired)); the reference walks every slot.
  function check () {
    if (state.burst !== 0) releaseAfterBurst(state)
    if (!self.inflight) return
    const expired = overdue(state, engine.expire())
    if (expired === null) return
    for (let i = 0; i < expired.length; i += 2) {
      const slot = expired[i]
      if (state.gens[slot] !== expired[i + 1] || !self._reqs[slot]) continue
      try {
        self._cancel(slot, ETIMEDOUT)
      } catch (err) {
        // A callback threw out of the timer. The engine reports each expiry once, so keep the
        // rest for the next tick, as the reference (whose ttl stays 0) times them out then.
        state.overdue = expired.slice(i + 2)
        throw err
      }
    }
  }

  function onlistening () {
    self.emit('listening')
  }

  function onerror (err) {
    if (err.code === 'EACCES' || err.code === 'EADDRINUSE') self.emit('error', err)
    else self.emit('warning', err)
  }

  // Datagrams of a user-supplied socket, or injected by emitting 'message' on ours.
  function onmessage (buf, rinfo) {
    if (self.destroyed) return
    if (!rinfo.port) return
    engine.ingest(buf, String(rinfo.address), rinfo.port, rinfo.family === 'IPv6')
    drain(self, state, rinfo)
  }
}

util.inherits(RPC, events.EventEmitter)

RPC.prototype.address = function () {
  return this.socket.address()
}

RPC.prototype.response = function (peer, req, res, cb) {
  this.send(peer, { t: req.t, y: 'r', r: res }, cb)
}

RPC.prototype.error = function (peer, req, error, cb) {
  this.send(peer, { t: req.t, y: 'e', e: [].concat(error.message || error) }, cb)
}

const rpcSend = RPC.prototype.send = function (peer, message, cb) {
  const state = this[kState]
  const length = state.encoder.encode(message)
  const port = peer.port
  const address = peer.address || peer.host
  const callback = cb || NativeSocket.ignoreResult
  const socket = this.socket
  // Our socket copies the bytes before send() returns, so the encoder's buffer can be reused;
  // a user socket, or a send() wrapped by third-party code, may hold on to them (dgram queues
  // sends while binding).
  if (state.native && socket instanceof NativeSocket && socket.send === NativeSocket.prototype.send) {
    // Arguments send() would take as they are skip its argument handling.
    if (socket === state.socket && typeof address === 'string' && typeof port === 'number' && port > 0 &&
        port < 65536 && (port | 0) === port && typeof callback === 'function' && NativeSocket.acceptsDirectSends(socket)) {
      NativeSocket.sendEncoded(socket, state.encoder.buf, length, port, address, callback)
    } else {
      socket.send(state.encoder.buf, 0, length, port, address, callback)
    }
    return
  }
  socket.send(Buffer.from(state.encoder.buf.subarray(0, length)), 0, length, port, address, callback)
}

// bind([port], [address], [callback])
RPC.prototype.bind = function () {
  this.socket.bind.apply(this.socket, arguments)
}

RPC.prototype.destroy = function (cb) {
  const state = this[kState]
  this.destroyed = true
  clearInterval(this._timer)
  if (cb) this.socket.on('close', cb)
  // Queries made by cancel callbacks are sent as the reference sends them: not before the close
  // below (see queryAfterDestroy).
  if (state && state.native && this.socket instanceof NativeSocket) NativeSocket.deferSendsThisTick(this.socket)
  const closing = state && state.closing
  if (state) state.closing = CLOSING
  try {
    for (let i = 0; i < this._ids.length; i++) this._cancel(i)
  } finally {
    if (state) state.closing = closing
  }
  this.socket.close()
}

RPC.prototype.query = function (peer, query, cb) {
  if (!cb) cb = noop
  if (this.destroyed && this.isIP(peer.host || peer.address)) return queryAfterDestroy(this, peer, query)
  // Difference: a peer with `address` but no `host` (an rinfo, say) is queried at `address`;
  // the reference resolves `undefined` through dns.lookup forever and freezes the process.
  const host = peer.host || peer.address || peer.host
  if (!this.isIP(host)) return this._resolveAndQuery(peer, query, cb)

  const message = {
    t: Buffer.allocUnsafe(2),
    y: 'q',
    q: query.q,
    a: query.a
  }
  // Added option (BEP 43): the encoder sorts keys, so `ro` goes on the wire between `q` and `t`.
  if (this[kState].readOnly) message.ro = 1

  const req = {
    ttl: 4,
    peer,
    message,
    callback: cb
  }

  const state = this[kState]
  // Opt-in cap (`maxInflight`); off by default, as the reference has none.
  let wait = false
  if (state.sent >= state.window) {
    if (state.waitingLive >= state.waitingMax) {
      process.nextTick(failQuery, this, req, tooManyQueries('Too many queries waiting: maxInflight.queue is ' + state.waitingMax))
      return
    }
    wait = true
  }
  if (this.inflight >= state.maxInflight) {
    process.nextTick(failQuery, this, req, tooManyQueries('Too many queries in flight: maxInflight is ' + state.maxInflight))
    return
  }
  const gen = state.nextGen = (state.nextGen + 1) | 0
  const port = peer.port
  let length = -1
  if (!wait && this.socket === state.socket && this.send === rpcSend && typeof host === 'string' &&
      (peer.address || peer.host) === host && typeof port === 'number' && port > 0 && port < 65536 &&
      (port | 0) === port && NativeSocket.acceptsDirectSends(this.socket)) {
    // One engine call registers the query and sends it (docs/ARCHITECTURE.md, "Sending a
    // query"): what `this.send(peer, message)` would send, since neither send() is replaced.
    try {
      length = state.encoder.encodeQuery(message.q, message.a, state.readOnly)
    } catch (err) {
      // The reference registers the query, then fails to encode it in send().
      const registered = register(this, state, req, host, gen)
      if (registered < 0) return
      if (state.window !== Infinity) inflightQueue.sentNow(state, Math.floor(registered / 65536))
      throw err
    }
    const registered = NativeSocket.sendQuery(this.socket, state.encoder.buf, length, state.encoder.tidAt,
      port, host, this._tick & 0xffff, gen)
    if (registered >= 0) {
      if (state.window !== Infinity) inflightQueue.sentNow(state, Math.floor(registered / 65536))
      return track(this, state, req, registered, gen)
    }
    if (registered === QUERY_NO_TID) return noFreeTid(this, req)
    // Not an address the engine sends to at once (a custom isIP let a name through): the
    // socket's own send() resolves it, as on the two-call path.
  }
  const registered = register(this, state, req, host, gen)
  if (registered < 0) return
  const slot = Math.floor(registered / 65536)
  const tid = registered - slot * 65536
  if (wait) {
    inflightQueue.wait(state, slot, gen)
    return tid
  }
  if (state.window !== Infinity) inflightQueue.sentNow(state, slot)
  if (length < 0) {
    this.send(peer, message)
  } else {
    const datagram = Buffer.from(state.encoder.buf.subarray(0, length))
    datagram.writeUInt16BE(tid, state.encoder.tidAt)
    this.socket.send(datagram, 0, length, port, host, NativeSocket.ignoreResult)
  }
  return tid
}

// Registers a query with the engine (the two-call path: it is sent separately): `slot * 65536 +
// tid`, or -1 when no tid is free (the query then fails on the next tick).
function register (self, state, req, host, gen) {
  const registered = state.engine.register(self._tick & 0xffff, String(host), gen, +req.peer.port || 0)
  if (registered < 0) {
    noFreeTid(self, req)
    return -1
  }
  track(self, state, req, registered, gen)
  return registered
}

// Difference: with all 65535 tids in flight the reference hands out a duplicate, and one reply
// then completes the wrong query. Here the new query fails instead.
function noFreeTid (self, req) {
  process.nextTick(failQuery, self, req, tooManyQueries('Too many queries in flight: no free transaction id'))
}

// The JS side of a registered query: `_ids`/`_reqs` as k-rpc-socket keeps them (programs read
// them), the generation records of this slot are checked against, and the tid in `message.t`.
function track (self, state, req, registered, gen) {
  const slot = Math.floor(registered / 65536)
  const tid = registered - slot * 65536
  self._tick = tid
  while (self._ids.length <= slot) self._ids.push(0)
  while (self._reqs.length <= slot) self._reqs.push(null)
  self._ids[slot] = tid
  self._reqs[slot] = req
  state.gens[slot] = gen
  self.inflight++
  req.message.t.writeUInt16BE(tid, 0)
  return tid
}

RPC.prototype.cancel = function (tid, err) {
  // The engine's tid index replaces the reference's linear `_ids.indexOf(tid)`.
  const index = typeof tid === 'number' ? this[kState].engine.lookup(tid) : -1
  if (index > -1) this._cancel(index, err)
}

RPC.prototype._cancel = function (index, err) {
  const req = this._reqs[index]
  this._ids[index] = 0
  this._reqs[index] = null
  if (req) {
    const state = this[kState]
    state.engine.release(index)
    state.gens[index] = 0
    this.inflight--
    if (state.window !== Infinity) inflightQueue.leftSlot(this, state, index)
    req.callback(err || new Error('Query was cancelled'), null, req.peer)
    this.emit('update')
    this.emit('postupdate')
  }
}

RPC.prototype._resolveAndQuery = function (peer, query, cb) {
  const self = this
  const host = peer.host || peer.address
  // Difference: a missing or empty host fails like an unknown name instead of looping through
  // dns.lookup(undefined) forever.
  if (typeof host !== 'string' || host === '') {
    process.nextTick(cb, notFound(host))
    return
  }
  // Difference: names resolve in the socket's family (IPv4 for the default udp4 socket), so
  // 'localhost' works where /etc/hosts lists ::1 first; the reference then sends an IPv6
  // address on its IPv4 socket, which fails silently and times out.
  dns.lookup(host, { family: this[kState].family }, function (err, ip) {
    if (err) return cb(err)
    if (self.destroyed) return cb(new Error('k-rpc-socket is destroyed'))
    self.query({ host: ip, port: peer.port }, query, cb)
  })
}

// Difference: after destroy() the reference registers the query and then sends it. Inside
// destroy() (a cancel callback or an update listener querying again) the socket is still open:
// the query is sent and never completed, its callback never runs. After destroy() the closed
// socket throws. Either way the slot and `inflight` leak. Here the caller sees the same (the tid
// returned, the datagram handed to the socket, no callback; or the same throw), and nothing is
// registered. A consumer that queries again from every callback (bittorrent-dht's k-bucket pings)
// thus stops at destroy(), as with the reference: neither a throw nor a chain of callbacks.
const CLOSING = 1
// Set while a callback of ours runs after destroy() that the reference would have run inside
// destroy() (a query that failed at once, see failQuery): its queries are treated as made inside
// destroy(), and the socket they would have been sent on has closed since.
const CLOSED = 2

function queryAfterDestroy (self, peer, query) {
  const state = self[kState]
  const message = { t: Buffer.allocUnsafe(2), y: 'q', q: query.q, a: query.a }
  if (state.readOnly) message.ro = 1
  const tid = spareTid(self, state)
  message.t.writeUInt16BE(tid, 0)
  if (state.closing !== CLOSED) self.send(peer, message)
  return tid
}

// The tid a query made now would get (the next one not in flight), without registering it.
function spareTid (self, state) {
  let tid = self._tick & 0xffff
  for (let i = 0; i < 65535; i++) {
    tid = tid === 65535 ? 1 : tid + 1
    if (state.engine.lookup(tid) < 0) break
  }
  self._tick = tid
  return tid
}

// Expiries left over from a tick whose timeout callback threw, merged with this tick's, in slot
// order (the reference times requests out in slot order within a tick).
function overdue (state, fresh) {
  const left = state.overdue
  if (!left) return fresh
  state.overdue = null
  if (!fresh) return left
  const pairs = []
  for (const list of [left, fresh]) {
    for (let i = 0; i < list.length; i += 2) pairs.push([list[i], list[i + 1]])
  }
  pairs.sort((a, b) => a[0] - b[0])
  return Int32Array.from(pairs.flat())
}

function tooManyQueries (message) {
  const err = new Error(message)
  err.code = 'ETOOMANYQUERIES'
  return err
}

// Opt-in hardening, all off by default so the defaults behave exactly like k-rpc-socket:
// - matchPort: a reply must come from the queried port too (the reference checks the IP only,
//   so anyone on that IP can answer with a guessed tid);
// - maxInflight: queries beyond this many in flight fail at once with ETOOMANYQUERIES;
// - rateLimit: true, or { perSecond, windowMs, blockMs }: a source (IPv4 address or IPv6 /64)
//   sending more than perSecond datagrams per second over windowMs is ignored for blockMs,
//   before anything is decoded (libtorrent's DHT defaults: 5 per second over 10 s, blocked for
//   5 minutes; src/core/rate_limit.rs).
// - readOnly: BEP 43 read-only node (queries carry `ro: 1`, incoming queries are not answered);
// - sendRate: { perSecond, burst }: a token bucket over every datagram the socket sends.
function configureHardening (engine, state, opts) {
  if (opts.maxInflight > 0) state.maxInflight = opts.maxInflight
  if (opts.maxInflight && typeof opts.maxInflight === 'object') {
    state.window = opts.maxInflight.limit
    state.waitingMax = opts.maxInflight.queue
  }
  // The engine's settings, with their defaults, are its EngineConfig (src/binding/mod.rs).
  const limit = opts.rateLimit === true ? {} : opts.rateLimit
  const ipv6Only = opts.type === 'udp6' && typeof opts.ipv6Only === 'boolean' && !opts.socket ? opts.ipv6Only : undefined
  if (!opts.matchPort && !limit && !state.readOnly && ipv6Only === undefined && !opts.sendRate) return
  engine.configure({
    matchPort: opts.matchPort ? true : undefined,
    rateLimit: limit ? { perSecond: limit.perSecond, windowMs: limit.windowMs, blockMs: limit.blockMs } : undefined,
    // readOnly (BEP 43): incoming queries are dropped in the engine, before anything is built.
    readOnly: state.readOnly || undefined,
    ipv6Only,
    sendRate: opts.sendRate ? { perSecond: opts.sendRate.perSecond, burst: opts.sendRate.burst || undefined } : undefined
  })
}

function failQuery (self, req, err) {
  const state = self[kState]
  // Destroyed since: the reference would have cancelled this query inside destroy().
  const closing = state.closing
  if (self.destroyed && !closing) state.closing = CLOSED
  try {
    req.callback(err, null, req.peer)
    self.emit('update')
    self.emit('postupdate')
  } finally {
    state.closing = closing
  }
}

function notFound (host) {
  const err = new Error(`getaddrinfo ENOTFOUND ${host}`)
  err.errno = -3008
  err.code = 'ENOTFOUND'
  err.syscall = 'getaddrinfo'
  err.hostname = host
  return err
}

function noop () {}

// Additions to the reference API. Non-enumerable, so the prototype's enumerable keys stay the
// reference's (some consumers copy or walk them).
Object.defineProperties(RPC.prototype, {
  // dgram's meaning: an unref'd instance does not keep the process alive.
  ref: method(function ref () {
    this._timer.ref()
    if (typeof this.socket.ref === 'function') this.socket.ref()
    return this
  }),
  unref: method(function unref () {
    this._timer.unref()
    if (typeof this.socket.unref === 'function') this.socket.unref()
    return this
  }),
  // maxInflight: { limit, queue }: queries registered and waiting for the window, not sent yet.
  queued: {
    get () {
      const state = this[kState]
      return state.waitingLive
    },
    configurable: true,
    enumerable: false
  },
  // Counters kept by the engine (see README).
  stats: method(function stats () {
    return this[kState].engine.stats()
  }),
  // How datagrams reach JS (README, "Runtimes"): 'loop' (Node's event loop watches the native
  // socket), 'runtime' (the engine's thread reads it: Bun, Deno, KRPC_RECEIVE_ON_RUNTIME=1) or
  // 'socket' (a user-supplied opts.socket's 'message' events).
  receivePath: {
    get () {
      const state = this[kState]
      return state.native ? state.engine.receivePath() : 'socket'
    },
    configurable: true,
    enumerable: false
  }
})

function method (fn) {
  return { value: fn, writable: true, configurable: true, enumerable: false }
}
