'use strict'
// Errors that must look exactly like the ones dgram and Node's internals throw: same class,
// message, code and own keys, whatever the Node version. Where Node can produce the error
// without side effects, we let it (a closed dgram socket validates arguments and then refuses to
// do anything); the few others are rebuilt the way Node builds them.

const dgram = require('dgram')
const util = require('util')

const EMPTY = Buffer.alloc(0)
let closed = null
let unbound = null

function closedSocket () {
  if (closed === null) {
    closed = dgram.createSocket('udp4')
    closed.close()
  }
  return closed
}

// A socket that is never bound: it owns no file descriptor and never keeps the loop alive.
function unboundSocket () {
  if (unbound === null) unbound = dgram.createSocket('udp4')
  return unbound
}

function capture (fn) {
  try {
    fn()
  } catch (err) {
    return err
  }
  return null
}

/** `Error [ERR_SOCKET_DGRAM_NOT_RUNNING]: Not running`, as dgram throws it after close(). */
function notRunning () {
  return capture(() => closedSocket().address())
}

/**
 * dgram's port check for send(): returns the port as dgram normalises it, or throws dgram's own
 * RangeError [ERR_SOCKET_BAD_PORT].
 */
function validateSendPort (port) {
  if (typeof port === 'number' && port > 0 && port <= 0xffff && (port | 0) === port) return port
  const err = capture(() => closedSocket().send(EMPTY, 0, 0, port, '127.0.0.1'))
  if (err && err.code !== 'ERR_SOCKET_DGRAM_NOT_RUNNING') throw err
  return port | 0
}

/** Throws dgram's TypeError when a send address is neither a string nor null/undefined. */
function validateSendAddress (address) {
  if (address == null || typeof address === 'string') return
  const err = capture(() => closedSocket().send(EMPTY, 0, 0, 1, address))
  if (err && err.code !== 'ERR_SOCKET_DGRAM_NOT_RUNNING') throw err
}

/** Throws what dgram throws for a send buffer that is not a Buffer, TypedArray, DataView or string. */
function validateSendBuffer (buffer, offset, length) {
  const err = capture(() => closedSocket().send(buffer, offset, length, 1, '127.0.0.1'))
  if (err && err.code !== 'ERR_SOCKET_DGRAM_NOT_RUNNING') throw err
}

/** `getsockname EBADF`: what address() throws before the socket is bound. */
function notBound () {
  return capture(() => unboundSocket().address())
}

/** What dgram's get/setRecvBufferSize throw on an unbound socket. */
function bufferSizeUnbound (method, size) {
  return capture(() => unboundSocket()[method](size))
}

/** Node's NodeError shape: own enumerable `code`, `Name [CODE]: message` in stack and toString. */
function nodeError (Base, code, message) {
  const err = new Base(message)
  const header = `${Base.name} [${code}]: ${message}`
  err.stack = header + err.stack.slice(err.stack.indexOf('\n') === -1 ? err.stack.length : err.stack.indexOf('\n'))
  Object.defineProperty(err, 'toString', {
    value () { return `${this.name} [${code}]: ${this.message}` },
    enumerable: false,
    writable: true,
    configurable: true
  })
  err.code = code
  return err
}

function alreadyBound () {
  return nodeError(Error, 'ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound')
}

function codeOf (errno) {
  try {
    return util.getSystemErrorName(-errno)
  } catch {
    return `Unknown system error ${-errno}`
  }
}

/** Node's ExceptionWithHostPort: `send EINVAL ::1:6881` with errno, code, syscall, address, port. */
function exceptionWithHostPort (errno, syscall, address, port) {
  const code = codeOf(errno)
  let details = ''
  if (port && port > 0) details = ` ${address}:${port}`
  else if (address) details = ` ${address}`
  const err = new Error(`${syscall} ${code}${details}`)
  err.errno = -errno
  err.code = code
  err.syscall = syscall
  err.address = address
  if (port) err.port = port
  return err
}

module.exports = {
  notRunning,
  notBound,
  alreadyBound,
  bufferSizeUnbound,
  validateSendPort,
  validateSendAddress,
  validateSendBuffer,
  exceptionWithHostPort
}
