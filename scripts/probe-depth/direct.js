const bencode = require('../../node_modules/bencode')
const warmN = Number(process.argv[2] || 0), warmD = Number(process.argv[3] || 100)
const w = Buffer.from('l'.repeat(warmD) + 'e'.repeat(warmD))
for (let i = 0; i < warmN; i++) bencode.decode(w)
const ok = s => { try { bencode.decode(Buffer.from(s)); return true } catch (e) { return false } }
for (const [name, f] of [['lists', n => 'l'.repeat(n) + 'e'.repeat(n)], ['dicts', n => 'd1:a'.repeat(n) + 'i1e' + 'e'.repeat(n)]]) {
  let lo = 1, hi = 200000
  while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (ok(f(mid))) lo = mid; else hi = mid - 1 }
  console.log(name, warmN, warmD, lo)
}
