'use strict'
// Markdown-style tables that read well both in a terminal and in README.md.
function fmt (v, digits) {
  if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '-'
  if (typeof v !== 'number') return String(v)
  if (digits !== undefined) return v.toFixed(digits)
  const a = Math.abs(v)
  if (a >= 100000) return Math.round(v).toLocaleString('en-US')
  if (a >= 1000) return Math.round(v).toString()
  if (a >= 100) return v.toFixed(0)
  if (a >= 10) return v.toFixed(1)
  if (a >= 1) return v.toFixed(2)
  return v.toFixed(3)
}

function render (headers, rows, align) {
  const cells = [headers, ...rows].map((r) => r.map((c) => String(c)))
  const w = headers.map((_, i) => Math.max(3, ...cells.map((r) => (r[i] || '').length)))
  const line = (r) => '| ' + r.map((c, i) => {
    c = c || ''
    return (align && align[i] === 'l') ? c.padEnd(w[i]) : c.padStart(w[i])
  }).join(' | ') + ' |'
  const sep = '|' + w.map((n, i) => (align && align[i] === 'l') ? ':' + '-'.repeat(n + 1) : '-'.repeat(n + 1) + ':').join('|') + '|'
  return [line(cells[0]), sep, ...cells.slice(1).map(line)].join('\n')
}

module.exports = { fmt, render }
