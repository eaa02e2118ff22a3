'use strict'
// Reruns the suites that resolve 'localhost' with a private /etc/hosts that lists ::1 first, so the
// tests are known to pass whichever way the machine resolves it. A private mount namespace needs
// root (and util-linux's unshare); elsewhere this says so and skips.

const { spawnSync } = require('child_process')
const path = require('path')

const root = path.join(__dirname, '..')
const hosts = path.join(root, '__test__', 'fixtures', 'hosts.localhost-v6-first')
const suites = ['diff-hostnames.test.js', 'consumers.test.js', 'ipv6.test.js'].map(f => path.join('__test__', f))

const canMount = process.getuid && process.getuid() === 0 &&
  spawnSync('unshare', ['-m', 'true'], { stdio: 'ignore' }).status === 0
if (!canMount) {
  console.log('test:localhost-v6: skipped (a private /etc/hosts needs root and unshare)')
  process.exit(0)
}

const script = `mount --bind "${hosts}" /etc/hosts && exec "${process.execPath}" --test ${suites.join(' ')}`
const run = spawnSync('unshare', ['-m', 'sh', '-c', script], { cwd: root, stdio: 'inherit' })
process.exit(run.status === null ? 1 : run.status)
