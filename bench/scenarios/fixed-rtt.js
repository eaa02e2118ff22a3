'use strict'
// A fixed number of round trips in one process, client and server each an RPC of `impl` on
// 127.0.0.1, 16 queries in flight; exits when the last callback has run. Made to be counted
// by bench/instructions.js, which runs it under callgrind: nothing here reads a clock.
//   node bench/scenarios/fixed-rtt.js --impl ours|ref --workload ping|find_node|get_peers --queries 5000
const parseArgs = require('../lib/args')
const { loadRpc } = require('../lib/impls')
const { WORKLOADS } = require('../lib/workloads')

const opts = parseArgs(process.argv.slice(2), { impl: 'ours', workload: 'ping', queries: 5000, inflight: 16 })
const RPC = loadRpc(opts.impl)
const workload = WORKLOADS[opts.workload]
if (!workload) throw new Error('unknown workload ' + opts.workload)

const server = RPC()
server.on('query', (query, peer) => server.response(peer, query, workload.response))
server.bind(0, '127.0.0.1', () => {
  const client = RPC()
  client.bind(0, '127.0.0.1', () => {
    const peer = { host: '127.0.0.1', port: server.address().port }
    let issued = 0
    let completed = 0
    const issue = () => {
      issued++
      client.query(peer, workload.query, done)
    }
    function done (err) {
      if (err) {
        console.error('fixed-rtt: ' + err.message)
        process.exit(1)
      }
      completed++
      if (issued < opts.queries) issue()
      else if (completed === opts.queries) {
        client.destroy()
        server.destroy()
        console.log(JSON.stringify({ impl: opts.impl, workload: opts.workload, completed }))
      }
    }
    for (let i = 0; i < opts.inflight && issued < opts.queries; i++) issue()
  })
})
