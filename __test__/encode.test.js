'use strict'

// Differential tests: lib/encode.js against bencode@2.0.3 (the encoder k-rpc-socket 1.11.1 uses).

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const bencode = require('bencode')
const { Encoder, encode } = require('../lib/encode')

const ENCODE_PATH = path.join(__dirname, '..', 'lib', 'encode.js')
const BENCODE_PATH = require.resolve('bencode')

// Both encoders print a once-per-process warning on the first lossy number; keep the test output
// clean (the warning itself is checked in child processes below).
function quietly (fn) {
  const { warn, trace } = console
  console.warn = () => {}
  console.trace = () => {}
  try {
    return fn()
  } finally {
    console.warn = warn
    console.trace = trace
  }
}

function outcome (fn) {
  try {
    return { bytes: fn() }
  } catch (err) {
    return { error: err, name: err && err.constructor && err.constructor.name, message: err && err.message }
  }
}

const slabEncoder = new Encoder()
const tinyEncoder = new Encoder(17) // grows at many different points

// Compares all three entry points against bencode@2 for one value built by make() (called once per
// encoder, so values with side effects start fresh each time).
function same (make, label) {
  const ref = quietly(() => outcome(() => bencode.encode(make())))
  const candidates = {
    'encode()': () => encode(make()),
    'Encoder#encode': () => { const n = slabEncoder.encode(make()); return Buffer.from(slabEncoder.buf.subarray(0, n)) },
    'Encoder(17)#encode': () => { const n = tinyEncoder.encode(make()); return Buffer.from(tinyEncoder.buf.subarray(0, n)) }
  }
  for (const [name, run] of Object.entries(candidates)) {
    const got = quietly(() => outcome(run))
    if (ref.error) {
      assert.ok(got.error, `${label} ${name}: bencode throws ${ref.name}: ${ref.message}, ours returned ${got.bytes && got.bytes.toString('latin1')}`)
      assert.equal(got.name, ref.name, `${label} ${name}: error class`)
      assert.equal(got.message, ref.message, `${label} ${name}: error message`)
    } else {
      assert.ok(!got.error, `${label} ${name}: ours throws ${got.message}`)
      assert.ok(Buffer.isBuffer(got.bytes))
      assert.equal(got.bytes.toString('latin1'), ref.bytes.toString('latin1'), `${label} ${name}: bytes`)
    }
  }
  return ref
}

const L = s => Buffer.from(s, 'latin1')

// The encoder table of docs/compatibility.md ("The encoder"), one row at a time:
// [label, make, expected bytes (latin1) or null when bencode throws]
const ENCODER_ROWS = [
  ['string', () => 'spam', '4:spam'],
  ['empty string', () => '', '0:'],
  ['2-byte UTF-8', () => 'é', '2:\xc3\xa9'],
  ['astral', () => '\u{1F600}', '4:\xf0\x9f\x98\x80'],
  ['lone high surrogate', () => '\uD800', '3:\xef\xbf\xbd'],
  ['lone low surrogate in ASCII', () => 'a\uDC00b', '5:a\xef\xbf\xbdb'],
  ['long ASCII', () => 'x'.repeat(100), '100:' + 'x'.repeat(100)],
  ['long non-ASCII', () => 'é'.repeat(70), '140:' + '\xc3\xa9'.repeat(70)],
  ['boxed String', () => new String('ab'), null],
  ['boxed String in a dict', () => ({ a: 1, b: new String('x') }), null],
  ['Buffer', () => Buffer.from('abc'), '3:abc'],
  ['empty Buffer', () => Buffer.alloc(0), '0:'],
  ['large Buffer', () => Buffer.alloc(5000, 7), '5000:' + '\x07'.repeat(5000)],
  ['Uint8Array', () => new Uint8Array([1, 2, 3]), '3:\x01\x02\x03'],
  ['Uint16Array', () => new Uint16Array([1, 2]), '4:\x01\x00\x02\x00'],
  ['Float64Array', () => new Float64Array([1]), '8:\x00\x00\x00\x00\x00\x00\xf0?'],
  ['subarray', () => new Uint8Array([9, 8, 7, 6]).subarray(1, 3), '2:\x08\x07'],
  ['DataView with offset', () => new DataView(new Uint8Array([1, 2, 3, 4, 5]).buffer, 1, 3), '3:\x02\x03\x04'],
  ['ArrayBuffer', () => new ArrayBuffer(2), '2:\x00\x00'],
  ['SharedArrayBuffer is a dict', () => new SharedArrayBuffer(2), 'de'],
  ['0', () => 0, 'i0e'],
  ['-0', () => -0, 'i0e'],
  ['42', () => 42, 'i42e'],
  ['-42', () => -42, 'i-42e'],
  ['int32 max', () => 2147483647, 'i2147483647e'],
  ['int32 min', () => -2147483648, 'i-2147483648e'],
  ['2^31', () => 2 ** 31, 'i2147483648e'],
  ['-2^31 - 1', () => -(2 ** 31) - 1, 'i-2147483649e'],
  ['2^32+5', () => 2 ** 32 + 5, 'i4294967301e'],
  ['2^53', () => 2 ** 53, 'i9007199254740992e'],
  ['2^60', () => 2 ** 60, 'i1152921504606847000e'],
  ['2^61', () => 2 ** 61, 'i2305843009213694000e'],
  ['2^62', () => 2 ** 62, 'i-4611686018427388000e'],
  ['2^63', () => 2 ** 63, 'i0e'],
  ['1e20', () => 1e20, 'i-1457092405402534000e'],
  ['1e21', () => 1e21, 'i3875820019684212700e'],
  ['1.5', () => 1.5, 'i1e'],
  ['-1.5', () => -1.5, 'i-1e'],
  ['-0.5', () => -0.5, 'i0e'],
  ['NaN', () => NaN, 'i0e'],
  ['Infinity', () => Infinity, 'i0e'],
  ['-Infinity', () => -Infinity, 'i0e'],
  ['MAX_VALUE', () => Number.MAX_VALUE, 'i0e'],
  ['MIN_VALUE', () => Number.MIN_VALUE, 'i0e'],
  ['boxed Number', () => new Number(7), 'i7e'],
  ['boxed Number 2^40+0.5', () => new Number(2 ** 40 + 0.5), 'i1099511627776e'],
  ['true', () => true, 'i1e'],
  ['false', () => false, 'i0e'],
  ['boxed true', () => new Boolean(true), 'i1e'],
  ['boxed false', () => new Boolean(false), 'i0e'],
  ['null', () => null, ''],
  ['undefined', () => undefined, ''],
  ['bigint', () => 10n, ''],
  ['symbol', () => Symbol('s'), ''],
  ['function', () => () => 1, ''],
  ['list', () => [1, 'a', [2]], 'li1e1:ali2eee'],
  ['list with null/undefined', () => [null, undefined, 1], 'li1ee'],
  ['list with bigint', () => [10n, 1], 'li1ee'],
  ['list with holes', () => [, 1, , 2], 'li1ei2ee'], // eslint-disable-line no-sparse-arrays
  ['empty list', () => [], 'le'],
  ['Set', () => new Set([3, 1, 2]), 'li3ei1ei2ee'],
  ['Set with null', () => new Set([null, 'a', undefined]), 'l1:ae'],
  ['dict', () => ({ b: 1, a: 2 }), 'd1:ai2e1:bi1ee'],
  ['dict null values', () => ({ a: null, b: undefined, c: 1 }), 'd1:ci1ee'],
  ['dict bigint value', () => ({ a: 10n }), 'd1:ae'],
  ['dict symbol/function values', () => ({ a: Symbol('x'), b: () => {}, c: 1 }), 'd1:a1:b1:ci1ee'],
  ['empty dict', () => ({}), 'de'],
  ['key order', () => ({ b: 1, a: 1, B: 1, aa: 1, 10: 1, 9: 1 }), 'd2:10i1e1:9i1e1:Bi1e1:ai1e2:aai1e1:bi1ee'],
  ['astral before U+FF61', () => ({ '\uFF61': 1, '\u{10000}': 1 }), 'd4:\xf0\x90\x80\x80i1e3:\xef\xbd\xa1i1ee'],
  ['null-prototype dict', () => Object.assign(Object.create(null), { z: 1, a: 'b' }), 'd1:a1:b1:zi1ee'],
  ['own __proto__ key', () => Object.defineProperty({ a: 1 }, '__proto__', { value: 'p', enumerable: true }), 'd9:__proto__1:p1:ai1ee'],
  ['non-enumerable skipped', () => Object.defineProperty({ a: 1 }, 'b', { value: 2, enumerable: false }), 'd1:ai1ee'],
  ['symbol keys skipped', () => ({ a: 1, [Symbol('k')]: 2 }), 'd1:ai1ee'],
  ['inherited keys skipped', () => Object.assign(Object.create({ inherited: 1 }), { own: 2 }), 'd3:owni2ee'],
  ['Date', () => new Date(0), 'de'],
  ['RegExp', () => /x/g, 'de'],
  ['Error', () => new Error('boom'), 'de'],
  ['Error with code', () => Object.assign(new Error('x'), { code: 5 }), 'd4:codei5ee'],
  ['class instance', () => new (class { constructor () { this.z = 'z'; this.y = 2 } })(), 'd1:yi2e1:z1:ze'],
  ['boxed bigint', () => Object(5n), 'de'],
  ['Map', () => new Map([['b', 1], ['a', 2]]), 'd1:ai2e1:bi1ee'],
  ['Map numeric keys', () => new Map([[2, 1], [10, 2]]), 'd2:10i2e1:2i1ee'],
  ['Map Buffer key', () => new Map([[Buffer.from('k'), 1], ['j', 2]]), 'd1:ji2e1:ki1ee'],
  ['Map null values', () => new Map([['a', null], ['b', 1]]), 'd1:bi1ee'],
  ['Map single symbol key', () => new Map([[Symbol('s'), 1]]), 'd9:Symbol(s)i1ee'],
  ['Map two symbol keys', () => new Map([[Symbol('s'), 1], [Symbol('t'), 2]]), null],
  ['Map object key', () => new Map([[{}, 1]]), 'd15:[object Object]i1ee'],
  ['nested', () => ({ a: { c: [1, { z: Buffer.from('x'), y: 'y' }] } }), 'd1:ad1:cli1ed1:y1:y1:z1:xeeee'],
  ['cyclic', () => { const o = { a: 1 }; o.self = o; return o }, null],
  ['deep list (stack overflow)', () => { let v = []; for (let i = 0; i < 200000; i++) v = [v]; return v }, null]
]

test('encoder table rows (docs/compatibility.md): same bytes or same error as bencode@2', () => {
  for (const [label, make, expected] of ENCODER_ROWS) {
    const ref = same(make, label)
    if (expected === null) assert.ok(ref.error, `${label}: bencode@2 was expected to throw`)
    else assert.equal(ref.bytes.toString('latin1'), expected, `${label}: bencode@2 itself`)
  }
})

test('getters and valueOf run in the same order and number of times', () => {
  function logged () {
    const log = []
    const o = {}
    let flip = 0
    // `t`, `id`, `values` and `flip`'s neighbours: keys the encoder reads through load sites of
    // their own, and keys it reads through `obj[key]`.
    for (const k of ['b', 'a', 'c', '10', 'flip', 't', 'id', 'values']) {
      Object.defineProperty(o, k, {
        enumerable: true,
        get () {
          log.push('get ' + k)
          if (k === 'flip') return flip++ === 0 ? 1 : null // non-null, then null: key without value
          if (k === 'c') return [{ valueOf () { log.push('valueOf'); return 2 ** 40 + 0.5 } }]
          return k
        }
      })
    }
    const arr = []
    Object.defineProperty(arr, 0, { enumerable: true, get () { log.push('get [0]'); return new Number(3) } })
    arr.length = 2
    o.list = arr
    const num = new Number(5)
    num.valueOf = () => { log.push('Number#valueOf'); return 1.25 }
    o.num = num
    const m = new Map([['x', 1]])
    const get = m.get
    m.get = function (k) { log.push('Map#get ' + k); return get.call(this, k) }
    o.map = m
    return { o, log }
  }
  const a = logged()
  const b = logged()
  const ref = quietly(() => bencode.encode(a.o))
  const got = quietly(() => encode(b.o))
  assert.equal(got.toString('latin1'), ref.toString('latin1'))
  assert.deepEqual(b.log, a.log)
  assert.ok(a.log.length > 10)
})

test('errors thrown by getters propagate unchanged', () => {
  const make = () => ({ a: 1, get b () { throw new RangeError('from getter') } })
  const ref = outcome(() => bencode.encode(make()))
  const got = outcome(() => encode(make()))
  assert.equal(got.name, 'RangeError')
  assert.equal(got.message, ref.message)
})

test('Encoder: slab reuse, growth, and buffers that stay valid', () => {
  const e = new Encoder(16)
  const big = { v: Buffer.alloc(100000, 1), s: 'é'.repeat(30000), n: [1, 2, 3] }
  const n1 = e.encode(big)
  assert.equal(Buffer.from(e.buf.subarray(0, n1)).toString('latin1'), bencode.encode(big).toString('latin1'))
  const n2 = e.encode({ y: 'q' })
  assert.equal(e.buf.subarray(0, n2).toString('latin1'), 'd1:y1:qe')
  assert.equal(e.encode(null), 0)
  // encode() hands out a copy that the next call must not change
  const kept = encode({ a: 'first' })
  encode({ a: 'other' })
  assert.equal(kept.toString(), 'd1:a5:firste')
  // a slab that grew past its keep limit is replaced at the next call
  e.encode(Buffer.alloc(3 << 20))
  e.encode(1)
  assert.ok(e.buf.length < (1 << 20))
  assert.equal(e.buf.subarray(0, 3).toString(), 'i1e')
})

test('Encoder: re-entrant calls from a getter (bencode@2 allows them)', () => {
  const e = new Encoder()
  let inner = null
  const value = {
    a: Buffer.alloc(50, 0x61),
    get b () {
      const n = e.encode({ nested: ['x', 1] })
      inner = Buffer.from(e.buf.subarray(0, n))
      encode({ alsoShared: 1 })
      return 'B'
    },
    c: 3
  }
  const n = e.encode(value)
  assert.equal(inner.toString(), 'd6:nestedl1:xi1eee')
  assert.equal(e.buf.subarray(0, n).toString(), 'd1:a50:' + 'a'.repeat(50) + '1:b1:B1:ci3ee')
  let nested = null
  const viaFn = encode({ get k () { nested = encode(['in']); return 'v' } })
  assert.equal(viaFn.toString(), 'd1:k1:ve')
  assert.equal(nested.toString(), 'l2:ine')
})

test('encode(data, buffer, offset) and encode.bytes follow bencode@2', () => {
  const a = Buffer.alloc(12, 0x2e)
  const b = Buffer.alloc(12, 0x2e)
  assert.equal(bencode.encode({ x: 1 }, a, 3), a)
  assert.equal(encode({ x: 1 }, b, 3), b)
  assert.equal(b.toString('latin1'), a.toString('latin1'))
  assert.equal(encode.bytes, bencode.encode.bytes)
  const small = Buffer.alloc(4)
  encode('longer than four', small)
  assert.equal(small.toString(), '16:l')
})

// ---- seeded random differential -------------------------------------------------------------

const { rng } = require('./harness/rng')

const CHARS = ['a', 'b', 'z', 'A', '0', '9', ' ', ':', 'é', 'ÿ', '\u0100', '中', '\uFF61', '\uD800', '\uDFFF', '\u{1F600}', '\u{10000}', '\0', '\x7f', '\x80']
const NUMBERS = [0, -0, 1, -1, 9, 10, 99, 100, 255, 65535, 2147483647, -2147483648, 2147483648, -2147483649,
  4294967295, 4294967296, 2 ** 40, -(2 ** 40), 2 ** 52 + 1, 2 ** 53, 2 ** 53 + 2, 2 ** 60, 2 ** 61, -(2 ** 62), 2 ** 62,
  2 ** 63, 2 ** 64, 1e20, 1e21, 1e300, 0.5, -0.5, 1.5, 3.999, -7.25, 1e-7, NaN, Infinity, -Infinity, Number.EPSILON]

function genString (r) {
  const n = r() < 0.1 ? 60 + Math.floor(r() * 80) : Math.floor(r() * 8)
  let s = ''
  for (let i = 0; i < n; i++) s += r() < 0.7 ? CHARS[Math.floor(r() * 6)] : CHARS[Math.floor(r() * CHARS.length)]
  return s
}

function genKey (r) {
  const x = r()
  if (x < 0.2) return String(Math.floor(r() * 1000)) // integer-like: JS orders these first
  if (x < 0.25) return ['-1', '01', '4294967295', '4294967294', '1.5', '__proto__', 'constructor', 'toString'][Math.floor(r() * 8)]
  return genString(r)
}

function genBytes (r) {
  const n = r() < 0.15 ? 33 + Math.floor(r() * 300) : Math.floor(r() * 24)
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256)
  return b
}

function genLeaf (r) {
  const x = r()
  if (x < 0.2) return genString(r)
  if (x < 0.35) return genBytes(r)
  if (x < 0.55) return r() < 0.5 ? NUMBERS[Math.floor(r() * NUMBERS.length)] : Math.floor((r() - 0.5) * 2 ** (1 + Math.floor(r() * 64)))
  if (x < 0.6) return (r() - 0.5) * 1e6
  if (x < 0.65) return r() < 0.5
  if (x < 0.7) return [null, undefined, 5n, Symbol('q'), function f () {}][Math.floor(r() * 5)]
  if (x < 0.8) {
    const src = genBytes(r)
    const ab = new ArrayBuffer(src.length + 16)
    new Uint8Array(ab).set(src, 8)
    const off = 8 - Math.floor(r() * 8)
    const kinds = [
      () => new Uint8Array(ab, off, src.length),
      () => new Uint16Array(ab, off & ~1, (src.length >> 1)),
      () => new Int32Array(ab, off & ~3, (src.length >> 2)),
      () => new Float64Array(ab, 0, (src.length >> 3)),
      () => new DataView(ab, off, src.length),
      () => ab.slice(off, off + src.length),
      () => Buffer.from(ab, off, src.length)
    ]
    return kinds[Math.floor(r() * kinds.length)]()
  }
  if (x < 0.85) return [new Number(NUMBERS[Math.floor(r() * NUMBERS.length)]), new Boolean(r() < 0.5), new Date(0)][Math.floor(r() * 3)]
  if (x < 0.86) return new String('boxed') // bencode@2 throws a TypeError; so must we
  return genString(r)
}

function genValue (r, depth) {
  const x = r()
  if (depth > 4 || x < 0.45) return genLeaf(r)
  const n = Math.floor(r() * 7)
  if (x < 0.6) {
    const a = []
    for (let i = 0; i < n; i++) a.push(genValue(r, depth + 1))
    if (r() < 0.2) a.length += 2 // trailing holes
    if (r() < 0.2) delete a[0]
    return a
  }
  if (x < 0.85) {
    const o = r() < 0.1 ? Object.create(null) : {}
    for (let i = 0; i < n; i++) {
      const k = genKey(r)
      if (k === '__proto__') Object.defineProperty(o, k, { value: genValue(r, depth + 1), enumerable: true, writable: true, configurable: true })
      else o[k] = genValue(r, depth + 1)
    }
    return o
  }
  if (x < 0.92) {
    const m = new Map()
    for (let i = 0; i < n; i++) {
      const y = r()
      const k = y < 0.6 ? genKey(r) : y < 0.8 ? Math.floor(r() * 100) : y < 0.95 ? genBytes(r) : null
      m.set(k, genValue(r, depth + 1))
    }
    return m
  }
  const s = new Set()
  for (let i = 0; i < n; i++) s.add(genValue(r, depth + 1))
  return s
}

test('seeded random values: same bytes or same error as bencode@2', { timeout: 120000 }, () => {
  const ITER = 4000
  let errors = 0
  for (let seed = 1; seed <= ITER; seed++) {
    // Regenerating from the seed gives each encoder a fresh, identical value.
    const make = () => genValue(rng(seed), 0)
    const ref = same(make, `seed ${seed}`)
    if (ref.error) errors++
  }
  // The generator must exercise the throwing paths, but not mostly.
  assert.ok(errors > 10 && errors < ITER / 4, `errors: ${errors}`)
})

// ---- the once-per-process warning ------------------------------------------------------------

// Runs the encoder at modulePath on each value of the list produced by `valuesSrc` in a fresh
// process with console.warn/console.trace recorded; returns the recorded calls and outputs.
function warningsOf (modulePath, isOurs, valuesSrc) {
  const script = `
    const calls = []
    console.warn = (...args) => calls.push(['warn', ...args])
    console.trace = (...args) => calls.push(['trace', ...args])
    const m = require(${JSON.stringify(modulePath)})
    const enc = m.encode
    const values = ${valuesSrc}
    const outs = []
    for (const v of values) {
      try { outs.push(enc(v).toString('latin1')) } catch (e) { outs.push('throws ' + e.message) }
      calls.push(['after one value'])
    }
    process.stdout.write(JSON.stringify({ calls, outs }))
  `
  const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 })
  assert.equal(res.status, 0, res.stderr)
  return JSON.parse(res.stdout)
}

test('float warning: same console.warn arguments and console.trace, once per module instance', { timeout: 120000 }, () => {
  const scenarios = [
    '[1, 2 ** 53, -0, 1.5, 2.5, 7]',
    '[[true, 1.5]]',
    '[false]',
    '[new Number(5)]',
    '[new Boolean(false)]',
    '[{ a: 2 ** 60 }, NaN]',
    '[NaN]',
    '[-Infinity]',
    '[{ valueOf () { return 1 } }, 2 ** 62]',
    '[1e21]',
    '[[0, -0, 2147483647, -2147483648, 2 ** 31, 2 ** 52 + 1], 3.25]',
    '[new Map([[1, 0.1]])]'
  ]
  for (const src of scenarios) {
    const ref = warningsOf(BENCODE_PATH, false, src)
    const got = warningsOf(ENCODE_PATH, true, src)
    assert.deepEqual(got, ref, src)
  }
  // and the reference really warns where docs/compatibility.md ("Integers" of "The encoder") says, e.g. for booleans
  const ref = warningsOf(BENCODE_PATH, false, '[true]')
  assert.deepEqual(ref.calls[0], ['warn', 'WARNING: Possible data corruption detected with value "true":',
    'Bencoding only defines support for integers, value was converted to "1"'])
  assert.deepEqual(ref.calls[1], ['trace'])
})

test('float warning flag is per module instance, shared by all Encoders', () => {
  const script = `
    const calls = []
    console.warn = (...a) => calls.push(a[0])
    console.trace = () => {}
    const { Encoder, encode } = require(${JSON.stringify(ENCODE_PATH)})
    new Encoder().encode(0.5)
    encode(1.5)
    new Encoder().encode(2.5)
    delete require.cache[${JSON.stringify(ENCODE_PATH)}]
    require(${JSON.stringify(ENCODE_PATH)}).encode(3.5)
    process.stdout.write(JSON.stringify(calls))
  `
  const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 })
  assert.equal(res.status, 0, res.stderr)
  assert.deepEqual(JSON.parse(res.stdout), [
    'WARNING: Possible data corruption detected with value "0.5":',
    'WARNING: Possible data corruption detected with value "3.5":'
  ])
})
