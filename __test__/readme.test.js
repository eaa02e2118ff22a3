'use strict'
// Every JavaScript and JSON snippet of README.md runs here as it stands (the TypeScript ones are
// type-checked against the packed package in pack.test.js). A snippet runs in a scratch project
// whose node_modules point at this checkout and at the devDependencies it imports, so
// `require('@dwdht/krpc-socket')` and `import DHT from 'bittorrent-dht'` resolve as in a user's
// project. A `// prints X` comment is checked against what the snippet prints.

const test = require('node:test')
const assert = require('node:assert')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { spawnSync } = require('child_process')
const { snippets } = require('./harness/readme')

const ROOT = path.join(__dirname, '..')

function scratchProject () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krpc-readme-'))
  fs.mkdirSync(path.join(dir, 'node_modules', '@dwdht'), { recursive: true })
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', '@dwdht', 'krpc-socket'), 'dir')
  for (const dep of ['bittorrent-dht', 'k-rpc', 'k-rpc-socket']) {
    fs.symlinkSync(path.join(ROOT, 'node_modules', dep), path.join(dir, 'node_modules', dep), 'dir')
  }
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "private": true }\n')
  return dir
}

const all = snippets()

test('README.md has the snippets this file runs', () => {
  const langs = all.map(s => s.lang)
  assert.ok(langs.filter(l => l === 'js').length >= 3, langs.join(','))
  assert.ok(langs.includes('json'))
  assert.ok(langs.includes('ts'))
})

for (const snippet of all.filter(s => s.lang === 'json')) {
  test(`README.md:${snippet.line}: the JSON snippet parses`, () => {
    JSON.parse(snippet.code)
  })
}

for (const snippet of all.filter(s => s.lang === 'js')) {
  test(`README.md:${snippet.line}: the JavaScript snippet runs as written and exits by itself`, { timeout: 30000 }, () => {
    const dir = scratchProject()
    try {
      const esm = /^\s*import\s/m.test(snippet.code)
      const file = path.join(dir, esm ? 'snippet.mjs' : 'snippet.js')
      fs.writeFileSync(file, snippet.code)
      const res = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 20000 })
      assert.strictEqual(res.error, undefined, String(res.error))
      assert.strictEqual(res.status, 0, `exit ${res.status} ${res.signal}\n${res.stdout}\n${res.stderr}`)
      assert.strictEqual(res.stderr, '')
      for (const [, expected] of snippet.code.matchAll(/\/\/ prints (.*)$/gm)) {
        assert.ok(res.stdout.includes(expected.trim()), `expected output ${expected.trim()}, got ${res.stdout}`)
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
}

test('example.js (npm run example) is the README usage snippet, character for character', () => {
  const usage = all.find(s => s.lang === 'js' && s.code.includes("{ q: 'echo'"))
  assert.ok(usage, 'the usage snippet')
  assert.strictEqual(fs.readFileSync(path.join(ROOT, 'example.js'), 'utf8'), usage.code)
})
