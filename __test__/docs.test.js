'use strict'
// The repository documents itself: no tracked file points outside it (the compatibility contract
// is docs/compatibility.md), every relative Markdown link and #anchor resolves as GitHub renders
// it, and every relative link of a Markdown file the npm tarball ships names a file the tarball
// ships too (otherwise it is dead on npmjs.com and in node_modules).

const test = require('node:test')
const assert = require('node:assert')
const fs = require('fs')
const path = require('path')
const { spawnSync } = require('child_process')
const { anchors, links, brokenLinks, isExternal } = require('./harness/markdown')

const ROOT = path.join(__dirname, '..')

// Written as patterns so that this file does not match itself.
const OUTSIDE = [/SPEC\.md/, /SPEC\s§/, /\.\.\/shared/, /\/work\//]
// Fuzz inputs are bytes, not text anyone reads.
const SKIPPED_DIRS = ['fuzz/corpus/', 'fuzz/seeds/', 'fuzz/regressions/']

function tracked () {
  const res = spawnSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
  if (res.status !== 0) return null
  return res.stdout.split('\0').filter(f => f && fs.existsSync(path.join(ROOT, f)))
}
const FILES = tracked()
const skip = FILES ? false : 'not a git checkout (git ls-files failed)'

function trackedTexts () {
  const out = new Map()
  for (const f of FILES) {
    if (SKIPPED_DIRS.some(d => f.startsWith(d))) continue
    const buf = fs.readFileSync(path.join(ROOT, f))
    if (buf.includes(0)) continue // binary
    out.set(f, buf.toString('utf8'))
  }
  return out
}

test('no tracked text file names a file outside the repository or the old contract', { skip }, () => {
  const texts = trackedTexts()
  assert.ok(texts.has('docs/compatibility.md') && texts.has('README.md'), 'the files are read')
  const found = []
  for (const [file, text] of texts) {
    text.split('\n').forEach((line, i) => {
      for (const re of OUTSIDE) if (re.test(line)) found.push(`${file}:${i + 1}: ${re.source}: ${line.trim().slice(0, 120)}`)
    })
  }
  assert.deepStrictEqual(found, [])
})

test('slugs and links are read as GitHub renders them', () => {
  const md = [
    '# Title', '## Bind, address and socket errors', '### `send()`', '## Title', '## Title',
    '## 3.1 `query(peer, q, [cb])` and *more*', '## Ünïcode & co_x',
    '```md', '# not a heading [x](nowhere.md)', '```',
    'see [a](b.md#c "t"), ![img](pic.png), `[code](not-a-link.md)` and <a href="x.md">x</a>',
    '[ref]: other.md#y'
  ].join('\n')
  assert.deepStrictEqual(anchors(md), [
    'title', 'bind-address-and-socket-errors', 'send', 'title-1', 'title-2', '31-querypeer-q-cb-and-more', 'ünïcode--co_x'
  ])
  assert.deepStrictEqual(links(md).map(l => l.target), ['b.md#c', 'pic.png', 'x.md', 'other.md#y'])
  assert.ok(isExternal('https://x.y/z') && isExternal('mailto:a@b') && !isExternal('docs/a.md'))
})

test('the link check fails on a missing file, a missing anchor, a stale duplicate anchor, a missing file on GitHub', () => {
  const files = new Map([
    ['README.md', '# R\n## Same\n## Same\n[ok](docs/a.md#a-1) [ok](#same-1) [ok](src/x.rs#L3) [ok](docs)\n' +
      '[gone](docs/gone.md) [bad](docs/a.md#nope) [bad](#same-2) [bad](src/x.rs#fn)\n' +
      '[ok](https://github.com/dwdht/krpc-socket/blob/main/docs/a.md#a) [bad](https://github.com/dwdht/krpc-socket/blob/main/docs/b.md)\n'],
    ['docs/a.md', '# A\n## A\n[up](../README.md#r) [up](../README.md#nope)\n'],
    ['src/x.rs', null]
  ])
  assert.deepStrictEqual(brokenLinks(files), [
    'README.md:5: docs/gone.md: docs/gone.md is not a tracked file',
    'README.md:5: docs/a.md#nope: no heading of docs/a.md has the anchor #nope',
    'README.md:5: #same-2: no heading of README.md has the anchor #same-2',
    'README.md:5: src/x.rs#fn: #fn on a file that is not Markdown',
    'README.md:6: /docs/b.md: docs/b.md is not a tracked file',
    'docs/a.md:3: ../README.md#nope: no heading of README.md has the anchor #nope'
  ])
})

test('every relative link and #anchor in every tracked Markdown file resolves', { skip }, () => {
  const files = new Map(FILES.map(f => [f, f.endsWith('.md') ? fs.readFileSync(path.join(ROOT, f), 'utf8') : null]))
  assert.ok([...files.keys()].filter(f => f.endsWith('.md')).length >= 5)
  assert.deepStrictEqual(brokenLinks(files), [])
})

// `npm pack --dry-run --json`: what the tarball would hold, without writing it.
function packedFiles () {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v
  const res = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, env, encoding: 'utf8', timeout: 60000 })
  if (res.error || res.status !== 0) return { error: res.error ? res.error.message : `exit ${res.status}: ${res.stderr}` }
  const [info] = JSON.parse(res.stdout.slice(res.stdout.indexOf('[')))
  return { files: info.files.map(f => f.path) }
}

test('npm tarball: every relative link of a packed Markdown file (README.md first) names a packed file', { timeout: 60000 }, t => {
  const { files, error } = packedFiles()
  if (error) return t.skip('npm pack --dry-run failed: ' + error)
  const packed = new Set(files)
  const md = files.filter(f => f.endsWith('.md'))
  assert.ok(md.includes('README.md') && md.includes('docs/compatibility.md'), md.join(', '))
  const dead = []
  let relative = 0
  for (const file of md) {
    for (const { line, target } of links(fs.readFileSync(path.join(ROOT, file), 'utf8'))) {
      const rel = target.split('#')[0]
      if (!rel || isExternal(target)) continue
      relative++
      const dest = path.posix.normalize(path.posix.join(path.posix.dirname(file), decodeURI(rel))).replace(/\/$/, '')
      if (!packed.has(dest) && !files.some(f => f.startsWith(dest + '/'))) dead.push(`${file}:${line}: ${target}`)
    }
  }
  assert.ok(relative > 0, 'the packed Markdown files have relative links')
  assert.deepStrictEqual(dead, [], 'linked from a packed file but not in package.json "files"')
})
