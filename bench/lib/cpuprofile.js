'use strict'
// Summarize a V8 .cpuprofile (from node --cpu-prof) by self time per function.
const fs = require('fs')
const path = require('path')

function summarize (file, top) {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'))
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const self = new Map()
  let total = 0
  const deltas = prof.timeDeltas || []
  for (let i = 0; i < prof.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the following interval to it.
    const dt = deltas[i + 1] !== undefined ? deltas[i + 1] : 0
    const node = byId.get(prof.samples[i])
    if (!node) continue
    const cf = node.callFrame
    const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : ''
    const key = `${cf.functionName || '(anonymous)'}${where ? ' ' + where : ''}`
    self.set(key, (self.get(key) || 0) + dt)
    total += dt
  }
  const busy = total - (self.get('(idle)') || 0)
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([fn, us]) => ({ fn, ms: us / 1000, pct: us / total * 100, busyPct: fn === '(idle)' ? null : us / busy * 100 }))
  // Coarse buckets by module, for a quick picture.
  const buckets = new Map()
  for (const [key, us] of self) {
    const b = bucket(key)
    buckets.set(b, (buckets.get(b) || 0) + us)
  }
  const groups = [...buckets.entries()].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, ms: us / 1000, pct: us / total * 100, busyPct: name === '(idle)' ? null : us / busy * 100 }))
  return { file, totalMs: total / 1000, busyMs: busy / 1000, rows, groups }
}

function shortUrl (url) {
  url = url.replace(/^file:\/\//, '')
  const nm = url.lastIndexOf('node_modules/')
  if (nm !== -1) return url.slice(nm + 'node_modules/'.length)
  if (url.startsWith('node:')) return url
  return path.relative(path.resolve(__dirname, '..', '..'), url)
}

function bucket (key) {
  if (/^\((idle|program|garbage collector|root)\)/.test(key)) return key
  if (/ bencode\//.test(key)) return 'bencode (decode/encode)'
  if (/ k-rpc-socket\//.test(key)) return 'k-rpc-socket'
  if (/ node:dgram|node:internal\/dgram/.test(key)) return 'node:dgram'
  if (/ node:events|node:internal\/events/.test(key)) return 'node:events'
  if (/ node:/.test(key)) return 'other node: internals'
  if (/ bench\//.test(key)) return 'benchmark harness'
  if (/ (lib\/|index\.js)/.test(key)) return 'ours (JS)'
  return 'native / other'
}

module.exports = { summarize }
