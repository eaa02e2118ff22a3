'use strict'
// `krpc serve`: a minimal responder that prints every query it receives.

const crypto = require('crypto')
const net = require('net')
const krpc = require('../..')
const { valueText } = require('../remote-text')
const { EXIT_OK, EXIT_FAILURE, UsageError, parseId, parsePort } = require('./args')
const { view, escapeText, stringify, hostPort, toJSON, inline, print, printError } = require('./render')

// Deliberately minimal: no routing table, no peer store. ping, find_node and get_peers are
// answered with our id (find_node/get_peers with empty `nodes`, get_peers with a token);
// announce_peer is acknowledged when its token is one we issued (nothing is stored); any other
// method gets error 204.
function cmdServe (positional, opts) {
  if (positional.length) throw new UsageError(`serve takes no arguments (got '${positional[0]}')`)
  const id = opts.id !== undefined ? parseId(opts.id) : crypto.randomBytes(20)
  const port = opts.port !== undefined ? parsePort(opts.port, 'port') : 0
  let host = opts.host
  if (host !== undefined) {
    host = host.replace(/^\[(.*)\]$/, '$1')
    if (!net.isIP(host.replace(/%.*$/, ''))) throw new UsageError(`bad host '${opts.host}': expected an IP address`)
  }
  const udp6 = opts.udp6 || (host !== undefined && net.isIPv6(host.replace(/%.*$/, '')))
  if (udp6 && host !== undefined && net.isIPv4(host)) throw new UsageError(`--udp6 given but ${host} is an IPv4 address`)
  if (host === undefined) host = udp6 ? '::' : '0.0.0.0'

  const secret = crypto.randomBytes(16)
  const tokenFor = address => crypto.createHash('sha1').update(secret).update(address).digest().subarray(0, 8)

  return new Promise(resolve => {
    const rpc = krpc({ type: udp6 ? 'udp6' : 'udp4' })
    let stopping = false

    const stop = (code) => {
      if (stopping) {
        process.exit(130)
        return
      }
      stopping = true
      process.exitCode = code
      rpc.destroy(() => {
        process.removeListener('SIGINT', onSignal)
        process.removeListener('SIGTERM', onSignal)
        resolve()
      })
    }
    const onSignal = () => stop(EXIT_OK)
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)

    rpc.on('error', err => {
      printError(`cannot bind ${hostPort(host, port)}: ${err.code || err.message}`)
      stop(EXIT_FAILURE)
    })
    let listening = false
    rpc.on('warning', err => {
      // Only EACCES and EADDRINUSE are 'error' events; other bind failures (EADDRNOTAVAIL) are
      // warnings, and the bind callback never runs.
      if (!listening && err.syscall === 'bind') {
        printError(`cannot bind ${hostPort(host, port)}: ${err.code || err.message}`)
        return stop(EXIT_FAILURE)
      }
      printError(`warning: ${err.message}`)
    })

    rpc.on('query', (message, rinfo) => {
      // String(message.q) throws on a dict with a toString key; valueText cannot.
      const method = valueText(message.q)
      const a = message.a && typeof message.a === 'object' && !Array.isArray(message.a) && !Buffer.isBuffer(message.a) ? message.a : null
      const peer = { host: rinfo.address, port: rinfo.port }
      let answer
      if (!a || !Buffer.isBuffer(a.id) || a.id.length !== 20) {
        answer = [203, 'Protocol Error, such as a malformed packet']
      } else if (method === 'ping') {
        answer = { id }
      } else if (method === 'find_node') {
        answer = { id, nodes: Buffer.alloc(0) }
      } else if (method === 'get_peers') {
        answer = { id, nodes: Buffer.alloc(0), token: tokenFor(rinfo.address) }
      } else if (method === 'announce_peer') {
        answer = Buffer.isBuffer(a.token) && a.token.equals(tokenFor(rinfo.address))
          ? { id }
          : [203, 'Bad token']
      } else {
        answer = [204, 'Method Unknown']
      }
      // BEP 5's `t` is a byte string; anything else is not echoed (the encoder would turn a float
      // into a warning and a trace on stderr, and a 500-level list into a 500-level reply).
      const answerable = Buffer.isBuffer(message.t)
      try {
        if (answerable && Array.isArray(answer)) rpc.error(peer, message, answer)
        else if (answerable) rpc.response(peer, message, answer)
      } catch (err) {
        printError(`warning: cannot answer ${hostPort(peer.host, peer.port)}: ${err.message}`)
      }

      const args = view(a || {}, null)
      if (opts.json) {
        const line = { event: 'query', method, from: peer, args: toJSON(args) }
        if (Array.isArray(answer)) line.error = { code: answer[0], message: answer[1] }
        if (!answerable) line.unanswered = 't is not a byte string'
        print(stringify(line))
      } else {
        let line = `${escapeText(method)} from ${hostPort(peer.host, peer.port)}`
        for (const [k, v] of args.entries) line += ` ${escapeText(k)}=${inline(v)}`
        if (!answerable) line += ' -> not answered: t is not a byte string'
        else if (Array.isArray(answer)) line += ` -> error ${answer[0]} ${answer[1]}`
        print(line)
      }
    })

    rpc.bind(port, host, () => {
      listening = true
      const addr = rpc.address()
      if (opts.json) {
        print(stringify({ event: 'listening', host: addr.address, port: addr.port, id: id.toString('hex') }))
      } else {
        print(`listening on ${hostPort(addr.address, addr.port)} id=${id.toString('hex')}`)
      }
    })
  })
}

module.exports = { cmdServe }
