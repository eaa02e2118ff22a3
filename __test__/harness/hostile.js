'use strict'
// The attacker's side of the hostile-value tests: raw bencode bytes written by hand, never by the
// encoder under test (whose bugs would then hide on both sides), and a generator of hostile values.
//
// A value here is a node `{ raw: Buffer }` of finished bencode bytes; `str`, `int`, `list` and
// `dict` build them. `dict` keeps its entries in the order given (unsorted and duplicate keys are
// allowed: they are what an attacker sends).

const { rng } = require('./rng')

// A string is its latin1 bytes (one byte per char), unless it holds characters above U+00FF: UTF-8.
const b = x => (Buffer.isBuffer(x) ? x : Buffer.from(String(x), /[^\u0000-\u00ff]/.test(x) ? 'utf8' : 'latin1')) // eslint-disable-line no-control-regex

/** A byte string: `<len>:<bytes>`. `bytes` is a Buffer or a latin1 string. */
function str (bytes) {
  const body = b(bytes)
  return { raw: Buffer.concat([Buffer.from(body.length + ':'), body]) }
}

/** An integer, from its decimal text (so huge ones are exact): `i<text>e`. */
function int (text) {
  return { raw: Buffer.from('i' + String(text) + 'e') }
}

function list (...items) {
  return { raw: Buffer.concat([Buffer.from('l'), ...items.map(v => v.raw), Buffer.from('e')]) }
}

/** `entries`: [key (latin1 string or Buffer), value node] pairs, in wire order. */
function dict (entries) {
  const parts = [Buffer.from('d')]
  for (const [k, v] of entries) parts.push(str(k).raw, v.raw)
  parts.push(Buffer.from('e'))
  return { raw: Buffer.concat(parts) }
}

/** A root message dict from { key: node } (wire order is the object's order). */
function message (fields) {
  return dict(Object.entries(fields)).raw
}

// Keys that name methods or hooks JavaScript, Node or consumers look up on objects.
const HOOK_KEYS = ['toString', 'valueOf', 'constructor', '__proto__', 'hasOwnProperty', 'then', 'inspect', 'toJSON']

// Byte strings that mean something to a terminal or to a decoder.
const NASTY_BYTES = [
  '', 'e', 'q', 'r', 'x', '\x00', '\x1b[2J\x1b[H', '\x1b]0;pwned\x07', '\x9b31m', '\x7f',
  Buffer.from('\u202eevil\u2066', 'utf8'), Buffer.from([0xff, 0xfe, 0xc2]), Buffer.from([0xc2, 0x9b, 0x33, 0x31, 0x6d]),
  'ping', 'toString', '__proto__'
]
const INTS = ['0', '-0', '1', '-1', '201', '65535', '-42', '9007199254740993', '-99999999999999999999999', '9'.repeat(300), '1.5']

// The small exhaustive set: every bencode type once, and one dict per hook key with each kind of value.
function smallValues () {
  const out = []
  for (const t of INTS) out.push(int(t))
  for (const s of NASTY_BYTES) out.push(str(s))
  out.push(list(), dict([]), list(list()), list(str('a'), int(1), dict([])))
  for (const k of HOOK_KEYS) {
    out.push(dict([[k, str('x')]]), dict([[k, int(1)]]), dict([[k, list()]]), dict([[k, dict([])]]))
    out.push(list(dict([[k, str('x')]])), list(int(201), list(str('a'), dict([[k, str('x')]]))))
  }
  out.push(dict([['valueOf', str('x')], ['toString', str('x')]]))
  out.push(dict([['a', int(1)], ['a', int(2)]])) // a duplicate key
  out.push(dict([['b', int(1)], ['a', int(2)]])) // unsorted keys
  return out
}

/** A random hostile value from `next` (a seeded rng), nested at most `depth` levels. */
function randomValue (next, depth) {
  const pick = arr => arr[Math.floor(next() * arr.length)]
  const r = next()
  if (depth <= 0 || r < 0.35) {
    const s = next()
    if (s < 0.4) return int(pick(INTS))
    if (s < 0.8) return str(pick(NASTY_BYTES))
    const n = Math.floor(next() * 12)
    const bytes = Buffer.alloc(n)
    for (let i = 0; i < n; i++) bytes[i] = Math.floor(next() * 256)
    return str(bytes)
  }
  const n = Math.floor(next() * 4)
  if (r < 0.65) {
    const items = []
    for (let i = 0; i < n; i++) items.push(randomValue(next, depth - 1))
    return list(...items)
  }
  const entries = []
  for (let i = 0; i < n + (next() < 0.6 ? 1 : 0); i++) {
    const key = next() < 0.6 ? pick(HOOK_KEYS) : pick(['id', 'a', 'e', 'q', 'r', 't', 'y', '\x1b[2J', ''])
    entries.push([key, randomValue(next, depth - 1)])
  }
  return dict(entries)
}

/** A chain of `depth` lists around `inner` (the decoder allows 32768 levels). */
function deep (depth, inner, kind = 'list') {
  let v = inner
  for (let i = 0; i < depth; i++) v = kind === 'list' ? list(v) : dict([['toString', v]])
  return v
}

module.exports = { str, int, list, dict, message, deep, smallValues, randomValue, rng, HOOK_KEYS, NASTY_BYTES, INTS }

// Hostile messages for every receive role ----------------------------------------------------------

const ID = Buffer.alloc(20, 0x11)

// A message is built from a template of [key, node] pairs, one field of which (a path of keys and
// list indexes) is replaced by the hostile value. Paths reach the root, its fields, the fields of
// `a` and `r`, the elements of `e`, and a value nested a few levels down.
function build (template, path, value) {
  const node = (tpl, i) => {
    if (i === path.length) return value
    if (tpl && tpl.list) {
      const items = tpl.list.map(x => x)
      const k = path[i]
      items[k] = node(items[k], i + 1)
      return { list: items }
    }
    const entries = (tpl && tpl.dict ? tpl.dict : []).map(e => e.slice())
    const at = entries.findIndex(e => e[0] === path[i])
    if (at === -1) entries.push([path[i], node(null, i + 1)])
    else entries[at][1] = node(entries[at][1], i + 1)
    return { dict: entries }
  }
  return render(node(template, 0))
}

function render (tpl) {
  if (tpl.raw) return tpl
  if (tpl.list) return list(...tpl.list.map(render))
  if (tpl.dict) return dict(tpl.dict.map(([k, v]) => [k, render(v)]))
  throw new Error('bad template')
}

const QUERY = { dict: [['a', { dict: [['id', str(ID)], ['target', str(ID)]] }], ['q', str('find_node')], ['t', str('aa')], ['y', str('q')]] }
const QUERY_PATHS = [['t'], ['y'], ['q'], ['a'], ['a', 'id'], ['a', 'target'], ['a', 'x', 'y', 'z'], ['toString'], ['a', '__proto__']]
// Replies: `t` is filled in with the query's tid by the attacker (TID_MARK is replaced).
const TID_MARK = Buffer.from('\u0000TID\u0000', 'latin1')
const REPLY = { dict: [['r', { dict: [['id', str(ID)], ['nodes', str('')]] }], ['t', str(TID_MARK)], ['y', str('r')]] }
const REPLY_PATHS = [['t'], ['y'], ['r'], ['r', 'id'], ['r', 'nodes'], ['r', 'x', 'y'], ['valueOf'], ['r', 'toString']]
const ERROR = { dict: [['e', { list: [int(201), str('A Generic Error')] }], ['t', str(TID_MARK)], ['y', str('e')]] }
const ERROR_PATHS = [['e'], ['e', 0], ['e', 1], ['e', 1, 0], ['e', 1, 'toString'], ['y'], ['constructor']]

/**
 * The cases of one run: `queries` (raw datagrams sent to a socket as incoming queries) and
 * `replies` (raw replies and errors to a query in flight, with TID_MARK where its tid goes).
 * The small values on every path, then `random` seeded ones (random kind, path and value).
 */
function buildCases (seed, random) {
  const queries = []
  const replies = []
  const small = smallValues()
  for (const v of small) {
    for (const p of QUERY_PATHS) queries.push(build(QUERY, p, v).raw)
    for (const p of REPLY_PATHS) replies.push(build(REPLY, p, v).raw)
    for (const p of ERROR_PATHS) replies.push(build(ERROR, p, v).raw)
  }
  const next = rng(seed)
  for (let i = 0; i < random; i++) {
    const depth = next() < 0.1 ? Math.floor(next() * 500) : 0
    let v = randomValue(next, 5)
    if (depth) v = deep(depth, v, next() < 0.5 ? 'list' : 'dict')
    const kind = Math.floor(next() * 3)
    if (kind === 0) queries.push(build(QUERY, QUERY_PATHS[Math.floor(next() * QUERY_PATHS.length)], v).raw)
    else if (kind === 1) replies.push(build(REPLY, REPLY_PATHS[Math.floor(next() * REPLY_PATHS.length)], v).raw)
    else replies.push(build(ERROR, ERROR_PATHS[Math.floor(next() * ERROR_PATHS.length)], v).raw)
  }
  return { queries, replies }
}

/** `raw` with its TID_MARK string replaced by the 2-byte `tid` (the length prefix is fixed up). */
function withTid (raw, tid) {
  const mark = Buffer.concat([Buffer.from(TID_MARK.length + ':'), TID_MARK])
  const at = raw.indexOf(mark)
  if (at === -1) return raw
  return Buffer.concat([raw.subarray(0, at), Buffer.from(tid.length + ':'), tid, withTid(raw.subarray(at + mark.length), tid)])
}

Object.assign(module.exports, { buildCases, withTid, ID, TID_MARK })
