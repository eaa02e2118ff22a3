// The ESM entry (index.mjs), reached the way an ES module consumer reaches it: by package name,
// through package.json's "exports" map (a package can import itself by name).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import path from 'node:path'
import { EventEmitter } from 'node:events'
import rpc, { RPC } from '@dwdht/krpc-socket'

const require = createRequire(import.meta.url)
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

test('the package name resolves to this package through "exports" (import: index.mjs, require: index.js)', async () => {
  // The namespace of index.mjs, not of index.js (which would have a default export only).
  const ns = await import('@dwdht/krpc-socket')
  assert.deepEqual(Object.keys(ns).sort(), ['RPC', 'default'])
  assert.equal(require.resolve('@dwdht/krpc-socket'), path.join(ROOT, 'index.js'))
  // import.meta.resolve is synchronous and unflagged from Node 20.6.
  if (typeof import.meta.resolve === 'function') {
    assert.equal(import.meta.resolve('@dwdht/krpc-socket'), pathToFileURL(path.join(ROOT, 'index.mjs')).href)
  }
})

test('the default export is the CommonJS constructor; RPC is the same function', () => {
  assert.equal(typeof rpc, 'function')
  assert.equal(rpc, require('..'))
  assert.equal(rpc, require('@dwdht/krpc-socket'))
  assert.equal(RPC, rpc)
  const instance = rpc()
  try {
    assert.ok(instance instanceof RPC)
    assert.ok(instance instanceof EventEmitter)
  } finally {
    instance.destroy()
  }
})

test('the ESM export has the typed additions (ref, unref, stats)', () => {
  const instance = new RPC()
  try {
    assert.equal(instance.unref(), instance)
    assert.equal(instance.ref(), instance)
    assert.equal(typeof instance.stats().datagramsIn, 'number')
  } finally {
    instance.destroy()
  }
})

test('loopback ping round trip through the ESM import', { timeout: 5000 }, async () => {
  const server = rpc({ timeout: 1000 })
  const client = new RPC({ timeout: 1000 })
  const id = Buffer.alloc(20, 's')
  let timer
  try {
    const seen = await new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error('no reply within 3 s')), 3000)
      server.on('warning', reject)
      client.on('warning', reject)
      server.on('query', (query, rinfo) => {
        if (String(query.q) !== 'ping') return server.error(rinfo, query, [204, 'Method Unknown'])
        server.response(rinfo, query, { id })
      })
      server.bind(0, '127.0.0.1', () => {
        const port = server.address().port
        const tid = client.query({ host: '127.0.0.1', port, id }, { q: 'ping', a: { id: Buffer.alloc(20, 'c') } },
          (err, message, rinfo, request) => {
            if (err) return reject(err)
            resolve({ message, rinfo, request, port, tid })
          })
        assert.equal(typeof tid, 'number')
      })
    })
    assert.deepEqual(seen.message.r, { id })
    assert.equal(seen.message.y.toString(), 'r')
    assert.equal(seen.rinfo.address, '127.0.0.1')
    assert.equal(seen.rinfo.port, seen.port)
    assert.equal(seen.request.q, 'ping')
    assert.equal(seen.request.t.readUInt16BE(0), seen.tid)
    assert.equal(client.inflight, 0)
    assert.equal(client.stats().datagramsIn, 1)
  } finally {
    clearTimeout(timer)
    await Promise.all([
      new Promise(resolve => server.destroy(resolve)),
      new Promise(resolve => client.destroy(resolve))
    ])
  }
  assert.ok(server.destroyed && client.destroyed)
})
