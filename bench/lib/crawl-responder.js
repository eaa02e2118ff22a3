'use strict'
// Responders of bench/scenarios/crawl.js, forked inside its network namespace:
//   node crawl-responder.js <count> <answerEvery10> <port> <silentPort>
// Address i (1..count) is 127.1.x.y = 127.1.0.0 + i. The answering ones (i % 10 < answerEvery10)
// each get a socket bound to their own address, because KRPC sockets match a reply by the IP that
// was queried; the rest are sent to silentPort, where one wildcard socket has stopped reading, so
// they vanish without the ICMP port-unreachable that an unbound port would send back.
const dgram = require('dgram')
const bencode = require('bencode')
const { bytes } = require('./workloads')

const [count, answer, port, silentPort] = process.argv.slice(2).map(Number)
const hardStop = setTimeout(() => process.exit(3), 180000)
hardStop.unref()
process.on('disconnect', () => process.exit(0))

const addr = (i) => `127.1.${i >> 8}.${i & 255}`
const answers = (i) => i % 10 < answer
const id = bytes(20, 2)
const nodes = bytes(8 * 26, 5)
let replies = 0
let undecodable = 0
let mark = 0 // CPU at 'mark', so the crawl can tell the responder's share of the machine apart

async function main () {
  const sink = dgram.createSocket('udp4')
  await new Promise((resolve) => sink.bind(silentPort, '0.0.0.0', resolve))
  const sym = Object.getOwnPropertySymbols(sink).find((x) => String(x) === 'Symbol(state symbol)')
  const h = sym && sink[sym] && sink[sym].handle
  const sinkKind = h && typeof h.recvStop === 'function' ? (h.recvStop(), 'recvStop') : 'reading'
  if (sinkKind === 'reading') sink.on('message', () => {})
  let bound = 0
  const binds = []
  for (let i = 1; i <= count; i++) {
    if (!answers(i)) continue
    const s = dgram.createSocket('udp4')
    s.on('message', (buf, rinfo) => {
      let m
      try { m = bencode.decode(buf) } catch (_) { undecodable++; return }
      if (!m || !Buffer.isBuffer(m.t)) { undecodable++; return }
      replies++
      s.send(bencode.encode({ t: m.t, y: 'r', r: { id, nodes } }), rinfo.port, rinfo.address)
    })
    s.on('error', () => {})
    binds.push(new Promise((resolve, reject) => {
      s.once('error', reject)
      s.bind(port, addr(i), () => { bound++; resolve() })
    }))
  }
  await Promise.all(binds)
  process.on('message', (m) => {
    const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }
    if (m.cmd === 'mark') { mark = cpuMs(); process.send({ type: 'marked' }) } else if (m.cmd === 'report') process.send({ type: 'report', replies, undecodable, bound, cpuMs: cpuMs() - mark })
    else if (m.cmd === 'exit') process.exit(0)
  })
  process.send({ type: 'ready', bound, sinkKind })
}

main().catch((err) => {
  process.send({ type: 'error', error: String(err && err.stack || err) })
  setTimeout(() => process.exit(1), 50)
})
