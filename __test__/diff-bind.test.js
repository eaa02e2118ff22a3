'use strict'
// bind / address / listening / socket errors (docs/compatibility.md, "Bind, address and socket errors")
const { differential, runChild, ROOT } = require('./harness')
const dgram = require('dgram')

const FORMS = [
  ['bind()', (r, cb) => r.bind()],
  ['bind(cb)', (r, cb) => r.bind(cb)],
  ['bind(0)', (r, cb) => r.bind(0)],
  ['bind(0, cb)', (r, cb) => r.bind(0, cb)],
  ["bind(0, '127.0.0.1')", (r, cb) => r.bind(0, '127.0.0.1')],
  ["bind(0, '127.0.0.1', cb)", (r, cb) => r.bind(0, '127.0.0.1', cb)],
  ["bind('0', cb) (string port)", (r, cb) => r.bind('0', cb)],
  ["bind({port: 0, address: '127.0.0.1'}, cb)", (r, cb) => r.bind({ port: 0, address: '127.0.0.1' }, cb)],
  ["bind({port: 0, address: '127.0.0.1', exclusive: true}, cb)", (r, cb) => r.bind({ port: 0, address: '127.0.0.1', exclusive: true }, cb)],
  ["bind(undefined, '127.0.0.1', cb)", (r, cb) => r.bind(undefined, '127.0.0.1', cb)],
  ["bind(0, 'localhost', cb) (hostname, IPv4 on udp4)", (r, cb) => r.bind(0, 'localhost', cb)]
]

for (const [label, fn] of FORMS) {
  differential(`bind form ${label}: returns undefined; 'listening' before the bind callback; callback gets no args, this = socket`, async (RPC, t) => {
    const r = t.rpc()
    r.on('listening', () => t.log('rpc listening event'))
    const cb = function () { t.log('bind callback', arguments.length, this === r.socket) }
    t.call(label, () => fn(r, cb))
    await t.sleep(30)
    const a = r.address()
    t.log('address().address / family / port is a positive integer', a.address, a.family, Number.isInteger(a.port) && a.port > 0)
    t.log('keys of address()', Object.keys(a))
    r.destroy()
  })
}

differential('address() before bind throws EBADF; a second bind() throws ERR_SOCKET_ALREADY_BOUND', async (RPC, t) => {
  const r = t.rpc()
  t.call('address() before bind', () => r.address())
  r.bind(0, '127.0.0.1')
  t.call('second bind() in the same tick', () => r.bind(0))
  await t.sleep(20)
  t.call('third bind() after listening', () => r.bind(0, '127.0.0.1', () => t.log('never')))
  await t.sleep(20)
  r.destroy()
})

differential('implicit bind by the first query: bind() right after throws; listening comes asynchronously; address() is 0.0.0.0', async (RPC, t) => {
  const r = t.rpc({ timeout: 100 })
  r.on('listening', () => { const a = r.address(); t.log('listening event; address', a.address, a.family) })
  r.query({ host: '127.0.0.1', port: 9 }, { q: 'x' }, () => {})
  t.log('query returned (listening not yet emitted)')
  t.call('bind(6881) right after the first query', () => r.bind(6881))
  await t.sleep(30)
  r.destroy()
})

differential('implicit bind by send(): listening is emitted once', async (RPC, t) => {
  const peer = await t.peer('remote')
  const r = t.rpc()
  t.watch(r, 'rpc', ['listening', 'warning', 'error'])
  r.send({ host: '127.0.0.1', port: peer.port }, { a: 1 })
  r.send({ host: '127.0.0.1', port: peer.port }, { a: 2 })
  await peer.recv()
  await peer.recv()
  await t.sleep(10)
  t.log('address', r.address().address)
  r.destroy()
})

differential('EADDRINUSE -> "error" event (not warning), no listening', async (RPC, t) => {
  const holder = dgram.createSocket('udp4')
  await new Promise(resolve => holder.bind(0, resolve))
  t.onCleanup(() => holder.close())
  const port = holder.address().port
  t.namePort(port, 'taken')
  const r = t.rpc()
  t.watch(r, 'rpc', ['error', 'warning', 'listening'])
  const cb = t.cb('bind cb')
  t.call('bind(taken port)', () => r.bind(port, cb))
  await t.sleep(60)
  t.log('bind cb calls', cb.calls)
  t.call('destroy after a failed bind', () => r.destroy())
})

differential('EADDRINUSE without an error listener -> uncaught exception', async (RPC, t) => {
  const holder = dgram.createSocket('udp4')
  await new Promise(resolve => holder.bind(0, '127.0.0.1', resolve))
  t.onCleanup(() => holder.close())
  t.namePort(holder.address().port, 'taken')
  const r = t.rpc()
  r.bind(holder.address().port, '127.0.0.1')
  await t.sleep(60)
  t.call('destroy', () => r.destroy())
})

differential('EADDRNOTAVAIL (192.0.2.1, a bind that sends nothing) -> "warning"; no listening, no error', async (RPC, t) => {
  const r = t.rpc()
  t.watch(r, 'rpc', ['error', 'warning', 'listening'])
  r.bind(0, '192.0.2.1')
  await t.sleep(60)
  t.call('destroy', () => r.destroy())
})

differential("bind(0, '::1') on udp4 -> 'warning' EINVAL", async (RPC, t) => {
  const r = t.rpc()
  t.watch(r, 'rpc', ['error', 'warning', 'listening'])
  r.bind(0, '::1')
  await t.sleep(60)
  t.call('destroy', () => r.destroy())
})

differential('unresolvable bind host -> "warning" (getaddrinfo error; the name fails locally, nothing is sent)', async (RPC, t) => {
  const r = t.rpc()
  t.watch(r, 'rpc', ['error', 'warning', 'listening'])
  r.bind(0, 'x'.repeat(64) + '.invalid')
  await t.sleep(150)
  t.call('destroy', () => r.destroy())
})

differential('a socket bound before it is passed in: no listening event; address() works', async (RPC, t) => {
  const pre = dgram.createSocket('udp4')
  await new Promise(resolve => pre.bind(0, '127.0.0.1', resolve))
  t.namePort(pre.address().port, 'pre')
  const r = t.rpc({ socket: pre })
  t.watch(r, 'rpc', ['listening', 'warning', 'error'])
  await t.sleep(40)
  t.log('address()', r.address())
  r.destroy()
})

differential('udp6 socket: bind, address, listening', async (RPC, t) => {
  const r = t.rpc({ socket: dgram.createSocket('udp6') })
  t.watch(r, 'rpc', ['listening', 'warning', 'error'])
  await new Promise(resolve => r.bind(0, '::1', resolve))
  const a = r.address()
  t.log('address', a.address, a.family)
  r.destroy()
})

// As root, the child runs as nobody (65534), for whom port 80 is privileged.
const AS_ROOT = process.getuid && process.getuid() === 0
differential('EACCES (bind to port 80 as an unprivileged user) -> "error" (child process, as nobody when the tests run as root)', async (RPC, t) => {
  const impl = JSON.stringify(t.impl === 'ref' ? 'k-rpc-socket' : ROOT)
  const code = `const RPC = require(${impl}); const r = RPC();
    r.on('error', e => { console.log('error', e.code, e.syscall); r.destroy() });
    r.on('warning', e => { console.log('warning', e.code); r.destroy() });
    r.on('listening', () => { console.log('listening'); r.destroy() });
    r.bind(80, '127.0.0.1')`
  const res = await runChild(code, { timeoutMs: 2000, ...(AS_ROOT ? { uid: 65534, gid: 65534 } : {}) })
  t.log('output', res.stdout.trim(), res.code, res.timedOut)
}, { skip: !AS_ROOT && !port80IsPrivileged() ? 'port 80 is not privileged on this machine' : false })

function port80IsPrivileged () {
  try {
    return Number(require('fs').readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8')) > 80
  } catch {
    return true
  }
}
