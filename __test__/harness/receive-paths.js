'use strict'
// Reruns a test file in a child process with KRPC_RECEIVE_ON_RUNTIME=1, so its tests also run on
// the runtime thread's receive path (what Bun and Deno use). The child checks it really took
// that path; in the child itself this adds nothing.
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const { ROOT } = require('./index')

// node --test marks its children with NODE_TEST_CONTEXT (they then report to it, not as TAP).
function runTap (file, timeoutMs) {
  const env = { ...process.env, KRPC_RECEIVE_ON_RUNTIME: '1' }
  delete env.NODE_TEST_CONTEXT
  return new Promise(resolve => {
    const child = spawn(process.execPath, ['--test-reporter=tap', file], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => { stdout += d })
    child.stderr.on('data', d => { stderr += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }) })
  })
}

function rerunOnRuntimePath (file, timeoutMs = 60000) {
  if (process.env.KRPC_RECEIVE_ON_RUNTIME === '1') {
    test('this run reads on the runtime thread', () => {
      const RPC = require('../..')
      const rpc = RPC()
      rpc.bind(0, '127.0.0.1')
      assert.equal(rpc.receivePath, 'runtime')
      rpc.destroy()
    })
    return
  }
  test('the same tests with KRPC_RECEIVE_ON_RUNTIME=1 (runtime thread receive path), in a child process', async t => {
    const r = await runTap(file, timeoutMs)
    const summary = r.stdout.split('\n').filter(l => /^# (tests|pass|fail)/.test(l)).join(', ')
    t.diagnostic(summary)
    assert.equal(r.code, 0, `child exited ${r.code} ${r.signal || ''}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`)
    assert.match(summary, /# fail 0/)
  })
}

module.exports = { rerunOnRuntimePath }
