'use strict'
// `type: 'udp6'` (added): an IPv6 socket, on ::1. IPv4 behaviour is unchanged by it.
const test = require('node:test')
const assert = require('node:assert/strict')
const RPC = require('..')
const { hasIpv6Loopback } = require('./harness/loopback')


test('udp6: query and response between two instances on ::1, rinfo.family is IPv6', async (t) => {
  if (!await hasIpv6Loopback()) return t.skip('no IPv6 loopback on this machine')
  const server = RPC({ type: 'udp6' })
  const client = RPC({ type: 'udp6', timeout: 2000 })
  const seen = []
  server.on('query', (query, rinfo) => {
    seen.push(rinfo)
    server.response(rinfo, query, { id: Buffer.alloc(20, 7) })
  })
  await new Promise(resolve => server.bind(0, '::1', resolve))
  const address = server.address()
  assert.deepEqual([address.address, address.family], ['::1', 'IPv6'])
  assert.equal(client.socket.type, 'udp6')

  const [err, res, rinfo] = await new Promise(resolve => {
    const tid = client.query({ host: '::1', port: address.port }, { q: 'ping', a: { id: Buffer.alloc(20, 1) } }, (...args) => resolve(args))
    assert.equal(tid, 1)
  })
  assert.equal(err, null)
  assert.ok(res.r.id.equals(Buffer.alloc(20, 7)))
  assert.deepEqual(Object.keys(rinfo), ['address', 'family', 'port', 'size'])
  assert.equal(rinfo.address, '::1')
  assert.equal(rinfo.family, 'IPv6')
  assert.equal(rinfo.port, address.port)
  assert.equal(seen[0].family, 'IPv6')
  assert.equal(seen[0].address, '::1')
  assert.equal(client.inflight, 0)
  client.destroy()
  server.destroy()
})

test('udp6: an IPv4 literal on the IPv6 socket fails like dgram (send EINVAL) and the query times out', async (t) => {
  if (!await hasIpv6Loopback()) return t.skip('no IPv6 loopback on this machine')
  const rpc = RPC({ type: 'udp6', timeout: 100 })
  await new Promise(resolve => rpc.bind(0, '::1', resolve))
  const sendErr = await new Promise(resolve => rpc.send({ host: '127.0.0.1', port: 9 }, { y: 'q' }, resolve))
  assert.equal(sendErr.code, 'EINVAL')
  assert.equal(sendErr.message, 'send EINVAL 127.0.0.1:9')
  const [err] = await new Promise(resolve => rpc.query({ host: '127.0.0.1', port: 9 }, { q: 'ping' }, (...a) => resolve(a)))
  assert.equal(err.code, 'ETIMEDOUT')
  rpc.destroy()
})

test('udp4 is still the default: IPv4 peers work, ::1 fails with send EINVAL like dgram', async () => {
  const server = RPC()
  const client = RPC()
  assert.equal(server.socket.type, 'udp4')
  server.on('query', (q, rinfo) => server.response(rinfo, q, { ok: 1 }))
  await new Promise(resolve => server.bind(0, '127.0.0.1', resolve))
  const [err, res, rinfo] = await new Promise(resolve => client.query({ host: '127.0.0.1', port: server.address().port }, { q: 'ping' }, (...a) => resolve(a)))
  assert.equal(err, null)
  assert.equal(res.r.ok, 1)
  assert.equal(rinfo.family, 'IPv4')
  const sendErr = await new Promise(resolve => client.send({ host: '::1', port: 9 }, { y: 'q' }, resolve))
  assert.equal(sendErr.message, 'send EINVAL ::1:9')
  client.destroy()
  server.destroy()
})
