'use strict'

// Builds JS values from the tape words written by src/core/tape.rs (docs/ARCHITECTURE.md, "Tape
// format"), giving the same values bencode@2.0.3 `decode()` gives, except that a `__proto__` key
// becomes an own property instead of replacing the prototype.

const { Buffer } = require('buffer')
const { valueText } = require('./remote-text')

// The numbers of the format come from the engine that writes it (src/core/tape.rs).
const FORMAT = require('./native').tapeFormat()
const T_DICT = FORMAT.tDict
const T_LIST = FORMAT.tList
const T_END = FORMAT.tEnd
const T_BYTES = FORMAT.tBytes
const T_INT = FORMAT.tInt
const T_FLOAT = FORMAT.tFloat
const T_KEY = FORMAT.tKey
const T_RAWKEY = FORMAT.tRawkey
const OP_MASK = FORMAT.opMask

// One scratch float64 viewed as two int32 words, so a T_FLOAT costs no allocation.
const scratch = new ArrayBuffer(8)
const scratchI32 = new Int32Array(scratch)
const scratchF64 = new Float64Array(scratch)
// The tape's lo word is the low 32 bits of the float64; which Int32 index holds them depends on
// the host byte order.
const LO = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1
const HI = 1 - LO

const bufferUtf8Slice = Buffer.prototype.utf8Slice

function corrupt (pos, why) {
  return new Error('corrupt tape at word ' + pos + ': ' + why)
}

/**
 * Builds the JS value of one tape record.
 *
 * @param {Buffer} bytes the batch bytes; byte strings become `bytes.subarray()` views of it
 * @param {Int32Array} tape the tape words
 * @param {number} pos index of the first value word of the record
 * @param {number} end index one past its last value word
 * @param {string[]} keys interned key strings indexed by id (`keys[0]` unused)
 * @returns {*} the value (Buffer, number, Array, plain object), or `null` when there are no value words
 */
function buildValue (bytes, tape, pos, end, keys) {
  if (pos >= end) return null
  // Explicit stack: records may nest 32768 levels, more than is wise to recurse on.
  const stack = []
  let cur = null // innermost open container
  let curIsDict = false
  let key = null // pending dict key (null: expecting a key)
  let protoKey = false // the pending key is '__proto__'
  let arrayBuffer = null // bytes.buffer and bytes.byteOffset, read on the first byte string
  let base = 0
  let root
  while (pos < end) {
    const w = tape[pos]
    let v
    let open = false
    switch (w & OP_MASK) {
      case T_BYTES: {
        // Buffer.from(arrayBuffer, offset, length) makes the same view as subarray() but reads
        // `.buffer` (a call into V8's runtime) once per record rather than once per string.
        if (arrayBuffer === null) {
          arrayBuffer = bytes.buffer
          base = bytes.byteOffset
        }
        v = Buffer.from(arrayBuffer, base + tape[pos + 1], tape[pos + 2])
        pos += 3
        break
      }
      case T_KEY:
        if (!curIsDict || key !== null) throw corrupt(pos, 'unexpected key')
        key = keys[w >>> 4]
        if (key === undefined) throw corrupt(pos, 'unknown key id ' + (w >>> 4))
        pos++
        continue
      case T_RAWKEY: {
        if (!curIsDict || key !== null) throw corrupt(pos, 'unexpected key')
        const start = tape[pos + 1]
        key = bufferUtf8Slice.call(bytes, start, start + tape[pos + 2])
        protoKey = key === '__proto__'
        pos += 3
        continue
      }
      case T_INT:
        v = tape[pos + 1]
        pos += 2
        break
      case T_FLOAT:
        scratchI32[LO] = tape[pos + 1]
        scratchI32[HI] = tape[pos + 2]
        v = scratchF64[0]
        pos += 3
        break
      case T_DICT:
        v = {}
        open = true
        pos++
        break
      case T_LIST:
        open = true
        pos++
        // A list that starts with byte strings (get_peers' `values`, 50 of them in a full reply)
        // gets them here, without a turn of the token loop each, into an array of their number
        // (pushing one by one grew it three times for 50).
        if (pos < end && (tape[pos] & OP_MASK) === T_BYTES) {
          if (arrayBuffer === null) {
            arrayBuffer = bytes.buffer
            base = bytes.byteOffset
          }
          let count = 1
          for (let at = pos + 3; at < end && (tape[at] & OP_MASK) === T_BYTES; at += 3) count++
          v = new Array(count)
          for (let i = 0; i < count; i++) {
            v[i] = Buffer.from(arrayBuffer, base + tape[pos + 1], tape[pos + 2])
            pos += 3
          }
        } else {
          v = []
        }
        break
      case T_END:
        if (cur === null || key !== null) throw corrupt(pos, 'unexpected end')
        pos++
        if (stack.length === 0) return root
        curIsDict = stack.pop()
        cur = stack.pop()
        continue
      default:
        throw corrupt(pos, 'unknown opcode ' + (w & OP_MASK))
    }
    // A container is attached when it opens; the parent's key order only depends on the order of
    // its own assignments, so this matches bencode's assign-after-decode.
    if (cur === null) {
      if (root !== undefined) throw corrupt(pos, 'more than one value')
      root = v
    } else if (curIsDict) {
      if (key === null) throw corrupt(pos, 'value without a key')
      if (protoKey) {
        // Plain assignment would replace the prototype; a remote peer must not be able to do that.
        Object.defineProperty(cur, key, { value: v, writable: true, enumerable: true, configurable: true })
        protoKey = false
      } else {
        storeEntry(cur, key, v)
      }
      key = null
    } else {
      cur.push(v)
    }
    if (open) {
      if (cur !== null) stack.push(cur, curIsDict)
      cur = v
      curIsDict = (w & OP_MASK) === T_DICT
    } else if (cur === null) {
      return v
    }
  }
  // Words ran out inside a container: the tape writer never does this.
  throw corrupt(pos, 'unterminated container')
}

// `obj[key] = v` for a dict entry. One such store for every key of every message made V8 treat
// it as megamorphic (a stub cache probe per store, and the shape transition looked up there);
// the keys KRPC messages carry most get a store site of their own, which sees only the few
// shapes that key is added to. The same keys as the encoder's `entry` (lib/encode.js).
function storeEntry (obj, key, v) {
  switch (key) {
    case 't':
      obj.t = v
      return
    case 'y':
      obj.y = v
      return
    case 'q':
      obj.q = v
      return
    case 'a':
      obj.a = v
      return
    case 'r':
      obj.r = v
      return
    case 'e':
      obj.e = v
      return
    case 'id':
      obj.id = v
      return
    case 'target':
      obj.target = v
      return
    case 'info_hash':
      obj.info_hash = v
      return
    case 'nodes':
      obj.nodes = v
      return
    case 'values':
      obj.values = v
      return
    case 'token':
      obj.token = v
      return
    case 'v':
      obj.v = v
      return
    case 'ip':
      obj.ip = v
      return
    case 'port':
      obj.port = v
      return
    case 'implied_port':
      obj.implied_port = v
      return
    case 'want':
      obj.want = v
      return
    default:
      obj[key] = v
  }
}

/**
 * `typeString(buildValue(bytes, tape, pos, end, keys))` without building the record: only the
 * value of a root dict's `y` is built. A datagram of unknown type is reported by this text alone,
 * and building all of it (a list nested 500 deep, say) cost more than the rest of its handling.
 * The engine found that value while classifying the datagram and hands over its token range
 * (docs/ARCHITECTURE.md, "Tape format": the slot and gen words of a K_UNKNOWN_TYPE record), so
 * the datagram is not walked a second time here.
 *
 * @param {Buffer} bytes the batch bytes
 * @param {Int32Array} tape the tape words
 * @param {number} pos index of the first value word of the record
 * @param {number} end index one past its last value word
 * @param {string[]} keys interned key strings indexed by id
 * @param {number} yStart start of the root dict's `y` value, relative to `pos`, or -1 for none
 * @param {number} yEnd one past its end, relative to `pos`
 * @returns {string}
 */
function recordTypeString (bytes, tape, pos, end, keys, yStart, yEnd) {
  if (pos >= end) return typeString(null)
  const op = tape[pos] & OP_MASK
  // A list or a byte string is truthy and has no `y`; a number may be falsy: build it (cheap).
  if (op === T_LIST || op === T_BYTES) return 'undefined'
  if (op !== T_DICT) return typeString(buildValue(bytes, tape, pos, end, keys))
  if (yStart < 0) return 'undefined'
  if (yEnd > end - pos || yStart >= yEnd) throw corrupt(pos, 'y range out of the record')
  const y = buildValue(bytes, tape, pos + yStart, pos + yEnd, keys)
  return y ? valueText(y) : String(y)
}

/**
 * The text k-rpc-socket 1.11.1 puts after `'Unknown type: '` (docs/compatibility.md,
 * "What happens to each received datagram", step 3), i.e.
 * `String(message && message.y && message.y.toString())`, computed without calling any method found
 * on the decoded data and without recursion (lists may nest deeply).
 *
 * Equal to the reference for every decoded value on which the reference expression does not throw.
 *
 * @param {*} message a decoded message
 * @returns {string}
 */
function typeString (message) {
  if (!message) return String(message)
  const y = message.y
  if (!y) return String(y)
  return valueText(y)
}

module.exports = { buildValue, typeString, recordTypeString, FORMAT, T_DICT, T_LIST, T_END, T_BYTES, T_INT, T_FLOAT, T_KEY, T_RAWKEY }
