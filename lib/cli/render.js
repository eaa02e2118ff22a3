'use strict'
// What krpc prints: decoded messages become views (byte strings as Hex or Text, compact info as
// Node and Peer, dicts as Dict), rendered as aligned text or as JSON. Every remote string is
// escaped on the way out (escapeText, stringify).

const { Node, Peer, compactPeer, compactNodes, hashes } = require('./compact')

// A decoded message becomes a "view": byte strings turn into Hex or Text, compact node and peer
// info into Node and Peer objects. Views render as text (human) or JSON (machines).
class Hex { constructor (buf) { this.hex = Buffer.from(buf).toString('hex') } }
class Text { constructor (buf) { this.text = buf.toString('utf8'); this.hex = buf.toString('hex') } }
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

function view (value, key, depth = 0) {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    const buf = Buffer.isBuffer(value) ? value : Buffer.from(value)
    let decoded = null
    if (key === 'nodes') decoded = compactNodes(buf, 4)
    else if (key === 'nodes6') decoded = compactNodes(buf, 16)
    else if (key === 'samples') {
      const list = hashes(buf)
      decoded = list && list.map(h => new Hex(h))
    }
    else if (key === 'ip') decoded = compactPeer(buf)
    if (decoded) return decoded
    if (BINARY_KEYS.has(key) || !isPrintable(buf)) return new Hex(buf)
    return new Text(buf)
  }
  if (value === null || typeof value !== 'object') return value
  // Remote values nest up to 32768 levels; no DHT message nests more than a few. Deeper parts are
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

function round (x) {
  return Math.round(x * 1000) / 1000
}

function print (line) {
  process.stdout.write(line + '\n')
}

// Every message on stderr can hold remote text (warnings name remote values, error replies are
// remote text), so it is escaped; a stack trace keeps its newlines.
function printError (message, multiline) {
  const text = multiline ? String(message).split('\n').map(escapeText).join('\n') : escapeText(message)
  process.stderr.write(`krpc: ${text}\n`)
}

module.exports = {
  Hex,
  Text,
  Dict,
  view,
  escapeText,
  stringify,
  hostPort,
  toJSON,
  inline,
  render,
  ms,
  fmtMs,
  round,
  print,
  printError
}
