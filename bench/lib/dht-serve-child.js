'use strict'
// Server half of bench/scenarios/dht-serve.js, forked: a bittorrent-dht node on one socket
// implementation, with a routing table and 50 peers for one info hash, so find_node answers
// with 8 nodes and get_peers with 50 values (the shapes of lib/workloads.js).
//   node dht-serve-child.js <impl> <infoHashHex>
// IPC as server-child.js: -> ready {port}; mark -> marked; report -> report; exit (or parent gone).
const cpu = require('./cpu')
const { makeDht, listen, destroy } = require('./dht-stack')
const { bytes } = require('./workloads')

const [impl, infoHashHex] = process.argv.slice(2)
const hardStop = setTimeout(() => process.exit(3), 120000)
hardStop.unref()
process.on('disconnect', () => process.exit(0))

async function main () {
  const { dht } = await makeDht(impl)
  let queries = 0
  dht.on('find_node', () => { queries++ })
  dht.on('get_peers', () => { queries++ })
  const port = await listen(dht)
  // Synthetic contacts on addresses nobody listens on: 8 per distance bucket near our id, so
  // no bucket overflows (an overflow makes the DHT ping its older contacts).
  const own = dht.nodeId
  let n = 0
  for (let bit = 0; bit < 16; bit++) {
    for (let j = 0; j < 8; j++) {
      const id = bytes(20, 1000 + n)
      own.copy(id, 0, 0, bit >> 3)
      const mask = 0x80 >> (bit & 7)
      const keep = (0xff00 >> (bit & 7)) & 0xff // bits above `bit` in its byte
      id[bit >> 3] = (own[bit >> 3] & keep) | ((~own[bit >> 3]) & mask) | (id[bit >> 3] & (mask - 1))
      dht.addNode({ id, host: `127.2.${n >> 8}.${n & 255}`, port: 6881 })
      n++
    }
  }
  const ih = Buffer.from(infoHashHex, 'hex')
  for (let i = 0; i < 50; i++) dht._addPeer({ host: `127.3.0.${i + 1}`, port: 6881 + i }, ih, null)
  let snap0 = null
  let q0 = 0
  process.on('message', (m) => {
    if (m.cmd === 'mark') {
      snap0 = cpu.snapshot()
      q0 = queries
      process.send({ type: 'marked' })
    } else if (m.cmd === 'report') {
      process.send({
        type: 'report',
        cpu: cpu.delta(snap0, cpu.snapshot()),
        queries: queries - q0,
        tableSize: dht.toJSON().nodes.length,
        rssMb: cpu.peakRssMb(),
        threads: cpu.threadCount()
      })
    } else if (m.cmd === 'exit') {
      destroy(dht).then(() => process.exit(0))
      setTimeout(() => process.exit(0), 1500).unref()
    }
  })
  process.send({ type: 'ready', port, tableSize: dht.toJSON().nodes.length })
}

main().catch((err) => {
  process.send({ type: 'error', error: String(err && err.stack || err) })
  setTimeout(() => process.exit(1), 50)
})
