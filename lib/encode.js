'use strict'

// Bencode encoder, byte-identical to bencode@2.0.3 `encode()` (docs/compatibility.md, "The
// encoder"), writing into one reusable slab instead of concatenating a Buffer per token.
//
// Exactness notes (each mirrors an observable detail of bencode@2.0.3):
// * objects are classified in bencode's order (Buffer, ArrayBuffer view, Array, Number, Boolean,
//   Set, Map, String, ArrayBuffer, else dict), so instanceof/isArray side effects happen the same way;
// * a dict/list/Map entry is read twice (once for the null check, once to encode), like bencode,
//   so getters run the same number of times in the same order;
// * the slab is grown in place (never restarted), so no user code runs twice;
// * numbers that are not int32 go through bencode's hi/lo 2^31 split and JS number formatting.

// The global Buffer is an accessor in Node 20; a module binding avoids a getter call per value.
const { Buffer } = require('buffer')

const MAX_LO = 0x80000000
const CH_D = 0x64
const CH_L = 0x6c
const CH_E = 0x65
const CH_I = 0x69
const CH_COLON = 0x3a
const CH_MINUS = 0x2d
const CH_0 = 0x30

const INITIAL_SIZE = 2048
// A slab that grew past this for one huge message is dropped at the next call, so one outlier
// does not pin memory for the life of the process.
const KEEP_MAX = 1 << 20
// Below these sizes a JS loop beats the native call overhead of utf8Write / TypedArray#set.
const ASCII_LOOP_MAX = 64
const COPY_LOOP_MAX = 32
// Insertion sort wins for the few keys of a KRPC dict; beyond that, use the engine's sort.
const INSERTION_SORT_MAX = 24

// The fixed parts of a query (encodeQuery): the letters of its keys `a` and `q`, and `ro: 1` as
// bencode writes it (`_queryTail` writes `t`, with room for the tid, and `y`, always `q`).
const CH_A = 0x61
const CH_Q = 0x71
const READ_ONLY = Buffer.from('2:roi1e')

// bencode keeps its once-per-process flag on its module's encode function; this is the same
// scope: one flag per instance of this module, shared by all Encoders.
let floatConversionDetected = false

/** Number of decimal digits of an integer 0 <= n < 2^32. */
function digitCount (n) {
  if (n < 10) return 1
  if (n < 100) return 2
  if (n < 1000) return 3
  if (n < 10000) return 4
  if (n < 100000) return 5
  if (n < 1000000) return 6
  if (n < 10000000) return 7
  if (n < 100000000) return 8
  if (n < 1000000000) return 9
  return 10
}

/** Writes 0 <= n < 2^32 in decimal at b[p..]; returns the new position. */
function writeUint (b, p, n) {
  if (n < 10) {
    b[p] = CH_0 + n
    return p + 1
  }
  const end = p + digitCount(n)
  let q = end
  do {
    const d = (n / 10) >>> 0
    b[--q] = CH_0 + (n - d * 10)
    n = d
  } while (n !== 0)
  return end
}

/** Sorts the own keys of an object in JS default sort order (UTF-16 code units, same as `<`). */
function sortKeys (keys) {
  const n = keys.length
  let i = 1
  while (i < n && keys[i - 1] < keys[i]) i++
  if (i >= n) return
  if (n > INSERTION_SORT_MAX) {
    // Object.keys never yields duplicates, so stability is irrelevant and the result equals bencode's.
    keys.sort()
    return
  }
  for (; i < n; i++) {
    const x = keys[i]
    let j = i - 1
    while (j >= 0 && x < keys[j]) {
      keys[j + 1] = keys[j]
      j--
    }
    keys[j + 1] = x
  }
}

// `obj[key]`, with a load site of its own for the keys KRPC messages carry most (one `obj[key]`
// for every key of every message is a megamorphic load: a stub cache probe each). The same keys
// as the decoder's `storeEntry` (lib/tape.js).
function entry (obj, key) {
  switch (key) {
    case 't':
      return obj.t
    case 'y':
      return obj.y
    case 'q':
      return obj.q
    case 'a':
      return obj.a
    case 'r':
      return obj.r
    case 'e':
      return obj.e
    case 'id':
      return obj.id
    case 'target':
      return obj.target
    case 'info_hash':
      return obj.info_hash
    case 'nodes':
      return obj.nodes
    case 'values':
      return obj.values
    case 'token':
      return obj.token
    case 'v':
      return obj.v
    case 'ip':
      return obj.ip
    case 'port':
      return obj.port
    case 'implied_port':
      return obj.implied_port
    case 'want':
      return obj.want
    default:
      return obj[key]
  }
}

class Encoder {
  /**
   * A bencode@2.0.3-exact encoder writing into one reusable, growable Buffer.
   *
   * @param {number} [size] initial slab size in bytes
   */
  constructor (size) {
    this.initialSize = size > 16 ? size : INITIAL_SIZE
    this.slab = Buffer.allocUnsafeSlow(this.initialSize)
    /** The bytes of the last `encode()` call are `buf[0 .. length)`, valid until the next call. */
    this.buf = this.slab
    this.pos = 0
    this.busy = false
    /** Where encodeQuery left room for the tid. */
    this.tidAt = 0
  }

  /**
   * Encodes `value` like bencode@2.0.3 `encode(value)` (same bytes, same errors, same warning).
   * `value` must not contain views of this encoder's own `buf` (they would be overwritten while read).
   *
   * @param {*} value
   * @returns {number} the length of the output, which is in `this.buf[0 .. length)` until the next call
   */
  encode (value) {
    // A getter or valueOf can call back into the same Encoder; bencode@2 allows that, so the
    // nested call gets its own slab and the outer one continues undisturbed.
    if (this.busy) return this._encodeNested(value)
    if (this.slab.length > KEEP_MAX) this.slab = Buffer.allocUnsafeSlow(this.initialSize)
    this.busy = true
    this.pos = 0
    try {
      this._value(value)
    } finally {
      this.busy = false
      this.buf = this.slab
    }
    return this.pos
  }

  /**
   * Encodes the query `{ t, y: 'q', q, a }` (with `ro: 1` when `readOnly`) that k-rpc-socket
   * builds, as `encode()` would, with two bytes of room for `t` left at `this.tidAt` (the
   * engine writes the tid there once it has picked it). The keys are written in their sorted
   * order without looking them up: `a`, `q`, `ro`, `t`, `y`.
   *
   * @returns {number} the length of the output, in `this.buf[0 .. length)` until the next call
   */
  encodeQuery (q, a, readOnly) {
    if (this.busy) {
      const inner = new Encoder(256)
      const n = inner.encodeQuery(q, a, readOnly)
      this.buf = inner.buf
      this.tidAt = inner.tidAt
      return n
    }
    if (this.slab.length > KEEP_MAX) this.slab = Buffer.allocUnsafeSlow(this.initialSize)
    this.busy = true
    this.pos = 0
    try {
      this._byte(CH_D)
      if (a != null) {
        this._oneLetterKey(CH_A)
        this._value(a)
      }
      if (q != null) {
        this._oneLetterKey(CH_Q)
        this._value(q)
      }
      if (readOnly) this._raw(READ_ONLY)
      this._queryTail()
    } finally {
      this.busy = false
      this.buf = this.slab
    }
    return this.pos
  }

  // The query's constant bytes are stored one by one: a loop copying them from a Buffer cost
  // several times as much (two typed-array accesses per byte).
  _oneLetterKey (letter) {
    if (this.pos + 3 > this.slab.length) this._grow(3)
    const b = this.slab
    const p = this.pos
    b[p] = CH_0 + 1
    b[p + 1] = CH_COLON
    b[p + 2] = letter
    this.pos = p + 3
  }

  // `1:t2:` and two zero bytes where the engine writes the tid, then `1:y1:q` and the dict's end.
  _queryTail () {
    if (this.pos + 14 > this.slab.length) this._grow(14)
    const b = this.slab
    const p = this.pos
    b[p] = CH_0 + 1
    b[p + 1] = CH_COLON
    b[p + 2] = 0x74 // t
    b[p + 3] = CH_0 + 2
    b[p + 4] = CH_COLON
    b[p + 5] = 0
    b[p + 6] = 0
    b[p + 7] = CH_0 + 1
    b[p + 8] = CH_COLON
    b[p + 9] = 0x79 // y
    b[p + 10] = CH_0 + 1
    b[p + 11] = CH_COLON
    b[p + 12] = CH_Q
    b[p + 13] = CH_E
    this.tidAt = p + 5
    this.pos = p + 14
  }

  _raw (bytes) {
    const n = bytes.length
    if (this.pos + n > this.slab.length) this._grow(n)
    const b = this.slab
    const p = this.pos
    for (let i = 0; i < n; i++) b[p + i] = bytes[i]
    this.pos = p + n
  }

  _encodeNested (value) {
    const inner = new Encoder(256)
    const n = inner.encode(value)
    this.buf = inner.buf
    return n
  }

  _grow (need) {
    let size = this.slab.length * 2
    while (size < this.pos + need) size *= 2
    const next = Buffer.allocUnsafeSlow(size)
    this.slab.copy(next, 0, 0, this.pos)
    this.slab = next
  }

  _value (v) {
    // `typeof v === '...'` tests, not a switch over `typeof v`: the optimizing compiler turns
    // each into a type check, where the switch made it call its typeof builtin per value.
    if (typeof v === 'object') {
      if (v !== null) this._object(v)
    } else if (typeof v === 'string') {
      this._string(v)
    } else if (typeof v === 'number') {
      // int32 (and -0, which bencode writes as 0 without a warning) skip the hi/lo split.
      if ((v | 0) === v) this._int(v | 0)
      else this._number(v)
    } else if (typeof v === 'boolean') {
      this._number(v)
    }
    // undefined, bigint, symbol, function: bencode@2 writes nothing.
  }

  _object (v) {
    if (Buffer.isBuffer(v)) return this._bytes(v)
    if (ArrayBuffer.isView(v)) return this._bytes(Buffer.from(v.buffer, v.byteOffset, v.byteLength))
    if (Array.isArray(v)) return this._list(v)
    if (v instanceof Number) return this._number(v)
    if (v instanceof Boolean) return this._number(v)
    if (v instanceof Set) return this._set(v)
    if (v instanceof Map) return this._map(v)
    // Buffer.byteLength throws the TypeError bencode@2 throws for a boxed String.
    if (v instanceof String) return this._utf8(v)
    if (v instanceof ArrayBuffer) return this._bytes(Buffer.from(v))
    this._dict(v)
  }

  _byte (c) {
    if (this.pos >= this.slab.length) this._grow(1)
    this.slab[this.pos++] = c
  }

  _int (n) {
    // 'i', '-', 10 digits, 'e'
    if (this.pos + 13 > this.slab.length) this._grow(13)
    const b = this.slab
    let p = this.pos
    b[p++] = CH_I
    if (n < 0) {
      b[p++] = CH_MINUS
      n = -n
    }
    p = writeUint(b, p, n)
    b[p++] = CH_E
    this.pos = p
  }

  _number (data) {
    // Same operations as bencode@2 on the original value (boxed values run valueOf the same number of times).
    const hi = (data / MAX_LO) << 0
    const lo = (data % MAX_LO) << 0
    const val = hi * MAX_LO + lo
    if ((val | 0) === val) {
      this._int(val)
    } else {
      const s = '' + val
      const n = s.length
      if (this.pos + n + 2 > this.slab.length) this._grow(n + 2)
      const b = this.slab
      let p = this.pos
      b[p++] = CH_I
      for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i)
      b[p++] = CH_E
      this.pos = p
    }
    if (val !== data && !floatConversionDetected) {
      floatConversionDetected = true
      console.warn(
        'WARNING: Possible data corruption detected with value "' + data + '":',
        'Bencoding only defines support for integers, value was converted to "' + val + '"'
      )
      console.trace()
    }
  }

  _string (s) {
    const len = s.length
    if (len >= ASCII_LOOP_MAX) return this._utf8(s)
    // Optimistic ASCII: the byte length is the UTF-16 length; fall back on the first non-ASCII unit.
    if (this.pos + len + 3 > this.slab.length) this._grow(len + 3)
    const b = this.slab
    let p = this.pos
    if (len < 10) {
      b[p++] = CH_0 + len
    } else {
      const d = (len / 10) | 0
      b[p++] = CH_0 + d
      b[p++] = CH_0 + (len - d * 10)
    }
    b[p++] = CH_COLON
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i)
      if (c >= 0x80) return this._utf8(s)
      b[p++] = c
    }
    this.pos = p
  }

  _utf8 (s) {
    const n = Buffer.byteLength(s)
    if (this.pos + n + 11 > this.slab.length) this._grow(n + 11)
    const b = this.slab
    let p = writeUint(b, this.pos, n)
    b[p++] = CH_COLON
    // Same converter as Buffer.from(string): lone surrogates become EF BF BD.
    this.pos = p + b.utf8Write(s, p, n)
  }

  _bytes (v) {
    const n = v.length
    if (this.pos + n + 11 > this.slab.length) this._grow(n + 11)
    const b = this.slab
    let p = writeUint(b, this.pos, n)
    b[p++] = CH_COLON
    if (n <= COPY_LOOP_MAX) {
      for (let i = 0; i < n; i++) b[p + i] = v[i]
    } else {
      b.set(v, p)
    }
    this.pos = p + n
  }

  _dict (obj) {
    this._byte(CH_D)
    const keys = Object.keys(obj)
    const n = keys.length
    if (n > 1) sortKeys(keys)
    for (let i = 0; i < n; i++) {
      const k = keys[i]
      if (entry(obj, k) == null) continue
      this._string(k)
      this._value(entry(obj, k))
    }
    this._byte(CH_E)
  }

  _map (data) {
    // Rare on the send path: kept statement for statement like bencode@2 (its sort stringifies
    // keys, which can call user toString or throw for symbols, and Buffer keys go through encode).
    this._byte(CH_D)
    const keys = Array.from(data.keys()).sort()
    for (const key of keys) {
      if (data.get(key) == null) continue
      if (Buffer.isBuffer(key)) this._value(key)
      else this._string(String(key))
      this._value(data.get(key))
    }
    this._byte(CH_E)
  }

  _list (arr) {
    this._byte(CH_L)
    const c = arr.length
    for (let i = 0; i < c; i++) {
      if (arr[i] == null) continue
      this._value(arr[i])
    }
    this._byte(CH_E)
  }

  _set (data) {
    this._byte(CH_L)
    for (const item of data) {
      if (item == null) continue
      this._value(item)
    }
    this._byte(CH_E)
  }
}

const shared = new Encoder()

/**
 * Encodes `data` like bencode@2.0.3 `encode(data, buffer, offset)`: returns a new Buffer (a copy the
 * caller may keep), or copies into `buffer` at `offset` and returns `buffer` when `buffer` is a Buffer.
 * Sets `encode.bytes` to the encoded length, as bencode@2 does.
 *
 * @param {*} data
 * @param {Buffer} [buffer]
 * @param {number} [offset]
 * @returns {Buffer}
 */
function encode (data, buffer, offset) {
  const n = shared.encode(data)
  const result = Buffer.allocUnsafe(n)
  shared.buf.copy(result, 0, 0, n)
  encode.bytes = n
  if (Buffer.isBuffer(buffer)) {
    result.copy(buffer, offset)
    return buffer
  }
  return result
}

encode.bytes = -1

module.exports = { Encoder, encode }
