'use strict'
// One run of the hostile-value property test, in its own process (so that what escapes can be
// caught with process-wide handlers and counted, and the reference can crash without harm).
//
//   node hostile-run.js <ours|ref> <main|socket|udp6> <seed> <random cases>
//
// (The runtime receive path is `main` with KRPC_RECEIVE_ON_RUNTIME=1 in the environment.)
// Phase 1 sends every query case to a listening socket, each followed by a marker query, so an
// exception is charged to the case before the marker. Phase 2 makes one query per reply case
// to a raw peer that answers with that case (half of them with a peer.id) and counts the calls of
// every callback. Prints one JSON summary line.

const dgram = require('dgram')
const util = require('util')
const path = require('path')
const H = require('./hostile')

const [impl, mode, seedText, randomText] = process.argv.slice(2)
const RPC = impl === 'ref' ? require('k-rpc-socket') : require(path.join(__dirname, '..', '..'))
const family = mode === 'udp6' ? 'udp6' : 'udp4'
const host = mode === 'udp6' ? '::1' : '127.0.0.1'
const { queries, replies } = H.buildCases(Number(seedText), Number(randomText))
// Long enough that a reply is not overtaken by its timeout on a loaded machine.
const TIMEOUT = 1000

class UserError extends Error {}

const summary = {
  impl,
  mode,
  queryCases: queries.length,
  replyCases: replies.length,
  uncaught: [], // [case, phase, message]
  unhandled: 0,
  userThrown: 0,
  userCaught: 0,
  consumerFailures: [],
  markers: 0,
  callbacks: replies.map(() => [0, null, null]),
  inflight: null
}
let phase = 'server'
let lastMarker = -1

process.on('uncaughtException', err => {
  if (err instanceof UserError) { summary.userCaught++; return }
  if (summary.uncaught.length < 2000) summary.uncaught.push([phase === 'server' ? lastMarker + 1 : -1, phase, String(err && err.message).slice(0, 120)])
})
process.on('unhandledRejection', () => { summary.unhandled++ })

// What consumers do with what they receive: log it, serialise it, read `q` as text.
function consume (what, value) {
  try {
    util.inspect(value)
    util.inspect(value, { depth: 3, showHidden: true })
    JSON.stringify(value)
  } catch (err) {
    if (summary.consumerFailures.length < 50) summary.consumerFailures.push([what, String(err.message).slice(0, 120)])
  }
}

// Whether JavaScript's own ToString of a decoded value throws by the data's own doing: a dict with
// a `toString` key, alone or inside (nested) lists. Iterative, as the data may nest 32768 levels.
function dataThrowsOnToString (v) {
  const stack = [v]
  while (stack.length) {
    const x = stack.pop()
    if (Array.isArray(x)) stack.push(...x)
    else if (x !== null && typeof x === 'object' && !(x instanceof Uint8Array) && Object.prototype.hasOwnProperty.call(x, 'toString')) return true
  }
  return false
}

function makeSocket () {
  return mode === 'socket' ? RPC({ socket: dgram.createSocket('udp4'), timeout: TIMEOUT }) : RPC({ type: family, timeout: TIMEOUT })
}

function bound (sock) {
  return new Promise(resolve => sock.bind(0, host, () => resolve(sock.address().port)))
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function serverPhase () {
  const rpc = makeSocket()
  let markerWait = null
  rpc.on('query', (message, rinfo) => {
    if (message.q && Buffer.isBuffer(message.q) && message.q.toString() === 'mark' && message.t && Buffer.isBuffer(message.t) && message.t.toString() === 'mk') {
      lastMarker = message.a.c
      summary.markers++
      if (markerWait && lastMarker >= markerWait.until) markerWait.resolve()
      return
    }
    consume('query', message)
    consume('rinfo', rinfo)
    try {
      if (message.q != null) message.q.toString()
    } catch (err) {
      // The data's own doing (a dict whose `toString` is a byte string), as with any decoder.
      if (!dataThrowsOnToString(message.q)) summary.consumerFailures.push(['q.toString', String(err.message)])
    }
    // An application bug a peer can trigger: it must propagate, once, like any listener's throw.
    if ((lastMarker + 1) % 13 === 0) {
      summary.userThrown++
      throw new UserError('listener threw')
    }
  })
  rpc.on('warning', err => {
    if (typeof err.message !== 'string') summary.consumerFailures.push(['warning message', typeof err.message])
    consume('warning', err)
  })
  rpc.on('response', message => consume('response', message))
  const port = await bound(rpc)
  const attacker = dgram.createSocket(family)
  await bound(attacker)
  const CHUNK = 40
  for (let i = 0; i < queries.length; i += CHUNK) {
    const end = Math.min(i + CHUNK, queries.length)
    const done = new Promise(resolve => { markerWait = { until: end - 1, resolve } })
    for (let j = i; j < end; j++) {
      attacker.send(queries[j], port, host)
      attacker.send(Buffer.from(`d1:ad1:ci${j}ee1:q4:mark1:t2:mk1:y1:qe`), port, host)
    }
    await Promise.race([done, sleep(1000)])
  }
  attacker.close()
  await new Promise(resolve => rpc.destroy(resolve))
}

async function clientPhase () {
  phase = 'client'
  const attacker = dgram.createSocket(family)
  attacker.on('message', (buf, rinfo) => {
    const text = buf.toString('latin1')
    const c = /1:ad1:ci(\d+)e/.exec(text)
    const t = /1:t2:/.exec(text)
    if (!c || !t) return
    const tid = buf.subarray(t.index + 5, t.index + 7)
    attacker.send(H.withTid(replies[Number(c[1])], tid), rinfo.port, rinfo.address)
  })
  const port = await bound(attacker)
  const rpc = makeSocket()
  rpc.on('query', message => consume('query', message))
  rpc.on('warning', err => consume('warning', err))
  rpc.on('response', message => consume('response', message))
  await bound(rpc)
  let pending = replies.length
  let allDone
  const finished = new Promise(resolve => { allDone = resolve })
  const BATCH = 40
  for (let i = 0; i < replies.length; i++) {
    const peer = { host, port }
    if (i % 2) peer.id = H.ID
    rpc.query(peer, { q: 'find_node', a: { c: i } }, (err, message) => {
      const entry = summary.callbacks[i]
      entry[0]++
      if (entry[0] === 1 && --pending === 0) allDone()
      if (err) {
        entry[1] = err.message
        entry[2] = err.code
        if (typeof err.message !== 'string') summary.consumerFailures.push(['err.message', typeof err.message])
        // An error reply's text is exactly JavaScript's own join wherever that does not throw.
        if (impl === 'ours' && message && Array.isArray(message.e)) {
          let native = null
          try { native = message.e.join(' ') } catch (_) {}
          if (native !== null && native !== err.message) summary.consumerFailures.push(['e.join', i, native.slice(0, 60), err.message.slice(0, 60)])
          if (native === null && dataThrowsOnToString(message.e) === false) summary.consumerFailures.push(['e.join threw', i])
        }
      }
      consume('callback', [err, message])
    })
    if (i % BATCH === BATCH - 1) await sleep(10)
  }
  await Promise.race([finished, sleep(TIMEOUT * 8)])
  // Late second calls would show here (a timeout after a reply, say: two more ticks).
  await sleep(TIMEOUT / 2)
  summary.inflight = rpc.inflight
  attacker.close()
  rpc.destroy()
}

serverPhase().then(clientPhase).then(() => {
  process.stdout.write(JSON.stringify(summary) + '\n')
  // The reference may have left handles behind after its crashes.
  setTimeout(() => process.exit(0), 100).unref()
})
