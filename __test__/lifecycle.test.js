'use strict'
// Lifecycle against real consumers' habits (issue 10): a DHT node restarted on its fixed port, and shutdown with
// queries in flight whose callbacks query again. Each scenario runs in a child process (bounded in time) so a crash
// or a port still in use shows as a result, not as a dead test runner.
const { test } = require('node:test')
const assert = require('assert')
const path = require('path')
const dgram = require('dgram')
const { runChild } = require('./harness')

const FIXTURES = path.join(__dirname, 'fixtures')
const ROUNDS = 200

function freePort () {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4')
    s.on('error', reject)
    s.bind(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
  })
}

async function restart (impl, mode, env = {}) {
  const port = await freePort()
  const res = await runChild(null, { script: path.join(FIXTURES, 'lifecycle-restart.js'), args: [impl, String(ROUNDS), String(port), mode], env, timeoutMs: 60000 })
  assert.strictEqual(res.code, 0, `child exited ${res.code} ${res.signal || ''}\n${res.stderr}`)
  assert.ok(res.json, 'result line: ' + res.stdout)
  return res.json
}

// The reference (dgram) as the yardstick: its port is free when destroy's callback runs.
test('restart on a fixed port, reference: destroy(cb) then bind the same port in cb, 200 of 200', async t => {
  const r = await restart('ref', 'plain')
  t.diagnostic(JSON.stringify(r))
  assert.strictEqual(r.eaddrinuse, 0)
  assert.strictEqual(r.received, ROUNDS)
})

const PATHS = [['main loop', {}], ['runtime thread', { KRPC_RECEIVE_ON_RUNTIME: '1' }]]
const MODES = [
  ['plain', 'destroy(cb), idle socket'],
  ['pending', 'destroy(cb) with 20 queries in flight'],
  ['binding', 'destroy(cb) while the bind is in progress (a query queued behind it)'],
  ['socketclose', 'rpc.socket.close(cb) directly']
]
for (const [pathName, env] of PATHS) {
  for (const [mode, label] of MODES) {
    test(`restart on a fixed port (${pathName}): ${label}, then a new instance binds the same port in the callback: ${ROUNDS} of ${ROUNDS}`, async t => {
      const r = await restart('ours', mode, env)
      t.diagnostic(JSON.stringify(r))
      assert.strictEqual(r.rounds, ROUNDS)
      assert.strictEqual(r.eaddrinuse, 0, 'EADDRINUSE: the port was still held when the callback ran')
      assert.deepStrictEqual(r.otherErrors, [])
      // Every restarted socket receives: its descriptor number (often the previous one's) is watched.
      if (mode !== 'binding') assert.strictEqual(r.received, ROUNDS)
      // Nothing kept per round (the runtime thread's descriptors and the one inert socket exist after round 2).
      assert.ok(r.fdsAfter <= r.fdsEarly, `descriptors: ${r.fdsEarly} after round 2, ${r.fdsAfter} at the end`)
    })
  }
}

async function shutdown (impl, mode) {
  return runChild(null, { script: path.join(FIXTURES, 'lifecycle-shutdown.js'), args: [impl, mode], timeoutMs: 10000 })
}

// Issue 10, failure 1: a query made from a cancel callback inside destroy() was cancelled on the next tick, and the
// consumer's next query from that callback was "after destroy()" and threw out of process.nextTick.
for (const [mode, label] of [
  ['pings', '30 pings in flight to a silent peer, each callback pings the next of 150 peers'],
  ['forever', '30 pings in flight, each callback pings the same peer again, forever']
]) {
  test(`shutdown: ${label}, then destroy(): nothing thrown, the process exits by itself (as the reference's)`, async t => {
    const ref = await shutdown('ref', mode)
    const ours = await shutdown('ours', mode)
    t.diagnostic(`reference: exit ${ref.code} ${ref.stdout.trim()}; ours: exit ${ours.code} ${ours.stdout.trim()}`)
    for (const [name, res] of [['reference', ref], ['ours', ours]]) {
      assert.strictEqual(res.timedOut, false, `${name} did not exit by itself`)
      assert.strictEqual(res.stderr, '', `${name} printed: ${res.stderr}`)
      assert.strictEqual(res.code, 0, name)
      assert.deepStrictEqual(res.json, { destroyReturned: true, callbacks: 30, queries: 60, closed: true }, name)
    }
  })
}

test('shutdown: each callback pings twice: destroy() returns and the process exits (the reference loops inside destroy() forever)', async t => {
  const ref = await runChild(null, { script: path.join(FIXTURES, 'lifecycle-shutdown.js'), args: ['ref', 'twice'], timeoutMs: 1500 })
  t.diagnostic(`reference: timed out ${ref.timedOut}, ${ref.ms} ms`)
  assert.strictEqual(ref.timedOut, true, 'the reference loops forever')
  const ours = await shutdown('ours', 'twice')
  assert.strictEqual(ours.timedOut, false)
  assert.strictEqual(ours.stderr, '')
  assert.strictEqual(ours.code, 0)
  assert.deepStrictEqual(ours.json, { destroyReturned: true, callbacks: 30, queries: 90, closed: true })
})
