'use strict'
// A deterministic pool of malformed KRPC datagrams for the garbage flood.
// Safety: k-rpc-socket (bencode@2.0.3) hangs on negative string lengths (`d-3:e`) and runs out of
// memory on `l-3:e`. Every datagram here is made free of the byte '-' (0x2d), so no length can be
// negative; integers in the templates are non-negative.
const bencode = require('bencode')
const { prng } = require('./stats')
const { WORKLOADS, bytes } = require('./workloads')

const DASH = 0x2d

function noDash (buf) {
  for (let i = 0; i < buf.length; i++) if (buf[i] === DASH) buf[i] = 0x2e
  return buf
}

function build (size, seed) {
  const rnd = prng(seed || 42)
  const int = (n) => Math.floor(rnd() * n)
  const valid = [
    bencode.encode({ t: Buffer.from([1, 2]), y: 'q', q: 'ping', a: WORKLOADS.ping.query.a }),
    bencode.encode({ t: Buffer.from([1, 2]), y: 'q', q: 'find_node', a: WORKLOADS.find_node.query.a }),
    bencode.encode({ t: Buffer.from([1, 2]), y: 'r', r: WORKLOADS.find_node.response }),
    bencode.encode({ t: Buffer.from([1, 2]), y: 'r', r: WORKLOADS.get_peers.response })
  ]
  const unknownTypes = ['d1:y1:x', 'd1:y1:xe', 'd1:t2:ab1:y2:zze', 'd1:t2:ab1:y1:Qe', 'd1:y0:e', 'de', 'le', 'i5e', '4:spam', 'd1:yi7ee']
  const kinds = { random: 0, truncated: 0, nested: 0, unknown_tid: 0, unknown_type: 0 }
  const pool = []
  for (let i = 0; i < size; i++) {
    const r = rnd()
    let b
    if (r < 0.25) {
      kinds.random++
      b = bytes(1 + int(300), seed * 1000003 + i)
    } else if (r < 0.50) {
      kinds.truncated++
      const v = valid[int(valid.length)]
      b = Buffer.from(v.subarray(0, 1 + int(v.length - 2)))
    } else if (r < 0.65) {
      kinds.nested++
      const depth = 1 + int(1000)
      const shape = int(4)
      if (shape === 0) b = Buffer.from('l'.repeat(depth) + 'e'.repeat(depth)) // deep but valid (no y)
      else if (shape === 1) b = Buffer.from('l'.repeat(depth)) // unterminated
      else if (shape === 2) b = Buffer.from('d1:a'.repeat(depth) + 'de' + 'e'.repeat(depth)) // nested dicts
      else b = Buffer.from('d1:y1:r1:rd1:a' + 'l'.repeat(depth) + 'e'.repeat(depth) + 'ee') // reply without t, deep r
    } else if (r < 0.85) {
      kinds.unknown_tid++
      const tid = Buffer.from([int(256), int(256)])
      const y = rnd() < 0.8 ? 'r' : 'e'
      const msg = y === 'r' ? { t: tid, y, r: { id: bytes(20, i + 7) } } : { t: tid, y, e: [201, 'A Generic Error'] }
      b = bencode.encode(msg)
    } else {
      kinds.unknown_type++
      b = Buffer.from(unknownTypes[int(unknownTypes.length)])
    }
    pool.push(noDash(b))
  }
  // What k-rpc-socket does with each datagram (docs/compatibility.md, "What happens to each
  // received datagram"), decoded here with the same bencode@2:
  // 1 = a warning, 0 = silence (reply without a Buffer t) or a 'query' event.
  const warns = new Uint8Array(size)
  for (let i = 0; i < size; i++) {
    let m
    try { m = bencode.decode(pool[i]) } catch (_) { warns[i] = 1; continue }
    const type = m && m.y && m.y.toString()
    if (type === 'q') warns[i] = 0
    else if (type === 'r' || type === 'e') warns[i] = Buffer.isBuffer(m.t) ? 1 : 0
    else warns[i] = 1
  }
  return { pool, kinds, warns }
}

module.exports = { build }
