'use strict'
// Checks of the options this package adds to k-rpc-socket's (type, matchPort, maxInflight,
// rateLimit, readOnly, ipv6Only, sendRate). A typo there would otherwise pass silently (`type: 'udp5'` gave an IPv4 socket,
// `maxInflight: 0` no limit). The reference's own options (timeout, socket, isIP) keep the
// reference's behaviour and are not checked here; every other key is ignored, since k-rpc and
// bittorrent-dht hand their whole options object on.

const { inspect } = require('util')

function invalid (name, value, expected) {
  const err = new TypeError(`The "${name}" option must be ${expected}. Received ${inspect(value, { depth: 0 })}`)
  err.code = 'ERR_INVALID_ARG_VALUE'
  return err
}

const absent = value => value === undefined || value === null

function validateAddedOptions (opts) {
  if (!absent(opts.type) && opts.type !== 'udp4' && opts.type !== 'udp6') {
    throw invalid('type', opts.type, "'udp4' or 'udp6'")
  }
  if (!absent(opts.matchPort) && typeof opts.matchPort !== 'boolean') {
    throw invalid('matchPort', opts.matchPort, 'a boolean')
  }
  if (!absent(opts.ipv6Only)) {
    if (typeof opts.ipv6Only !== 'boolean') throw invalid('ipv6Only', opts.ipv6Only, 'a boolean')
    // It sets an option of the built-in IPv6 socket: elsewhere it would do nothing, silently.
    if (opts.type !== 'udp6' || !absent(opts.socket)) {
      throw invalid('ipv6Only', opts.ipv6Only, "given with type: 'udp6' and without socket")
    }
  }
  const rate = opts.sendRate
  if (!absent(rate)) {
    if (typeof rate !== 'object' || Array.isArray(rate)) throw invalid('sendRate', rate, 'an object { perSecond, burst }')
    if (!(typeof rate.perSecond === 'number' && rate.perSecond > 0 && rate.perSecond !== Infinity)) {
      throw invalid('sendRate.perSecond', rate.perSecond, 'a positive number')
    }
    if (!absent(rate.burst) && !(Number.isInteger(rate.burst) && rate.burst > 0 && rate.burst <= 0xffffffff)) {
      throw invalid('sendRate.burst', rate.burst, 'a positive integer')
    }
    // The pacer is in the built-in socket's driver; a user socket's sends do not pass through it.
    if (!absent(opts.socket)) throw invalid('sendRate', rate, 'given without socket')
  }
  if (!absent(opts.readOnly) && typeof opts.readOnly !== 'boolean') {
    throw invalid('readOnly', opts.readOnly, 'a boolean')
  }
  const window = opts.maxInflight
  const count = v => Number.isInteger(v) && v > 0
  if (window !== null && typeof window === 'object') {
    if (!count(window.limit)) throw invalid('maxInflight.limit', window.limit, 'a positive integer')
    if (!count(window.queue)) throw invalid('maxInflight.queue', window.queue, 'a positive integer')
  } else if (!absent(window) && !count(window)) {
    throw invalid('maxInflight', window, 'a positive integer or { limit, queue }')
  }
  const limit = opts.rateLimit
  if (absent(limit) || typeof limit === 'boolean') return
  if (typeof limit !== 'object') throw invalid('rateLimit', limit, 'a boolean or { perSecond, windowMs, blockMs }')
  const positive = v => typeof v === 'number' && v > 0 && v !== Infinity
  if (!absent(limit.perSecond) && !positive(limit.perSecond)) throw invalid('rateLimit.perSecond', limit.perSecond, 'a positive number')
  if (!absent(limit.windowMs) && !positive(limit.windowMs)) throw invalid('rateLimit.windowMs', limit.windowMs, 'a positive number')
  if (!absent(limit.blockMs) && !(typeof limit.blockMs === 'number' && limit.blockMs >= 0 && limit.blockMs !== Infinity)) {
    throw invalid('rateLimit.blockMs', limit.blockMs, 'a number of milliseconds, 0 or more')
  }
}

module.exports = { validateAddedOptions }
