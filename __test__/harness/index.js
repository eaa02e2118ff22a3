'use strict'
// Differential test harness: run ONE scenario against the reference (k-rpc-socket@1.11.1) and against ours
// (require('../..')), each producing a normalized transcript, and assert that the transcripts are identical.
//
//   const { differential, divergence } = require('./harness')
//   differential('name', async (RPC, t) => { ... }, { runTimeout, parallel, skipImpl, skip })
//   divergence('name', async (RPC, t) => { ...explicit asserts about OUR behaviour... })
//
// Environment:
//   KRPC_ONLY=ref   run only the reference (no comparison; divergence tests are skipped)
//   KRPC_ONLY=ours  run only ours (no comparison)
//   KRPC_TRANSCRIPT=1  print every transcript
const { test } = require('node:test')
const path = require('path')
const { spawn } = require('child_process')
const { Context, sleep } = require('./context')
const { diffLines } = require('./diff')

const ROOT = path.resolve(__dirname, '..', '..')
const ONLY = process.env.KRPC_ONLY || ''
if (ONLY && ONLY !== 'ref' && ONLY !== 'ours') throw new Error('KRPC_ONLY must be "ref" or "ours"')
// KRPC_SKIP_TESTS: a JSON object { "part of a test name": "why it is skipped" }, set by
// scripts/test-other-runtimes.js for scenarios that test something the runtime lacks.
const SKIP_TESTS = process.env.KRPC_SKIP_TESTS ? Object.entries(JSON.parse(process.env.KRPC_SKIP_TESTS)) : []
function skipReason (name) {
  const hit = SKIP_TESTS.find(([part]) => name.includes(part))
  return hit ? hit[1] : false
}

const loaded = {}
function load (impl) {
  if (!loaded[impl]) {
    try {
      loaded[impl] = { RPC: impl === 'ref' ? require('k-rpc-socket') : require(ROOT) }
    } catch (err) {
      loaded[impl] = { err }
    }
  }
  if (loaded[impl].err) throw loaded[impl].err
  return loaded[impl].RPC
}

function withTimeout (promise, ms) {
  let timer
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise(resolve => { timer = setTimeout(() => resolve(RUN_TIMEOUT), ms) })
  ])
}
const RUN_TIMEOUT = Symbol('run timeout')

// Run a scenario once against one implementation. Uncaught exceptions during the run are recorded in the
// transcript (as { uncaught }) instead of failing the test file, so a crash shows up in the diff.
async function runOne (impl, scenario, opts = {}, shared = null) {
  let RPC
  try { RPC = load(impl) } catch (err) {
    const ctx = new Context(impl, null)
    ctx.record({ loadError: err })
    ctx.error = err
    return ctx
  }
  const ctx = new Context(impl, RPC)
  const runTimeout = opts.runTimeout || 2500
  const saved = shared ? null : process.listeners('uncaughtException')
  const onUncaught = err => { ctx.record({ uncaught: err }); ctx.uncaught.push(err) }
  if (!shared) {
    process.removeAllListeners('uncaughtException')
    process.on('uncaughtException', onUncaught)
  } else shared.push(onUncaught)
  try {
    const r = await withTimeout(Promise.resolve().then(() => scenario(RPC, ctx)), runTimeout)
    if (r === RUN_TIMEOUT) {
      ctx.record({ runTimedOut: runTimeout })
      ctx.error = new Error(`scenario did not finish within ${runTimeout} ms (${impl})`)
    }
  } catch (err) {
    ctx.record({ scenarioThrew: err })
    ctx.error = err
  } finally {
    await ctx.cleanup()
    await sleep(opts.settle === undefined ? 5 : opts.settle)
    if (!shared) {
      process.removeListener('uncaughtException', onUncaught)
      for (const l of saved) process.on('uncaughtException', l)
    }
  }
  return ctx
}

function show (ctx) {
  return ctx.lines().map((l, i) => String(i + 1).padStart(3) + ' ' + l).join('\n')
}

function impls (opts) {
  let list = ['ref', 'ours']
  if (opts.skipImpl) list = list.filter(x => x !== opts.skipImpl)
  if (ONLY) list = list.filter(x => x === ONLY)
  return list
}

// Register a node:test test that runs the scenario on the reference, then on ours, and asserts that both
// transcripts are identical (printing a line diff otherwise). opts.parallel runs both at once (for scenarios
// that mostly wait, e.g. the default 2000 ms timeout).
function differential (name, scenario, opts = {}) {
  const list = impls(opts)
  const runTimeout = opts.runTimeout || 2500
  const testTimeout = opts.testTimeout || (opts.parallel ? runTimeout : 2 * runTimeout) + 3000
  // Scenarios that compare timing (opts.timing) get up to three attempts: a machine loaded by other
  // jobs makes either implementation's timers late now and then, while a real difference shows in
  // every attempt.
  const attempts = opts.timing ? 3 : 1
  test(name, { skip: opts.skip || skipReason(name) || (list.length === 0 ? 'skipped by KRPC_ONLY/skipImpl' : false), timeout: testTimeout * attempts }, async (t) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await compareOnce()
      } catch (err) {
        if (attempt >= attempts || !err.ref) throw err
        t.diagnostic(`attempt ${attempt} of ${attempts}: ${err.message.split('\n').slice(0, 12).join(' | ')}`)
      }
    }
  })

  async function compareOnce () {
    const ctxs = {}
    if (opts.parallel && list.length > 1) {
      const shared = []
      const saved = process.listeners('uncaughtException')
      process.removeAllListeners('uncaughtException')
      const h = err => { for (const f of shared) f(err) }
      process.on('uncaughtException', h)
      try {
        const got = await Promise.all(list.map(impl => runOne(impl, scenario, opts, shared)))
        list.forEach((impl, i) => { ctxs[impl] = got[i] })
      } finally {
        process.removeListener('uncaughtException', h)
        for (const l of saved) process.on('uncaughtException', l)
      }
    } else {
      for (const impl of list) ctxs[impl] = await runOne(impl, scenario, opts)
    }
    if (process.env.KRPC_TRANSCRIPT) for (const impl of list) console.log(`--- transcript ${impl}: ${name}\n${show(ctxs[impl])}`)
    if (ctxs.ref && ctxs.ref.error) {
      throw withTranscript(new Error(`scenario failed on the REFERENCE (the test is wrong): ${ctxs.ref.error && ctxs.ref.error.stack}`), ctxs.ref)
    }
    if (list.length === 1) {
      const c = ctxs[list[0]]
      if (c.error) throw withTranscript(c.error, c)
      return
    }
    const a = ctxs.ref.lines()
    const b = ctxs.ours.lines()
    if (a.length === b.length && a.every((l, i) => l === b[i])) return
    const err = new Error(`transcripts differ (- reference, + ours):\n${diffLines(a, b)}` +
      (ctxs.ours.error ? `\n\nours: scenario error: ${ctxs.ours.error.stack}` : ''))
    err.ref = a
    err.ours = b
    throw err
  }
}

function withTranscript (err, ctx) {
  if (err && typeof err === 'object') {
    try { err.message += `\n--- transcript (${ctx.impl}):\n${show(ctx)}` } catch (e) {}
  }
  return err
}

// A test about a DELIBERATE difference: runs only against ours, with explicit assertions in the scenario.
function divergence (name, scenario, opts = {}) {
  const skip = opts.skip || skipReason(name) || (ONLY === 'ref' ? 'divergence tests run only against ours (KRPC_ONLY=ref)' : false)
  const runTimeout = opts.runTimeout || 2500
  test(`[divergence] ${name}`, { skip, timeout: opts.testTimeout || runTimeout + 3000 }, async () => {
    const ctx = await runOne('ours', scenario, opts)
    if (process.env.KRPC_TRANSCRIPT) console.log(`--- transcript ours: ${name}\n${show(ctx)}`)
    if (ctx.error) throw withTranscript(ctx.error, ctx)
    if (ctx.uncaught.length && !opts.allowUncaught) throw withTranscript(ctx.uncaught[0], ctx)
  })
}

// Run a script in a child node process (cwd = project root, so require('k-rpc-socket') and require('.') work)
// with a hard timeout. Used to show reference behaviour that hangs or kills the process.
// Runs `node -e code` (or `node script` with { script }) in a child; resolves with its exit, output,
// duration and the last stdout line parsed as JSON when it is JSON (never rejects).
function runChild (code, { timeoutMs = 3000, args = [], env = {}, nodeArgs = [], uid, gid, script } = {}) {
  return new Promise(resolve => {
    const started = Date.now()
    const options = { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }
    if (uid !== undefined) Object.assign(options, { uid, gid })
    const argv = script ? [...nodeArgs, script, ...args] : [...nodeArgs, '-e', code, ...args]
    const child = spawn(process.execPath, argv, options)
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.on('data', d => { stdout += d })
    child.stderr.on('data', d => { stderr += d })
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      let json = null
      try { json = JSON.parse(stdout.trim().split('\n').pop()) } catch (_) {}
      resolve({ code, signal, stdout, stderr, timedOut, ms: Date.now() - started, json })
    })
  })
}

module.exports = { differential, divergence, runOne, runChild, load, ROOT, ONLY, sleep }
