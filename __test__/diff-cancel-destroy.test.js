'use strict'
// cancel() and destroy(), and what works after destroy() (docs/compatibility.md, "Cancel and destroy")
const { differential } = require('./harness')

differential('cancel(): default error without code, custom error/string passed through, no-ops, return value, slot reuse', async (RPC, t) => {
  const r = t.rpc({ timeout: 10000 })
  r.socket.send = function () {}
  t.watch(r, 'rpc', ['update', 'postupdate', 'response', 'warning'])
  const peer = t.name({ host: '127.0.0.1', port: 9 }, 'peer')
  const t1 = r.query(peer, { q: 'a' }, t.cb('q1'))
  const t2 = r.query(peer, { q: 'b' }, t.cb('q2'))
  r.query(peer, { q: 'c' }, t.cb('q3'))
  t.call('cancel(t2)', () => r.cancel(t2))
  t.state('after cancel(t2)', r, ['_ids', 'inflight'])
  t.call('cancel(t2) again', () => r.cancel(t2))
  t.call('cancel(12345) unknown', () => r.cancel(12345))
  const custom = Object.assign(new Error('custom reason'), { code: 'EMINE' })
  t.call('cancel(t1, custom)', () => r.cancel(t1, custom))
  t.log('custom error passed through unchanged (same object)', r.inflight)
  t.call('cancel(0)', () => r.cancel(0))
  t.state('after cancel(0)', r, ['_ids', 'inflight'])
  const t4 = r.query(peer, { q: 'd' }, t.cb('q4'))
  t.state('new query reuses the first free slot', r, ['_ids'])
  t.call('cancel(t4, "a string as error")', () => r.cancel(t4, 'a string as error'))
  const t5 = r.query(peer, { q: 'e' }, t.cb('q5'))
  t.call('cancel(t5, 0) (falsy -> default error)', () => r.cancel(t5, 0))
  t.call('cancel("5") (string tid does not match)', () => r.cancel('3'))
  t.state('end', r, ['_ids', 'inflight'])
  r.destroy()
})

differential('cancel() inside a callback and query() inside a cancel callback', async (RPC, t) => {
  const r = t.rpc({ timeout: 10000 })
  r.socket.send = function () {}
  t.watch(r, 'rpc', ['update', 'postupdate'])
  const peer = { host: '127.0.0.1', port: 9 }
  const t2 = r.query(peer, { q: 'b' }, t.cb('q2'))
  r.query(peer, { q: 'a' }, t.cb('q1', { onCall: () => { r.cancel(t2); t.log('inner query tid', r.query(peer, { q: 'inner' }, t.cb('inner'))) } }))
  r.cancel(2)
  t.state('after', r, ['_ids', 'inflight', '_tick'])
  r.destroy()
})

differential('destroy(): pending queries cancelled in slot order with update/postupdate; destroy(cb) later with no args; no close event', async (RPC, t) => {
  const r = t.rpc({ timeout: 10000 })
  t.watch(r, 'rpc')
  const peer = await t.peer('remote')
  const p = t.name({ host: '127.0.0.1', port: peer.port }, 'peer')
  r.query(p, { q: 'a' }, t.cb('q1', { inflightOf: r }))
  r.query(p, { q: 'b' }, t.cb('q2', { inflightOf: r }))
  r.query(p, { q: 'c' }, t.cb('q3', { inflightOf: r }))
  r.cancel(1)
  r.query(p, { q: 'd' }, t.cb('q4 (slot 0)', { inflightOf: r }))
  await peer.recv()
  await peer.recv()
  await peer.recv()
  await peer.recv()
  const socket = r.socket
  socket.on('close', () => t.log('(underlying socket close event)'))
  const done = new Promise(resolve => {
    t.call('destroy(cb)', () => r.destroy(function () { t.log('destroy cb', arguments.length, this === socket); resolve() }))
  })
  t.state('returned synchronously', r, ['destroyed', 'inflight', '_ids'])
  await t.wait(done, 1000)
  await t.sleep(20)
})

differential('after destroy(): query(ip) throws; send/response/error/address/bind throw; second destroy throws; cancel works; datagrams ignored', async (RPC, t) => {
  const r = t.rpc({ timeout: 10000 })
  t.watch(r, 'rpc')
  const peer = await t.peer('remote')
  await new Promise(resolve => r.bind(0, '127.0.0.1', resolve))
  const port = r.address().port
  t.namePort(port, 'rpc')
  const p = { host: '127.0.0.1', port: peer.port }
  await new Promise(resolve => r.destroy(resolve))
  t.state('destroyed', r)
  t.call('send()', () => r.send(p, { a: 1 }))
  t.call('response()', () => r.response(p, { t: Buffer.from('aa') }, {}))
  t.call('error()', () => r.error(p, { t: Buffer.from('aa') }, 'x'))
  t.call('address()', () => r.address())
  t.call('bind()', () => r.bind(0))
  t.call('cancel(1)', () => r.cancel(1))
  await peer.inject({ t: 'aa', y: 'q', q: 'ping' }, port) // the socket is closed: nothing
  await peer.quiet(30)
  t.state('end', r)
})

differential('after destroy(): query(ip) throws ERR_SOCKET_DGRAM_NOT_RUNNING (IP path) and the callback never fires by itself', async (RPC, t) => {
  // The reference leaks the slot (inflight stays 1); ours deliberately does not (differences.test.js). Compare only
  // what both agree on: the throw, and that no callback/event fires within 150 ms (timer stopped).
  const r = t.rpc({ timeout: 40 })
  t.watch(r, 'rpc')
  r.destroy()
  const cb = t.cb('late cb')
  t.call('query(ip) after destroy', () => r.query({ host: '127.0.0.1', port: 9 }, { q: 'late' }, cb))
  await t.sleep(150)
  t.log('callback calls', cb.calls)
})

differential('second destroy() throws ERR_SOCKET_DGRAM_NOT_RUNNING; after the socket closed its cb never fires', async (RPC, t) => {
  const r = t.rpc({ timeout: 10000 })
  r.socket.send = function () {}
  await new Promise(resolve => r.destroy(resolve))
  const cb = t.cb('second destroy cb')
  t.call('destroy() again', () => r.destroy(cb))
  await t.sleep(50)
  t.log('calls', cb.calls)
})

differential('second destroy() in the same tick: throws; its cb is attached to the still-open socket and runs on close', async (RPC, t) => {
  const r = t.rpc()
  r.destroy()
  const cb = t.cb('second destroy cb', { recordThis: false })
  t.call('destroy() again', () => r.destroy(cb))
  await t.sleep(50)
  t.log('calls', cb.calls)
})

differential('after destroy(): hostname query -> cb(Error("k-rpc-socket is destroyed")) with 1 arg, returns undefined', async (RPC, t) => {
  const r = t.rpc()
  t.watch(r, 'rpc')
  r.destroy()
  const cb = t.cb('hostname cb')
  t.call('query(localhost) after destroy', () => r.query({ host: 'localhost', port: 9 }, { q: 'x' }, cb))
  await t.wait(cb.called, 1000)
  t.state('end', r, ['inflight'])
})

differential('destroy() in the same tick as the first query: callback cancelled at once; listening may still follow; destroy cb runs', async (RPC, t) => {
  const peer = await t.peer('remote')
  const r = t.rpc()
  r.on('listening', () => t.log('listening event, destroyed =', r.destroyed))
  const cb = t.cb('query cb')
  r.query({ host: '127.0.0.1', port: peer.port }, { q: 'late' }, cb)
  const done = new Promise(resolve => r.destroy(() => { t.log('destroy cb'); resolve() }))
  t.log('destroy() returned')
  await t.wait(done, 1000)
  await t.sleep(30)
}, { })

// The reference leaks the slot of a query made from a cancel callback inside destroy() (`_ids`, `inflight`); ours
// registers nothing (differences.test.js). Everything else is compared: the tid returned, the send, no callback.
differential('destroy(): a query made by a cancel callback inside destroy() is sent, gets a tid and is never called back', async (RPC, t) => {
  const r = t.rpc()
  r.socket.send = function (buf) { t.log('socket.send', buf.toString('latin1')) }
  for (const ev of ['update', 'postupdate']) r.on(ev, () => t.log(ev))
  const peer = { host: '127.0.0.1', port: 9 }
  r.query(peer, { q: 'x' }, t.cb('outer', { onCall: () => { t.log('inner tid', r.query(peer, { q: 'inner' }, t.cb('inner'))) } }))
  r.query(peer, { q: 'y' }, t.cb('second'))
  r.destroy()
  t.state('after destroy', r, ['_tick', 'destroyed'])
  await t.sleep(30)
})

// Issue 10, failure 1: bittorrent-dht's k-bucket pings at shutdown. Every cancelled ping's callback pings the next
// candidate. The reference sends those pings into a socket that closes in the same tick (dgram drops them), never
// calls them back, and nothing is thrown; the process goes on (and exits by itself: lifecycle.test.js).
differential('destroy() with 30 pings in flight to a silent peer, each callback pinging the next of 150: nothing thrown, nothing more sent or called back', async (RPC, t) => {
  const silent = await t.peer('silent')
  const r = t.rpc({ timeout: 10000 })
  await new Promise(resolve => r.bind(0, '127.0.0.1', resolve))
  const peers = []
  for (let i = 0; i < 150; i++) peers.push({ host: '127.0.0.1', port: silent.port, id: Buffer.alloc(20, i) })
  let next = 0
  const calls = []
  const tids = []
  const ping = () => {
    if (next >= peers.length) return
    const index = next++
    tids.push(r.query(peers[index], { q: 'ping', a: { id: Buffer.alloc(20, 0xee) } }, (err, res, peer) => {
      calls.push(`${index} ${err && err.message} ${res} ${peer === peers[index]}`)
      ping()
    }))
  }
  for (let i = 0; i < 30; i++) ping()
  let arrived = 0
  for (let i = 0; i < 30; i++) if (await silent.recv(1000, { log: false })) arrived++
  t.log('pings that reached the peer before destroy()', arrived)
  const closed = new Promise(resolve => t.call('destroy(cb)', () => r.destroy(resolve)))
  t.log('callbacks during destroy()', calls.length, calls[0], calls[29])
  t.log('tids returned inside destroy()', tids.slice(30))
  t.state('after destroy', r, ['_tick', 'destroyed'])
  await t.wait(closed, 1000, 'destroy cb')
  await silent.quiet(60)
  t.log('callbacks in all', calls.length, 'pings made', next)
})

// One query per cancel: the reference puts it in the slot just freed, behind its loop. (Two per cancel make the
// reference's destroy() loop forever: differences.test.js.)
differential('destroy(): an update listener that queries again during destroy() gets a tid, no throw, no callback', async (RPC, t) => {
  const r = t.rpc()
  r.socket.send = function () {}
  const peer = { host: '127.0.0.1', port: 9 }
  r.on('update', () => { if (r.destroyed) t.log('update listener query', r.query(peer, { q: 'from update' }, t.cb('update query'))) })
  r.on('postupdate', () => { if (r.destroyed) t.log('postupdate', r._tick) })
  r.query(peer, { q: 'a' }, t.cb('a'))
  r.query(peer, { q: 'b' }, t.cb('b'))
  t.call('destroy()', () => r.destroy())
  await t.sleep(30)
})

differential('destroy() from inside a reply callback: the other pending queries are cancelled there, their re-queries get tids, nothing is thrown', async (RPC, t) => {
  const peer = await t.peer('remote')
  const r = t.rpc({ timeout: 10000 })
  await new Promise(resolve => r.bind(0, '127.0.0.1', resolve))
  const port = r.address().port
  const p = { host: '127.0.0.1', port: peer.port }
  const requery = label => () => t.log(label + ' re-query tid', r.query(p, { q: 'again' }, t.cb(label + ' re-query')))
  r.query(p, { q: 'first' }, t.cb('first', { onCall: () => t.call('destroy() in callback', () => r.destroy(() => t.log('destroy cb'))) }))
  r.query(p, { q: 'second' }, t.cb('second', { onCall: requery('second') }))
  r.query(p, { q: 'third' }, t.cb('third', { onCall: requery('third') }))
  const m = await peer.recv(1000, { log: false })
  await peer.recv(1000, { log: false })
  await peer.recv(1000, { log: false })
  await peer.inject({ t: m.msg.t, y: 'r', r: { id: Buffer.alloc(20, 1) } }, port)
  await peer.quiet(50)
  t.state('end', r, ['_tick', 'destroyed'])
})

differential('destroy() twice from a cancel callback: the inner destroy() closes the socket, a query after it throws out of the outer destroy()', async (RPC, t) => {
  const r = t.rpc()
  r.socket.send = function () {}
  const peer = { host: '127.0.0.1', port: 9 }
  r.query(peer, { q: 'a' }, t.cb('a', {
    onCall: () => {
      t.call('inner destroy()', () => r.destroy())
      t.log('query after the inner destroy()', r.query(peer, { q: 'late' }, t.cb('late')))
    }
  }))
  r.query(peer, { q: 'b' }, t.cb('b'))
  t.call('outer destroy()', () => r.destroy())
  await t.sleep(30)
})

differential('destroy(): a cancel callback querying a hostname gets Error("k-rpc-socket is destroyed") after the lookup; retrying on an IP from there throws (both)', async (RPC, t) => {
  const r = t.rpc()
  r.socket.send = function () {}
  const peer = { host: '127.0.0.1', port: 9 }
  const retry = t.cb('hostname cb', { onCall: () => r.query(peer, { q: 'retry' }, t.cb('retry')) })
  r.query(peer, { q: 'a' }, t.cb('a', { onCall: () => t.log('hostname query', r.query({ host: 'localhost', port: 9 }, { q: 'named' }, retry)) }))
  r.destroy()
  await t.wait(retry.called, 1000)
  await t.sleep(20)
})
