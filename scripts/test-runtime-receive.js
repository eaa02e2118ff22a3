'use strict'
// Reruns the suites that receive datagrams with the engine's other receive path: reading on the
// Tokio runtime thread (what Bun and Deno use: lib/native.js), forced under Node by
// KRPC_RECEIVE_ON_RUNTIME=1.

const { spawnSync } = require('child_process')
const fs = require('fs')
const path = require('path')

const root = path.join(__dirname, '..')
const dir = path.join(root, '__test__')
const suites = fs.readdirSync(dir)
  .filter(f => /^diff-.*\.test\.js$/.test(f) || ['differences.test.js', 'robustness.test.js', 'hardening.test.js', 'ipv6.test.js'].includes(f))
  .map(f => path.join('__test__', f))

const run = spawnSync(process.execPath, ['--test', ...suites], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, KRPC_RECEIVE_ON_RUNTIME: '1' }
})
process.exit(run.status === null ? 1 : run.status)
