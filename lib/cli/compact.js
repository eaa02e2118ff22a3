'use strict'
// Compact node info, peer info and hash lists (BEP 5, BEP 32, BEP 51) from remote byte strings.
// Every function checks the length first and returns null for a byte string of the wrong size.

class Peer { constructor (host, port) { this.host = host; this.port = port } }
class Node extends Peer { constructor (id, host, port) { super(host, port); this.id = id } }

function ipv4 (buf, off) {
  return buf[off] + '.' + buf[off + 1] + '.' + buf[off + 2] + '.' + buf[off + 3]
}

function ipv6 (buf, off) {
  const groups = []
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(off + 2 * i))
  if (groups.slice(0, 5).every(g => g === 0) && groups[5] === 0xffff) return '::ffff:' + ipv4(buf, off + 12)
  // RFC 5952: compress the longest run of two or more zero groups (the first one on a tie).
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) { bestStart = i; bestLen = j - i }
    i = j
  }
  const hex = groups.map(g => g.toString(16))
  if (bestStart === -1) return hex.join(':')
  return hex.slice(0, bestStart).join(':') + '::' + hex.slice(bestStart + bestLen).join(':')
}

function compactPeer (buf) {
  if (buf.length === 6) return new Peer(ipv4(buf, 0), buf.readUInt16BE(4))
  if (buf.length === 18) return new Peer(ipv6(buf, 0), buf.readUInt16BE(16))
  return null
}

function compactNodes (buf, ipLength) {
  const size = 20 + ipLength + 2
  if (buf.length % size !== 0) return null
  const nodes = []
  for (let off = 0; off < buf.length; off += size) {
    const id = buf.toString('hex', off, off + 20)
    const host = ipLength === 4 ? ipv4(buf, off + 20) : ipv6(buf, off + 20)
    nodes.push(new Node(id, host, buf.readUInt16BE(off + 20 + ipLength)))
  }
  return nodes
}

// 20-byte hashes, as views of `buf`.
function hashes (buf) {
  if (buf.length % 20 !== 0) return null
  const list = []
  for (let off = 0; off < buf.length; off += 20) list.push(buf.subarray(off, off + 20))
  return list
}

module.exports = { Peer, Node, ipv4, ipv6, compactPeer, compactNodes, hashes }
