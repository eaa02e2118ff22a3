'use strict'
// `npm install` hook. Does nothing when a prebuilt engine loads (the per-platform package, or a
// local build). Otherwise builds the engine from source when cargo is available; cargo fetches
// the crates in Cargo.lock unless they are already in its cache (docs/packaging.md: offline
// builds). Fails with a message that says what to do.
//
// In a consumer's node_modules the build goes to a temporary CARGO_TARGET_DIR that is deleted
// afterwards: only the .node file stays (a target/ directory is about 100 MB). In a checkout of
// the repository (a .git next to package.json), ./target is kept so rebuilds are incremental.

const { spawnSync } = require('child_process')
const fs = require('fs')
const path = require('path')

const root = path.join(__dirname, '..')

function loads () {
  const probe = spawnSync(process.execPath, ['-e', "require('./generated/binding.js')"], { cwd: root, stdio: 'ignore' })
  return probe.status === 0
}

function has (cmd) {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0
}

const forced = process.env.npm_config_build_from_source === 'true' || process.env.KRPC_BUILD_FROM_SOURCE === '1'

if (!forced && loads()) process.exit(0)

if (!has('cargo')) {
  console.error([
    '@dwdht/krpc-socket: no prebuilt engine for ' + process.platform + '-' + process.arch + ' could be loaded,',
    'and there is no Rust toolchain (cargo) to build one from source.',
    'Either install Rust (https://rustup.rs) and run `npm rebuild @dwdht/krpc-socket`,',
    'or make sure the optional dependency for your platform was installed',
    '(a lockfile made on another platform can leave it out: npm/cli#4828; delete it and reinstall).'
  ].join('\n'))
  process.exit(1)
}

console.error('@dwdht/krpc-socket: building the native engine from source (cargo build --release)...')
const build = require('./build')
const checkout = fs.existsSync(path.join(root, '.git'))
const throwaway = process.env.CARGO_TARGET_DIR || checkout
  ? null
  : fs.mkdtempSync(path.join(require('os').tmpdir(), 'krpc-socket-build-'))
let failure = null
try {
  build(throwaway)
} catch (err) {
  failure = err
}
if (throwaway) fs.rmSync(throwaway, { recursive: true, force: true })
if (failure) {
  console.error('@dwdht/krpc-socket: the build failed: ' + failure.message)
  process.exit(1)
}
if (!loads()) {
  console.error('@dwdht/krpc-socket: the engine was built but does not load.')
  process.exit(1)
}
