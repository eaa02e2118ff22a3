'use strict'
// Property test of the whole receive path against the reference decoder: random and mutated
// bencode goes through the real engine (Rust tokenizer and classification, tape, lib/tape.js
// builder) and must give exactly what bencode@2.0.3 decodes; where bencode@2 throws, the engine
// reports a decode error with the same message. Inputs on which bencode@2 hangs, exhausts memory
// or overflows its stack (negative lengths, nesting past our documented 32768 levels) are where we
// deliberately differ (differences.test.js); the generator keeps `-` out of string lengths, and a
// mutated input containing a negative length must give our negative-length error instead.

const test = require('node:test')
const assert = require('node:assert/strict')
const util = require('node:util')
const bencode = require('bencode')
const native = require('../lib/native')
const { buildValue, typeString, recordTypeString, FORMAT } = require('../lib/tape')
const { rng: prng } = require('./harness/rng')

const KEYS = [undefined].concat(native.internedKeys())
const engine = native.createEngine(false)
let tape = new Int32Array(1 << 16)

// Decodes one datagram through the engine: { value } or { error: message }. Classification is
// bypassed on purpose by reading the record's value words whatever the kind.
function decodeWithEngine (buf) {
  engine.ingest(buf, '127.0.0.1', 6881, false)
  const bytes = Buffer.alloc(engine.pendingBytes())
  let copied = engine.drain(tape, bytes)
  if (copied === -1) {
    tape = new Int32Array(-tape[0] * 2)
    copied = engine.drain(tape, bytes)
  }
  assert.ok(copied > 0, 'a record for every datagram')
  const kind = tape[1]
  const n = tape[1 + 8]
  const start = 1 + FORMAT.headerWords
  if (kind === FORMAT.kDecodeError) {
    const at = tape[start + 1]
    return { error: bytes.latin1Slice(at, at + tape[start + 2]) }
  }
  // A reply whose `t` is shorter than 2 bytes carries no value words: the value is not needed
  // to report it, so compare it through a re-encoded query-shaped copy instead.
  if (kind === FORMAT.kShortTid) return { shortTid: true }
  return {
    value: n === 0 ? null : buildValue(bytes, tape, start, start + n, KEYS),
    // What a datagram of unknown type is reported with, computed without building the value.
    // For a datagram of unknown type, the engine hands over where the root dict's `y` value is
    // (the header's slot and gen words).
    typeText: kind === FORMAT.kUnknownType
      ? recordTypeString(bytes, tape, start, start + n, KEYS, tape[1 + FORMAT.hSlot], tape[1 + FORMAT.hGen])
      : undefined
  }
}

const KEY_POOL = ['t', 'y', 'q', 'a', 'r', 'e', 'id', 'token', 'values', 'nodes', 'x', '', '10', '2', '__proto__', 'constructor', 'toString', 'é', '\u{1F600}']

function randomValue (rand, depth) {
  const pick = rand()
  if (depth > 4 || pick < 0.35) {
    const bytes = Buffer.alloc(Math.floor(rand() * 24))
    for (let i = 0; i < bytes.length; i++) bytes[i] = rand() < 0.7 ? 97 + Math.floor(rand() * 26) : Math.floor(rand() * 256)
    return bytes
  }
  if (pick < 0.6) {
    const scale = [1, 100, 2 ** 31, 2 ** 53, 1e20][Math.floor(rand() * 5)]
    return Math.trunc((rand() * 2 - 1) * scale)
  }
  if (pick < 0.8) {
    const list = []
    for (let i = Math.floor(rand() * 5); i > 0; i--) list.push(randomValue(rand, depth + 1))
    return list
  }
  const dict = {}
  for (let i = Math.floor(rand() * 5); i > 0; i--) {
    const key = rand() < 0.8 ? KEY_POOL[Math.floor(rand() * KEY_POOL.length)] : String.fromCharCode(0x41 + Math.floor(rand() * 50))
    if (key === '__proto__') continue // the encoder cannot write it as an own key anyway
    dict[key] = randomValue(rand, depth + 1)
  }
  return dict
}

const MUTATION_BYTES = Buffer.from('deil:0123456789e:+.x\x00\xff')

function mutate (rand, buf) {
  const out = Buffer.from(buf)
  const edits = 1 + Math.floor(rand() * 3)
  let data = out
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(rand() * (data.length + 1))
    const what = rand()
    const byte = MUTATION_BYTES[Math.floor(rand() * MUTATION_BYTES.length)]
    if (what < 0.4 && data.length) data[Math.min(at, data.length - 1)] = byte
    else if (what < 0.7) data = Buffer.concat([data.subarray(0, at), Buffer.from([byte]), data.subarray(at)])
    else if (what < 0.9) data = data.subarray(0, at) // truncation
    else data = Buffer.concat([data, Buffer.from('i1e4:junk')]) // trailing bytes
  }
  return data
}

// A negative string length is a `-` followed by nothing but digits or `.` up to a `:` (bencode@2
// reads a length from the cursor to the next `:`). There bencode@2 moves its cursor backwards and
// may never terminate; those inputs are compared against our documented error only.
const NEGATIVE_LENGTH = /-[0-9.]*:/

function mayHaveNegativeLength (buf) {
  return NEGATIVE_LENGTH.test(buf.toString('latin1'))
}

function reference (buf) {
  try {
    return { value: bencode.decode(buf) }
  } catch (err) {
    return { error: err.message }
  }
}

// bencode@2 replaces an object's prototype for a `__proto__` key; ours keeps an own property.
// The generator never writes one, but a mutation can form the bytes; skip those inputs.
function hasProtoKey (buf) {
  return buf.includes('9:__proto__')
}

function compare (buf, seed) {
  const ours = decodeWithEngine(buf)
  if (ours.error && ours.error.startsWith('Invalid data: negative string length')) {
    assert.ok(mayHaveNegativeLength(buf), 'a negative length where there is none: ' + buf.toString('latin1'))
    return 'negative'
  }
  if (mayHaveNegativeLength(buf)) return 'mayBeNegative'
  const ref = reference(buf)
  if (ours.error && ours.error === 'Invalid data: nesting deeper than 32768 levels') return 'deep'
  if (ours.shortTid) return 'shortTid'
  const where = `seed ${seed}, input ${JSON.stringify(buf.toString('latin1'))}`
  if (ref.error !== undefined) {
    assert.equal(ours.error, ref.error, where)
    return 'error'
  }
  assert.equal(ours.error, undefined, `${where}: we failed with ${ours.error}`)
  // deepStrictEqual checks Buffer-ness, key order, -0 (Object.is) and prototypes.
  assert.deepStrictEqual(ours.value, ref.value, where)
  assertBuffersAreBuffers(ours.value, where)
  if (ours.typeText === undefined) return 'value'
  assert.equal(ours.typeText, typeString(ref.value), where)
  return 'unknownType'
}

function assertBuffersAreBuffers (value, where) {
  const stack = [value]
  while (stack.length) {
    const v = stack.pop()
    if (v instanceof Uint8Array) assert.ok(Buffer.isBuffer(v), where + ': a byte string that is not a Buffer')
    else if (Array.isArray(v)) stack.push(...v)
    else if (v && typeof v === 'object') stack.push(...Object.values(v))
  }
}

test('random well-formed bencode decodes exactly as bencode@2 decodes it', (t) => {
  const counts = {}
  for (let seed = 1; seed <= 4000; seed++) {
    const rand = prng(seed)
    const buf = bencode.encode(randomValue(rand, 0))
    const verdict = compare(buf, seed)
    counts[verdict] = (counts[verdict] || 0) + 1
  }
  t.diagnostic(util.format('outcomes: %o', counts))
  // Values, nearly all of unknown type (so their warning text is compared too).
  assert.ok((counts.value || 0) + counts.unknownType > 3000 && counts.unknownType > 1000, util.format('mostly values: %o', counts))
})

test('mutated bencode: the same value, or the same error message, as bencode@2', (t) => {
  const counts = {}
  for (let seed = 1; seed <= 20000; seed++) {
    const rand = prng(seed)
    const buf = mutate(rand, bencode.encode(randomValue(rand, 0)))
    if (hasProtoKey(buf)) continue
    const verdict = compare(buf, seed)
    counts[verdict] = (counts[verdict] || 0) + 1
  }
  t.diagnostic(util.format('outcomes: %o', counts))
  // Both outcomes must be exercised, or the test proves nothing.
  assert.ok((counts.value || 0) + counts.unknownType > 1000 && counts.error > 1000, util.format('%o', counts))
})

test('mutations that form a negative length give our error, not a hang', () => {
  let negatives = 0
  for (const input of ['d-3:e', 'l-3:e', 'd1:a-3:e', 'd1:ad-3:ee', 'l-1:e', '-4:spam', 'd1:y1:q1:t-2:aae']) {
    const ours = decodeWithEngine(Buffer.from(input))
    assert.match(ours.error, /^Invalid data: negative string length at buffer\[\d+\]$/, input)
    negatives++
  }
  assert.equal(negatives, 7)
})
