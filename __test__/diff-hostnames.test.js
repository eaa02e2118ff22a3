'use strict'
// Hostnames and IP families (docs/compatibility.md, "Hostnames and IP families")
// Robust to how `localhost` resolves: when it resolves to ::1 first, the reference sends on its udp4 socket and times
// out while ours resolves IPv4 (a deliberate difference), so those scenarios then record only what both agree on.
const { differential } = require('./harness')
const dns = require('dns')
const net = require('net')
const dgram = require('dgram')

const FAILING_NAME = 'x'.repeat(64) + '.invalid' // a 64-byte label: getaddrinfo fails locally, no DNS packet is sent
let localhostV4First = null
function localhostIsV4First () {
  if (localhostV4First !== null) return Promise.resolve(localhostV4First)
  return new Promise(resolve => dns.lookup('localhost', (err, address) => { localhostV4First = !err && address === '127.0.0.1'; resolve(localhostV4First) }))
}

differential("hostname peer 'localhost': returns undefined, inflight 0 until resolved, peer.id dropped, rinfo as 3rd arg", async (RPC, t) => {
  const v4 = await localhostIsV4First()
  const peer = await t.peer('remote')
  peer.autoReply(m => ({ t: m.t, y: 'r', r: { id: Buffer.alloc(20, 0xbb) } }), { log: v4 })
  const r = t.rpc({ timeout: 200 })
  if (v4) t.watch(r, 'rpc', ['update', 'postupdate', 'response', 'warning'])
  const cb = t.cb('cb', { recordThis: v4 })
  const ret = r.query({ host: 'localhost', port: peer.port, id: Buffer.alloc(20, 0xaa) }, { q: 'ping' }, v4 ? cb : (...a) => { cb.calls++; cb.args.push(a) })
  t.log('returned', ret, 'inflight right after', r.inflight)
  if (v4) await t.wait(cb.called, 1000)
  else { await t.sleep(400); t.log('callback called once', cb.calls === 1) }
  await t.sleep(10)
})

differential("hostname peer 'localhost' that never answers: the timeout reports the new {host: ip, port} peer (original fields dropped)", async (RPC, t) => {
  const v4 = await localhostIsV4First()
  const peer = await t.peer('remote')
  const r = t.rpc({ timeout: 60 })
  // Where localhost resolves to ::1 first, the two resolve it differently by design (ours in
  // the socket's family: 127.0.0.1; the reference: ::1, which then fails silently on its IPv4
  // socket): record only what both agree on there.
  let called
  const calledPromise = new Promise(resolve => { called = resolve })
  const cb = v4
    ? t.cb('cb')
    : (...args) => {
        t.log('cb', args.length, args[0].message, args[0].code, args[1], Object.keys(args[2]), net.isIP(args[2].host) !== 0, args[2].port === peer.port)
        called()
      }
  const original = t.name({ host: 'localhost', port: peer.port, id: Buffer.alloc(20, 1), extra: 'x' }, 'original')
  r.query(original, { q: 'ping' }, cb)
  if (v4) await peer.recv()
  await t.wait(v4 ? cb.called : calledPromise, 1000)
})

differential('DNS failure: cb(err) with exactly 1 argument, no update event, inflight unchanged', async (RPC, t) => {
  const r = t.rpc({ timeout: 200 })
  t.watch(r, 'rpc', ['update', 'postupdate', 'warning', 'error'])
  const cb = t.cb('cb')
  t.call('query(failing name)', () => r.query({ host: FAILING_NAME, port: 9 }, { q: 'ping' }, cb))
  t.state('right after', r, ['inflight', '_tick'])
  await t.wait(cb.called, 1000)
  t.state('after', r, ['inflight', '_tick'])
})

differential("isIP override that sends the first lookup of '127.0.0.1' through the DNS path: the inner query uses this.isIP again", async (RPC, t) => {
  const peer = await t.peer('remote')
  peer.autoReply(m => ({ t: m.t, y: 'r', r: { id: Buffer.alloc(20, 0xbb) } }))
  let first = true
  const r = t.rpc({ timeout: 200, isIP: h => { t.log('isIP called with', h); if (first && h === '127.0.0.1') { first = false; return 0 } return net.isIP(h) } })
  t.watch(r, 'rpc', ['update', 'postupdate', 'response', 'warning'])
  const cb = t.cb('cb')
  t.call('query', () => r.query({ host: '127.0.0.1', port: peer.port, id: Buffer.alloc(20, 0xaa) }, { q: 'ping', a: { x: 1 } }, cb))
  t.state('right after', r, ['inflight', '_tick'])
  await t.wait(cb.called, 1000)
  await t.sleep(10)
})

differential("isIP: () => true with host 'localhost': sent to the name (resolved by the socket), replies are 'Out of order', then a timeout", async (RPC, t) => {
  const peer = await t.peer('remote')
  peer.autoReply(m => ({ t: m.t, y: 'r', r: { ok: 1 } }))
  const r = t.rpc({ timeout: 100, isIP: () => true })
  t.watch(r, 'rpc', ['update', 'postupdate', 'response', 'warning'])
  const original = t.name({ host: 'localhost', port: peer.port }, 'original')
  const cb = t.cb('cb')
  t.call('query', () => r.query(original, { q: 'ping' }, cb))
  await t.wait(cb.called, 1000)
})

differential("'::1' on the default udp4 socket: query times out (send fails silently); send() callback gets EINVAL", async (RPC, t) => {
  const peer = await t.peer('remote6', { type: 'udp6' })
  const r = t.rpc({ timeout: 60 })
  const p = t.name({ host: '::1', port: peer.port }, 'peer')
  const cb = t.cb('query cb')
  r.query(p, { q: 'ping' }, cb)
  await t.wait(cb.called, 1000)
  const scb = t.cb('send cb')
  r.send({ host: '::1', port: peer.port }, { a: 1 }, scb)
  await t.wait(scb.called, 1000)
  await peer.quiet(20)
})

differential('udp6 socket: IPv6 peers work; plain IPv4 peer times out (send EINVAL); v4-mapped IPv4 works', async (RPC, t) => {
  const server = t.rpc({ socket: dgram.createSocket('udp6') })
  server.on('query', (q, rinfo) => { t.log('server got a query from', rinfo); server.response(rinfo, q, { ok: 1 }) })
  await new Promise(resolve => server.bind(0, '::', resolve))
  t.namePort(server.address().port, 'server')
  const client = t.rpc({ socket: dgram.createSocket('udp6'), timeout: 100 })
  t.watch(client, 'client', ['warning', 'response', 'update'])
  await new Promise(resolve => client.bind(0, '::', resolve))
  t.namePort(client.address().port, 'client')
  const port = server.address().port
  const cb1 = t.cb('query ::1')
  client.query({ host: '::1', port }, { q: 'ping' }, cb1)
  await t.wait(cb1.called, 1000)
  const cb2 = t.cb('query 127.0.0.1 over udp6')
  client.query({ host: '127.0.0.1', port }, { q: 'ping' }, cb2)
  await t.wait(cb2.called, 1000)
  const cb3 = t.cb('send 127.0.0.1 over udp6')
  client.send({ host: '127.0.0.1', port }, { a: 1 }, cb3)
  await t.wait(cb3.called, 1000)
  const cb4 = t.cb('query ::ffff:127.0.0.1')
  client.query({ host: '::ffff:127.0.0.1', port }, { q: 'ping' }, cb4)
  await t.wait(cb4.called, 1000)
})

differential('udp6 socket with a raw udp6 peer on ::1: exact bytes and rinfo', async (RPC, t) => {
  const peer = await t.peer('remote6', { type: 'udp6' })
  const r = t.rpc({ socket: dgram.createSocket('udp6'), timeout: 200 })
  t.watch(r, 'rpc', ['update', 'postupdate', 'response', 'warning', 'query'])
  await new Promise(resolve => r.bind(0, '::1', resolve))
  t.namePort(r.address().port, 'rpc')
  const cb = t.cb('cb')
  const tid = r.query({ host: '::1', port: peer.port }, { q: 'ping', a: { id: Buffer.alloc(20, 3) } }, cb)
  const got = await peer.recv()
  await peer.send({ t: got.msg.t, y: 'r', r: { id: Buffer.alloc(20, 4) } }, r.address().port, '::1')
  await t.wait(cb.called)
  await peer.inject({ t: 'qq', y: 'q', q: 'ping' }, r.address().port, '::1')
  t.log('tid', tid)
})
