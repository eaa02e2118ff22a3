'use strict'
// bittorrent-dht 11 (ESM) on either socket: the DHT takes a k-rpc instance (`krpc` option), and
// k-rpc takes the KRPC socket (`krpcSocket` option), so the same DHT code runs on ours or on ref.
// `bootstrap` is always explicit: k-rpc's default list is the public routers, which a benchmark
// must never reach.
const krpc = require('k-rpc')
const { loadRpc } = require('./impls')

let DHT = null
async function loadDht () {
  if (!DHT) DHT = (await import('bittorrent-dht')).default
  return DHT
}

// opts.bootstrap: array of 'host:port' (the node populates its table from them) or empty/false.
// opts.onSocket(sock): sees the KRPC socket before use (to count queries).
async function makeDht (impl, opts = {}) {
  const D = await loadDht()
  const RPC = loadRpc(impl)
  const sock = RPC(opts.timeout ? { timeout: opts.timeout } : {})
  if (opts.onSocket) opts.onSocket(sock)
  const boot = opts.bootstrap && opts.bootstrap.length ? opts.bootstrap : false
  const rpc = krpc({ krpcSocket: sock, idLength: 20, nodes: boot })
  const dht = new D({ krpc: rpc, bootstrap: !!boot })
  dht.on('error', () => {}) // counted by the scenario where it matters; never fatal here
  dht.on('warning', () => {})
  return { dht, sock }
}

function listen (dht, host) {
  return new Promise((resolve) => dht.listen(0, host || '127.0.0.1', () => resolve(dht.address().port)))
}

function destroy (dht) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, 1000)
    dht.destroy(() => { clearTimeout(t); resolve() })
  })
}

// Wraps sock.query to count the queries a node sends (same wrapper for both sockets).
function countQueries (sock, counter) {
  const q = sock.query
  sock.query = function () {
    counter.n++
    return q.apply(this, arguments)
  }
}

module.exports = { makeDht, listen, destroy, countQueries }
