'use strict'
// The receive path is chosen from what the runtime is (lib/native.js), not from finding libuv's
// symbols: Node's loop only under Node, the runtime thread elsewhere. Bun and Deno themselves run
// in scripts/test-other-runtimes.js; here a Node child pretends to be them (their globals, set
// before the package loads), which is what the choice reads.
const test = require('node:test')
const assert = require('node:assert')
const dgram = require('dgram')
const { runChild } = require('./harness')
const krpc = require('..')
const native = require('../lib/native')

// A round trip in a child, then destroy(); prints the client's receivePath. The child must end by
// itself (runChild kills it after timeoutMs).
const ROUND_TRIP = `
  const krpc = require('.')
  const server = krpc()
  server.on('query', (q, peer) => server.response(peer, q, { ok: 1 }))
  server.bind(0, '127.0.0.1', () => {
    const client = krpc()
    const before = client.receivePath
    client.query({ host: '127.0.0.1', port: server.address().port }, { q: 'ping', a: {} }, (err, m) => {
      console.log(JSON.stringify({ ok: !err && m.r.ok === 1, before, after: client.receivePath, server: server.receivePath }))
      client.destroy()
      server.destroy()
    })
  })`

test('under Node the socket is watched by Node\'s own loop', () => {
  assert.strictEqual(native.runtime, 'node')
  const rpc = krpc()
  try {
    assert.strictEqual(rpc.receivePath, process.env.KRPC_RECEIVE_ON_RUNTIME === '1' ? 'runtime' : 'loop')
  } finally {
    rpc.destroy()
  }
})

test('receivePath is not enumerable and says "socket" for a user-supplied socket', () => {
  const socket = dgram.createSocket('udp4')
  const rpc = krpc({ socket })
  try {
    assert.strictEqual(rpc.receivePath, 'socket')
    assert.ok(!Object.keys(rpc).includes('receivePath'))
    assert.ok(!Object.keys(Object.getPrototypeOf(rpc)).includes('receivePath'))
  } finally {
    rpc.destroy()
  }
})

test('an engine made without the loop trigger reads on the runtime thread, before and after bind', () => {
  const engine = new native.Engine(false)
  assert.strictEqual(engine.receivePath(), 'runtime')
  assert.strictEqual(engine.bind(0, '127.0.0.1', () => {}), 0)
  assert.strictEqual(engine.receivePath(), 'runtime')
  engine.close()
  assert.strictEqual(engine.receivePath(), 'runtime', 'the path it was bound with, after close')
  const onLoop = new native.Engine(false, true)
  assert.strictEqual(onLoop.receivePath(), 'loop')
  onLoop.close()
})

for (const [what, env, setup, expected] of [
  ['Node', {}, '', 'loop'],
  ['Node, KRPC_RECEIVE_ON_RUNTIME=1', { KRPC_RECEIVE_ON_RUNTIME: '1' }, '', 'runtime'],
  ['Node, KRPC_RECEIVE_ON_RUNTIME=0', { KRPC_RECEIVE_ON_RUNTIME: '0' }, '', 'loop'],
  ['a runtime with a Bun global', {}, 'globalThis.Bun = { version: "test" };', 'runtime'],
  ['a runtime with a Deno global', {}, 'globalThis.Deno = { version: {} };', 'runtime'],
  ['a runtime that names no libuv', {}, 'Object.defineProperty(process, "versions", { value: { node: "99.0.0" } });', 'runtime']
]) {
  test(`receive path under ${what}: ${expected}; round trip, then the process ends by itself`, async () => {
    const r = await runChild(setup + ROUND_TRIP, { env: { KRPC_RECEIVE_ON_RUNTIME: '', ...env }, timeoutMs: 10000 })
    assert.ok(!r.timedOut, `the process did not end by itself\n${r.stdout}\n${r.stderr}`)
    assert.strictEqual(r.code, 0, r.stderr)
    assert.deepStrictEqual(r.json, { ok: true, before: expected, after: expected, server: expected }, r.stdout + r.stderr)
  })
}
