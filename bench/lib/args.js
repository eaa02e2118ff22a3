'use strict'
// Minimal `--key value` / `--flag` parser.
module.exports = function parseArgs (argv, defaults) {
  const out = Object.assign({}, defaults)
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) continue
    const eq = a.indexOf('=')
    let key, val
    if (eq !== -1) {
      key = a.slice(2, eq)
      val = a.slice(eq + 1)
    } else {
      key = a.slice(2)
      const next = argv[i + 1]
      if (next === undefined || next.startsWith('--')) val = true
      else { val = next; i++ }
    }
    key = key.replace(/-([a-z])/g, (_, c) => c.toUpperCase())
    if (typeof out[key] === 'number' && val !== true) val = Number(val)
    out[key] = val
  }
  return out
}
