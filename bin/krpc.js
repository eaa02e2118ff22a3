#!/usr/bin/env node
'use strict'
// krpc: a dig for the BitTorrent DHT. Sends one KRPC query (BEP 5) and prints the decoded reply,
// or runs a minimal responder that prints what it receives. Node built-ins and this package only.

const crypto = require('crypto')
const dns = require('dns')
const net = require('net')
const krpc = require('..')
const { valueText, joinText } = require('../lib/remote-text')

const EXIT_OK = 0
const EXIT_FAILURE = 1 // socket errors, bind failures, anything unexpected
const EXIT_USAGE = 2
const EXIT_TIMEOUT = 3
const EXIT_ERROR_REPLY = 4
const EXIT_DNS = 5

const DEFAULT_TIMEOUT = 2000

const USAGE = `usage: krpc ping HOST:PORT [--id HEX] [--timeout MS] [--udp6] [--json]
       krpc query HOST:PORT METHOD [key=value ...] [--id HEX] [--timeout MS] [--udp6] [--json]
       krpc serve [--port N] [--host ADDR] [--id HEX] [--udp6] [--json]
       krpc --help`

const HELP = `krpc: a dig for the BitTorrent DHT (KRPC over UDP, BEP 5)

${USAGE}

commands:
  ping HOST:PORT            send 'ping'; print the responder's id and the round-trip time
  query HOST:PORT METHOD [key=value ...]
                            send any query; print the decoded reply
  serve                     answer queries (minimal: ping, find_node, get_peers, announce_peer)
                            and print each query received, one per line, until SIGINT/SIGTERM

addresses:
  1.2.3.4:6881  router.example.org:6881  [::1]:6881  (IPv6 literals in brackets)

query arguments (the 'a' dictionary; a.id defaults to a random 20-byte id):
  <32+ hex digits, even>    bytes           target=<40 hex>, info_hash=<40 hex>
  0x<hex>                   bytes           token=0x1f2e3d4c (any even number of digits)
  hex:<hex>                 bytes           token=hex:1f2e
  <digits>                  integer         port=6881 implied_port=1
  str:<text>                string          name=str:1234
  anything else             string          want=n4
  (odd hex, and an id, target or info_hash that is not 20 bytes, are usage errors)

options:
  --id HEX                  our node id, 40 hex digits (default: 20 random bytes)
  --timeout MS              how long to wait for a reply (default ${DEFAULT_TIMEOUT})
  --udp6                    use an IPv6 socket (automatic for [IPv6] addresses)
  --json                    print one JSON object (serve: one JSON object per line);
                            byte strings as hex, nodes and peers as objects
  --port N                  serve: port to bind (default 0: any free port)
  --host ADDR               serve: address to bind (default 0.0.0.0, or :: with --udp6)
  -h, --help                this text
  --version                 the package version

exit status:
  0 reply received (serve: stopped by a signal)   1 socket or internal failure
  2 usage error or bad address                    3 no reply within the timeout
  4 error reply                                   5 host name could not be resolved

examples:
  krpc ping router.bittorrent.com:6881
  krpc query 127.0.0.1:6881 find_node target=d1c5a3e4a1e0d9a0cbc5d3a4f0ad1e2b3c4d5e6f
  krpc query [::1]:6881 get_peers info_hash=0123456789abcdef0123456789abcdef01234567 --json
  krpc serve --port 6881 --host 127.0.0.1`

class UsageError extends Error {}

// Arguments ------------------------------------------------------------------------------------

const VALUE_OPTIONS = new Set(['id', 'timeout', 'port', 'host'])
const FLAG_OPTIONS = new Set(['json', 'udp6', 'help', 'version'])

function parseArgs (argv) {
  const opts = { json: false, udp6: false, help: false, version: false }
  const positional = []
  let onlyPositional = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (onlyPositional || !arg.startsWith('-') || arg === '-') {
      positional.push(arg)
      continue
    }
    if (arg === '--') {
      onlyPositional = true
      continue
    }
    if (arg === '-h') {
      opts.help = true
      continue
    }
    if (!arg.startsWith('--')) throw new UsageError(`unknown option '${arg}'`)
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
    if (FLAG_OPTIONS.has(name)) {
      if (eq !== -1) throw new UsageError(`option '--${name}' takes no value`)
      opts[name] = true
    } else if (VALUE_OPTIONS.has(name)) {
      let value
      if (eq !== -1) value = arg.slice(eq + 1)
      else if (i + 1 < argv.length) value = argv[++i]
      else throw new UsageError(`option '--${name}' needs a value`)
      opts[name] = value
    } else {
      throw new UsageError(`unknown option '--${name}'`)
    }
  }
  return { opts, positional }
}

function parseHex (hex, text, what) {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new UsageError(`bad ${what} '${text}': expected an even number of hex digits`)
  }
  return Buffer.from(hex, 'hex')
}

// A node id is 20 bytes (BEP 5): anything else was a typo, and sending it would only make the
// remote node drop or misfile the query.
function parseId (text) {
  if (!/^[0-9a-fA-F]{40}$/.test(text)) {
    const hint = /^0[xX]/.test(text) ? ' (without 0x)' : ''
    throw new UsageError(`bad id '${text}': expected 40 hex digits (20 bytes)${hint}`)
  }
  return Buffer.from(text, 'hex')
}

function parseTimeout (text) {
  if (text === undefined) return DEFAULT_TIMEOUT
  if (!/^\d+$/.test(text) || +text < 1 || +text > 2147483647) {
    throw new UsageError(`bad timeout '${text}': expected a number of milliseconds`)
  }
  return +text
}

function parsePort (text, what) {
  if (!/^\d+$/.test(text) || +text > 65535) throw new UsageError(`bad ${what} '${text}': expected 0-65535`)
  return +text
}

// HOST:PORT, [IPV6]:PORT. Throws a UsageError for anything else.
function parseAddress (text) {
  const bad = () => new UsageError(`bad address '${text}': expected HOST:PORT`)
  let host, portText
  const m = /^\[([^\]]+)\]:([^:]*)$/.exec(text)
  if (m) {
    host = m[1]
    portText = m[2]
    if (net.isIPv6(host.replace(/%.*$/, '')) === false) throw bad()
  } else {
    const colon = text.lastIndexOf(':')
    if (colon <= 0) throw bad()
    host = text.slice(0, colon)
    portText = text.slice(colon + 1)
    if (host.includes(':')) { // an IPv6 literal must be in brackets
      const err = bad()
      err.message += ' (IPv6 addresses go in brackets: [::1]:6881)'
      throw err
    }
    if (!/^[A-Za-z0-9._-]+$/.test(host)) throw bad()
  }
  if (!/^\d{1,5}$/.test(portText) || +portText < 1 || +portText > 65535) throw bad()
  return { host, port: +portText, ipv6: Boolean(m) }
}

// key=value arguments of `query`. What looks like hex is bytes or a usage error, never a string
// sent by mistake: `0x` and `hex:` need an even number of hex digits, and so does a run of 32 or
// more hex digits (ids, hashes, keys, signatures); `str:` sends anything as a string.
function parseValue (text) {
  if (text.startsWith('hex:')) return parseHex(text.slice(4), text, 'hex value')
  if (text.startsWith('str:')) return text.slice(4)
  if (/^0[xX]/.test(text)) return parseHex(text.slice(2), text, 'hex value')
  if (/^[0-9a-fA-F]{32,}$/.test(text)) return parseHex(text, text, `hex value (${text.length} digits)`)
  if (/^-?\d+$/.test(text)) {
    const n = Number(text)
    if (!Number.isSafeInteger(n)) throw new UsageError(`bad integer '${text}': too large (use str: or hex:)`)
    return n
  }
  return text
}

function parseQueryArgs (list) {
  const a = {}
  for (const item of list) {
    const eq = item.indexOf('=')
    if (eq <= 0) throw new UsageError(`bad argument '${item}': expected key=value`)
    const key = item.slice(0, eq)
    if (Object.prototype.hasOwnProperty.call(a, key)) throw new UsageError(`argument '${key}' given twice`)
    const text = item.slice(eq + 1)
    const value = parseValue(text)
    if (ID_KEYS.has(key) && !text.startsWith('str:') && !(Buffer.isBuffer(value) && value.length === 20)) {
      throw new UsageError(`bad ${key} '${text}': expected 40 hex digits (20 bytes; str: sends a string)`)
    }
    Object.defineProperty(a, key, { value, enumerable: true, writable: true, configurable: true })
  }
  return a
}

// Arguments that are 20-byte ids or hashes in every BEP that uses them.
const ID_KEYS = new Set(['id', 'target', 'info_hash'])

// Decoding replies -----------------------------------------------------------------------------

// A decoded message becomes a "view": byte strings turn into Hex or Text, compact node and peer
// info into Node and Peer objects. Views render as text (human) or JSON (machines).
class Hex { constructor (buf) { this.hex = Buffer.from(buf).toString('hex') } }
class Text { constructor (buf) { this.text = buf.toString('utf8'); this.hex = buf.toString('hex') } }
class Peer { constructor (host, port) { this.host = host; this.port = port } }
class Node extends Peer { constructor (id, host, port) { super(host, port); this.id = id } }
// A dictionary as [key, view] pairs: a plain object would give remote keys such as __proto__ or
// constructor their JavaScript meaning.
class Dict { constructor (entries) { this.entries = entries || [] } }
const DEEP = Object.freeze({})
const MAX_VIEW_DEPTH = 32
const DEEP_TEXT = `<nested deeper than ${MAX_VIEW_DEPTH} levels>`

// Keys whose byte strings are binary by nature: always hex, even when they happen to be printable.
const BINARY_KEYS = new Set(['id', 'target', 'info_hash', 'token', 'k', 'sig', 't'])

const utf8 = new TextDecoder('utf-8', { fatal: true })

function isPrintable (buf) {
  let s
  try {
    s = utf8.decode(buf)
  } catch {
    return false
  }
  // No control characters (tabs aside), no unassigned/private-use oddities that hide bytes.
  return !/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\ufffd]/.test(s) // eslint-disable-line no-control-regex
}

function ipv4 (buf, off) {
  return buf[off] + '.' + buf[off + 1] + '.' + buf[off + 2] + '.' + buf[off + 3]
}

function ipv6 (buf, off) {
  const groups = []
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(off + 2 * i))
  if (groups.slice(0, 5).every(g => g === 0) && groups[5] === 0xffff) return '::ffff:' + ipv4(buf, off + 12)
  // RFC 5952: compress the longest run of two or more zero groups (the first one on a tie).
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) { bestStart = i; bestLen = j - i }
    i = j
  }
  const hex = groups.map(g => g.toString(16))
  if (bestStart === -1) return hex.join(':')
  return hex.slice(0, bestStart).join(':') + '::' + hex.slice(bestStart + bestLen).join(':')
}

function compactPeer (buf) {
  if (buf.length === 6) return new Peer(ipv4(buf, 0), buf.readUInt16BE(4))
  if (buf.length === 18) return new Peer(ipv6(buf, 0), buf.readUInt16BE(16))
  return null
}

function compactNodes (buf, ipLength) {
  const size = 20 + ipLength + 2
  if (buf.length % size !== 0) return null
  const nodes = []
  for (let off = 0; off < buf.length; off += size) {
    const id = buf.toString('hex', off, off + 20)
    const host = ipLength === 4 ? ipv4(buf, off + 20) : ipv6(buf, off + 20)
    nodes.push(new Node(id, host, buf.readUInt16BE(off + 20 + ipLength)))
  }
  return nodes
}

function hashes (buf) {
  if (buf.length % 20 !== 0) return null
  const list = []
  for (let off = 0; off < buf.length; off += 20) list.push(new Hex(buf.subarray(off, off + 20)))
  return list
}

function view (value, key, depth = 0) {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    const buf = Buffer.isBuffer(value) ? value : Buffer.from(value)
    let decoded = null
    if (key === 'nodes') decoded = compactNodes(buf, 4)
    else if (key === 'nodes6') decoded = compactNodes(buf, 16)
    else if (key === 'samples') decoded = hashes(buf)
    else if (key === 'ip') decoded = compactPeer(buf)
    if (decoded) return decoded
    if (BINARY_KEYS.has(key) || !isPrintable(buf)) return new Hex(buf)
    return new Text(buf)
  }
  if (value === null || typeof value !== 'object') return value
  // Remote values nest up to 512 levels; no DHT message nests more than a few. Deeper parts are
  // shown as a marker, which keeps this recursion (and the renderers') shallow.
  if (depth >= MAX_VIEW_DEPTH) return DEEP
  if (Array.isArray(value)) {
    return value.map(item => {
      if (key === 'values' && Buffer.isBuffer(item)) return compactPeer(item) || view(item, null, depth + 1)
      return view(item, null, depth + 1)
    })
  }
  const out = new Dict()
  for (const k of Object.keys(value)) out.entries.push([k, view(value[k], k, depth + 1)])
  return out
}

// Rendering ------------------------------------------------------------------------------------

// Remote text never reaches the terminal raw: C0 controls (newline and tab too: one record per
// line), DEL, C1 controls (0x9b is a CSI on many terminals), and the bidi overrides and isolates,
// which reorder what is shown, are written as escapes.
const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g // eslint-disable-line no-control-regex
// JSON.stringify escapes C0 (and lone surrogates) but leaves the others raw.
const UNSAFE_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

function escapeChar (c, prefix) {
  const n = c.charCodeAt(0)
  return n < 0x100 && prefix === '\\x' ? '\\x' + n.toString(16).padStart(2, '0') : '\\u' + n.toString(16).padStart(4, '0')
}

/** Remote text made safe for a terminal: control and bidi characters as \xNN or \uNNNN. */
function escapeText (text) {
  return String(text).replace(UNSAFE_TEXT, c => escapeChar(c, '\\x'))
}

/** JSON.stringify, with the characters it leaves raw written as \uNNNN (still the same JSON). */
function stringify (value) {
  return JSON.stringify(value).replace(UNSAFE_JSON, c => escapeChar(c, '\\u'))
}

function hostPort (host, port) {
  return (host.includes(':') ? '[' + host + ']' : host) + ':' + port
}

function toJSON (v) {
  if (v === DEEP) return DEEP_TEXT
  if (v instanceof Hex || v instanceof Text) return v.hex
  if (v instanceof Node) return { id: v.id, host: v.host, port: v.port }
  if (v instanceof Peer) return { host: v.host, port: v.port }
  if (Array.isArray(v)) return v.map(toJSON)
  if (v instanceof Dict) {
    // No prototype: a remote key such as __proto__ or toJSON is just a key.
    const out = Object.create(null)
    for (const [k, x] of v.entries) out[k] = toJSON(x)
    return out
  }
  return v
}

// One-line form, for `serve`: key=value pairs.
function inline (v) {
  if (v === DEEP) return DEEP_TEXT
  if (v instanceof Hex) return v.hex
  if (v instanceof Text) return escapeText(JSON.stringify(v.text))
  if (v instanceof Node) return v.id + '@' + hostPort(v.host, v.port)
  if (v instanceof Peer) return hostPort(v.host, v.port)
  if (Array.isArray(v)) return '[' + v.map(inline).join(' ') + ']'
  if (v instanceof Dict) return '{' + v.entries.map(([k, x]) => escapeText(k) + '=' + inline(x)).join(' ') + '}'
  return String(v)
}

// Multi-line form, for replies: aligned keys, lists one item per line.
function render (obj, indent) {
  const keys = obj.entries.map(([k]) => escapeText(k))
  let width = 0
  for (const k of keys) width = Math.max(width, k.length)
  const pad = ' '.repeat(indent)
  const lines = []
  for (let i = 0; i < keys.length; i++) {
    const k = obj.entries[i][0]
    const v = obj.entries[i][1]
    const label = pad + keys[i].padEnd(width) + '  '
    if (Array.isArray(v)) {
      const what = nounFor(k, v.length)
      lines.push(label + (v.length === 0 ? `(no ${what})` : `(${v.length} ${what})`))
      for (const item of v) {
        if (item instanceof Node) lines.push(pad + '  ' + item.id + '  ' + hostPort(item.host, item.port))
        else lines.push(pad + '  ' + inline(item))
      }
    } else if (v instanceof Dict) {
      lines.push(label.trimEnd())
      for (const line of render(v, indent + 2)) lines.push(line)
    } else {
      lines.push(label + inline(v))
    }
  }
  return lines
}

function nounFor (key, n) {
  const one = key === 'nodes' || key === 'nodes6' ? 'node'
    : key === 'values' ? 'peer'
      : key === 'samples' ? 'hash'
        : 'item'
  if (n === 1) return one
  return one === 'hash' ? 'hashes' : one + 's'
}

function ms (ns) {
  return Number(ns) / 1e6
}

function fmtMs (x) {
  return x.toFixed(x < 10 ? 2 : 1) + ' ms'
}

// Client ---------------------------------------------------------------------------------------

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

function round (x) {
  return Math.round(x * 1000) / 1000
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

// Server ---------------------------------------------------------------------------------------

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

// Main -----------------------------------------------------------------------------------------

function print (line) {
  process.stdout.write(line + '\n')
}

// Every message on stderr can hold remote text (warnings name remote values, error replies are
// remote text), so it is escaped; a stack trace keeps its newlines.
function printError (message, multiline) {
  const text = multiline ? String(message).split('\n').map(escapeText).join('\n') : escapeText(message)
  process.stderr.write(`krpc: ${text}\n`)
}

async function main (argv) {
  let parsed
  try {
    parsed = parseArgs(argv)
  } catch (err) {
    return usageError(err)
  }
  const { opts, positional } = parsed
  if (opts.help || positional[0] === 'help') {
    print(HELP)
    return EXIT_OK
  }
  if (opts.version) {
    print(require('../package.json').version)
    return EXIT_OK
  }
  const command = positional.shift()
  try {
    if (command === undefined) throw new UsageError('missing command')
    if (command !== 'serve' && (opts.port !== undefined || opts.host !== undefined)) {
      throw new UsageError(`--${opts.port !== undefined ? 'port' : 'host'} is only for serve`)
    }
    if (command === 'serve' && opts.timeout !== undefined) throw new UsageError('--timeout is not for serve')
    opts.timeout = parseTimeout(opts.timeout)
    if (command === 'ping') await cmdPing(positional, opts)
    else if (command === 'query') await cmdQuery(positional, opts)
    else if (command === 'serve') await cmdServe(positional, opts)
    else throw new UsageError(`unknown command '${command}'`)
  } catch (err) {
    if (err instanceof UsageError) return usageError(err)
    if (err instanceof Failure) {
      if (opts.json && err.json) print(stringify(err.json))
      printError(err.message)
      return err.exitCode
    }
    printError(err && err.stack ? err.stack : String(err), true)
    return EXIT_FAILURE
  }
  return process.exitCode || EXIT_OK
}

function usageError (err) {
  printError(err.message)
  process.stderr.write(USAGE + '\n')
  return EXIT_USAGE
}

if (require.main === module) {
  main(process.argv.slice(2)).then(code => { process.exitCode = code })
} else {
  module.exports = { main, parseArgs, parseAddress, parseValue, parseQueryArgs, view, toJSON, inline, render, ipv6, compactNodes, escapeText, stringify }
}
