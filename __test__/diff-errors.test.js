'use strict'
// Error replies (docs/compatibility.md, "Error replies") and EUNEXPECTEDNODE ("What happens to each
// received datagram", step 4.5)
const { differential } = require('./harness')

async function setup (t) {
  const peer = await t.peer('remote')
  const r = t.rpc({ timeout: 1000 })
  t.watch(r, 'client', ['response', 'warning', 'error', 'update', 'postupdate'])
  await new Promise(resolve => r.bind(0, '127.0.0.1', resolve))
  t.namePort(r.address().port, 'client')
  return { peer, r }
}

// Query the peer, answer with replyFn(tidBuffer) (object -> bencoded; Buffer -> raw), wait for the callback.
async function run (t, peer, r, label, replyFn, peerExtra = {}) {
  peer.autoReply(m => replyFn(m.t), { log: false })
  t.log('case', label)
  const cb = t.cb(label)
  r.query(Object.assign({ host: '127.0.0.1', port: peer.port }, peerExtra), { q: 'ping', a: {} }, cb)
  await t.wait(cb.called, 1000, label)
  await t.sleep(15)
  return cb
}

differential('error replies: message and code for every row of the error replies table; 4 args; update/postupdate; no response event', async (RPC, t) => {
  const { peer, r } = await setup(t)
  const errs = [
    [201, 'A Generic Error'], ['oh no'], [202], ['201', 'string code'], [], [[1, 2], 'nested list'], [{ a: 1 }, 'dict'],
    [203, 'two', 'three'], [-5, 'negative code'], [0, 'zero code'], [2 ** 40, 'huge code'], [201], [[], 'empty list']
  ]
  for (const e of errs) await run(t, peer, r, 'e = ' + JSON.stringify(e), tid => ({ t: tid, y: 'e', e }))
  await run(t, peer, r, 'e = "a string" (not a list)', tid => ({ t: tid, y: 'e', e: 'a string' }))
  await run(t, peer, r, 'e = 201 (integer)', tid => ({ t: tid, y: 'e', e: 201 }))
  await run(t, peer, r, 'e = dict', tid => ({ t: tid, y: 'e', e: { a: 1 } }))
  await run(t, peer, r, 'no e', tid => ({ t: tid, y: 'e' }))
  await run(t, peer, r, 'e = [<ff fe>] (invalid UTF-8)', tid => Buffer.concat([Buffer.from('d1:el2:'), Buffer.from([0xff, 0xfe]), Buffer.from('e1:t2:'), tid, Buffer.from('1:y1:ee')]))
  await run(t, peer, r, 'e = [i-0e, x] (-0 code)', tid => Buffer.concat([Buffer.from('d1:eli-0e1:xe1:t2:'), tid, Buffer.from('1:y1:ee')]))
  await run(t, peer, r, 'e = [i1.5e] (lenient integer)', tid => Buffer.concat([Buffer.from('d1:eli1.5ee1:t2:'), tid, Buffer.from('1:y1:ee')]))
  t.state('end', r, ['inflight'])
}, { runTimeout: 2500 })

differential('EUNEXPECTEDNODE: 3 args (err, null, rinfo), shared object, no response event; success cases of the id check', async (RPC, t) => {
  const { peer, r } = await setup(t)
  const id = Buffer.alloc(20, 0xaa)
  const other = Buffer.alloc(20, 0xbb)
  await run(t, peer, r, 'peer.id set, r.id equal -> success', tid => ({ t: tid, y: 'r', r: { id } }), { id })
  await run(t, peer, r, 'peer.id set, r.id different -> EUNEXPECTEDNODE', tid => ({ t: tid, y: 'r', r: { id: other } }), { id })
  await run(t, peer, r, 'again: the same error object', tid => ({ t: tid, y: 'r', r: { id: other } }), { id })
  await run(t, peer, r, 'peer.id set, no r.id -> success', tid => ({ t: tid, y: 'r', r: {} }), { id })
  await run(t, peer, r, 'peer.id set, no r -> success', tid => ({ t: tid, y: 'r' }), { id })
  await run(t, peer, r, 'peer.id set, r.id = i0e -> success', tid => ({ t: tid, y: 'r', r: { id: 0 } }), { id })
  await run(t, peer, r, 'peer.id set, r.id of a different length -> EUNEXPECTEDNODE', tid => ({ t: tid, y: 'r', r: { id: Buffer.alloc(4, 0xaa) } }), { id })
  await run(t, peer, r, 'peer.id set, r.id empty string -> EUNEXPECTEDNODE (empty Buffer is truthy)', tid => ({ t: tid, y: 'r', r: { id: Buffer.alloc(0) } }), { id })
  await run(t, peer, r, 'peer.id set, error reply -> id not checked', tid => ({ t: tid, y: 'e', e: [201, 'x'], r: { id: other } }), { id })
  await run(t, peer, r, 'peer.id = empty Buffer (truthy), r.id different', tid => ({ t: tid, y: 'r', r: { id: other } }), { id: Buffer.alloc(0) })
  await run(t, peer, r, 'peer.id = null, r.id anything -> success', tid => ({ t: tid, y: 'r', r: { id: other } }), { id: null })
  await run(t, peer, r, 'peer.id = 0 (falsy) -> success', tid => ({ t: tid, y: 'r', r: { id: other } }), { id: 0 })
  await run(t, peer, r, 'peer.id is a Buffer subarray, equal', tid => ({ t: tid, y: 'r', r: { id } }), { id: Buffer.concat([Buffer.from([1]), id]).subarray(1) })
  await run(t, peer, r, 'peer.id object with its own equals()', tid => ({ t: tid, y: 'r', r: { id } }), { id: { equals: x => { t.log('custom equals called with', x); return false } } })
  t.state('end', r, ['inflight'])
}, { runTimeout: 2500 })
