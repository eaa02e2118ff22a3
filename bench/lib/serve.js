'use strict'
// A KRPC server for one workload: answers every query with the workload's response.
// impl 'floor' is a raw dgram echo of a pre-encoded response with the query's tid copied in.
const dgram = require('dgram')
const { loadRpc } = require('./impls')
const { WORKLOADS, templates } = require('./workloads')

function startServer (impl, workload, cb, rcvbuf) {
  const stats = { queries: 0, warnings: 0, errors: 0, lastWarning: null }
  if (impl === 'floor') {
    const tpl = templates(workload)
    const sock = dgram.createSocket('udp4')
    const len = tpl.response.length
    const qo = tpl.queryTidOffset
    const ro = tpl.responseTidOffset
    sock.on('message', (buf, rinfo) => {
      stats.queries++
      const out = Buffer.allocUnsafe(len)
      tpl.response.copy(out)
      out[ro] = buf[qo]
      out[ro + 1] = buf[qo + 1]
      sock.send(out, 0, len, rinfo.port, rinfo.address)
    })
    sock.on('error', (err) => { stats.errors++; stats.lastWarning = String(err) })
    sock.bind(0, '127.0.0.1', () => {
      if (rcvbuf) sock.setRecvBufferSize(rcvbuf)
      cb(null, { port: sock.address().port, stats, close: (done) => sock.close(done) })
    })
    return
  }
  let RPC
  try {
    RPC = loadRpc(impl)
  } catch (err) {
    return cb(err)
  }
  const res = WORKLOADS[workload].response
  const rpc = RPC()
  rpc.on('query', (msg, rinfo) => {
    stats.queries++
    rpc.response(rinfo, msg, res)
  })
  rpc.on('warning', (err) => { stats.warnings++; stats.lastWarning = String(err && err.message) })
  rpc.on('error', (err) => { stats.errors++; stats.lastWarning = String(err && err.message) })
  rpc.bind(0, '127.0.0.1', () => {
    if (rcvbuf) rpc.socket.setRecvBufferSize(rcvbuf)
    cb(null, { port: rpc.address().port, stats, rpc, close: (done) => rpc.destroy(done) })
  })
}

module.exports = { startServer }
