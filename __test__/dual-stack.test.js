'use strict'
// `type: 'udp6', ipv6Only: false` (added): one socket on `::` for both families. IPv4 senders
// are reported as plain dotted addresses with family IPv4; IPv4 hosts are sent to as mapped
// addresses; the reply-source rule holds across `1.2.3.4` / `::ffff:1.2.3.4`. Without the option,
// udp6 is as before (ipv6.test.js). Reruns itself on the runtime thread's receive path.
const test = require('node:test')
const assert = require('node:assert/strict')
const RPC = require('..')
const { rawSocket, hasIpv6Loopback, nextMessage, tick } = require('./harness/loopback')
const { rerunOnRuntimePath } = require('./harness/receive-paths')

const tidOf = buf => buf.subarray(buf.indexOf('1:t2:') + 5, buf.indexOf('1:t2:') + 7)
const reply = tid => Buffer.concat([Buffer.from('d1:rd2:id1:xe1:t2:'), tid, Buffer.from('1:y1:re')])

async function dual (t, opts = {}) {
  if (!await hasIpv6Loopback()) { t.skip('no IPv6 loopback on this machine'); return null }
  const rpc = RPC({ type: 'udp6', ipv6Only: false, timeout: 1000, ...opts })
  await new Promise(resolve => rpc.bind(0, resolve))
  const v4 = await rawSocket('udp4', '127.0.0.1')
  const v6 = await rawSocket('udp6', '::1')
  t.after(() => { rpc.destroy(); v4.close(); v6.close() })
  return { rpc, v4, v6, port: rpc.address().port }
}

test('dual stack: binds :: and answers queries from 127.0.0.1 and ::1 on one port; an IPv4 sender is dotted, family IPv4', async t => {
  const s = await dual(t)
  if (!s) return
  assert.deepEqual([s.rpc.address().address, s.rpc.address().family], ['::', 'IPv6'])
  const seen = []
  s.rpc.on('query', (query, rinfo) => {
    seen.push(rinfo)
    s.rpc.response(rinfo, query, { id: Buffer.from('srv') })
  })
  const q = Buffer.from('d1:q4:ping1:t2:aa1:y1:qe')
  s.v4.send(q, s.port, '127.0.0.1')
  const [r4, from4] = await nextMessage(s.v4)
  s.v6.send(q, s.port, '::1')
  const [r6, from6] = await nextMessage(s.v6)
  assert.equal(r4.toString(), 'd1:rd2:id3:srve1:t2:aa1:y1:re')
  assert.equal(r6.toString(), 'd1:rd2:id3:srve1:t2:aa1:y1:re')
  assert.equal(from4.port, s.port)
  assert.equal(from4.address, '127.0.0.1')
  assert.equal(from6.address, '::1')
  assert.deepEqual(seen.map(r => [r.address, r.family, r.port]), [
    ['127.0.0.1', 'IPv4', s.v4.address().port],
    ['::1', 'IPv6', s.v6.address().port]
  ])
  assert.deepEqual(Object.keys(seen[0]), ['address', 'family', 'port', 'size'])
})

test('dual stack: queries out to 127.0.0.1, ::ffff:127.0.0.1 and ::1 complete with their replies; rinfo of the IPv4 replies is dotted', async t => {
  const s = await dual(t)
  if (!s) return
  const results = []
  for (const [host, peer] of [['127.0.0.1', s.v4], ['::ffff:127.0.0.1', s.v4], ['::FFFF:7f00:1', s.v4], ['::1', s.v6]]) {
    const done = new Promise(resolve => s.rpc.query({ host, port: peer.address().port }, { q: 'ping' }, (...a) => resolve(a)))
    const [buf, from] = await nextMessage(peer)
    assert.equal(from.port, s.port)
    peer.send(reply(tidOf(buf)), from.port, from.address)
    const [err, res, rinfo] = await done
    results.push([host, err, res && res.r.id.toString(), rinfo.address, rinfo.family])
  }
  assert.deepEqual(results, [
    ['127.0.0.1', null, 'x', '127.0.0.1', 'IPv4'],
    ['::ffff:127.0.0.1', null, 'x', '127.0.0.1', 'IPv4'],
    ['::FFFF:7f00:1', null, 'x', '127.0.0.1', 'IPv4'],
    ['::1', null, 'x', '::1', 'IPv6']
  ])
  assert.equal(s.rpc.stats().wrongSource, 0)
})

test('dual stack: the default rule (reply from the queried IP) holds across families and spellings', async t => {
  const s = await dual(t)
  if (!s) return
  const warnings = []
  s.rpc.on('warning', e => warnings.push(e.message))
  // Queried as mapped IPv4, answered from ::1; queried as ::1, answered from 127.0.0.1.
  const cases = [['::ffff:127.0.0.1', s.v4, s.v6, '::1'], ['::1', s.v6, s.v4, '127.0.0.1']]
  for (const [host, queried, impostor, impostorAddress] of cases) {
    const done = new Promise(resolve => s.rpc.query({ host, port: queried.address().port }, { q: 'ping' }, (...a) => resolve(a)))
    const [buf, from] = await nextMessage(queried)
    impostor.send(reply(tidOf(buf)), s.port, impostorAddress === '::1' ? '::1' : '127.0.0.1')
    await tick(50)
    assert.equal(s.rpc.inflight, 1, 'a reply from the other family does not complete it')
    queried.send(reply(tidOf(buf)), from.port, from.address)
    assert.equal((await done)[0], null)
  }
  assert.deepEqual(warnings, ['Out of order response', 'Out of order response'])
  assert.equal(s.rpc.stats().wrongSource, 2)
})

test('dual stack with matchPort: a mapped host and its dotted reply match on port too', async t => {
  const s = await dual(t, { matchPort: true })
  if (!s) return
  const other = await rawSocket('udp4', '127.0.0.1')
  t.after(() => other.close())
  const done = new Promise(resolve => s.rpc.query({ host: '::ffff:127.0.0.1', port: s.v4.address().port }, { q: 'ping' }, (...a) => resolve(a)))
  const [buf, from] = await nextMessage(s.v4)
  other.send(reply(tidOf(buf)), from.port, '127.0.0.1')
  await tick(50)
  assert.equal(s.rpc.inflight, 1)
  s.v4.send(reply(tidOf(buf)), from.port, '127.0.0.1')
  assert.equal((await done)[0], null)
})

test('udp6 without ipv6Only is as before: an IPv4 literal fails with send EINVAL; ipv6Only: true refuses IPv4 senders', async t => {
  if (!await hasIpv6Loopback()) return t.skip('no IPv6 loopback on this machine')
  const plain = RPC({ type: 'udp6', timeout: 100 })
  await new Promise(resolve => plain.bind(0, '::1', resolve))
  const err = await new Promise(resolve => plain.send({ host: '127.0.0.1', port: 9 }, { y: 'q' }, resolve))
  assert.equal(err.code, 'EINVAL')
  plain.destroy()

  const only = RPC({ type: 'udp6', ipv6Only: true })
  await new Promise(resolve => only.bind(0, resolve))
  let got = 0
  only.on('query', () => got++)
  const v4 = await rawSocket('udp4', '127.0.0.1')
  const v6 = await rawSocket('udp6', '::1')
  v4.send(Buffer.from('d1:q4:ping1:t2:aa1:y1:qe'), only.address().port, '127.0.0.1')
  v6.send(Buffer.from('d1:q4:ping1:t2:aa1:y1:qe'), only.address().port, '::1')
  await tick(100)
  assert.equal(got, 1, 'only the IPv6 sender reached it')
  assert.equal(only.stats().datagramsIn, 1)
  only.destroy(); v4.close(); v6.close()
})

rerunOnRuntimePath(__filename)
