'use strict'
// Consumer-level regression:
//  (a) the 5 cases of k-rpc-socket's own test.js (mafintosh/k-rpc-socket@32ebe9d), re-created with node:test;
//  (b) k-rpc@5.1.0's own test.js (tape, 19 assertions), run in a child process whose require('k-rpc-socket') is
//      redirected to our package by a preload; a marker file proves that ours was loaded.
// Both run against OUR package; with KRPC_ONLY=ref they run against the reference instead (sanity check).
const { test } = require('node:test')
const assert = require('assert')
const path = require('path')
const fs = require('fs')
const os = require('os')
const dgram = require('dgram')
const { spawn } = require('child_process')
const { load, ROOT, ONLY } = require('./harness')

const IMPL = ONLY === 'ref' ? 'ref' : 'ours'
// Every instance is tracked and destroyed after each test, so a failing assertion never leaves a live (ref'd) timer.
const live = []
const rpc = opts => { const r = load(IMPL)(opts); live.push(r); return r }

async function withTimeout (ms, fn) {
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`did not finish within ${ms} ms`)), ms)
      fn(v => { clearTimeout(timer); resolve(v) }, e => { clearTimeout(timer); reject(e) })
    })
  } finally {
    for (const r of live.splice(0)) { try { if (!r.destroyed) r.destroy() } catch (e) {} }
  }
}

test(`k-rpc-socket test.js #1: query + response (${IMPL})`, { timeout: 5000 }, () => withTimeout(3000, (done, fail) => {
  const server = rpc()
  let queried = false
  server.on('query', function (query, peer) {
    try {
      queried = true
      assert.strictEqual(peer.address, '127.0.0.1')
      assert.strictEqual(query.q.toString(), 'hello_world')
      assert.deepStrictEqual(query.a, { hej: 10 })
      server.response(peer, query, { hello: 42 })
    } catch (e) { fail(e) }
  })
  server.bind(0, function () {
    const id = server.address().port
    const client = rpc()
    assert.strictEqual(client.inflight, 0)
    client.query({ host: '127.0.0.1', port: id }, { q: 'hello_world', a: { hej: 10 } }, function (err, res) {
      try {
        assert.strictEqual(client.inflight, 0)
        server.destroy()
        client.destroy()
        assert.ifError(err)
        assert.ok(queried)
        assert.deepStrictEqual(res.r, { hello: 42 })
        done()
      } catch (e) { fail(e) }
    })
    assert.strictEqual(client.inflight, 1)
  })
}))

test(`k-rpc-socket test.js #2: parallel query (${IMPL})`, { timeout: 5000 }, () => withTimeout(3000, (done, fail) => {
  const server = rpc()
  server.on('query', function (query, peer) {
    server.response(peer, query, { echo: query.a })
  })
  server.bind(0, function () {
    const id = server.address().port
    const client = rpc()
    const onEcho = expected => function (err, res) {
      try {
        assert.ifError(err)
        assert.deepStrictEqual(res.r, { echo: expected })
        if (client.inflight === 0) {
          client.destroy()
          server.destroy()
          done()
        }
      } catch (e) { fail(e) }
    }
    client.query({ host: '127.0.0.1', port: id }, { q: 'echo', a: 1 }, onEcho(1))
    client.query({ host: '127.0.0.1', port: id }, { q: 'echo', a: 2 }, onEcho(2))
    assert.strictEqual(client.inflight, 2)
  })
}))

test(`k-rpc-socket test.js #3: query + error (${IMPL})`, { timeout: 5000 }, () => withTimeout(3000, (done, fail) => {
  const server = rpc()
  server.on('query', function (query, peer) {
    server.error(peer, query, 'oh no')
  })
  server.bind(0, function () {
    const id = server.address().port
    const client = rpc()
    client.query({ host: '127.0.0.1', port: id }, { q: 'hello_world', a: { hej: 10 } }, function (err) {
      try {
        client.destroy()
        server.destroy()
        assert.ok(err)
        assert.strictEqual(err.message, 'oh no')
        done()
      } catch (e) { fail(e) }
    })
  })
}))

// The original queries example.com:12345 (a real DNS lookup and a real packet). Here the hostname is 'localhost'
// and the port is a bound loopback socket that never answers, so the DNS path is still exercised.
test(`k-rpc-socket test.js #4: timeout, hostname path with 'localhost' (${IMPL})`, { timeout: 5000 }, async () => {
  const silent = dgram.createSocket('udp4')
  await new Promise(resolve => silent.bind(0, '127.0.0.1', resolve))
  try {
    await withTimeout(3000, (done, fail) => {
      const socket = rpc({ timeout: 100 })
      socket.query({ host: 'localhost', port: silent.address().port }, { q: 'timeout' }, function (err) {
        try {
          socket.destroy()
          assert.ok(err)
          assert.strictEqual(err.message, 'Query timed out')
          done()
        } catch (e) { fail(e) }
      })
    })
  } finally {
    silent.close()
  }
})

test(`k-rpc-socket test.js #5: do not crash on empty string (${IMPL})`, { timeout: 5000 }, () => withTimeout(3000, (done, fail) => {
  const s = rpc()
  s.on('query', function () { fail(new Error('should not get a query')) })
  s.on('warning', function (err) {
    try {
      assert.ok(err instanceof Error, 'should emit a warning')
      s.destroy()
      done()
    } catch (e) { fail(e) }
  })
  const socket = dgram.createSocket('udp4')
  live.push({ destroy: () => socket.close() })
  s.bind(0, function () {
    socket.send(Buffer.alloc(0), 0, 0, s.address().port, '127.0.0.1')
  })
}))

test(`k-rpc@5.1.0 test.js (tape, 19 assertions) with require('k-rpc-socket') redirected to ${IMPL}`, { timeout: 30000 }, async () => {
  const testFile = path.join(ROOT, 'node_modules', 'k-rpc', 'test.js')
  assert.ok(fs.existsSync(testFile), 'node_modules/k-rpc/test.js is shipped in the k-rpc@5.1.0 tarball (run npm install)')
  const marker = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'krpc-marker-')), 'marker.txt')
  const target = IMPL === 'ref' ? require.resolve('k-rpc-socket') : ROOT
  const res = await new Promise(resolve => {
    const child = spawn(process.execPath, ['--require', path.join(__dirname, 'harness', 'redirect-krpc-socket.js'), testFile], {
      cwd: path.dirname(testFile),
      env: { ...process.env, KRPC_REDIRECT_TARGET: target, KRPC_MARKER: marker },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    let err = ''
    child.stdout.on('data', d => { out += d })
    child.stderr.on('data', d => { err += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), 25000)
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, out, err }) })
  })
  const markerText = fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8') : ''
  const info = `exit ${res.code} ${res.signal || ''}\n--- stdout\n${res.out}\n--- stderr\n${res.err}\n--- marker\n${markerText}`
  const resolvedTarget = require.resolve(target)
  assert.match(markerText, new RegExp(`redirected k-rpc-socket from .*k-rpc.index\\.js to ${resolvedTarget.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), info)
  assert.match(markerText, /loaded .*: true/, info)
  assert.match(res.out, /^# tests\s+19$/m, info)
  assert.match(res.out, /^# pass\s+19$/m, info)
  assert.doesNotMatch(res.out, /^not ok/m, info)
  assert.strictEqual(res.code, 0, info)
})
