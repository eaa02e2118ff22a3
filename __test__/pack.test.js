'use strict'
// Installing the package the ways consumers do (docs/packaging.md). The release step
// (npm/release.js) runs on a copy of the repository and packs this host's per-platform package
// (npm/<platform>/) and the main package, whose optionalDependencies it fills in. A consumer
// project then installs the main tarball (the platform package is mapped to its tarball with
// `overrides`, standing in for the registry), with cargo/rustc stripped from PATH, an empty npm
// cache and --offline; it uses the result from CommonJS, ESM and TypeScript (the README's
// TypeScript snippets, as they stand), then reinstalls from its lockfile with `npm ci`, with and
// without --ignore-scripts.
//
// Then the committed package as packed (no optionalDependencies, no binary: the source build):
// without cargo the install hook stops the install with its message; with --ignore-scripts the
// install succeeds and require() says to run `npm rebuild @dwdht/krpc-socket`, which the test then
// runs (with cargo, offline: crates from cargo's cache) and checks that only the .node file is
// left in node_modules, no target/. That is the one source build (about a minute);
// KRPC_SKIP_SOURCE_BUILD=1 skips it.
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
const { snippets } = require('./harness/readme')

// The files a consumer needs from the main tarball: the JS API, the generated loader, types for
// both module systems, and everything the build-from-source fallback needs.
const REQUIRED_FILES = [
  'package.json', 'index.js', 'index.mjs', 'index.d.ts', 'index.d.mts', 'generated/binding.js', 'generated/binding.d.ts',
  'lib/native.js', 'scripts/install.js', 'scripts/build.js', 'src/lib.rs', 'Cargo.toml', 'Cargo.lock', 'build.rs'
]

// The platform suffix generated/binding.js (the napi-rs loader) and scripts/build.js use for this host.
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
// A local build's place: the loader requires the .node relative to its own directory.
const LOCAL_NODE_FILE = `generated/${NODE_FILE}`
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
  if (!fs.existsSync(path.join(ROOT, LOCAL_NODE_FILE)) && !has('cargo')) return `${LOCAL_NODE_FILE} is not built and there is no cargo to build it`
  return null
}
const SKIP = skipReason()

let tmp // temp dir for this run
let withScripts // the consumer project installed with scripts, reused by the TypeScript test
let mainTgz, platformTgz, sourceTgz, mainFiles, platformFiles, stagedManifest
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
    if (/^npm_/i.test(k) || k === 'KRPC_BUILD_FROM_SOURCE' || k === 'NAPI_RS_NATIVE_LIBRARY_PATH' || k === 'NODE_OPTIONS' || k === 'NODE_TEST_CONTEXT' || k === 'CARGO_TARGET_DIR') continue
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

function tarList (tgz) {
  const res = run('tar', ['tzf', tgz])
  assert.strictEqual(res.status, 0, show(res))
  return res.stdout.split('\n').filter(Boolean).map(f => f.replace(/^package\//, ''))
}

// An empty project whose package.json is `manifest` (plus name/version), then `npm <args>` in it.
function project (name, manifest, args) {
  const dir = path.join(tmp, name)
  fs.mkdirSync(dir)
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, ...manifest }, null, 2) + '\n')
  const res = npm([...args, '--offline', '--no-audit', '--no-fund'], { cwd: dir })
  return { dir, res }
}

// A consumer that depends on the released main package; the registry's copy of this host's
// platform package is stood in for by its tarball.
const consumerManifest = () => ({ overrides: { [`${pkg.name}-${SUFFIX}`]: 'file:' + platformTgz } })

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

// `expected`: the .node file that must be the one loaded.
function assertRoundTrip (dir, file, source, expected) {
  fs.writeFileSync(path.join(dir, file), source)
  const res = run(process.execPath, [file], { cwd: dir, timeout: 15000 })
  assert.strictEqual(res.status, 0, `node ${file}: ${show(res)}`)
  const out = JSON.parse(res.stdout.trim().split('\n').pop())
  assert.strictEqual(out.type, 'function')
  assert.strictEqual(out.r, '01'.repeat(20), 'the response came back')
  assert.deepStrictEqual(out.loaded.map(f => fs.realpathSync(f)), [fs.realpathSync(expected)])
}
// With a binary released: the platform package's, never one built into the main package.
const platformBinary = dir => path.join(dir, 'node_modules', '@dwdht', `krpc-socket-${SUFFIX}`, NODE_FILE)

function assertBothRoundTrips (dir) {
  assertRoundTrip(dir, 'cjs.js', CJS, platformBinary(dir))
  assertRoundTrip(dir, 'esm.mjs', ESM, platformBinary(dir))
}

function filesUnder (dir) {
  const out = []
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...filesUnder(full).map(f => entry.name + '/' + f))
    else out.push(entry.name)
  }
  return out
}

before(() => {
  if (SKIP) return
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'krpc-pack-'))
  if (process.env.KRPC_KEEP_TMP) console.log('# pack.test.js temp dir: ' + tmp)
  noRustEnv = childEnv()

  // The engine: build it if missing (cargo; the real PATH), then `npm run artifacts` copies it
  // into npm/<platform>/ (git-ignored there).
  if (!fs.existsSync(path.join(ROOT, LOCAL_NODE_FILE))) {
    const build = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.js')], { cwd: ROOT, encoding: 'utf8', timeout: 600000 })
    assert.strictEqual(build.status, 0, `scripts/build.js: ${show(build)}`)
  }
  const copy = run(process.execPath, [path.join(ROOT, 'npm', 'artifacts.js')], { cwd: ROOT })
  assert.strictEqual(copy.status, 0, `npm/artifacts.js: ${show(copy)}`)
  assert.ok(fs.existsSync(path.join(PLATFORM_DIR, NODE_FILE)))

  // The release step, on a copy of what it needs (it rewrites package.json).
  const stage = path.join(tmp, 'stage')
  fs.mkdirSync(stage)
  for (const f of ['package.json', 'npm', ...pkg.files]) {
    const from = path.join(ROOT, f)
    if (fs.existsSync(from)) fs.cpSync(from, path.join(stage, f), { recursive: true })
  }
  const dest = path.join(tmp, 'release')
  fs.mkdirSync(dest)
  const release = run(process.execPath, [path.join(stage, 'npm', 'release.js'), '--root', stage, '--pack-destination', dest, '--allow-missing'], { cwd: stage })
  assert.strictEqual(release.status, 0, `npm/release.js: ${show(release)}`)
  const written = release.stdout.trim().split('\n')
  assert.strictEqual(written.length, 2, 'one platform package and the main package: ' + written.join(', '))
  ;[platformTgz, mainTgz] = written
  stagedManifest = JSON.parse(fs.readFileSync(path.join(stage, 'package.json'), 'utf8'))
  platformFiles = tarList(platformTgz)
  mainFiles = tarList(mainTgz)

  // The committed package as it is: what a source install gets.
  ;({ tgz: sourceTgz } = pack(ROOT))
})

after(() => {
  if (tmp && !process.env.KRPC_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true })
})

const opts = { skip: SKIP || false, timeout: 120000 }

test('the sandbox has no Rust: cargo and rustc are not on the stripped PATH', opts, () => {
  assert.strictEqual(has('cargo', noRustEnv), false)
  assert.strictEqual(has('rustc', noRustEnv), false)
  assert.strictEqual(has('node', noRustEnv), true)
})

test('package.json: no optionalDependencies committed; the release step adds the platform packages at the root version', opts, () => {
  assert.strictEqual(pkg.optionalDependencies, undefined, 'the committed manifest names no unpublished package (npm ci needs every one in the lockfile)')
  const dirs = fs.readdirSync(path.join(ROOT, 'npm')).filter(d => fs.existsSync(path.join(ROOT, 'npm', d, 'package.json')))
  for (const d of dirs) {
    const sub = JSON.parse(fs.readFileSync(path.join(ROOT, 'npm', d, 'package.json'), 'utf8'))
    assert.strictEqual(sub.name, `${pkg.name}-${d}`)
    assert.strictEqual(sub.version, pkg.version, `${sub.name} version`)
    assert.strictEqual(sub.main, `${pkg.napi.binaryName}.${d}.node`)
    assert.deepStrictEqual(sub.files, [sub.main])
    assert.deepStrictEqual(sub.engines, pkg.engines, `${sub.name} engines`)
    assert.ok(Array.isArray(sub.os) && sub.os.length === 1, `${sub.name} os`)
    assert.ok(Array.isArray(sub.cpu) && sub.cpu.length === 1, `${sub.name} cpu`)
    if (d.startsWith('linux-')) assert.deepStrictEqual(sub.libc, [d.includes('musl') ? 'musl' : 'glibc'], `${sub.name} libc`)
  }
  assert.strictEqual(dirs.length, pkg.napi.targets.length, 'one npm/<platform> dir per napi target')
  // Only this host's binary exists here, so --allow-missing left the others out.
  assert.deepStrictEqual(stagedManifest.optionalDependencies, { [`${pkg.name}-${SUFFIX}`]: pkg.version })
  // Without --allow-missing the release step refuses to publish an incomplete set.
  const strict = run(process.execPath, [path.join(ROOT, 'npm', 'release.js'), '--root', path.join(tmp, 'stage'), '--pack-destination', tmp])
  assert.notStrictEqual(strict.status, 0)
  assert.match(strict.stderr, /no binary in: /)
})

test('tarballs: the main package has everything a consumer needs and no binary; the platform package has the binary', opts, () => {
  const missing = [...REQUIRED_FILES, 'LICENSE', 'README.md'].filter(f => !mainFiles.includes(f))
  assert.deepStrictEqual(missing, [], 'missing from the main tarball (package.json "files")')
  assert.deepStrictEqual(mainFiles.filter(f => f.endsWith('.node')), [], 'the main tarball ships no .node')
  assert.ok(!mainFiles.some(f => f.startsWith('npm/') || f.startsWith('target/')), 'no npm/ or target/ in the main tarball')
  assert.deepStrictEqual(platformFiles.slice().sort(), ['README.md', NODE_FILE, 'package.json'].sort())
})

test('consumer without Rust: npm install <tgz>, then npm ci, then npm ci --ignore-scripts; CommonJS and ESM round trips each time', opts, () => {
  const { dir, res } = project('consumer', consumerManifest(), ['install', mainTgz])
  assert.strictEqual(res.status, 0, `npm install: ${show(res)}`)
  assert.doesNotMatch(res.stderr + res.stdout, /building the native engine from source|EBADENGINE/)
  const installed = path.join(dir, 'node_modules', '@dwdht', 'krpc-socket')
  assert.deepStrictEqual(filesUnder(installed).filter(f => f.endsWith('.node')), [], 'nothing was built into the main package')
  assertBothRoundTrips(dir)
  const lock = JSON.parse(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8'))
  assert.ok(lock.packages[`node_modules/${pkg.name}-${SUFFIX}`], 'the lockfile holds the platform package')

  for (const flags of [[], ['--ignore-scripts']]) {
    fs.rmSync(path.join(dir, 'node_modules'), { recursive: true, force: true })
    const ci = npm(['ci', '--offline', '--no-audit', '--no-fund', ...flags], { cwd: dir })
    assert.strictEqual(ci.status, 0, `npm ci ${flags.join(' ')}: ${show(ci)}`)
    assertBothRoundTrips(dir)
  }
  withScripts = dir
})

test('consumer without Rust: the README TypeScript snippets type-check (tsc --noEmit --strict) against the installed package', opts, t => {
  if (!withScripts) return t.skip('the install above failed')
  const dir = withScripts
  // Both module systems (.ts is CommonJS here, .mts ESM), against the installed package's own
  // declarations, with the repo's TypeScript. The project has no @types/node of its own: the
  // repo's is used (the declarations build on node's dgram/events types).
  const ts = snippets().filter(s => s.lang === 'ts')
  assert.ok(ts.length > 0, 'README.md has TypeScript snippets')
  const files = []
  for (const [i, s] of ts.entries()) {
    for (const ext of ['ts', 'mts']) {
      const file = `readme-${i}.${ext}`
      fs.writeFileSync(path.join(dir, file), s.code)
      files.push(file)
    }
  }
  const tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] })
  const args = [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--typeRoots', path.join(ROOT, 'node_modules', '@types'), '--types', 'node']
  const check = run(process.execPath, [...args, ...files], { cwd: dir })
  assert.strictEqual(check.status, 0, `tsc --noEmit --strict: ${show(check)}`)
})

test('source package, no cargo: the install fails with the message from scripts/install.js', opts, () => {
  const { dir, res } = project('no-engine', {}, ['install', sourceTgz])
  assert.notStrictEqual(res.status, 0, `npm install should fail: ${show(res)}`)
  const out = res.stderr + res.stdout
  assert.match(out, /no prebuilt engine for \S+ could be loaded/)
  assert.match(out, /there is no Rust toolchain \(cargo\) to build one from source/)
  assert.match(out, /install Rust \(https:\/\/rustup\.rs\) and run `npm rebuild @dwdht\/krpc-socket`/)
  assert.ok(!fs.existsSync(path.join(dir, 'node_modules', '@dwdht', 'krpc-socket', 'index.js')), 'npm rolled the install back')
})

const sourceBuild = SKIP ? false : process.env.KRPC_SKIP_SOURCE_BUILD === '1' ? 'KRPC_SKIP_SOURCE_BUILD=1' : has('cargo') ? false : 'no cargo'
test('source package, --ignore-scripts: require() says to run `npm rebuild @dwdht/krpc-socket`; running it builds the engine and leaves only the .node', { ...opts, timeout: 600000 }, t => {
  const { dir, res } = project('from-source', {}, ['install', '--ignore-scripts', sourceTgz])
  assert.strictEqual(res.status, 0, `npm install --ignore-scripts: ${show(res)}`)
  const probe = run(process.execPath, ['-e', `
    try { require('@dwdht/krpc-socket'); console.log('loaded') } catch (err) { console.log(JSON.stringify({ code: err.code, message: err.message })) }
  `], { cwd: dir })
  assert.strictEqual(probe.status, 0, show(probe))
  const err = JSON.parse(probe.stdout.trim())
  assert.strictEqual(err.code, 'ERR_KRPC_NATIVE_LOAD')
  assert.match(err.message, /the native engine could not be loaded/)
  const hint = /Run `(npm rebuild @dwdht\/krpc-socket)` in your project/.exec(err.message)
  assert.ok(hint, err.message)
  if (sourceBuild) return t.skip('running the hint needs a source build: ' + sourceBuild)

  // The hint, as written, with cargo back on PATH; offline, from cargo's cache (the crates of
  // Cargo.lock are there after any build of this repository). TMPDIR is the test's own, to see
  // that the throwaway target dir is removed.
  const before = filesUnder(path.join(dir, 'node_modules'))
  const tmpdir = path.join(tmp, 'build-tmp')
  fs.mkdirSync(tmpdir)
  const env = { ...noRustEnv, PATH: process.env.PATH, CARGO_NET_OFFLINE: 'true', TMPDIR: tmpdir }
  const [cmd, ...args] = hint[1].split(' ')
  assert.strictEqual(cmd, 'npm')
  const started = Date.now()
  const rebuild = run(process.execPath, [NPM_CLI, ...args, '--offline', '--foreground-scripts'], { cwd: dir, env, timeout: 580000 })
  t.diagnostic(`npm rebuild (source build) took ${((Date.now() - started) / 1000).toFixed(1)} s`)
  assert.strictEqual(rebuild.status, 0, `${hint[1]}: ${show(rebuild)}`)
  assert.match(rebuild.stderr + rebuild.stdout, /building the native engine from source/)

  const added = filesUnder(path.join(dir, 'node_modules')).filter(f => !before.includes(f))
  assert.deepStrictEqual(added, [`@dwdht/krpc-socket/${LOCAL_NODE_FILE}`], 'the build leaves only the .node file')
  assert.ok(!fs.existsSync(path.join(dir, 'node_modules', '@dwdht', 'krpc-socket', 'target')), 'no target/ in node_modules')
  assert.deepStrictEqual(fs.readdirSync(tmpdir), [], 'the throwaway CARGO_TARGET_DIR was removed')
  const local = path.join(dir, 'node_modules', '@dwdht', 'krpc-socket', LOCAL_NODE_FILE)
  assertRoundTrip(dir, 'cjs.js', CJS, local)
  assertRoundTrip(dir, 'esm.mjs', ESM, local)
})
