'use strict'
// The fenced code blocks of README.md, as they stand, for the tests that run them
// (__test__/readme.test.js) and type-check them (there and in __test__/pack.test.js).

const fs = require('fs')
const path = require('path')

const README = path.join(__dirname, '..', '..', 'README.md')

/** @returns {{ lang: string, code: string, line: number }[]} line: 1-based, of the opening fence */
function snippets (file = README) {
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  const out = []
  let open = null
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)```\s*([\w-]*)\s*$/.exec(lines[i])
    if (!m) {
      if (open) open.body.push(lines[i].slice(Math.min(open.indent, lines[i].length - lines[i].trimStart().length)))
      continue
    }
    if (!open) open = { lang: m[2], indent: m[1].length, line: i + 1, body: [] }
    else {
      out.push({ lang: open.lang, code: open.body.join('\n') + '\n', line: open.line })
      open = null
    }
  }
  if (open) throw new Error(`README.md:${open.line}: unclosed code block`)
  return out
}

module.exports = { snippets, README }
