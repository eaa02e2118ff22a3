#!/usr/bin/env node
'use strict'
// Instructions per round trip, counted by valgrind's callgrind (user space of both sides in one
// process; the kernel's work is not counted):
//   node bench/instructions.js [--impls ours,ref] [--workloads ping,get_peers] [--queries 5000,25000]
// Each cell runs bench/scenarios/fixed-rtt.js twice, with the two query counts, and reports the
// difference of the totals divided by the difference of the counts, so start-up, module loading
// and warm-up cancel out. Unlike a timed cell, the count hardly depends on what else the machine
// is doing: on a 2-vCPU VM it repeats within about +-3 % (garbage collections fall differently),
// where a timed cell moves by 10 % or more. It is a proxy: an instruction is not a cycle.
const { spawnSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const parseArgs = require('./lib/args')
const { render, fmt } = require('./lib/table')

const opts = parseArgs(process.argv.slice(2), { impls: 'ours,ref', workloads: 'ping,get_peers', queries: '5000,25000' })
const [few, many] = String(opts.queries).split(',').map(Number)
if (!(few > 0 && many > few)) throw new Error('--queries wants two counts, the second larger')

const probe = spawnSync('valgrind', ['--version'], { encoding: 'utf8' })
if (probe.error || probe.status !== 0) {
  console.log('valgrind not found: nothing counted')
  process.exit(0)
}

const scenario = path.join(__dirname, 'scenarios', 'fixed-rtt.js')
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'krpc-callgrind-'))

function instructions (impl, workload, queries) {
  const out = path.join(scratch, `${impl}-${workload}-${queries}.out`)
  const r = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=' + out, process.execPath, scenario,
    '--impl', impl, '--workload', workload, '--queries', String(queries)], { encoding: 'utf8', timeout: 600000, killSignal: 'SIGKILL' })
  const m = /Collected : (\d+)/.exec(r.stderr || '')
  if (r.status !== 0 || !m) throw new Error(`${impl} ${workload} ${queries}: ${(r.stderr || '').trim().split('\n').pop()}`)
  return Number(m[1])
}

const rows = []
try {
  for (const workload of String(opts.workloads).split(',')) {
    for (const impl of String(opts.impls).split(',')) {
      const perQuery = (instructions(impl, workload, many) - instructions(impl, workload, few)) / (many - few)
      rows.push([workload, impl, fmt(perQuery)])
      console.error(`${workload} ${impl}: ${Math.round(perQuery)} instructions per round trip`)
    }
  }
} finally {
  fs.rmSync(scratch, { recursive: true, force: true })
}
console.log(`# Instructions per round trip (callgrind; ${few} and ${many} queries, 16 in flight, one process)\n`)
console.log(render(['workload', 'impl', 'instructions'], rows, ['l', 'l', 'r']))
