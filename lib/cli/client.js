'use strict'
// `krpc ping` and `krpc query`: one query, its reply printed. Failures are Failure errors that
// carry their exit status and their --json form.

const crypto = require('crypto')
const dns = require('dns')
const net = require('net')
const krpc = require('../..')
const { joinText } = require('../remote-text')
const { EXIT_FAILURE, EXIT_TIMEOUT, EXIT_ERROR_REPLY, EXIT_DNS, UsageError, parseAddress, parseId, parseQueryArgs } = require('./args')
const { Dict, view, escapeText, stringify, hostPort, toJSON, inline, render, ms, fmtMs, round, print, printError } = require('./render')

class Failure extends Error {
  constructor (exitCode, message, json) {
    super(message)
    this.exitCode = exitCode
    this.json = json
  }
}

function resolve (addr, udp6) {
  return new Promise((resolve, reject) => {
    const bare = addr.host.replace(/%.*$/, '')
    const family = net.isIP(bare)
    if (family) {
      if (udp6 && family === 4) {
        return reject(new UsageError(`--udp6 given but ${addr.host} is an IPv4 address`))
      }
      return resolve({ ip: addr.host, family })
    }
    dns.lookup(addr.host, { all: true }, (err, list) => {
      if (err || !list.length) {
        const code = err ? err.code || err.message : 'no addresses'
        return reject(new Failure(EXIT_DNS, `cannot resolve '${addr.host}': ${code}`,
          { error: { type: 'dns', host: addr.host, code } }))
      }
      const pick = list.find(r => r.family === (udp6 ? 6 : 4)) || (udp6 ? null : list[0])
      if (!pick) {
        return reject(new Failure(EXIT_DNS, `cannot resolve '${addr.host}': no IPv6 address`,
          { error: { type: 'dns', host: addr.host, code: 'ENOTFOUND' } }))
      }
      resolve({ ip: pick.address, family: pick.family })
    })
  })
}

// Sends one query; resolves { message, rinfo, rtt } or rejects with a Failure.
async function send (addr, q, a, opts) {
  const target = await resolve(addr, opts.udp6)
  const display = net.isIP(addr.host.replace(/%.*$/, ''))
    ? hostPort(addr.host, addr.port)
    : hostPort(addr.host, addr.port) + ' (' + target.ip + ')'
  const timeout = opts.timeout
  // Our own timer gives an exact deadline; the socket's (which ticks) is set beyond it.
  const rpc = krpc({ type: target.family === 6 ? 'udp6' : 'udp4', timeout: timeout + 1000 })
  rpc.on('warning', err => printError(`warning: ${err.message}`))

  return new Promise((resolve, reject) => {
    let done = false
    let timer = null
    const finish = (err, value) => {
      if (done) return
      done = true
      clearTimeout(timer)
      rpc.destroy(() => (err ? reject(err) : resolve(value)))
    }
    rpc.on('error', err => finish(new Failure(EXIT_FAILURE, `socket error: ${err.message}`,
      { error: { type: 'socket', code: err.code, message: err.message } })))

    const start = process.hrtime.bigint()
    timer = setTimeout(() => finish(new Failure(EXIT_TIMEOUT, `no reply from ${display} within ${timeout} ms`,
      { error: { type: 'timeout', host: target.ip, port: addr.port, timeout_ms: timeout } })), timeout)
    try {
      rpc.query({ host: target.ip, port: addr.port }, { q, a }, (err, message, rinfo) => {
        const rtt = ms(process.hrtime.bigint() - start)
        if (!err) return finish(null, { message, rinfo, rtt, display })
        // Only an error reply comes with a message (its `y` reads 'e', whatever its type).
        if (message) {
          const e = Array.isArray(message.e) ? message.e : []
          const code = typeof e[0] === 'number' ? e[0] : null
          // The remote list's text as k-rpc-socket joins it, without calling into remote values.
          const what = joinText(code === null ? e : e.slice(1), ' ') || err.message
          return finish(new Failure(EXIT_ERROR_REPLY,
            code === null ? `error reply: ${what}` : `error reply ${code}: ${what}`,
            { from: { host: rinfo.address, port: rinfo.port }, rtt_ms: round(rtt), error: { type: 'error_reply', code, message: what } }))
        }
        if (err.code === 'ETIMEDOUT') {
          return finish(new Failure(EXIT_TIMEOUT, `no reply from ${display} within ${timeout} ms`,
            { error: { type: 'timeout', host: target.ip, port: addr.port, timeout_ms: timeout } }))
        }
        finish(new Failure(EXIT_FAILURE, `query failed: ${err.message}`,
          { error: { type: 'socket', code: err.code, message: err.message } }))
      })
    } catch (err) {
      finish(new Failure(EXIT_FAILURE, `query failed: ${err.message}`,
        { error: { type: 'socket', code: err.code, message: err.message } }))
    }
  })
}

function extras (message) {
  // Top-level keys other than t/y/r: BEP 42's `ip`, the client version `v`, anything else.
  const out = new Dict()
  for (const k of Object.keys(message)) {
    if (k === 't' || k === 'y' || k === 'r') continue
    out.entries.push([k, view(message[k], k)])
  }
  return out
}

function extraJSON (more) {
  return more.entries.length ? { extra: toJSON(more) } : {}
}

async function cmdPing (positional, opts) {
  if (positional.length !== 1) throw new UsageError(positional.length ? 'ping takes one address' : 'ping needs HOST:PORT')
  const addr = parseAddress(positional[0])
  const id = opts.id !== undefined ? parseId(opts.id) : crypto.randomBytes(20)
  const udp6 = opts.udp6 || addr.ipv6
  const res = await send(addr, 'ping', { id }, { timeout: opts.timeout, udp6 })
  const r = res.message.r && typeof res.message.r === 'object' ? res.message.r : {}
  const from = hostPort(res.rinfo.address, res.rinfo.port)
  const rid = Buffer.isBuffer(r.id) ? r.id.toString('hex') : null
  const more = extras(res.message)
  if (opts.json) {
    print(stringify({
      from: { host: res.rinfo.address, port: res.rinfo.port },
      id: rid,
      rtt_ms: round(res.rtt),
      reply: toJSON(view(r, null)),
      ...extraJSON(more)
    }))
  } else {
    let line = `reply from ${from} id=${rid === null ? '(none)' : rid} time=${fmtMs(res.rtt)}`
    for (const [k, v] of more.entries) line += ` ${escapeText(k)}=${inline(v)}`
    print(line)
  }
}

async function cmdQuery (positional, opts) {
  if (positional.length < 2) throw new UsageError(positional.length ? 'query needs a METHOD' : 'query needs HOST:PORT and METHOD')
  const addr = parseAddress(positional[0])
  const method = positional[1]
  const a = parseQueryArgs(positional.slice(2))
  if (!('id' in a)) a.id = opts.id !== undefined ? parseId(opts.id) : crypto.randomBytes(20)
  const udp6 = opts.udp6 || addr.ipv6
  const res = await send(addr, method, a, { timeout: opts.timeout, udp6 })
  const r = view(res.message.r, null)
  const more = extras(res.message)
  if (opts.json) {
    print(stringify({
      method,
      from: { host: res.rinfo.address, port: res.rinfo.port },
      rtt_ms: round(res.rtt),
      reply: toJSON(r),
      ...extraJSON(more)
    }))
  } else {
    print(`${escapeText(method)} reply from ${hostPort(res.rinfo.address, res.rinfo.port)} in ${fmtMs(res.rtt)}`)
    const body = r instanceof Dict ? r : new Dict([['r', r]])
    for (const line of render(new Dict(body.entries.concat(more.entries)), 2)) print(line)
  }
}

module.exports = { Failure, cmdPing, cmdQuery }
