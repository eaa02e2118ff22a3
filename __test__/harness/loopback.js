'use strict'
// Plain dgram peers on loopback for the tests of the added options: a raw socket stands in for a
// remote node, so what goes on the wire is seen as bytes and what comes back is crafted by hand.
const dgram = require('node:dgram')

/** A dgram socket bound to a random port of `address` (udp4 on 127.0.0.1 by default). */
function rawSocket (type = 'udp4', address = type === 'udp6' ? '::1' : '127.0.0.1') {
  return new Promise(resolve => {
    const s = dgram.createSocket(type)
    s.bind(0, address, () => resolve(s))
  })
}

/** Whether this machine has an IPv6 loopback (some containers do not). */
function hasIpv6Loopback () {
  return new Promise(resolve => {
    const s = dgram.createSocket('udp6')
    s.once('error', () => resolve(false))
    s.bind(0, '::1', () => { s.close(); resolve(true) })
  })
}

const nextMessage = s => new Promise(resolve => s.once('message', (buf, rinfo) => resolve([buf, rinfo])))
const tick = ms => new Promise(resolve => setTimeout(resolve, ms))
/** The 2-byte transaction id of an encoded query (as a Buffer). */
const tidOf = buf => buf.subarray(buf.indexOf('1:t2:') + 5, buf.indexOf('1:t2:') + 7)
/** A minimal reply (`r.id` = 'x') with transaction id `tid` (a 2-byte Buffer); `extra` goes before `y`. */
const reply = (tid, extra = '') => Buffer.concat([Buffer.from('d1:rd2:id1:xe1:t2:'), tid, Buffer.from(extra + '1:y1:re')])

module.exports = { rawSocket, hasIpv6Loopback, nextMessage, tick, tidOf, reply }
