'use strict'
// Server half of the two-process topology, run with child_process.fork():
//   node server-child.js <impl> <workload> [rcvbuf bytes]
// IPC protocol: -> {type:'ready', port} ; <- {cmd:'mark'} -> {type:'marked'}
//               <- {cmd:'report'} -> {type:'report', ...} ; <- {cmd:'exit'} (or parent gone) -> exit
const { startServer } = require('./serve')
const cpu = require('./cpu')

const [impl, workload, rcvbuf] = process.argv.slice(2)
const hardStop = setTimeout(() => process.exit(3), 120000) // bounded even if the parent forgets us
hardStop.unref()

process.on('disconnect', () => process.exit(0))

startServer(impl, workload, (err, srv) => {
  if (err) {
    process.send({ type: 'error', error: String(err && err.stack || err) })
    setTimeout(() => process.exit(1), 50)
    return
  }
  let snap0 = null
  let stats0 = null
  process.on('message', (m) => {
    if (m.cmd === 'mark') {
      snap0 = cpu.snapshot()
      stats0 = Object.assign({}, srv.stats)
      process.send({ type: 'marked' })
    } else if (m.cmd === 'report') {
      const d = cpu.delta(snap0, cpu.snapshot())
      process.send({
        type: 'report',
        cpu: d,
        queries: srv.stats.queries - stats0.queries,
        warnings: srv.stats.warnings - stats0.warnings,
        errors: srv.stats.errors - stats0.errors,
        lastWarning: srv.stats.lastWarning,
        rssMb: cpu.peakRssMb(),
        threads: cpu.threadCount()
      })
    } else if (m.cmd === 'exit') {
      try {
        srv.close(() => process.exit(0))
      } catch (_) {
        process.exit(0)
      }
      setTimeout(() => process.exit(0), 500).unref()
    }
  })
  process.send({ type: 'ready', port: srv.port })
}, Number(rcvbuf) || 0)
