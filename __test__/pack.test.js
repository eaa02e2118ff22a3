'use strict'
// Install without Rust (docs/packaging.md): pack the main package and this host's per-platform
// package (npm/<platform>/) the way they would be published, install the tarballs into an empty
// project with cargo/rustc stripped from PATH and an empty npm cache in --offline mode, and use the
// result from CommonJS, ESM and TypeScript. Then check the two ways it must fail clearly: without
// the platform package and without cargo, the install hook (scripts/install.js) stops the install
// with its message; with --ignore-scripts the install succeeds and require() says what to do.
//
// Offline: the tarballs are local files, the main package has no runtime dependencies, and its
// optionalDependencies on the other (unpublished, uncached) platform packages are skipped by npm
// as optional failures. The only thing built is this host's engine, and only when it is missing.
//
//   KRPC_KEEP_TMP=1  keep the temp dir (its path is printed)
const { test, before, after } = require('node:test')
const assert = require('assert')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { spawnSync } = require('child_process')

const ROOT = path.resolve(__dirname, '..')
const pkg = require(ROOT + '/package.json')

// The files a consumer needs from the main tarball: the JS API, the generated loader, types for
// both module systems, and everything the build-from-source fallback needs.
const REQUIRED_FILES = [
  'package.json', 'index.js', 'index.mjs', 'index.d.ts', 'index.d.mts', 'binding.js', 'binding.d.ts',
  'lib/native.js', 'scripts/install.js', 'scripts/build.js', 'src/lib.rs', 'Cargo.toml', 'Cargo.lock', 'build.rs'
]

// The platform suffix binding.js (the napi-rs loader) and scripts/build.js use for this host.
function hostSuffix () {
  const { platform, arch } = process
  if (platform === 'linux') {
    const report = process.report && process.report.getReport && process.report.getReport()
    return `linux-${arch}-${report && report.header && report.header.glibcVersionRuntime ? 'gnu' : 'musl'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

function findNpmCli () {
  const candidates = []
  if (process.env.npm_execpath && /npm-cli\.js$/.test(process.env.npm_execpath)) candidates.push(process.env.npm_execpath)
  candidates.push(path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'))
  candidates.push(path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'bin', 'npm-cli.js'))
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    try { candidates.push(fs.realpathSync(path.join(dir, 'npm'))) } catch (e) {}
  }
  return candidates.find(f => /npm-cli\.js$/.test(f) && fs.existsSync(f)) || null
}

const SUFFIX = hostSuffix()
const PLATFORM_DIR = path.join(ROOT, 'npm', SUFFIX)
const NODE_FILE = `${pkg.napi.binaryName}.${SUFFIX}.node`
const NPM_CLI = findNpmCli()
const EXE = process.platform === 'win32' ? '.exe' : ''

function has (cmd, env) {
  return spawnSync(cmd, ['--version'], { env, stdio: 'ignore' }).status === 0
}

// Why the whole file cannot run here, or null.
function skipReason () {
  if (!NPM_CLI) return 'npm (npm-cli.js) not found: cannot run `npm pack`'
  if (spawnSync(process.execPath, [NPM_CLI, '--version'], { stdio: 'ignore' }).status !== 0) return '`npm --version` fails: cannot run `npm pack`'
  if (!fs.existsSync(path.join(PLATFORM_DIR, 'package.json'))) return `no per-platform package npm/${SUFFIX}/ for this host (see package.json "napi".targets)`
  if (!fs.existsSync(path.join(ROOT, NODE_FILE)) && !has('cargo')) return `${NODE_FILE} is not built and there is no cargo to build it`
  return null
}
const SKIP = skipReason()

let tmp // temp dir for this run
let withScripts // the project installed with scripts, reused by the TypeScript test
let mainTgz, platformTgz, mainFiles, platformFiles
let noRustEnv // environment for every npm/node child: no cargo/rustc on PATH, no npm_* from a parent `npm test`

// PATH without any directory that holds cargo or rustc; node itself stays reachable (npm runs the
// install hook as `sh -c "node scripts/install.js"`).
function pathWithoutRust () {
  const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean)
  const kept = dirs.filter(d => !['cargo', 'rustc', 'rustup'].some(b => fs.existsSync(path.join(d, b + EXE))))
  if (!kept.some(d => fs.existsSync(path.join(d, 'node' + EXE)))) {
    const bin = path.join(tmp, 'node-bin')
    fs.mkdirSync(bin, { recursive: true })
    fs.symlinkSync(process.execPath, path.join(bin, 'node' + EXE))
    kept.unshift(bin)
  }
  return kept.join(path.delimiter)
}

function childEnv () {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'KRPC_BUILD_FROM_SOURCE' || k === 'NAPI_RS_NATIVE_LIBRARY_PATH' || k === 'NODE_OPTIONS' || k === 'NODE_TEST_CONTEXT') continue
    env[k] = v
  }
  env.PATH = pathWithoutRust()
  // A fresh, empty cache: with --offline nothing can come from anywhere but the tarballs.
  env.npm_config_cache = path.join(tmp, 'npm-cache')
  env.npm_config_update_notifier = 'false'
  env.npm_config_fund = 'false'
  env.npm_config_audit = 'false'
  return env
}

function run (cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { encoding: 'utf8', env: noRustEnv, timeout: 30000, ...opts })
  if (res.error) throw res.error
  return res
}
const npm = (args, opts) => run(process.execPath, [NPM_CLI, ...args], opts)
const show = res => `exit ${res.status}\n--- stdout\n${res.stdout}\n--- stderr\n${res.stderr}`

function pack (dir) {
  const res = npm(['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], { cwd: dir })
  assert.strictEqual(res.status, 0, `npm pack in ${dir}: ${show(res)}`)
  const [info] = JSON.parse(res.stdout.slice(res.stdout.indexOf('[')))
  return { tgz: path.join(tmp, info.filename), files: info.files.map(f => f.path) }
}

// An empty project with `tarballs` installed into it.
function project (name, tarballs, flags = []) {
  const dir = path.join(tmp, name)
  fs.mkdirSync(dir)
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }) + '\n')
  const res = npm(['install', '--offline', '--no-audit', '--no-fund', ...flags, ...tarballs], { cwd: dir })
  return { dir, res }
}

// A loopback ping round trip between two instances; prints what it saw and which .node files loaded.
const PING = `
  const server = rpc()
  const client = rpc()
  setTimeout(() => { console.error('no response within 5 s'); process.exit(2) }, 5000).unref()
  server.on('query', (query, peer) => server.response(peer, query, { id: Buffer.alloc(20, 1) }))
  server.bind(0, '127.0.0.1', () => {
    const peer = { host: '127.0.0.1', port: server.address().port }
    client.query(peer, { q: 'ping', a: { id: Buffer.alloc(20, 2) } }, (err, res) => {
      if (err) throw err
      console.log(JSON.stringify({
        type: typeof rpc,
        q: 'ping',
        r: Buffer.from(res.r.id).toString('hex'),
        loaded: NATIVE_FILES()
      }))
      server.destroy()
      client.destroy()
    })
  })
`
const CJS = `'use strict'
const rpc = require('@dwdht/krpc-socket')
const NATIVE_FILES = () => Object.keys(require.cache).filter(f => f.endsWith('.node'))
${PING}`
const ESM = `import rpc from '@dwdht/krpc-socket'
import { createRequire } from 'node:module'
const require = createRequire(import.meta.url)
const NATIVE_FILES = () => Object.keys(require.cache).filter(f => f.endsWith('.node'))
${PING}`

function assertRoundTrip (dir, file, source) {
  fs.writeFileSync(path.join(dir, file), source)
  const res = run(process.execPath, [file], { cwd: dir, timeout: 15000 })
  assert.strictEqual(res.status, 0, `node ${file}: ${show(res)}`)
  const out = JSON.parse(res.stdout.trim().split('\n').pop())
  assert.strictEqual(out.type, 'function')
  assert.strictEqual(out.r, '01'.repeat(20), 'the response came back')
  // The engine that ran is the platform package's binary: the main tarball has none.
  const expected = path.join(dir, 'node_modules', '@dwdht', `krpc-socket-${SUFFIX}`, NODE_FILE)
  assert.deepStrictEqual(out.loaded.map(f => fs.realpathSync(f)), [fs.realpathSync(expected)])
}

before(() => {
  if (SKIP) return
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'krpc-pack-'))
  if (process.env.KRPC_KEEP_TMP) console.log('# pack.test.js temp dir: ' + tmp)
  noRustEnv = childEnv()

  // (a) the engine: build it if missing (cargo; the real PATH), then `npm run artifacts` copies it
  // into npm/<platform>/ (git-ignored there).
  if (!fs.existsSync(path.join(ROOT, NODE_FILE))) {
    const build = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.js')], { cwd: ROOT, encoding: 'utf8', timeout: 600000 })
    assert.strictEqual(build.status, 0, `scripts/build.js: ${show(build)}`)
  }
  const copy = run(process.execPath, [path.join(ROOT, 'npm', 'artifacts.js')], { cwd: ROOT })
  assert.strictEqual(copy.status, 0, `npm/artifacts.js: ${show(copy)}`)
  assert.ok(fs.existsSync(path.join(PLATFORM_DIR, NODE_FILE)))

  ;({ tgz: platformTgz, files: platformFiles } = pack(PLATFORM_DIR))
  ;({ tgz: mainTgz, files: mainFiles } = pack(ROOT))
})

after(() => {
  if (tmp && !process.env.KRPC_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true })
})

const opts = { skip: SKIP || false, timeout: 60000 }

test('the sandbox has no Rust: cargo and rustc are not on the stripped PATH', opts, () => {
  assert.strictEqual(has('cargo', noRustEnv), false)
  assert.strictEqual(has('rustc', noRustEnv), false)
  assert.strictEqual(has('node', noRustEnv), true)
})

test('package.json: optionalDependencies name every npm/<platform> package at the root version', opts, () => {
  const dirs = fs.readdirSync(path.join(ROOT, 'npm')).filter(d => fs.existsSync(path.join(ROOT, 'npm', d, 'package.json')))
  const expected = {}
  for (const d of dirs) {
    const sub = JSON.parse(fs.readFileSync(path.join(ROOT, 'npm', d, 'package.json'), 'utf8'))
    assert.strictEqual(sub.name, `${pkg.name}-${d}`)
    assert.strictEqual(sub.version, pkg.version, `${sub.name} version`)
    assert.strictEqual(sub.main, `${pkg.napi.binaryName}.${d}.node`)
    assert.deepStrictEqual(sub.files, [sub.main])
    assert.ok(Array.isArray(sub.os) && sub.os.length === 1, `${sub.name} os`)
    assert.ok(Array.isArray(sub.cpu) && sub.cpu.length === 1, `${sub.name} cpu`)
    if (d.startsWith('linux-')) assert.deepStrictEqual(sub.libc, [d.includes('musl') ? 'musl' : 'glibc'], `${sub.name} libc`)
    expected[sub.name] = pkg.version
  }
  assert.deepStrictEqual(pkg.optionalDependencies, expected)
  assert.strictEqual(dirs.length, pkg.napi.targets.length, 'one npm/<platform> dir per napi target')
})

test('tarballs: the main package has everything a consumer needs and no binary; the platform package has the binary', opts, () => {
  const missing = REQUIRED_FILES.filter(f => !mainFiles.includes(f))
  assert.deepStrictEqual(missing, [], 'missing from the main tarball (package.json "files")')
  assert.deepStrictEqual(mainFiles.filter(f => f.endsWith('.node')), [], 'the main tarball ships no .node')
  assert.ok(!mainFiles.some(f => f.startsWith('npm/') || f.startsWith('target/')), 'no npm/ or target/ in the main tarball')
  assert.deepStrictEqual(platformFiles.slice().sort(), ['README.md', NODE_FILE, 'package.json'].sort())
})

test('install without Rust: the install hook finds the platform package; CommonJS and ESM round trips', opts, () => {
  const { dir, res } = project('with-scripts', [mainTgz, platformTgz])
  assert.strictEqual(res.status, 0, `npm install: ${show(res)}`)
  assert.doesNotMatch(res.stderr + res.stdout, /building the native engine from source/)
  const installed = path.join(dir, 'node_modules', '@dwdht', 'krpc-socket')
  assert.deepStrictEqual(fs.readdirSync(installed).filter(f => f.endsWith('.node')), [], 'nothing was built into the main package')

  assertRoundTrip(dir, 'cjs.js', CJS)
  assertRoundTrip(dir, 'esm.mjs', ESM)
  withScripts = dir
})

test('install without Rust: TypeScript (tsc --noEmit --strict) type-checks the README usage against the installed package', opts, t => {
  if (!withScripts) return t.skip('the install above failed')
  const dir = withScripts
  // Both module systems (consumer.ts is CommonJS here, consumer.mts ESM), against the installed
  // package's own declarations, with the repo's TypeScript. The project has no @types/node of its
  // own: the repo's is used when present (the declarations build on node's dgram/events types).
  const ts = `import rpc from '@dwdht/krpc-socket'
const server = rpc()
server.on('query', function (query, peer) {
  server.response(peer, query, { hello: 'world' })
})
server.bind(0, '127.0.0.1', function () {
  const client = rpc({ timeout: 1000 })
  const peer = { host: '127.0.0.1', port: server.address().port }
  client.query(peer, { q: 'echo', a: { hello: 'world' } }, function (err, response) {
    if (err) throw err
    client.destroy()
    server.destroy()
  })
})
// @ts-expect-error: the import is typed (an untyped or \`any\` import would make this directive unused)
server.noSuchMethod()
`
  fs.writeFileSync(path.join(dir, 'consumer.ts'), ts)
  fs.writeFileSync(path.join(dir, 'consumer.mts'), ts)
  const tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] })
  const args = [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext']
  if (fs.existsSync(path.join(ROOT, 'node_modules', '@types', 'node'))) {
    args.push('--typeRoots', path.join(ROOT, 'node_modules', '@types'), '--types', 'node')
  }
  const check = run(process.execPath, [...args, 'consumer.ts', 'consumer.mts'], { cwd: dir })
  assert.strictEqual(check.status, 0, `tsc --noEmit --strict: ${show(check)}`)
})

test('install without Rust, --ignore-scripts: the platform package is enough', opts, () => {
  const { dir, res } = project('ignore-scripts', [mainTgz, platformTgz], ['--ignore-scripts'])
  assert.strictEqual(res.status, 0, `npm install --ignore-scripts: ${show(res)}`)
  assertRoundTrip(dir, 'cjs.js', CJS)
  assertRoundTrip(dir, 'esm.mjs', ESM)
})

test('no platform package and no cargo: the install fails with the message from scripts/install.js', opts, () => {
  const { dir, res } = project('no-engine', [mainTgz])
  assert.notStrictEqual(res.status, 0, `npm install should fail: ${show(res)}`)
  const out = res.stderr + res.stdout
  assert.match(out, /no prebuilt engine for \S+ could be loaded/)
  assert.match(out, /there is no Rust toolchain \(cargo\) to build one from source/)
  assert.match(out, /install Rust \(https:\/\/rustup\.rs\) and run `npm rebuild @dwdht\/krpc-socket`/)
  assert.match(out, /optional dependency for your platform/)
  assert.ok(!fs.existsSync(path.join(dir, 'node_modules', '@dwdht', 'krpc-socket', 'index.js')), 'npm rolled the install back')
})

test('no platform package, --ignore-scripts: the install succeeds and require() explains what to do', opts, () => {
  const { dir, res } = project('no-engine-ignore-scripts', [mainTgz], ['--ignore-scripts'])
  assert.strictEqual(res.status, 0, `npm install --ignore-scripts: ${show(res)}`)
  const probe = run(process.execPath, ['-e', `
    try { require('@dwdht/krpc-socket'); console.log('loaded') } catch (err) { console.log(JSON.stringify({ code: err.code, message: err.message })) }
  `], { cwd: dir })
  assert.strictEqual(probe.status, 0, show(probe))
  const err = JSON.parse(probe.stdout.trim())
  assert.strictEqual(err.code, 'ERR_KRPC_NATIVE_LOAD')
  assert.match(err.message, /the native engine could not be loaded/)
  assert.match(err.message, /Reinstall without --ignore-scripts, or build it from source/)
})
