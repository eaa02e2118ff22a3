'use strict'
// The three request/response shapes, as JS objects (for the RPC implementations)
// and as pre-encoded byte templates (for the raw-dgram floor).
const bencode = require('bencode')
const { prng } = require('./stats')

// Deterministic bytes that never contain '-' (0x2d), so truncated or shuffled copies of these
// messages can never form a negative bencode length (which hangs or crashes k-rpc-socket).
function bytes (n, seed) {
  const rnd = prng(seed)
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) {
    let v = Math.floor(rnd() * 256)
    if (v === 0x2d) v = 0x2e
    b[i] = v
  }
  return b
}

const clientId = bytes(20, 1)
const serverId = bytes(20, 2)
const target = bytes(20, 3)
const infoHash = bytes(20, 4)
const nodes = bytes(8 * 26, 5) // 8 compact node infos of 26 bytes = 208 bytes
const token = bytes(20, 6) // sha1-sized token, like bittorrent-dht's
const values = []
for (let i = 0; i < 50; i++) values.push(bytes(6, 100 + i)) // 50 compact peers of 6 bytes

const WORKLOADS = {
  ping: {
    query: { q: 'ping', a: { id: clientId } },
    response: { id: serverId }
  },
  find_node: {
    query: { q: 'find_node', a: { id: clientId, target } },
    response: { id: serverId, nodes }
  },
  get_peers: {
    query: { q: 'get_peers', a: { id: clientId, info_hash: infoHash } },
    response: { id: serverId, token, values }
  }
}

// Pre-encoded wire bytes exactly as k-rpc-socket would send them (t = 2-byte tid),
// with the offset of the 2 tid bytes so the floor can patch/echo them without a codec.
function templates (name) {
  const w = WORKLOADS[name]
  if (!w) throw new Error('unknown workload ' + name)
  const t = Buffer.from([0, 0])
  const query = bencode.encode({ t, y: 'q', q: w.query.q, a: w.query.a })
  const response = bencode.encode({ t, y: 'r', r: w.response })
  const marker = Buffer.from('1:t2:')
  return {
    query,
    queryTidOffset: query.indexOf(marker) + marker.length,
    response,
    responseTidOffset: response.indexOf(marker) + marker.length
  }
}

module.exports = { WORKLOADS, templates, bytes, clientId, serverId }
