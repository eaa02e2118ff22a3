'use strict'
// The per-datagram N-API functions (src/binding/hot.rs) are reachable by anyone through
// generated/binding.js: whatever they are given, they must throw, never crash or touch freed
// memory.
const test = require('node:test')
const assert = require('node:assert')
const v8 = require('v8')
const vm = require('vm')
const native = require('../lib/native')

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')
v8.setFlagsFromString('--no-expose-gc')

const hot = native.hotFunctions()

test('hot functions refuse anything but a live engine handle', () => {
  const engine = new native.Engine(false)
  const notHandles = [undefined, null, 0, 'x', {}, [], engine, Buffer.alloc(8), () => {}]
  for (const name of Object.keys(hot)) {
    for (const value of notHandles) {
      assert.throws(() => hot[name](value, 1, 2, 3, 4, 5), { name: 'TypeError', message: 'krpc-socket: not an engine handle' }, `${name}(${String(value)})`)
    }
  }
  engine.close()
})

test('hot functions reject arguments of the wrong type with a TypeError naming the function', () => {
  const engine = native.createEngine(false)
  assert.throws(() => engine.register(1, {}, 1, 1), { name: 'TypeError', message: 'krpc-socket: bad argument to register' })
  assert.throws(() => engine.release('1'), { name: 'TypeError', message: 'krpc-socket: bad argument to release' })
  assert.throws(() => engine.drain(new Uint8Array(4), Buffer.alloc(4)), { name: 'TypeError', message: 'krpc-socket: bad argument to drain' })
  assert.throws(() => engine.drain(new Int32Array(4), new Int32Array(4)), { name: 'TypeError', message: 'krpc-socket: bad argument to drain' })
  const shared = new ArrayBuffer(64)
  assert.throws(() => engine.drain(new Int32Array(shared, 0, 8), new Uint8Array(shared, 16, 32)), { name: 'TypeError', message: 'krpc-socket: bad argument to drain' }, 'overlapping views')
  assert.strictEqual(engine.drain(new Int32Array(shared, 0, 4), new Uint8Array(shared, 16, 32)), 0, 'disjoint views of one buffer are fine')
  assert.throws(() => engine.enqueue('abc', 0, 3, 1, '127.0.0.1'), { name: 'TypeError', message: 'krpc-socket: bad argument to enqueue' })
  assert.throws(() => engine.flush([]), { name: 'TypeError', message: 'krpc-socket: bad argument to flush' })
  assert.throws(() => engine.ingest(Buffer.from('de'), '127.0.0.1', 1, 'no'), { name: 'TypeError', message: 'krpc-socket: bad argument to ingest' })
  // Not a type error: an unbound engine has no socket, and an enqueue range past the buffer is EINVAL.
  assert.strictEqual(engine.enqueue(Buffer.alloc(4), 0, 4, 1, '127.0.0.1'), -9)
  assert.strictEqual(engine.lookup(1), -1)
  engine.close()
})

test('a host longer than the inline buffer is read whole (no truncation to a prefix that could match)', () => {
  const engine = native.createEngine(false)
  const long = '127.0.0.1' + 'x'.repeat(200)
  const registered = engine.register(0, long, 1, 6881)
  assert.ok(registered >= 0)
  const tid = registered % 65536
  // A reply from 127.0.0.1 must not match a query registered for the longer host text.
  engine.ingest(Buffer.from('d1:rd2:id20:abcdefghij0123456789e1:t2:' + String.fromCharCode(tid >> 8, tid & 255) + '1:y1:re', 'latin1'), '127.0.0.1', 6881, false)
  assert.strictEqual(engine.stats().wrongSource, 1)
  engine.close()
})

test('a handle keeps its engine state alive after the engine object is collected', async () => {
  let engine = native.createEngine(false)
  const handle = engine.hotHandle()
  const registered = engine.register(0, '127.0.0.1', 7, 6881)
  const tid = registered % 65536
  engine = null
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise(resolve => setImmediate(resolve))
  }
  assert.strictEqual(hot.lookup(handle, tid), Math.floor(registered / 65536))
  assert.strictEqual(hot.pendingBytes(handle), -1)
})

test('lib/native.d.ts declares exactly the hot functions the engine makes, and createEngine binds each', () => {
  const fs = require('fs')
  const path = require('path')
  const typings = fs.readFileSync(path.join(__dirname, '..', 'lib', 'native.d.ts'), 'utf8')
  const body = /export interface HotFunctions \{([\s\S]*?)\n\}/.exec(typings)
  assert.ok(body, 'lib/native.d.ts has interface HotFunctions')
  const declared = [...body[1].matchAll(/^ {2}(\w+) \(h: EngineHandle/gm)].map(m => m[1]).sort()
  assert.deepStrictEqual(declared, Object.keys(hot).sort())
  const engine = native.createEngine(false)
  for (const name of declared) assert.strictEqual(typeof engine[name], 'function', name)
  engine.close()
})
