'use strict'
// Timeouts (docs/compatibility.md, "Timeouts"). Timing is compared as booleans (in range or not), never raw numbers.
const { differential } = require('./harness')

differential('timeouts with timeout:100: every callback between 100 and ~125 ms (+ tolerance); (ETIMEDOUT, null, original peer); one shared error', async (RPC, t) => {
  const r = t.rpc({ timeout: 100 })
  r.socket.send = function (buf, o, l, port, host, cb) { if (cb) cb(null, l) } // nothing leaves the process
  const n = 40
  const results = []
  const peers = []
  await new Promise(resolve => {
    let left = n
    for (let i = 0; i < n; i++) {
      setTimeout(() => {
        const peer = { host: '127.0.0.1', port: 9, id: Buffer.alloc(20, i), extra: 'kept' + i }
        peers[i] = peer
        const t0 = process.hrtime.bigint()
        r.query(peer, { q: 'x' }, function (...args) {
          results[i] = { ms: Number(process.hrtime.bigint() - t0) / 1e6, args, self: this }
          if (--left === 0) resolve()
        })
      }, Math.floor(i * 100 / n))
    }
  })
  const first = results[0].args[0]
  t.log('error', first)
  t.log('all 3 args', results.every(x => x.args.length === 3))
  t.log('all the same error object', results.every(x => x.args[0] === first))
  t.log('res null', results.every(x => x.args[1] === null))
  t.log('3rd arg is the very peer object', results.every((x, i) => x.args[2] === peers[i]))
  t.log('min >= 95 ms', Math.min(...results.map(x => x.ms)) >= 95)
  t.log('max <= 125 ms + 60 ms tolerance', Math.max(...results.map(x => x.ms)) <= 185)
  t.state('end', r, ['inflight'])
  r.destroy()
}, { timing: true })

differential('timeouts: ordering inside one tick (cbA, update, postupdate, cbB, update, postupdate), slot order', async (RPC, t) => {
  const r = t.rpc({ timeout: 100 })
  r.socket.send = function () {}
  t.watch(r, 'rpc', ['update', 'postupdate', 'response', 'warning'])
  const peer = t.name({ host: '127.0.0.1', port: 9, id: Buffer.alloc(20, 1), extra: 'kept' }, 'peer')
  const a = t.cb('cbA', { inflightOf: r })
  const b = t.cb('cbB', { inflightOf: r })
  const c = t.cb('cbC', { inflightOf: r })
  r.query(peer, { q: 'a' }, a)
  r.query(peer, { q: 'b' }, b)
  r.query(peer, { q: 'c' }, c)
  r.cancel(1) // frees slot 0
  const d = t.cb('cbD (slot 0, created later, same tick)', { inflightOf: r })
  r.query(peer, { q: 'd' }, d)
  await t.wait(Promise.all([b.called, c.called, d.called]), 1000)
  r.destroy()
})

differential('timeouts: identity of ETIMEDOUT across instances; message/code; stays the same after many timeouts', async (RPC, t) => {
  const r1 = t.rpc({ timeout: 20 })
  const r2 = t.rpc({ timeout: 20 })
  for (const r of [r1, r2]) r.socket.send = function () {}
  const cb1 = t.cb('r1')
  const cb2 = t.cb('r2')
  r1.query({ host: '127.0.0.1', port: 9 }, {}, cb1)
  r2.query({ host: '127.0.0.1', port: 9 }, {}, cb2)
  await t.wait(Promise.all([cb1.called, cb2.called]), 1000)
  t.log('same object across instances', cb1.args[0][0] === cb2.args[0][0])
  const cb3 = t.cb('r1 again')
  r1.query({ host: '127.0.0.1', port: 9 }, {}, cb3)
  await t.wait(cb3.called, 1000)
  r1.destroy()
  r2.destroy()
})

differential('timeouts: timeout:1 (1 ms ticks) fires after about 4-6 ms', async (RPC, t) => {
  const r = t.rpc({ timeout: 1 })
  r.socket.send = function () {}
  const t0 = process.hrtime.bigint()
  const cb = t.cb('cb')
  r.query({ host: '127.0.0.1', port: 9 }, {}, cb)
  await t.wait(cb.called, 1000)
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  t.log('>= 3 ms', ms >= 3, '<= 60 ms', ms <= 60)
  r.destroy()
}, { timing: true })

differential('timeouts: default timeout (2000): callback after 2000-2500 ms (+ tolerance)', async (RPC, t) => {
  const r = t.rpc()
  r.socket.send = function () {}
  const t0 = Date.now()
  const cb = t.cb('cb')
  r.query({ host: '127.0.0.1', port: 9 }, {}, cb)
  await t.wait(cb.called, 2900)
  const ms = Date.now() - t0
  t.log('>= 1990 ms', ms >= 1990, '<= 2600 ms', ms <= 2600)
  r.destroy()
}, { parallel: true, runTimeout: 3200, testTimeout: 6000, timing: true })

differential('timeouts: a send that throws (bad port) still registers the request; it times out later', async (RPC, t) => {
  const r = t.rpc({ timeout: 40 })
  for (const port of [0, 70000, undefined, -1]) {
    const cb = t.cb(`port ${port} cb`)
    t.call(`query to port ${port}`, () => r.query({ host: '127.0.0.1', port }, { q: 'x' }, cb))
    t.state('after', r, ['inflight', '_tick'])
  }
  const cbs = t.cb('boxed String cb')
  t.call('query with a boxed String q', () => r.query({ host: '127.0.0.1', port: 9 }, { q: new String('x') }, cbs)) // eslint-disable-line no-new-wrappers
  t.state('after', r, ['inflight'])
  await t.sleep(150)
  t.state('end', r, ['inflight'])
  r.destroy()
})

differential('timeouts: the tick does nothing while inflight is 0; timer keeps running; queries later still time out', async (RPC, t) => {
  const r = t.rpc({ timeout: 40 })
  r.socket.send = function () {}
  await t.sleep(60)
  const cb = t.cb('cb')
  const t0 = Date.now()
  r.query({ host: '127.0.0.1', port: 9 }, {}, cb)
  await t.wait(cb.called, 1000)
  t.log('>= 35 ms', Date.now() - t0 >= 35)
  r.destroy()
})

differential('a timeout callback that throws: the exception is uncaught, and the requests after it in that tick still time out', async (RPC, t) => {
  const r = t.rpc({ timeout: 40 })
  r.socket.send = function () {}
  t.watch(r, 'rpc', ['update', 'postupdate'])
  const peer = { host: '127.0.0.1', port: 9 }
  r.query(peer, { q: 'a' }, t.cb('a', { onCall: () => { throw new Error('boom') } }))
  r.query(peer, { q: 'b' }, t.cb('b'))
  const c = t.cb('c')
  r.query(peer, { q: 'c' }, c)
  await t.wait(c.called, 1000)
  t.state('after', r)
})
