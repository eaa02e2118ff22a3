'use strict'
// Builds the engine with cargo and puts it where generated/binding.js (the napi-rs loader) looks
// first: `generated/krpc-socket.<platform>-<arch>[-<abi>].node`, beside the loader, which requires
// it relative to its own directory. Used by the install hook, so it must not need @napi-rs/cli (a
// devDependency that consumers do not have).

const { spawnSync } = require('child_process')
const fs = require('fs')
const path = require('path')

const root = path.join(__dirname, '..')

function platformSuffix () {
  const { platform, arch } = process
  if (platform === 'linux') {
    const report = process.report && process.report.getReport && process.report.getReport()
    const glibc = report && report.header && report.header.glibcVersionRuntime
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

function libraryName () {
  if (process.platform === 'win32') return 'krpc_socket.dll'
  if (process.platform === 'darwin') return 'libkrpc_socket.dylib'
  return 'libkrpc_socket.so'
}

// `targetDir` overrides CARGO_TARGET_DIR (the install hook passes a throwaway one).
module.exports = function build (targetDir) {
  const dir = targetDir || process.env.CARGO_TARGET_DIR || path.join(root, 'target')
  const result = spawnSync('cargo', ['build', '--release', '--lib'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, CARGO_TARGET_DIR: dir }
  })
  if (result.status !== 0) throw new Error('cargo build exited with ' + result.status)
  const from = path.join(dir, 'release', libraryName())
  const to = path.join(root, 'generated', `krpc-socket.${platformSuffix()}.node`)
  fs.copyFileSync(from, to)
  return to
}

if (require.main === module) console.log(module.exports())
