'use strict'
// Headings, anchors and links of Markdown files, the way GitHub renders them, for
// __test__/docs.test.js. Only what our files use: ATX headings, inline links and images,
// reference definitions and href attributes; fenced code and code spans are not Markdown.

const path = require('path')

/** Lines outside fenced code blocks, with their 1-based numbers. */
function proseLines (text) {
  const out = []
  let fence = null
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const m = /^ {0,3}(`{3,}|~{3,})/.exec(lines[i])
    if (m) {
      if (!fence) fence = m[1]
      else if (m[1][0] === fence[0] && m[1].length >= fence.length) fence = null
      continue
    }
    if (!fence) out.push({ line: i + 1, text: lines[i] })
  }
  return out
}

const stripCode = s => s.replace(/(`+)[^`]*?\1/g, m => m.replace(/^`+|`+$/g, ''))

// What a heading reads as once rendered: code spans keep their text, links their text, images and
// HTML tags go away.
function headingText (raw) {
  return stripCode(raw)
    .replace(/!\[[^\]]*\]\([^)]*\)/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
}

// github-slugger (what github.com uses for heading ids): lowercase, drop every character that is
// not a letter, mark, number, connector punctuation (`_`), `-` or space, then each space becomes
// `-`. A repeated slug gets `-1`, `-2`, ... in order of appearance.
function slugger () {
  const seen = new Map()
  return text => {
    const base = text.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '').replace(/ /g, '-')
    let slug = base
    while (seen.has(slug)) {
      const n = seen.get(base) + 1
      seen.set(base, n)
      slug = `${base}-${n}`
    }
    seen.set(slug, 0)
    return slug
  }
}

/** The anchors (heading ids) of one Markdown text, in order. */
function anchors (text) {
  const slug = slugger()
  const out = []
  for (const { text: line } of proseLines(text)) {
    const m = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)
    if (m) out.push(slug(headingText(m[1])))
  }
  return out
}

/** Every link target of one Markdown text: `{ line, target }`. */
function links (text) {
  const out = []
  for (const { line, text: raw } of proseLines(text)) {
    const s = raw.replace(/(`+)[^`]*?\1/g, '') // a link inside a code span is not a link
    for (const m of s.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ line, target: m[1] })
    const def = /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(s)
    if (def) out.push({ line, target: def[1] })
    for (const m of s.matchAll(/\bhref="([^"]*)"/g)) out.push({ line, target: m[1] })
  }
  return out
}

const isExternal = target => /^[a-z][a-z0-9+.-]*:/i.test(target)

// Links into this repository on GitHub (used where the npm tarball lacks the file) are checked
// like relative ones: the path from the repository root.
const OWN_REPO = /^https:\/\/github\.com\/dwdht\/krpc-socket\/(?:blob|tree)\/main\//

/**
 * The broken links among `files` (a Map of repository path -> text, every tracked file; only the
 * *.md ones are read for links). A relative link must name one of `files` (or a directory holding
 * one), and its `#anchor` a heading of the Markdown file it names (or a `#L<n>` line of another
 * file). So must a link to this repository's main branch on GitHub. Other external links are not
 * followed.
 * @returns {string[]} one `file:line: target: why` per broken link
 */
function brokenLinks (files) {
  const anchorsOf = new Map()
  const anchorSet = file => {
    if (!anchorsOf.has(file)) anchorsOf.set(file, new Set(anchors(files.get(file))))
    return anchorsOf.get(file)
  }
  const problems = []
  for (const [file, text] of files) {
    if (!file.endsWith('.md')) continue
    for (const link of links(text)) {
      const { line } = link
      const target = OWN_REPO.test(link.target) ? '/' + link.target.replace(OWN_REPO, '') : link.target
      if (!target || isExternal(target)) continue
      const hash = target.indexOf('#')
      const rel = decodeURI(hash === -1 ? target : target.slice(0, hash))
      const anchor = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1))
      const dest = rel === ''
        ? file
        : path.posix.normalize(rel.startsWith('/') ? rel.slice(1) : path.posix.join(path.posix.dirname(file), rel)).replace(/\/$/, '')
      const where = `${file}:${line}: ${target}`
      if (!files.has(dest)) {
        const isDir = [...files.keys()].some(f => f.startsWith(dest + '/'))
        if (!isDir) problems.push(`${where}: ${dest} is not a tracked file`)
        else if (anchor !== null) problems.push(`${where}: an anchor on a directory`)
        continue
      }
      if (anchor === null) continue
      if (dest.endsWith('.md')) {
        if (!anchorSet(dest).has(anchor)) problems.push(`${where}: no heading of ${dest} has the anchor #${anchor}`)
      } else if (!/^L\d+(-L\d+)?$/.test(anchor)) {
        problems.push(`${where}: #${anchor} on a file that is not Markdown`)
      }
    }
  }
  return problems
}

module.exports = { anchors, links, brokenLinks, isExternal, proseLines }
