#!/usr/bin/env node
'use strict'
// CPU profile of the ping round trip with the server in its own process:
//   node bench/profile.js [--impl ref|ours] [--workload ping] [--inflight 16] [--duration 3000] [--top 25]
// Runs bench/scenarios/rtt.js --topo 2p with `node --cpu-prof` on both the client and the server
// process, then prints the top functions by self time for each. Native code called from JS (e.g. the
// sendmsg() inside dgram's doSend, which on loopback also runs the receive path in the kernel) is
// attributed to the calling JS function. Profiles stay in bench/results/profiles/.
const { spawnSync } = require('child_process')
const fs = require('fs')
const path = require('path')
const parseArgs = require('./lib/args')
const { summarize } = require('./lib/cpuprofile')
const { render, fmt } = require('./lib/table')

const opts = parseArgs(process.argv.slice(2), { impl: 'ref', workload: 'ping', inflight: 16, duration: 3000, top: 25 })
const dir = path.join(__dirname, 'results', 'profiles', `${opts.impl}-${opts.workload}-${opts.inflight}-${Date.now()}`)
const srvDir = path.join(dir, 'server')
const cliDir = path.join(dir, 'client')
fs.mkdirSync(srvDir, { recursive: true })
fs.mkdirSync(cliDir, { recursive: true })

const r = spawnSync(process.execPath, [
  '--cpu-prof', '--cpu-prof-dir=' + cliDir,
  path.join(__dirname, 'scenarios', 'rtt.js'),
  '--impl', opts.impl, '--workload', opts.workload, '--inflight', String(opts.inflight), '--topo', '2p',
  '--warmup', '300', '--duration', String(opts.duration),
  '--server-exec-argv=--cpu-prof --cpu-prof-dir=' + srvDir
], { encoding: 'utf8', timeout: opts.duration + 30000, killSignal: 'SIGKILL' })
const line = (r.stdout || '').trim().split('\n').pop()
console.log(`# CPU profile: ${opts.impl} ${opts.workload}, ${opts.inflight} in flight, server in a child process`)
console.log('result: ' + line)
console.log('')
for (const [who, d] of [['server', srvDir], ['client', cliDir]]) {
  const files = fs.readdirSync(d).filter((f) => f.endsWith('.cpuprofile'))
  if (!files.length) { console.log(`(no ${who} profile written)`); continue }
  const s = summarize(path.join(d, files[0]), opts.top)
  console.log(`## ${who}: ${fmt(s.totalMs)} ms sampled, ${fmt(s.busyMs)} ms not idle (${path.relative(process.cwd(), s.file)})\n`)
  console.log(render(['self ms', '% of busy', 'function'], s.rows.map((x) => [fmt(x.ms), fmt(x.busyPct, 1), x.fn]), ['r', 'r', 'l']))
  console.log('')
  console.log(render(['self ms', '% of busy', 'bucket'], s.groups.map((x) => [fmt(x.ms), fmt(x.busyPct, 1), x.name]), ['r', 'r', 'l']))
  console.log('')
}
