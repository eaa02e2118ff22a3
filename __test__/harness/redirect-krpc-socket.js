'use strict'
// Preload (node --require) that makes every require('k-rpc-socket') resolve to KRPC_REDIRECT_TARGET (our package),
// and writes a marker file (KRPC_MARKER) proving it: one line per redirect, and at exit whether the target module
// really is in require.cache (i.e. was loaded and used).
const Module = require('module')
const fs = require('fs')
const target = process.env.KRPC_REDIRECT_TARGET
const marker = process.env.KRPC_MARKER
if (!target || !marker) throw new Error('redirect-krpc-socket: KRPC_REDIRECT_TARGET and KRPC_MARKER are required')
const resolvedTarget = require.resolve(target)
const orig = Module._resolveFilename
Module._resolveFilename = function (request, parent, ...rest) {
  if (request === 'k-rpc-socket') {
    fs.appendFileSync(marker, `redirected k-rpc-socket from ${parent && parent.filename} to ${resolvedTarget}\n`)
    return resolvedTarget
  }
  return orig.call(this, request, parent, ...rest)
}
process.on('exit', () => {
  fs.appendFileSync(marker, `loaded ${resolvedTarget}: ${Boolean(require.cache[resolvedTarget])}\n`)
})
