const L = n => 'l'.repeat(n), E = n => 'e'.repeat(n)
// X(n): n nested containers around a leaf
const nest = {
  lists: n => L(n) + E(n),
  listsInt: n => L(n) + 'i1e' + E(n),
  listsStr: n => L(n) + '1:x' + E(n),
  dicts: n => 'd1:a'.repeat(n - 1) + 'de' + E(n - 1),
  dictsInt: n => 'd1:a'.repeat(n) + 'i1e' + E(n),
  mixed: n => { let s = ''; for (let i = 0; i < n; i++) s += i % 2 ? 'd1:a' : 'l'; let t = ''; for (let i = 0; i < n; i++) t += 'e'; return s + 'i1e' + t }
}
function make (shape, n, tid) {
  const m = /^(top|query|reply|unexp|yq)(\w+)$/.exec(shape)
  const kind = m[1], inner = nest[m[2].charAt(0).toLowerCase() + m[2].slice(1)]
  if (n === 0) return kind === 'top' ? 'le' : 'd1:y1:qe'
  // n counts every container including the outer message dict
  if (kind === 'top') return inner(n)
  if (kind === 'query') return 'd1:a' + inner(n - 1) + '1:q4:ping1:t2:aa1:y1:qe'
  if (kind === 'reply') return 'd1:r' + inner(n - 1) + '1:t2:' + tid.toString('latin1') + '1:y1:re'
  if (kind === 'unexp') return 'd1:r' + inner(n - 1) + '1:t2:zz1:y1:re'
  if (kind === 'yq') return 'd1:y' + L(n - 1) + '1:q' + E(n - 1) + 'e'
}
module.exports = { make }
