'use strict'
// The object a scenario receives as `t`: it owns the transcript of one run against one implementation.
const dgram = require('dgram')
const bencode = require('bencode') // bencode@2.0.3, the reference's own codec (test side only)
const { Normalizer, render, wire } = require('./normalize')

const EVENTS = ['query', 'response', 'warning', 'error', 'listening', 'update', 'postupdate', 'close']
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

// Bytes to inject: a Buffer as is, a string as latin1 bytes (so 'd1:y1:qe' is the datagram), anything else bencoded.
function toBytes (data) {
  if (Buffer.isBuffer(data)) return data
  if (typeof data === 'string') return Buffer.from(data, 'latin1')
  return bencode.encode(data)
}

class Peer {
  constructor (ctx, name, sock) {
    this.ctx = ctx
    this.name = name
    this.socket = sock
    this.queue = []
    this.waiters = []
    this.auto = null
    this.closed = false
    const a = sock.address()
    this.address = a.address
    this.port = a.port
    ctx.norm.namePort(this.port, name)
    sock.on('message', (buf, rinfo) => {
      const item = { buf, rinfo, msg: decode(buf) }
      if (this.auto) {
        if (this.auto.log) this.ctx.record({ peer: this.name, recv: wire(buf), from: this.rinfo(rinfo) })
        let out
        try { out = this.auto.fn(item.msg, rinfo, buf) } catch (e) { this.ctx.record({ peer: this.name, replyThrew: e }) }
        if (out !== undefined && out !== null) this.socket.send(toBytes(out), rinfo.port, rinfo.address)
        return
      }
      if (this.waiters.length) this.waiters.shift()(item)
      else this.queue.push(item)
    })
  }

  rinfo (r) {
    return { address: r.address, family: r.family, port: this.ctx.norm.port(r.port), size: r.size }
  }

  // Send raw bytes (or a bencoded object) to port/host; resolves after the send callback.
  send (data, port, host = this.socket.type === 'udp6' ? '::1' : '127.0.0.1') {
    const buf = toBytes(data)
    return new Promise((resolve, reject) => this.socket.send(buf, 0, buf.length, port, host, err => err ? reject(err) : resolve()))
  }

  // Send and give the receiver time to process it (datagrams on loopback arrive within a few ms).
  async inject (data, port, host, settle = 30) {
    await this.send(data, port, host)
    await sleep(settle)
  }

  _next (timeout) {
    if (this.queue.length) return Promise.resolve(this.queue.shift())
    return new Promise(resolve => {
      const w = item => { clearTimeout(timer); resolve(item) }
      const timer = setTimeout(() => { this.waiters.splice(this.waiters.indexOf(w), 1); resolve(null) }, timeout)
      this.waiters.push(w)
    })
  }

  // Wait for the next datagram and record it (bytes as bencode text, sender rinfo). Returns {buf, rinfo, msg} or null.
  async recv (timeout = 1000, { log = true } = {}) {
    const item = await this._next(timeout)
    if (log) {
      if (item) this.ctx.record({ peer: this.name, recv: wire(item.buf), from: this.rinfo(item.rinfo) })
      else this.ctx.record({ peer: this.name, recv: '<nothing within ' + timeout + ' ms>' })
    }
    return item
  }

  // Wait `ms` and record every datagram that arrived meanwhile (normally none).
  async quiet (ms = 50) {
    await sleep(ms)
    const got = this.queue.splice(0)
    this.ctx.record({ peer: this.name, quiet: got.map(i => wire(i.buf)) })
    return got
  }

  // Answer every incoming datagram with fn(msg, rinfo, buf) (null/undefined: no answer). Records what arrives.
  autoReply (fn, { log = true } = {}) {
    this.auto = { fn, log }
    for (const item of this.queue.splice(0)) this.socket.emit('message', item.buf, item.rinfo)
  }

  close () {
    if (this.closed) return
    this.closed = true
    try { this.socket.close() } catch (e) {}
  }
}

function decode (buf) {
  try { return bencode.decode(buf) } catch (e) { return undefined }
}

class Context {
  constructor (impl, RPC) {
    this.impl = impl // 'ref' | 'ours'
    this.RPC = RPC
    this.norm = new Normalizer()
    this.entries = []
    this.peers = []
    this.rpcs = []
    this.cleanups = []
    this.uncaught = []
  }

  record (entry) {
    this.entries.push(render(this.norm.value(entry)))
  }

  lines () { return this.entries.slice() }

  // Record an arbitrary labelled value (normalized now, so later mutation does not matter).
  log (label, ...values) {
    this.record(values.length === 1 ? { log: label, value: values[0] } : { log: label, values })
  }

  namePort (port, name) { this.norm.namePort(port, name) }
  name (obj, name) { this.norm.nameObject(obj, name); return obj }

  // Record events of an emitter: name and arguments; update/postupdate also show `inflight` at emit time.
  watch (emitter, name = 'rpc', events = EVENTS) {
    for (const ev of events) {
      emitter.on(ev, (...args) => {
        const entry = { ev, on: name, args }
        if ((ev === 'update' || ev === 'postupdate') && 'inflight' in emitter) entry.inflight = emitter.inflight
        this.record(entry)
      })
    }
    return emitter
  }

  // A callback that records every call: argument count, arguments, `this` shape. `fn.called` resolves with the
  // arguments of the first call; `fn.calls` counts calls. opts.inflightOf: an rpc whose inflight is recorded too.
  cb (label, { inflightOf = null, recordThis = true, onCall = null } = {}) {
    const ctx = this
    let resolveFirst
    const called = new Promise(resolve => { resolveFirst = resolve })
    const fn = function (...args) {
      fn.calls++
      const entry = { cb: label, n: args.length, args }
      if (recordThis) entry.this = ctx.norm.thisShape(this)
      if (inflightOf) entry.inflight = inflightOf.inflight
      ctx.record(entry)
      fn.args.push(args)
      fn.thisValues.push(this)
      resolveFirst(args)
      if (onCall) return onCall.apply(this, args)
    }
    fn.calls = 0
    fn.args = []
    fn.thisValues = []
    fn.called = called
    return fn
  }

  // Run fn(); record its return value or the error it throws. Returns { ret, err }.
  call (label, fn) {
    try {
      const ret = fn()
      this.record({ call: label, ret })
      return { ret, err: null }
    } catch (err) {
      this.record({ call: label, threw: err })
      return { ret: undefined, err }
    }
  }

  // Record chosen properties of an rpc (default inflight, _tick, destroyed).
  state (label, rpc, keys = ['inflight', '_tick', 'destroyed']) {
    const s = {}
    for (const k of keys) s[k] = rpc[k]
    this.record({ state: label, ...s })
    return s
  }

  // Await a promise, but never longer than ms; on timeout record it and continue (scenarios never hang).
  async wait (promise, ms = 1000, label = 'wait') {
    let timer
    const timeout = new Promise(resolve => { timer = setTimeout(() => resolve(WAIT_TIMEOUT), ms) })
    const v = await Promise.race([promise, timeout])
    clearTimeout(timer)
    if (v === WAIT_TIMEOUT) { this.record({ waitTimedOut: label, ms }); return undefined }
    return v
  }

  sleep (ms) { return sleep(ms) }

  // A raw dgram socket bound on loopback, acting as the remote node.
  async peer (name = 'peer', { type = 'udp4', address = type === 'udp6' ? '::1' : '127.0.0.1' } = {}) {
    const sock = dgram.createSocket(type)
    await new Promise((resolve, reject) => { sock.once('error', reject); sock.bind(0, address, () => { sock.removeListener('error', reject); resolve() }) })
    const p = new Peer(this, name, sock)
    this.peers.push(p)
    return p
  }

  // Construct through the implementation under test and destroy it at the end of the run if the scenario did not.
  rpc (opts, name) {
    const r = new this.RPC(opts)
    return this.track(r, name)
  }

  track (r, name) {
    this.rpcs.push(r)
    if (name) this.name(r, name)
    return r
  }

  onCleanup (fn) { this.cleanups.push(fn) }

  async cleanup () {
    for (const fn of this.cleanups.splice(0).reverse()) { try { await fn() } catch (e) {} }
    for (const r of this.rpcs.splice(0)) {
      try { if (!r.destroyed) r.destroy() } catch (e) {}
      try { clearInterval(r._timer) } catch (e) {}
    }
    for (const p of this.peers.splice(0)) p.close()
  }
}

const WAIT_TIMEOUT = Symbol('wait timeout')

module.exports = { Context, Peer, EVENTS, toBytes, sleep, wire, bencode }
