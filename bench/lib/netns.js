'use strict'
// Runs the calling scenario again inside a fresh network namespace (`unshare -n`, then
// `ip link set lo up`): its own loopback with all of 127.0.0.0/8, no route out, and no port
// shared with anything else on the machine. Tries `unshare -n` (root or CAP_SYS_ADMIN), then
// `unshare -rn` (an unprivileged user namespace). Returns false in the namespaced copy (go on),
// true in the parent (which only waits for it), or throws when no namespace can be made.
const { spawn, spawnSync } = require('child_process')

const MARK = 'KRPC_BENCH_NETNS'

function reexecInNetns (script, argv) {
  if (process.env[MARK]) return false
  const flags = [['-n'], ['-rn']].find((f) => spawnSync('unshare', [...f, 'true'], { stdio: 'ignore', timeout: 5000 }).status === 0)
  if (!flags) throw new Error('unshare -n and unshare -rn both failed: no network namespace')
  const c = spawn('unshare', [...flags, 'sh', '-c', 'ip link set lo up && exec "$0" "$@"',
    process.execPath, ...process.execArgv, script, ...argv], {
    stdio: 'inherit', env: Object.assign({}, process.env, { [MARK]: 'unshare ' + flags.join(' ') })
  })
  const kill = () => { try { c.kill('SIGKILL') } catch (_) {} }
  process.on('SIGTERM', () => { kill(); process.exit(143) })
  process.on('SIGINT', () => { kill(); process.exit(130) })
  c.on('exit', (code, sig) => process.exit(code === null ? 1 : code))
  return true
}

// How this process got its namespace (for the report), or null outside one.
function netnsKind () {
  return process.env[MARK] || null
}

module.exports = { reexecInNetns, netnsKind }
