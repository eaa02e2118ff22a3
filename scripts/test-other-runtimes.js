'use strict'
// Runs a stated part of the suite under Bun and Deno (README, "Runtimes"), with the binaries of
// the optional development packages in scripts/runtimes/package.json. Where a package has no
// binary for this platform (npm skipped it), that runtime is skipped with a message.
//
// Per runtime:
//   1. differential suites whose transcripts match k-rpc-socket's on that runtime, compared in
//      full (ours against the reference, both on that runtime);
//   2. the other differential suites against ours only (KRPC_ONLY=ours: each scenario must run
//      without error): there the reference shows the runtime's own dgram (Bun: error objects with
//      positive errno and no port, bind('::1') on udp4 succeeds; Deno: a burst delivered in
//      reverse order, send callbacks called with a `this`), which ours does not imitate;
//   3. k-rpc-socket's and k-rpc's own tests against ours (consumers.test.js);
//   4. the `krpc` CLI;
//   5. __test__/fixtures/runtime-smoke.js (CommonJS) and .mjs (ESM): the whole API, then the
//      process must end by itself after destroy(), on the runtime receive path.
// Tests named in SKIP test what the runtime's test runner lacks, not this package.

const { spawnSync } = require('child_process')
const fs = require('fs')
const path = require('path')

const root = path.join(__dirname, '..')
const t = f => './__test__/' + f

const COMPARED = {
  bun: ['diff-cancel-destroy', 'diff-construct', 'diff-errors', 'diff-incoming', 'diff-socket', 'diff-tids', 'diff-wire'],
  deno: ['diff-construct', 'diff-errors', 'diff-incoming', 'diff-tids', 'diff-timeout']
}
const ALL_DIFF = fs.readdirSync(path.join(root, '__test__')).filter(f => /^diff-.*\.test\.js$/.test(f)).map(f => f.replace(/\.test\.js$/, ''))

const BUN_UNCAUGHT = "bun test reports an uncaught exception as the test's failure before process 'uncaughtException' listeners see it"
const SKIP = {
  bun: {
    'without an error listener -> uncaught exception': BUN_UNCAUGHT,
    'a timeout callback that throws': BUN_UNCAUGHT,
    'listener and callback exceptions escape as uncaught exceptions': BUN_UNCAUGHT
  },
  deno: {}
}

const RUNTIMES = [
  {
    name: 'bun',
    pkg: '@oven/bun-linux-x64',
    bin: ['bin', 'bun'],
    test: files => ['test', ...files],
    run: file => [file],
    consumers: ['test', t('consumers.test.js')],
    cli: ['test', t('cli.test.js')]
  },
  {
    name: 'deno',
    pkg: '@deno/linux-x64-glibc',
    bin: ['deno'],
    test: files => ['test', '-A', ...files],
    run: file => ['run', '-A', file],
    // k-rpc's test.js is run by a `node --require` child, an option Deno's child_process does
    // not translate; k-rpc-socket's own five tests run.
    consumers: ['test', '-A', '--filter', 'k-rpc-socket test.js', t('consumers.test.js')],
    // cli.test.js's signal tests see the child killed by the signal when Deno's test runner
    // spawns it; the CLI's own check below sends SIGINT to a `deno run` server instead.
    cli: null
  }
]

let passed = 0
let failed = 0
let skipped = 0

function report (runtime, what, ok, detail) {
  if (ok) passed++
  else failed++
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${runtime.name}: ${what}${detail ? '\n' + detail : ''}`)
}

function exec (runtime, args, env, timeout) {
  const started = Date.now()
  const r = spawnSync(runtime.exe, args, {
    cwd: root,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env },
    encoding: 'utf8',
    timeout,
    maxBuffer: 64 * 1024 * 1024
  })
  return { ...r, ms: Date.now() - started }
}

function tail (text, lines) {
  return String(text || '').trim().split('\n').slice(-lines).join('\n')
}

function suite (runtime, what, args, env = {}) {
  const r = exec(runtime, args, env, 180000)
  const ok = r.status === 0
  report(runtime, `${what} (${(r.ms / 1000).toFixed(1)} s)`, ok, ok ? '' : tail(r.stdout + '\n' + r.stderr, 60))
}

// A script must print a JSON line with ok: true, use the runtime receive path, and end by itself.
function smoke (runtime, file) {
  const r = exec(runtime, runtime.run(file), {}, 30000)
  let result = null
  try { result = JSON.parse(String(r.stdout).trim().split('\n').pop()) } catch (_) {}
  const exitedByItself = r.error === undefined && r.signal === null
  const ok = exitedByItself && r.status === 0 && result !== null && result.ok === true && result.receivePath === 'runtime'
  report(runtime, `${path.basename(file)}: ${result && result.steps ? result.steps.length + ' steps, ' : ''}` +
    `receivePath ${result && result.receivePath}, exited by itself in ${r.ms} ms`, ok,
  ok ? '' : `status ${r.status} signal ${r.signal} ${r.error ? r.error.message : ''}\n${tail(r.stdout + '\n' + r.stderr, 30)}`)
}

// `krpc serve` answers `krpc ping` and `krpc query`, and stops with exit 0 on SIGINT.
async function cli (runtime) {
  const { spawn } = require('child_process')
  const bin = path.join(root, 'bin', 'krpc.js')
  const server = spawn(runtime.exe, runtime.run(bin).concat(['serve', '--port', '0', '--host', '127.0.0.1']), { cwd: root, env: { ...process.env, NO_COLOR: '1' } })
  let out = ''
  server.stdout.on('data', d => { out += d })
  server.stderr.on('data', d => { out += d })
  const exited = new Promise(resolve => server.on('close', (code, signal) => resolve({ code, signal })))
  const killer = setTimeout(() => server.kill('SIGKILL'), 30000)
  try {
    const port = await new Promise((resolve, reject) => {
      const check = setInterval(() => {
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out)
        if (m) { clearInterval(check); resolve(Number(m[1])) }
      }, 20)
      exited.then(() => { clearInterval(check); reject(new Error('serve exited: ' + out)) })
    })
    const ping = exec(runtime, runtime.run(bin).concat(['ping', `127.0.0.1:${port}`, '--json']), {}, 20000)
    const query = exec(runtime, runtime.run(bin).concat(['query', `127.0.0.1:${port}`, 'find_node', 'target=' + 'ab'.repeat(20)]), {}, 20000)
    server.kill('SIGINT')
    const end = await exited
    const ok = ping.status === 0 && /"rtt/.test(ping.stdout) && query.status === 0 && end.code === 0 && end.signal === null &&
      /^ping from/m.test(out) && /^find_node from/m.test(out)
    report(runtime, 'krpc serve / ping / query, SIGINT -> exit 0', ok,
      ok ? '' : `ping ${ping.status}: ${ping.stdout}${ping.stderr}\nquery ${query.status}: ${query.stdout}${query.stderr}\nserve ${JSON.stringify(end)}: ${out}`)
  } catch (err) {
    report(runtime, 'krpc serve / ping / query', false, err.message)
  } finally {
    clearTimeout(killer)
  }
}

async function main () {
  const only = process.argv[2]
  for (const runtime of RUNTIMES) {
    if (only && only !== runtime.name) continue
    let dir
    try {
      dir = path.dirname(require.resolve(runtime.pkg + '/package.json', { paths: [root] }))
    } catch (_) {}
    runtime.exe = dir && path.join(dir, ...runtime.bin)
    if (!runtime.exe || !fs.existsSync(runtime.exe)) {
      skipped++
      console.log(`SKIP ${runtime.name}: ${runtime.pkg} is not installed: it has a binary for linux-x64 only ` +
        `(this is ${process.platform}-${process.arch}), and npm skips it elsewhere`)
      continue
    }
    const version = exec(runtime, ['--version'], {}, 20000)
    console.log(`# ${runtime.name} ${String(version.stdout).trim().split('\n')[0]}`)
    const compared = COMPARED[runtime.name]
    const rest = ALL_DIFF.filter(f => !compared.includes(f))
    const skip = { KRPC_SKIP_TESTS: JSON.stringify(SKIP[runtime.name]) }
    suite(runtime, `differential, compared with k-rpc-socket on ${runtime.name}: ${compared.join(' ')}`,
      runtime.test(compared.map(f => t(f + '.test.js'))), skip)
    suite(runtime, `differential scenarios, ours only: ${rest.join(' ')}`,
      runtime.test(rest.map(f => t(f + '.test.js'))), { ...skip, KRPC_ONLY: 'ours' })
    suite(runtime, 'consumers.test.js', runtime.consumers)
    if (runtime.cli) suite(runtime, 'cli.test.js', runtime.cli)
    await cli(runtime)
    smoke(runtime, path.join('__test__', 'fixtures', 'runtime-smoke.js'))
    smoke(runtime, path.join('__test__', 'fixtures', 'runtime-smoke.mjs'))
  }
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ''))
  process.exitCode = failed ? 1 : 0
}

main()
