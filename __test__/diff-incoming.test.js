'use strict'
// Incoming queries and malformed input (docs/compatibility.md: "What happens to each received datagram",
// steps 1-3, 5 and 6; "The decoder")
// Negative string lengths, nesting beyond what k-rpc-socket's stack allows and __proto__ keys are deliberate differences: differences.test.js.
const { differential } = require('./harness')

async function setup (t) {
  const peer = await t.peer('remote')
  const r = t.rpc({ timeout: 1000 })
  t.watch(r, 'rpc')
  await new Promise(resolve => r.bind(0, '127.0.0.1', resolve))
  t.namePort(r.address().port, 'rpc')
  return { peer, r, port: r.address().port }
}

const INPUTS = [
  ['minimal query d1:y1:qe', 'd1:y1:qe'],
  ['full query', { t: 'zz', y: 'q', q: 'ping', a: { id: Buffer.alloc(20, 7), port: 6881, n: -42, l: [1, 'x', []] } }],
  ['query with t as an integer and a as a list', { t: 5, y: 'q', q: 1, a: [1] }],
  ['query: key order with integer-like keys', 'd1:bi1e1:ai2e2:10i3e1:2i4e1:y1:qe'],
  ['query: duplicate keys (last wins, first position)', 'd1:ai1e1:y1:q1:ai2ee'],
  ['query: empty key', 'd0:i1e1:y1:qe'],
  ['query: invalid UTF-8 keys collapse to U+FFFD', Buffer.concat([Buffer.from('d1:y1:q1:'), Buffer.from([0xff]), Buffer.from('i1e1:'), Buffer.from([0xfe]), Buffer.from('i2ee')])],
  ['query: constructor key is an own key', 'd11:constructori1e1:y1:qe'],
  ['query: lenient integers (+, leading zeros, -0, ie, i4.9e)', 'd1:ai+42e1:bi042e1:ci-0e1:die1:ei4.9e1:y1:qe'],
  ['query: large integers (float64 digit accumulation)', 'd1:ai9007199254740993e1:bi1234567890123456789e1:ci99999999999999999999e1:di18446744073709551616e1:y1:qe'],
  ['query: string lengths with + and leading zero', 'd1:a+2:ab1:b02:cd1:y1:qe'],
  ['query: trailing garbage ignored', 'd1:y1:qeGARBAGE'],
  ['query: y as a list [q]', 'd1:yl1:qee'],
  ['query: nesting 500 levels deep inside a', 'd1:a' + 'l'.repeat(499) + 'e'.repeat(499) + '1:y1:qe'],
  ['y as integer 5', { t: 'zz', y: 5 }],
  ['no y', { t: 'zz' }],
  ['y = Q (case sensitive)', { y: 'Q' }],
  ['y = qq', { y: 'qq' }],
  ['y = i0e', { t: 'aa', y: 0 }],
  ["y = '' (empty byte string)", { t: 'aa', y: '' }],
  ['y = dict', { y: { a: 1 } }],
  ['top-level list', 'li1ee'],
  ['top-level int 0', 'i0e'],
  ['top-level int 7', 'i7e'],
  ['top-level string', '4:spam'],
  ['top-level truncated string 10:abc', '10:abc'],
  ['empty datagram', Buffer.alloc(0)],
  ['not bencode: hello', 'hello'],
  ['truncated dict d1:y1:q', 'd1:y1:q'],
  ['truncated list', 'li1e'],
  ['truncated string inside a dict', 'd1:y10:qe'],
  ['dict key not a string (di1ei2ee)', 'di1ei2ee'],
  ['dict key is a list (dle3:fooe)', 'dle3:fooe'],
  ['integer with a space (i 1e)', 'i 1e'],
  ['integer inside a dict with a bad byte', 'd1:yi1x2ee'],
  ['unterminated integer i42', 'i42'],
  ['string length not a number (a:spam)', 'a:spam'],
  ['string without colon (4spam)', '4spam'],
  ['colon only (:spam)', ':spam'],
  ['single byte d', 'd'],
  ['single byte e', 'e'],
  ['y = r with nothing else (no t: dropped)', 'd1:y1:re'],
  ['binary junk', Buffer.from([0x00, 0xff, 0x10, 0x80])]
]

differential('incoming datagrams: query events and warnings with their exact messages (one datagram at a time)', async (RPC, t) => {
  const { peer, port } = await setup(t)
  for (const [label, data] of INPUTS) {
    t.log('inject', label)
    await peer.inject(data, port, '127.0.0.1', 25)
  }
}, { runTimeout: 2500 })

differential('incoming: a query listener can answer through response() and error(); rinfo is the reply address', async (RPC, t) => {
  const { peer, r, port } = await setup(t)
  r.on('query', (q, rinfo) => {
    if (q.q.toString() === 'ping') r.response(rinfo, q, { id: Buffer.alloc(20, 1) })
    else r.error(rinfo, q, [204, 'Method Unknown'])
  })
  await peer.send({ t: 'aa', y: 'q', q: 'ping', a: {} }, port)
  await peer.recv()
  await peer.send({ t: 'bb', y: 'q', q: 'nope', a: {} }, port)
  await peer.recv()
})

differential('incoming: a burst of 50 queries arrives in order, every one as a query event', async (RPC, t) => {
  const { peer, r, port } = await setup(t)
  const seen = []
  r.on('query', q => seen.push(q.a.i))
  for (let i = 0; i < 50; i++) peer.send({ t: 'aa', y: 'q', q: 'ping', a: { i } }, port)
  await t.sleep(150)
  t.log('count', seen.length, 'in order', seen.every((x, i) => x === i))
}, { })
