'use strict'
// A dgram-compatible socket over the native engine: what `rpc.socket` is when no `opts.socket`
// is given. It follows dgram's state machine (lib/dgram.js of Node) for everything a program can
// observe: argument forms of bind and send, asynchronous `listening` and bind errors, sends
// queued while a bind is in progress, close deferred behind such a bind, the errors thrown.
// Datagrams do not come out as 'message' events: the engine hands them to the RPC in batches.

// The global Buffer is an accessor in Node 20 (a getter call per use); a module binding is not.
const { Buffer } = require('buffer')
const { EventEmitter } = require('events')
const dns = require('dns')
const net = require('net')
const errors = require('./errors')

const UNBOUND = 0
const BINDING = 1
const BOUND = 2

// Send results beyond bytes and -errno, as the engine numbers them: "not an IP literal: resolve
// it and call again", and "datagrams wait for flush(): enqueue behind them".
const {
  sendNotAnIp: SEND_NOT_AN_IP,
  sendLater: SEND_LATER,
  queryEnqueued: QUERY_ENQUEUED
} = require('./native').tapeFormat()

const kState = Symbol('krpc.nativeSocketState')

class NativeSocket extends EventEmitter {
  /**
   * @param {'udp4'|'udp6'} type
   * @param {object} engine the native Engine
   * @param {() => void} onwake called when datagrams wait to be drained: from Node's own loop
   *   (or, where libuv cannot be reached, from the runtime thread via a weak threadsafe function)
   */
  constructor (type, engine, onwake) {
    super()
    this.type = type
    this[kState] = {
      engine,
      onwake,
      family: type === 'udp6' ? 6 : 4,
      bindState: UNBOUND,
      handle: true, // false once closed, like dgram's state.handle
      queue: undefined,
      refed: true,
      // Sends accepted by the engine and not flushed yet: (callback, address, port) each.
      sent: [],
      sentThisTick: 0,
      tickScheduled: false,
      results: new Int32Array(256)
    }
  }

  bind (port_, address_ /* , callback */) {
    let port = port_
    const state = healthCheck(this)
    if (state.bindState !== UNBOUND) throw errors.alreadyBound()
    state.bindState = BINDING

    const cb = arguments.length && arguments[arguments.length - 1]
    if (typeof cb === 'function') {
      function removeListeners () {
        this.removeListener('error', removeListeners)
        this.removeListener('listening', onListening)
      }
      function onListening () {
        removeListeners.call(this)
        cb.call(this)
      }
      this.on('error', removeListeners)
      this.on('listening', onListening)
    }

    let address
    if (port !== null && typeof port === 'object') {
      address = port.address || ''
      port = port.port
    } else {
      address = typeof address_ === 'function' ? '' : address_
    }
    if (!address) address = state.family === 4 ? '0.0.0.0' : '::'

    lookup(state, address, (err, ip) => {
      if (!state.handle) return
      if (err) {
        state.bindState = UNBOUND
        this.emit('error', err)
        return
      }
      // libuv reads the port with ToUint32 and keeps 16 bits: bind(cb), bind('0') mean port 0.
      const errno = state.engine.bind(((port || 0) >>> 0) & 0xffff, ip, state.onwake)
      if (errno) {
        state.bindState = UNBOUND
        this.emit('error', errors.exceptionWithHostPort(errno, 'bind', ip, port))
        return
      }
      if (!state.refed) state.engine.unref()
      state.bindState = BOUND
      this.emit('listening')
    })
    return this
  }

  send (buffer, offset, length, port, address, callback) {
    const state = this[kState]
    // The bytes to send are buffer[start, start + size). A Buffer is passed on with its offsets
    // (no view object per send: the engine copies the bytes out anyway).
    let start = 0
    let size
    if (address || (port && typeof port !== 'function')) {
      if (Buffer.isBuffer(buffer)) {
        start = offset >>> 0
        size = length >>> 0
        if (start > buffer.length || start + size > buffer.length) errors.validateSendBuffer(buffer, offset, length)
      } else {
        buffer = sliceBuffer(buffer, offset, length)
        size = buffer.length
      }
    } else {
      callback = port
      port = offset
      address = length
      if (typeof buffer === 'string') buffer = Buffer.from(buffer)
      else if (!ArrayBuffer.isView(buffer)) errors.validateSendBuffer(buffer)
      else if (!Buffer.isBuffer(buffer)) buffer = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength)
      size = buffer.length
    }
    port = errors.validateSendPort(port)
    if (typeof callback !== 'function') callback = undefined
    if (typeof address === 'function') {
      callback = address
      address = undefined
    } else {
      errors.validateSendAddress(address)
    }
    healthCheck(this)
    if (state.bindState === UNBOUND) this.bind({ port: 0, exclusive: true }, null)
    if (state.bindState !== BOUND) {
      // The caller may reuse its buffer as soon as send() returns (the RPC's encoder does).
      const copy = Buffer.from(buffer.subarray(start, start + size))
      enqueue(this, () => this.send(copy, 0, copy.length, port, address, callback))
      return
    }
    sendNow(this, state, buffer, start, size, port, address, callback)
  }

  close (callback) {
    const state = this[kState]
    if (typeof callback === 'function') this.on('close', callback)
    if (state.queue !== undefined) {
      state.queue.push(() => this.close())
      return this
    }
    healthCheck(this)
    state.handle = false
    state.engine.close()
    process.nextTick(() => this.emit('close'))
    return this
  }

  address () {
    const state = healthCheck(this)
    const local = state.engine.localAddress()
    if (!local) throw errors.notBound()
    return { address: local.address, family: local.ipv6 ? 'IPv6' : 'IPv4', port: local.port }
  }

  setRecvBufferSize (size) { setBufferSize(this, 'setRecvBufferSize', size) }
  setSendBufferSize (size) { setBufferSize(this, 'setSendBufferSize', size) }
  getRecvBufferSize () { return getBufferSize(this, 'getRecvBufferSize') }
  getSendBufferSize () { return getBufferSize(this, 'getSendBufferSize') }

  ref () {
    const state = this[kState]
    state.refed = true
    if (state.handle) state.engine.ref()
    return this
  }

  unref () {
    const state = this[kState]
    state.refed = false
    if (state.handle) state.engine.unref()
    return this
  }
}

function healthCheck (socket) {
  const state = socket[kState]
  if (!state.handle) throw errors.notRunning()
  return state
}

function sliceBuffer (buffer, offset, length) {
  if (typeof buffer === 'string') buffer = Buffer.from(buffer)
  else if (!ArrayBuffer.isView(buffer)) errors.validateSendBuffer(buffer, offset, length)
  offset = offset >>> 0
  length = length >>> 0
  if (offset > buffer.byteLength || offset + length > buffer.byteLength) {
    errors.validateSendBuffer(buffer, offset, length)
  }
  if (Buffer.isBuffer(buffer) && offset === 0 && length === buffer.length) return buffer
  return Buffer.from(buffer.buffer, buffer.byteOffset + offset, length)
}

// dgram resolves every address, IP literals included, and then lets the socket's family decide;
// names are resolved in the socket's family.
function lookup (state, address, callback) {
  if (net.isIP(address)) {
    process.nextTick(callback, null, address)
    return
  }
  dns.lookup(address, { family: state.family }, callback)
}

function enqueue (socket, toEnqueue) {
  const state = socket[kState]
  if (state.queue === undefined) {
    state.queue = []
    const onListenError = () => {
      socket.removeListener('listening', onListenSuccess)
      state.queue = undefined
    }
    const onListenSuccess = () => {
      socket.removeListener(EventEmitter.errorMonitor, onListenError)
      const queue = state.queue
      state.queue = undefined
      for (const fn of queue) fn()
    }
    socket.once(EventEmitter.errorMonitor, onListenError)
    socket.once('listening', onListenSuccess)
  }
  state.queue.push(toEnqueue)
}

// Sends are handed to the engine at once (it copies the bytes). The first few of a tick go to
// the kernel right away, so the peer can start on them while this side keeps working (measured:
// deferring all of them halved the throughput of 16 queries in flight between two processes);
// past that, the rest of the tick's sends leave together at its end in one sendmmsg (a batch of
// replies, a loop of queries). dgram itself sends on a later tick, after its address lookup.
//
// The count starts again at the end of a tick in which a send had to wait (endOfTick), and at
// each datagram the receive path delivers (beginTurn: each is a callback of its own). A send
// that goes at once schedules nothing: a process.nextTick per send cost about 0.13 us of the
// 0.4 us a tick-queue turn with it takes, on every reply and every follow-up query. So a count
// may carry over into a later tick, which then sends fewer datagrams at once before batching.
const IMMEDIATE_SENDS_PER_TICK = 4

// The receive path is about to deliver a datagram (a new callback, as with dgram).
function beginTurn (socket) {
  socket[kState].sentThisTick = 0
}

function sendNow (socket, state, buffer, start, size, port, address, callback) {
  const target = address || (state.family === 4 ? '127.0.0.1' : '::1')
  if (state.sentThisTick < IMMEDIATE_SENDS_PER_TICK && state.sent.length === 0) {
    // Nothing of this tick is waiting: one engine call sends it (enqueue + flush in one).
    const sent = state.engine.sendNow(buffer, start, size, port, target)
    if (sent !== SEND_NOT_AN_IP && sent !== SEND_LATER) {
      state.sentThisTick++
      if (callback && callback !== ignoreResult) {
        if (sent >= 0) process.nextTick(sendDone, state, callback, null, sent)
        else process.nextTick(sendDone, state, callback, errors.exceptionWithHostPort(-sent, 'send', address, port))
      }
      return
    }
  }
  const result = state.engine.enqueue(buffer, start, size, port, target)
  if (result === SEND_NOT_AN_IP) {
    const copy = Buffer.from(buffer.subarray(start, start + size))
    dns.lookup(target, { family: state.family }, (err, ip) => {
      if (err) return reportSendError(socket, callback, err)
      if (!state.handle) return
      const late = state.engine.enqueue(copy, 0, copy.byteLength, port, ip)
      afterEnqueue(socket, state, late, address, port, callback)
    })
    return
  }
  afterEnqueue(socket, state, result, address, port, callback)
}

// Whether `sendQuery` and `sendEncoded` may send on `socket`: a bound, open socket whose `send`
// nobody replaced (a program that wraps it sees every datagram, the queries' too).
function acceptsDirectSends (socket) {
  const state = socket[kState]
  return state.bindState === BOUND && state.handle && state.queue === undefined &&
    socket.send === NativeSocket.prototype.send
}

// What send(buffer, 0, length, port, address, callback) does, for a socket `acceptsDirectSends`
// said yes to, a Buffer, a valid port number, an address string and a callback function:
// arguments that send() would take as they are.
function sendEncoded (socket, buffer, length, port, address, callback) {
  sendNow(socket, socket[kState], buffer, 0, length, port, address, callback)
}

// A query's registration and its datagram in one engine call (docs/ARCHITECTURE.md, "Sending a
// query"), for a socket `acceptsDirectSends` said yes to, with `port` a valid port number and
// `host` an IP literal string. The send follows `send()`'s rules (the first sends of a tick go
// out at once, the others at its end) and, like every send of a query, has no callback.
// Returns what engine.query does, without the enqueued flag.
function sendQuery (socket, datagram, length, tidAt, port, host, lastTid, gen) {
  const state = socket[kState]
  const now = state.sentThisTick < IMMEDIATE_SENDS_PER_TICK && state.sent.length === 0
  const result = state.engine.query(lastTid, host, gen, port, datagram, length, tidAt, !now)
  if (result < 0) return result
  if (result >= QUERY_ENQUEUED) {
    afterEnqueue(socket, state, 0, host, port, ignoreResult)
    return result - QUERY_ENQUEUED
  }
  state.sentThisTick++
  return result
}

function afterEnqueue (socket, state, result, address, port, callback) {
  if (result < 0) {
    // dgram drops send errors when there is no callback to report them to.
    if (callback) process.nextTick(sendDone, state, callback, errors.exceptionWithHostPort(-result, 'send', address, port))
    return
  }
  state.sent.push(callback, address, port)
  if (state.sentThisTick < IMMEDIATE_SENDS_PER_TICK && state.sent.length === 3) {
    state.sentThisTick++
    flushSends(state, true)
  }
  scheduleEndOfTick(state)
}

function scheduleEndOfTick (state) {
  if (!state.tickScheduled) {
    state.tickScheduled = true
    process.nextTick(endOfTick, state)
  }
}

function endOfTick (state) {
  state.tickScheduled = false
  state.sentThisTick = 0
  flushSends(state, false)
}

// `deferCallbacks`: callbacks never run inside send(), as with dgram.
function flushSends (state, deferCallbacks) {
  const sent = state.sent
  if (sent.length === 0) return
  state.sent = []
  if (!state.handle) return
  let count = state.engine.flush(state.results)
  if (count < 0) {
    state.results = new Int32Array(-count * 2)
    count = state.engine.flush(state.results)
  }
  let anyCallback = false
  for (let i = 0; i < sent.length; i += 3) anyCallback = anyCallback || (Boolean(sent[i]) && sent[i] !== ignoreResult)
  if (!anyCallback) return
  const results = state.results.slice(0, count)
  if (deferCallbacks) process.nextTick(runDeferredSendCallbacks, state, sent, results)
  else runSendCallbacks(sent, results, 0)
}

// dgram sends on the tick after send() (after its address lookup) and calls back after that: a
// socket closed before then never sent the datagram nor calls its callback. Ours went to the
// kernel at once, but the callback follows dgram: a program whose send callback sends again
// would otherwise get a throw (the socket is closed) where dgram leaves it alone.
function sendDone (state, callback, err, sent) {
  if (!state.handle) return
  if (err) callback(err)
  else callback(null, sent)
}

function runDeferredSendCallbacks (state, sent, results) {
  if (state.handle) runSendCallbacks(sent, results, 0)
}

// Sends made from now to the end of the tick wait for its end (as dgram's wait for the next
// tick), so a close() later in the tick drops them, as dgram does: destroy() uses this for the
// queries its cancel callbacks make, whose datagrams the reference never puts on the wire.
function deferSendsThisTick (socket) {
  const state = socket[kState]
  state.sentThisTick = IMMEDIATE_SENDS_PER_TICK
  scheduleEndOfTick(state)
}

// Each callback as dgram calls it; one that throws does not cost the others theirs.
function runSendCallbacks (sent, results, from) {
  for (let i = from; i < results.length; i++) {
    const callback = sent[3 * i]
    if (!callback || callback === ignoreResult) continue
    try {
      const result = results[i]
      if (result >= 0) callback(null, result)
      else callback(errors.exceptionWithHostPort(-result, 'send', sent[3 * i + 1], sent[3 * i + 2]))
    } catch (err) {
      if (i + 1 < results.length) process.nextTick(runSendCallbacks, sent, results, i + 1)
      throw err
    }
  }
}

// dgram: a failed lookup goes to the callback; without one it becomes an 'error' event.
function reportSendError (socket, callback, err) {
  if (callback) process.nextTick(callback, err)
  else process.nextTick(() => socket.emit('error', err))
}

function setBufferSize (socket, method, size) {
  const state = socket[kState]
  if (!state.handle || state.bindState !== BOUND) throw errors.bufferSizeUnbound(method, size)
  const errno = state.engine[method](size)
  if (errno) throw errors.bufferSizeUnbound(method, size)
}

function getBufferSize (socket, method) {
  const state = socket[kState]
  if (!state.handle || state.bindState !== BOUND) throw errors.bufferSizeUnbound(method)
  const size = state.engine[method]()
  if (size < 0) throw errors.bufferSizeUnbound(method)
  return size
}

// A send callback that ignores the outcome (the RPC's default). Passed as a callback, it still
// swallows errors the way any callback does (no 'error' event for a failed lookup, as with
// dgram), but the socket need not schedule a call to it for every datagram.
function ignoreResult () {}

NativeSocket.ignoreResult = ignoreResult
NativeSocket.deferSendsThisTick = deferSendsThisTick
NativeSocket.acceptsDirectSends = acceptsDirectSends
NativeSocket.sendEncoded = sendEncoded
NativeSocket.sendQuery = sendQuery
NativeSocket.beginTurn = beginTurn

module.exports = NativeSocket
