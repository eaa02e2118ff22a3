'use strict'
// The implementations under test.
//   ours : this package (the project root, i.e. require('..') from bench/)
//   ref  : k-rpc-socket@1.11.1 from node_modules
//   floor: no RPC library at all: raw dgram with pre-encoded bytes (see floor.js)
const path = require('path')

const ROOT = path.resolve(__dirname, '..', '..')

function loadRpc (impl) {
  if (impl === 'ours') return require(ROOT)
  if (impl === 'ref') return require('k-rpc-socket')
  throw new Error('not an RPC implementation: ' + impl)
}

function refVersion () {
  try {
    return require('k-rpc-socket/package.json').version
  } catch (_) {
    return null
  }
}

module.exports = { ROOT, loadRpc, refVersion, IMPLS: ['ours', 'ref', 'floor'] }
