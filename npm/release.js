'use strict'
// `npm run release:prepare`: the release step of the napi-rs layout. The committed package.json
// has no optionalDependencies: they would name packages that exist only once a release has
// published them, so no lockfile made from the repository could hold them and `npm ci` would
// fail (EUSAGE "Missing: ... from lock file"). This script, run in the release job after every
// npm/<platform>/ has its binary (`npm run artifacts -- --dir artifacts --require-all`):
//
//   1. checks that each npm/<platform>/package.json is at the root version and has its binary;
//   2. writes the root optionalDependencies, one per platform package, at the root version
//      (in the release job's checkout: never commit the result);
//   3. packs (`--pack-destination DIR`) or publishes (`--publish`) every platform package, then
//      the main package, so the main package's optionalDependencies resolve the moment it is
//      visible.
//
//   node npm/release.js --pack-destination DIR   pack only (what __test__/pack.test.js does)
//   node npm/release.js --publish [--dry-run]    npm publish --access public, platforms first
//   --allow-missing   leave platforms without a binary out of optionalDependencies instead of
//                     failing (a one-platform machine; never for a real release)
//   --root DIR        operate on a copy of the repository instead of this one
//
// `napi pre-publish -t npm --no-gh-release` does steps 1-3 as well, but only when every
// configured target's binary is present.

const { spawnSync } = require('child_process')
const fs = require('fs')
const path = require('path')

function parseArgs (argv) {
  const args = { root: path.join(__dirname, '..'), publish: false, dryRun: false, allowMissing: false, packDestination: null }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--publish') args.publish = true
    else if (a === '--dry-run') args.dryRun = true
    else if (a === '--allow-missing') args.allowMissing = true
    else if (a === '--root') args.root = path.resolve(argv[++i])
    else if (a === '--pack-destination') args.packDestination = path.resolve(argv[++i])
    else throw new Error('npm/release.js: unknown argument ' + a)
  }
  if (args.publish === (args.packDestination !== null)) throw new Error('npm/release.js: give exactly one of --publish and --pack-destination DIR')
  return args
}

function npm (args, cwd) {
  // npm_execpath is set when run as an npm script; otherwise the npm on PATH.
  const cli = process.env.npm_execpath && /npm-cli\.js$/.test(process.env.npm_execpath) ? process.env.npm_execpath : null
  const res = cli
    ? spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8' })
    : spawnSync('npm', args, { cwd, encoding: 'utf8', shell: process.platform === 'win32' })
  if (res.status !== 0) throw new Error(`npm ${args.join(' ')} in ${cwd} exited with ${res.status}:\n${res.stderr}`)
  return res.stdout
}

function release (args) {
  const rootManifestPath = path.join(args.root, 'package.json')
  const root = JSON.parse(fs.readFileSync(rootManifestPath, 'utf8'))
  const npmDir = path.join(args.root, 'npm')
  const platforms = []
  const missing = []
  for (const name of fs.readdirSync(npmDir).sort()) {
    const manifestPath = path.join(npmDir, name, 'package.json')
    if (!fs.existsSync(manifestPath)) continue
    const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'))
    if (manifest.name !== `${root.name}-${name}`) throw new Error(`${manifestPath}: name ${manifest.name}`)
    if (manifest.version !== root.version) throw new Error(`${manifest.name} is at ${manifest.version}, the root at ${root.version} (napi version)`)
    if (!fs.existsSync(path.join(npmDir, name, manifest.main))) missing.push(manifest.name)
    else platforms.push({ dir: path.join(npmDir, name), name: manifest.name })
  }
  if (missing.length > 0 && !args.allowMissing) throw new Error('no binary in: ' + missing.join(', ') + ' (npm run artifacts -- --dir artifacts --require-all)')
  if (platforms.length === 0) throw new Error('no platform package has its binary')

  root.optionalDependencies = {}
  for (const p of platforms) root.optionalDependencies[p.name] = root.version
  fs.writeFileSync(rootManifestPath, JSON.stringify(root, null, 2) + '\n')

  const out = []
  for (const dir of [...platforms.map(p => p.dir), args.root]) {
    if (args.publish) {
      npm(['publish', '--access', 'public', '--ignore-scripts', ...(args.dryRun ? ['--dry-run'] : [])], dir)
      out.push(dir)
    } else {
      const info = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', args.packDestination], dir))
      out.push(path.join(args.packDestination, info[0].filename))
    }
  }
  return { written: out, missing }
}

module.exports = release

if (require.main === module) {
  try {
    const { written, missing } = release(parseArgs(process.argv.slice(2)))
    for (const w of written) console.log(w)
    for (const m of missing) console.error('left out (no binary): ' + m)
  } catch (err) {
    console.error(err.message)
    process.exit(1)
  }
}
