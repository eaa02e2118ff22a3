const { spawnSync } = require('child_process')
const shapes = require('./shapes')
const [impl, shape, warm] = process.argv.slice(2)
const run = n => { const r = spawnSync('node', ['probe.js', impl, shape, String(n), warm || '0'], { encoding: 'utf8', env: process.env }); return r.status === 0 ? r.stdout.trim() : 'CRASH ' + (/RangeError[^\n]*/.exec(r.stderr) || [r.stderr.slice(0, 200)])[0] }
const ok = n => { const r = run(n); return r !== '[]' && !/RangeError|Maximum|CRASH/.test(r) }
let lo = 2, hi = 2
hi = 2; while (shapes.make(shape, hi + 1, Buffer.from('zz')).length <= 65507) hi++
while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (ok(mid)) lo = mid; else hi = mid - 1 }
console.log(impl, shape, 'warm=' + (warm || 0), process.env.WARMN || '', 'max ok', lo, run(lo), '| next', run(lo + 1))
