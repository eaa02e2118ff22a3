'use strict'
// CHANGELOG.md is read by people deciding whether to upgrade: its sections must say which version
// is which and when it was released, and the newest release must be the version package.json
// publishes (Keep a Changelog's layout: `## [Unreleased]`, then `## [x.y.z] - YYYY-MM-DD`, newest first).

const test = require('node:test')
const assert = require('node:assert')
const fs = require('fs')
const path = require('path')

const ROOT = path.join(__dirname, '..')

function parse (text) {
  const sections = []
  for (const line of text.split('\n')) {
    const heading = /^## (.*)$/.exec(line)
    if (heading) {
      const m = /^\[(Unreleased|\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)\](?: - (\d{4}-\d{2}-\d{2}))?$/.exec(heading[1])
      assert.ok(m, 'a section heading is `## [Unreleased]` or `## [x.y.z] - YYYY-MM-DD`: ' + JSON.stringify(line))
      sections.push({ version: m[1], date: m[2], groups: 0, entries: 0 })
      continue
    }
    const current = sections[sections.length - 1]
    if (!current) continue
    if (/^### \S/.test(line)) current.groups++
    if (/^- \S/.test(line)) current.entries++
  }
  return sections
}

function compareVersions (a, b) {
  const pa = a.split(/[.-]/).map(Number)
  const pb = b.split(/[.-]/).map(Number)
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i]
  return 0
}

test('CHANGELOG: Unreleased first, then dated releases, newest first, the newest = package.json version', () => {
  const sections = parse(fs.readFileSync(path.join(ROOT, 'CHANGELOG.md'), 'utf8'))
  const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  assert.ok(sections.length >= 2, 'an Unreleased section and at least one release')
  assert.strictEqual(sections[0].version, 'Unreleased')
  assert.strictEqual(sections[0].date, undefined, 'Unreleased has no date')
  const released = sections.slice(1)
  for (const s of released) {
    assert.ok(s.date, `release ${s.version} is dated`)
    const d = new Date(s.date + 'T00:00:00Z')
    assert.ok(!Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s.date, `release ${s.version}: ${s.date} is a real date`)
    assert.ok(d.getTime() <= Date.now(), `release ${s.version} is not dated in the future`)
    assert.ok(s.groups > 0 && s.entries > 0, `release ${s.version} says what changed`)
    assert.notStrictEqual(s.version, 'Unreleased', 'one Unreleased section only')
  }
  for (let i = 1; i < released.length; i++) {
    assert.ok(compareVersions(released[i - 1].version, released[i].version) > 0, `${released[i - 1].version} is listed above ${released[i].version}`)
    assert.ok(released[i - 1].date >= released[i].date, `${released[i - 1].version} is not older than ${released[i].version}`)
  }
  assert.strictEqual(released[0].version, version, 'the newest release is the version package.json publishes')
})

test('CHANGELOG parser rejects what the layout forbids', () => {
  assert.throws(() => parse('## 0.1.0\n'), /section heading/)
  assert.throws(() => parse('## [0.1.0] 2026-11-22\n'), /section heading/)
  assert.deepStrictEqual(parse('## [Unreleased]\n### Added\n- x\n## [1.0.0] - 2026-01-02\n### Fixed\n- y\n- z\n'), [
    { version: 'Unreleased', date: undefined, groups: 1, entries: 1 },
    { version: '1.0.0', date: '2026-01-02', groups: 1, entries: 2 }
  ])
})
