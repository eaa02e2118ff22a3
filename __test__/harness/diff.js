'use strict'
// Minimal line diff (LCS) with context, for readable transcript mismatches.
function diffLines (a, b, context = 3) {
  const n = a.length
  const m = b.length
  const L = Array.from({ length: n + 1 }, () => new Int32Array(m + 1))
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i][j] = a[i] === b[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1])
  const ops = []
  let i = 0
  let j = 0
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { ops.push([' ', a[i], i + 1]); i++; j++ } else if (j < m && (i === n || L[i][j + 1] >= L[i + 1][j])) { ops.push(['+', b[j], j + 1]); j++ } else { ops.push(['-', a[i], i + 1]); i++ }
  }
  const keep = new Array(ops.length).fill(false)
  ops.forEach((op, k) => { if (op[0] !== ' ') for (let x = Math.max(0, k - context); x <= Math.min(ops.length - 1, k + context); x++) keep[x] = true })
  const out = []
  let skipped = false
  ops.forEach((op, k) => {
    if (!keep[k]) { if (!skipped) out.push('  ...'); skipped = true; return }
    skipped = false
    out.push(`${op[0]} ${String(op[2]).padStart(3)} ${op[1]}`)
  })
  return out.join('\n')
}
module.exports = { diffLines }
