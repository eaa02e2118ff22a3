'use strict'
// Turns live values (events, callback arguments, errors, rinfo, ...) into plain data that can be compared between
// two runs of the same scenario. Only what legitimately differs between runs is normalized:
//   * ephemeral ports (any number under a `port` key, and `:<port>` inside error messages) become <portN> labels,
//     numbered in order of first appearance in the run (or a name given with Normalizer#namePort);
//   * error stacks are dropped;
//   * object identity is made visible instead: every Error gets a tag '#n' (n = order of first appearance in the
//     run), so "the same ETIMEDOUT object every time" compares equal only if it really is one object; objects
//     registered with Normalizer#nameObject render as { '=': name } wherever they appear by identity.
// Everything else is kept: Buffer-ness (Buffer vs plain Uint8Array), bytes, key order (the renderer preserves
// insertion order), -0, prototypes other than Object.prototype, class names, error class/name/message/code and
// own enumerable keys.
const util = require('util')

const MAX_DEPTH = 16

function hex (u8) {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('hex')
}

// Datagram bytes as readable bencode text: printable ASCII as is, everything else (and the backslash) as \xNN.
// It is injective, so equal text means equal bytes.
function wire (buf) {
  let s = ''
  for (const b of buf) s += (b >= 0x20 && b < 0x7f && b !== 0x5c) ? String.fromCharCode(b) : '\\x' + b.toString(16).padStart(2, '0')
  return s
}

class Normalizer {
  constructor () {
    this.ports = new Map() // number -> label
    this.portCount = 0
    this.errIds = new Map() // Error -> '#n'
    this.errCount = 0
    this.names = new Map() // object -> name
  }

  namePort (port, name) {
    if (typeof port === 'number') this.ports.set(port, `<port:${name}>`)
  }

  nameObject (obj, name) {
    this.names.set(obj, name)
  }

  port (p) {
    if (typeof p !== 'number' || !Number.isInteger(p) || p <= 0) return p
    if (!this.ports.has(p)) this.ports.set(p, `<port${++this.portCount}>`)
    return this.ports.get(p)
  }

  text (s) {
    // ports inside messages such as "bind EADDRINUSE 0.0.0.0:41234" or "send EINVAL ::1:41234"
    return s.replace(/:(\d{2,5})\b/g, (m, d) => {
      const n = Number(d)
      return this.ports.has(n) ? ':' + this.ports.get(n) : m
    })
  }

  errorId (e) {
    if (!this.errIds.has(e)) this.errIds.set(e, '#' + (++this.errCount))
    return this.errIds.get(e)
  }

  // `this` inside a callback: sloppy-mode undefined (globalThis) and strict-mode undefined are the same thing.
  thisShape (self) {
    if (self === undefined || self === null || self === globalThis) return '<none>'
    if (typeof self !== 'object' && typeof self !== 'function') return typeof self
    if (this.names.has(self)) return { '=': this.names.get(self) }
    return { keys: Object.keys(self) }
  }

  value (v, depth = 0, seen = new Set()) {
    if (v === null || v === undefined) return v
    const type = typeof v
    if (type === 'number' || type === 'boolean' || type === 'string' || type === 'bigint') return v
    if (type === 'symbol') return `<symbol ${v.description}>`
    if (type === 'function') return '<function>'
    if (this.names.has(v)) return { '=': this.names.get(v) }
    if (depth > MAX_DEPTH) return '<too deep>'
    if (seen.has(v)) return '<cycle>'
    seen.add(v)
    try {
      if (Buffer.isBuffer(v)) return { Buffer: hex(v) }
      if (ArrayBuffer.isView(v)) return { [v.constructor ? v.constructor.name : 'View']: hex(v) }
      if (v instanceof ArrayBuffer) return { ArrayBuffer: Buffer.from(v).toString('hex') }
      if (v instanceof Error) return this.error(v, depth, seen)
      if (Array.isArray(v)) {
        const out = []
        for (let i = 0; i < v.length; i++) out.push(i in v ? this.value(v[i], depth + 1, seen) : '<hole>')
        return out
      }
      const out = {}
      const proto = Object.getPrototypeOf(v)
      if (proto === null) out['<proto>'] = null
      else if (proto !== Object.prototype) {
        const ctor = proto.constructor
        if (typeof ctor === 'function' && ctor.prototype === proto && ctor !== Object) out['<class>'] = ctor.name
        else out['<proto>'] = this.value(proto, depth + 1, seen)
      }
      for (const k of Object.keys(v)) {
        let x
        try { x = v[k] } catch (e) { x = '<getter threw>' }
        out[k] = (k === 'port') ? this.port(x) : this.value(x, depth + 1, seen)
      }
      return out
    } finally {
      seen.delete(v)
    }
  }

  error (e, depth, seen) {
    const out = {
      Error: e.constructor ? e.constructor.name : '<no constructor>',
      name: e.name,
      message: typeof e.message === 'string' ? this.text(e.message) : this.value(e.message, depth + 1, seen),
      code: 'code' in e ? (typeof e.code === 'string' ? e.code : this.value(e.code, depth + 1, seen)) : '<no code>',
      keys: {},
      id: this.errorId(e)
    }
    for (const k of Object.keys(e)) {
      let x
      try { x = e[k] } catch (err) { x = '<getter threw>' }
      out.keys[k] = k === 'port' ? this.port(x) : (typeof x === 'string' ? this.text(x) : this.value(x, depth + 1, seen))
    }
    return out
  }
}

function render (entry) {
  return util.inspect(entry, { depth: Infinity, breakLength: Infinity, maxArrayLength: Infinity, maxStringLength: Infinity, sorted: false, compact: true })
}

module.exports = { Normalizer, render, wire, hex }
