'use strict'
// Each scenario prints exactly one JSON line on stdout and exits.
let done = false
function emit (obj) {
  if (done) return
  done = true
  process.stdout.write(JSON.stringify(obj) + '\n', () => process.exit(0))
  setTimeout(() => process.exit(0), 1000).unref()
}
function fail (base, err) {
  emit(Object.assign({}, base, { ok: false, error: String((err && err.message) || err).split('\n')[0] }))
}
// Exit if the orchestrator goes away; a hard wall-clock cap for standalone runs.
function guard (base, ms) {
  if (process.send) process.on('disconnect', () => process.exit(2))
  const t = setTimeout(() => fail(base, new Error('scenario exceeded ' + ms + ' ms')), ms)
  t.unref()
  process.on('uncaughtException', (err) => fail(base, err))
}
module.exports = { emit, fail, guard }
