'use strict'
// krpc's command line: options, addresses, ids and the key=value arguments of `query`. Every
// malformed argument is a UsageError (exit 2), never a value sent on the wire.

const net = require('net')

const EXIT_OK = 0
const EXIT_FAILURE = 1 // socket errors, bind failures, anything unexpected
const EXIT_USAGE = 2
const EXIT_TIMEOUT = 3
const EXIT_ERROR_REPLY = 4
const EXIT_DNS = 5

const DEFAULT_TIMEOUT = 2000

class UsageError extends Error {}

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

module.exports = {
  EXIT_OK,
  EXIT_FAILURE,
  EXIT_USAGE,
  EXIT_TIMEOUT,
  EXIT_ERROR_REPLY,
  EXIT_DNS,
  DEFAULT_TIMEOUT,
  UsageError,
  parseArgs,
  parseId,
  parseTimeout,
  parsePort,
  parseAddress,
  parseValue,
  parseQueryArgs
}
