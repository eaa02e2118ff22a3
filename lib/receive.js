'use strict'
// The receive side of an RPC instance: moves what the engine has for JS (one batch: a Buffer of
// datagram bytes and a tape of records, docs/ARCHITECTURE.md "Data path") and dispatches each
// record as k-rpc-socket's message handler would (docs/compatibility.md, "What happens to each
// received datagram"): events through `self.emit`, replies completing their query. index.js
// keeps the API; this file is called with its instance and the instance's private state.

// The global Buffer is an accessor in Node 20 (a getter call per use); a module binding is not.
const { Buffer } = require('buffer')
const native = require('./native')
const { buildValue, recordTypeString } = require('./tape')
const { joinText } = require('./remote-text')
const inflightQueue = require('./inflight-queue')
const { beginTurn } = require('./native-socket')

const EUNEXPECTEDNODE = new Error('Unexpected node id')
EUNEXPECTEDNODE.code = 'EUNEXPECTEDNODE'

// As property names (internalized strings): a key then compares with a string literal by identity
// (lib/tape.js switches on the commonest ones), and is not internalized again on each store.
const KEYS = [undefined].concat(native.internedKeys().map((key) => Object.keys({ [key]: 0 })[0]))

// Record kinds of the tape (docs/ARCHITECTURE.md), as the engine numbers them.
const {
  kQuery: K_QUERY,
  kResponse: K_RESPONSE,
  kErrorReply: K_ERROR_REPLY,
  kUnexpectedTid: K_UNEXPECTED_TID,
  kWrongSource: K_WRONG_SOURCE,
  kShortTid: K_SHORT_TID,
  kUnknownType: K_UNKNOWN_TYPE,
  kDecodeError: K_DECODE_ERROR,
  headerWords: HEADER_WORDS,
  ipv6Flag: IPV6_FLAG,
  hKind: H_KIND,
  hSlot: H_SLOT,
  hGen: H_GEN,
  hTid: H_TID,
  hAddressStart: H_ADDRESS_START,
  hAddressLen: H_ADDRESS_LEN,
  hPort: H_PORT,
  hSize: H_SIZE,
  hValueWords: H_VALUE_WORDS
} = native.tapeFormat()

// Node's own "run what the tick queue and the microtask queue hold" (what closing a callback scope
// does), where the runtime has it; Deno does not, and there a burst's listeners' ticks run after
// the burst.
const runQueuedTicks = typeof process._tickCallback === 'function' ? process._tickCallback.bind(process) : null

// The tape's usual size, in words (about 130 small records). A batch that needs more grows it
// until the burst is over (releaseAfterBurst): one burst of dense 64 KB datagrams needs tens of
// megabytes, which would otherwise stay allocated for the socket's life.
const TAPE_WORDS = 4096
const TAPE_KEEP_WORDS = 1 << 16
const BIG_BATCH_BYTES = 1 << 20

// rinfo has the keys of the runtime's own dgram, in its order (visible to JSON.stringify and
// Object.keys, so to k-rpc-socket's users on that runtime): Node's is { address, family, port,
// size } (the literal in dispatch), Bun's { port, address, size, family }, Deno's { address,
// port, family, size }.
const runtimeRinfo = native.runtime === 'bun'
  ? (address, family, port, size) => ({ port, address, size, family })
  : native.runtime === 'deno'
    ? (address, family, port, size) => ({ address, port, family, size })
    : null

// Moves everything the engine has for JS and dispatches it. `rinfo` is the dgram rinfo when the
// datagram came from a user socket (it is passed through as the reference does).
function drain (self, state, rinfo) {
  // Records left behind by a listener that threw arrived first, so they are delivered first. Until
  // they are, `state.tape` holds them and the engine's inbox is not drained into it.
  if (state.restEnd !== 0) {
    const bytes = state.restBytes
    const pos = state.restPos
    const end = state.restEnd
    const restRinfo = state.restRinfo
    state.restBytes = null
    state.restEnd = 0
    state.restRinfo = null
    if (self.destroyed) return
    dispatch(self, state, bytes, state.tape, pos, end, restRinfo)
  }
  const engine = state.engine
  let size = engine.pendingBytes()
  if (size < 0) return
  // One Buffer per batch, allocated here (pooled when small): every byte string of the batch's
  // messages is a view of it.
  let bytes = Buffer.allocUnsafe(size)
  let copied = engine.drain(state.tape, bytes)
  while (copied < 0) {
    if (copied === -1) {
      state.tape = new Int32Array(-state.tape[0] * 2)
    } else {
      size = engine.pendingBytes()
      bytes = Buffer.allocUnsafe(Math.max(size, 0))
    }
    copied = engine.drain(state.tape, bytes)
  }
  if (copied === 0 || self.destroyed) return
  if (state.tape[0] > TAPE_KEEP_WORDS || size > BIG_BATCH_BYTES) {
    state.burst = 1
    if (size > BIG_BATCH_BYTES) collected.register(bytes, engine)
  }
  dispatch(self, state, bytes, state.tape, 1, state.tape[0] + 1, rinfo)
}

// Memory grown for big batches (the tape here, the inbox in the engine) is given back on the
// second tick without one: a steady flow of big batches keeps reusing it, and a socket that
// has gone quiet after a burst does not keep megabytes for its whole life. Called every tick.
function releaseAfterBurst (state) {
  if (state.burst === 1) {
    state.burst = 2
    return
  }
  if (state.restEnd !== 0) return
  state.burst = 0
  if (state.tape.length > TAPE_KEEP_WORDS) {
    collected.register(state.tape, state.engine)
    state.tape = new Int32Array(TAPE_WORDS)
  }
  state.engine.returnFreeMemory()
}

// Once a big tape or batch Buffer is garbage collected, the allocator is asked to give the memory
// back to the system: glibc keeps large freed blocks on its free lists once its mmap threshold has
// risen, which one burst makes it do (src/binding/hot.rs, return_free_memory). V8 frees the
// memory of collected ArrayBuffers on a background thread, hence the delay; one call for all that
// is collected within it.
let trimScheduled = false
const collected = new FinalizationRegistry(engine => {
  if (trimScheduled) return
  trimScheduled = true
  setTimeout(() => {
    trimScheduled = false
    engine.returnFreeMemory()
  }, 100).unref()
})

function dispatch (self, state, bytes, tape, pos, end, givenRinfo) {
  let lastAddressStart = -1
  let lastAddress = ''
  while (pos < end) {
    if (self.destroyed) return
    const kind = tape[pos + H_KIND]
    const slot = tape[pos + H_SLOT]
    const gen = tape[pos + H_GEN]
    const tid = tape[pos + H_TID]
    const n = tape[pos + H_VALUE_WORDS]
    const valueStart = pos + HEADER_WORDS
    const next = valueStart + n

    let rinfo = givenRinfo
    if (rinfo === null) {
      const addressStart = tape[pos + H_ADDRESS_START]
      if (addressStart !== lastAddressStart) {
        lastAddressStart = addressStart
        lastAddress = bytes.latin1Slice(addressStart, addressStart + (tape[pos + H_ADDRESS_LEN] & 0xffff))
      }
      rinfo = runtimeRinfo === null
        ? {
            address: lastAddress,
            family: (tape[pos + H_ADDRESS_LEN] & IPV6_FLAG) ? 'IPv6' : 'IPv4',
            port: tape[pos + H_PORT],
            size: tape[pos + H_SIZE]
          }
        : runtimeRinfo(lastAddress, (tape[pos + H_ADDRESS_LEN] & IPV6_FLAG) ? 'IPv6' : 'IPv4', tape[pos + H_PORT], tape[pos + H_SIZE])
    }

    if (state.socket !== null) beginTurn(state.socket)
    try {
      deliver(self, state, kind, slot, gen, tid, bytes, tape, valueStart, next, rinfo)
    } catch (err) {
      // A listener or callback threw. Like an exception out of a dgram 'message' handler, it
      // propagates; the records after it are not lost but delivered on the next tick (or by
      // an earlier drain, before anything newer), as the reference would have received those
      // datagrams in later events. They stay where they are: copying the rest of the tape on
      // every throw made a listener that always throws quadratic in the batch size.
      if (next < end && !self.destroyed) {
        state.restBytes = bytes
        state.restPos = next
        state.restEnd = end
        state.restRinfo = givenRinfo
        process.nextTick(drain, self, state, null)
      }
      throw err
    }
    pos = next
    // Between two datagrams of a burst, the work their listeners queued (process.nextTick,
    // promise reactions) runs first, as it does between two dgram callbacks: k-rpc-socket's
    // users see each datagram in a callback of its own (docs/consumers.md, bursts).
    if (pos < end && givenRinfo === null && runQueuedTicks !== null) {
      state.restBytes = bytes
      state.restPos = pos
      state.restEnd = end
      state.restRinfo = givenRinfo
      try {
        runQueuedTicks()
      } catch (err) {
        // A tick threw: the rest of the burst is delivered on the next tick, as after a listener
        // that throws.
        if (state.restEnd !== 0 && !self.destroyed) process.nextTick(drain, self, state, null)
        throw err
      }
      // A drain made by that work delivered the rest already (in order, before anything newer).
      if (state.restEnd === 0) return
      state.restBytes = null
      state.restEnd = 0
      state.restRinfo = null
    }
  }
}

function deliver (self, state, kind, slot, gen, tid, bytes, tape, valueStart, valueEnd, rinfo) {
  switch (kind) {
    case K_QUERY:
      self.emit('query', buildValue(bytes, tape, valueStart, valueEnd, KEYS), rinfo)
      return
    case K_RESPONSE:
    case K_ERROR_REPLY: {
      const message = buildValue(bytes, tape, valueStart, valueEnd, KEYS)
      if (state.gens[slot] !== gen || !self._reqs[slot]) return unexpected(self, message, rinfo, tid)
      return complete(self, state, slot, kind === K_ERROR_REPLY, message, rinfo)
    }
    case K_UNEXPECTED_TID:
      return unexpected(self, buildValue(bytes, tape, valueStart, valueEnd, KEYS), rinfo, tid)
    case K_WRONG_SOURCE: {
      const message = buildValue(bytes, tape, valueStart, valueEnd, KEYS)
      if (state.gens[slot] !== gen || !self._reqs[slot]) return unexpected(self, message, rinfo, tid)
      self.emit('response', message, rinfo)
      self.emit('warning', warningError('Out of order response'))
      return
    }
    case K_SHORT_TID:
      self.emit('warning', shortTidError())
      return
    case K_UNKNOWN_TYPE:
      // For this kind the slot and gen words hold the `y` value's range (docs/ARCHITECTURE.md).
      self.emit('warning', warningError('Unknown type: ' + recordTypeString(bytes, tape, valueStart, valueEnd, KEYS, slot, gen)))
      return
    case K_DECODE_ERROR: {
      const start = tape[valueStart + 1]
      self.emit('warning', warningError(bytes.latin1Slice(start, start + tape[valueStart + 2])))
    }
  }
}

// Warnings about remote datagrams are created without stack frames: the frames would only name
// this library's internals, and capturing them was the largest single cost of a malformed
// datagram (1.8 of ~8 us). The message and class are the reference's.
function warningError (message) {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  const err = new Error(message)
  Error.stackTraceLimit = limit
  return err
}

function unexpected (self, message, rinfo, tid) {
  self.emit('response', message, rinfo)
  self.emit('warning', warningError('Unexpected transaction id: ' + tid))
}

function complete (self, state, slot, isError, message, rinfo) {
  const req = self._reqs[slot]
  self._ids[slot] = 0
  self._reqs[slot] = null
  state.engine.release(slot)
  state.gens[slot] = 0
  self.inflight--
  if (state.window !== Infinity) inflightQueue.leftSlot(self, state, slot)

  if (isError) {
    const isArray = Array.isArray(message.e)
    // Difference: the reference's `message.e.join(' ')` throws on a dict with a `toString` key
    // (the query's callback is then lost); joinText gives the same text and never throws.
    const err = new Error(isArray ? joinText(message.e, ' ') : 'Unknown error')
    err.code = isArray && message.e.length && typeof message.e[0] === 'number' ? message.e[0] : 0
    req.callback(err, message, rinfo, req.message)
    self.emit('update')
    self.emit('postupdate')
    return
  }

  const rid = message.r && message.r.id
  if (req.peer && req.peer.id && rid && !sameId(req.peer.id, rid)) {
    req.callback(EUNEXPECTEDNODE, null, rinfo)
    self.emit('update')
    self.emit('postupdate')
    return
  }

  req.callback(null, message, rinfo, req.message)
  self.emit('update')
  self.emit('postupdate')
  self.emit('response', message, rinfo)
}

// Difference: the reference calls `peer.id.equals(rid)` unchecked, so a remote `r.id` that is an
// integer, list or dict (or a local id without `.equals`) throws out of the message handler and
// kills the process. Here anything that is not the same bytes is a node id mismatch.
function sameId (id, rid) {
  if (!(rid instanceof Uint8Array)) return false
  if (Buffer.isBuffer(id)) return id.equals(rid)
  if (id instanceof Uint8Array) return Buffer.from(id.buffer, id.byteOffset, id.byteLength).equals(rid)
  if (id && typeof id.equals === 'function') return Boolean(id.equals(rid))
  return false
}

// Error text of Node's own Buffer bounds check, which is what the reference reports for a `t`
// shorter than two bytes.
function shortTidError () {
  try {
    Buffer.alloc(1).readUInt16BE(0)
  } catch (err) {
    return err
  }
}

module.exports = { drain, releaseAfterBurst, TAPE_WORDS }
