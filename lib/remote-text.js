'use strict'

// Text of decoded remote values, as k-rpc-socket computes it with `String(v)`, `v.toString()` or
// `list.join(sep)`, but without calling any method found on the data and without recursion.
//
// A decoded value is a Buffer, a number, an Array or a plain object (a dict), nested up to 32768
// levels. On all of them JavaScript's own conversions give exactly what these functions give,
// except where they throw: a dict with its own `toString` key (whatever its value: a decoded value
// is never callable) has no usable toString, falls back to Object.prototype.valueOf, which returns
// an object, and the conversion throws a TypeError. Such a dict, directly or in a nested list, is
// `DICT_TEXT` here, as a dict without that key would be (README, "Differences").

const { Buffer } = require('buffer')

const DICT_TEXT = '[object Object]'

// Explicit bounds on the work and the output. One datagram (at most 65507 bytes) holds fewer than
// 33,000 values and its text is under 600,000 characters (a 2-byte `de` gives 15), so neither is
// ever reached by a decoded datagram; beyond them the text is cut short rather than grown.
const MAX_VALUES = 1 << 20
const MAX_CHARS = 1 << 22

const utf8Slice = Buffer.prototype.utf8Slice
const hasOwn = Object.prototype.hasOwnProperty
const objectToString = Object.prototype.toString

/**
 * `String(v)` of one decoded value (a list is joined with ',', as Array#toString does).
 *
 * @param {*} v a decoded value
 * @returns {string}
 */
function valueText (v) {
  if (Array.isArray(v)) return joinText(v, ',')
  return scalarText(v)
}

/**
 * `list.join(separator)` over decoded values: null and undefined elements are empty, nested lists
 * are joined with ',', Buffers are their UTF-8 text, dicts `[object Object]`.
 *
 * @param {Array} list
 * @param {string} separator
 * @returns {string}
 */
function joinText (list, separator) {
  // Frames of the lists being joined: the list, the index of its next element, its text so far.
  const lists = [list]
  const indexes = [0]
  const texts = ['']
  // Array#join's cycle check: a list met again inside itself is ''. Decoded lists are never
  // cyclic; the check keeps the bound on work meaningful for any input.
  const open = new Set([list])
  let values = 0
  let chars = 0
  for (;;) {
    const d = lists.length - 1
    const l = lists[d]
    const i = indexes[d]
    if (i >= l.length || values >= MAX_VALUES || chars >= MAX_CHARS) {
      const text = texts.pop()
      open.delete(lists.pop())
      indexes.pop()
      if (d === 0) return text.length > MAX_CHARS ? text.slice(0, MAX_CHARS) : text
      texts[d - 1] += text
      continue
    }
    values++
    indexes[d] = i + 1
    if (i > 0) {
      const sep = d === 0 ? separator : ','
      texts[d] += sep
      chars += sep.length
    }
    const e = l[i]
    if (e == null) continue
    if (Array.isArray(e)) {
      if (open.has(e)) continue
      open.add(e)
      lists.push(e)
      indexes.push(0)
      texts.push('')
      continue
    }
    const text = scalarText(e)
    texts[d] += text
    chars += text.length
  }
}

// ToString of a value that is not an Array.
function scalarText (v) {
  if (typeof v !== 'object' || v === null) return String(v)
  if (Buffer.isBuffer(v)) return utf8Slice.call(v, 0, v.length)
  // A plain Uint8Array converts like a list of its bytes (TypedArray#toString is Array#join).
  if (v instanceof Uint8Array) return Array.prototype.join.call(v, ',')
  if (hasOwn.call(v, 'toString')) return DICT_TEXT
  return objectToString.call(v)
}

module.exports = { valueText, joinText, DICT_TEXT, MAX_VALUES, MAX_CHARS }
