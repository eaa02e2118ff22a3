'use strict'
// CPU and memory probes.
//
// * process CPU (all threads: main, libuv pool, V8 helpers, and for ours the Tokio thread):
//   process.cpuUsage() (getrusage RUSAGE_SELF, microseconds).
// * main-thread CPU: process.threadCpuUsage() when the runtime has it (Node >= 23.9; not Node 20),
//   otherwise /proc/self/task/<pid>/schedstat (nanoseconds on CPU; the main thread's tid is the pid),
//   otherwise utime+stime of /proc/self/task/<pid>/stat (clock ticks, 10 ms granularity).
// * system-wide busy time from /proc/stat, to estimate the CPU used by *other* processes during a window.
const fs = require('fs')
const os = require('os')

const CLK_TCK = 100 // USER_HZ on Linux x86-64
const pid = process.pid

function processCpuUs () {
  const u = process.cpuUsage()
  return u.user + u.system
}

let mainThreadSource = null
function mainThreadCpuUs () {
  if (typeof process.threadCpuUsage === 'function') {
    mainThreadSource = 'process.threadCpuUsage'
    const u = process.threadCpuUsage()
    return u.user + u.system
  }
  try {
    const s = fs.readFileSync(`/proc/self/task/${pid}/schedstat`, 'latin1')
    mainThreadSource = 'schedstat'
    return Number(s.split(' ')[0]) / 1000
  } catch (_) {}
  try {
    mainThreadSource = 'stat'
    return statTicks(fs.readFileSync(`/proc/self/task/${pid}/stat`, 'latin1')) * (1e6 / CLK_TCK)
  } catch (_) {
    mainThreadSource = 'unavailable'
    return NaN
  }
}

// utime + stime (fields 14 and 15) of a /proc/.../stat line; the comm field may contain spaces.
function statTicks (line) {
  const f = line.slice(line.lastIndexOf(')') + 2).split(' ')
  return Number(f[11]) + Number(f[12])
}

// Whole-process CPU from /proc/self/stat (ticks), as a cross-check of process.cpuUsage().
function procStatCpuUs () {
  try {
    return statTicks(fs.readFileSync('/proc/self/stat', 'latin1')) * (1e6 / CLK_TCK)
  } catch (_) {
    return NaN
  }
}

function threadCount () {
  try {
    return fs.readdirSync('/proc/self/task').length
  } catch (_) {
    return null
  }
}

// Busy (non-idle, non-iowait) CPU time of the whole machine, microseconds.
function systemBusyUs () {
  try {
    const line = fs.readFileSync('/proc/stat', 'latin1').split('\n')[0]
    const f = line.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal guest guest_nice
    const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0)
    return busy * (1e6 / CLK_TCK)
  } catch (_) {
    return NaN
  }
}

function snapshot () {
  return {
    t: performance.now(),
    proc: processCpuUs(),
    main: mainThreadCpuUs(),
    procStat: procStatCpuUs(),
    sys: systemBusyUs()
  }
}

// Differences between two snapshots, in milliseconds.
function delta (a, b) {
  return {
    wallMs: b.t - a.t,
    procMs: (b.proc - a.proc) / 1000,
    mainMs: (b.main - a.main) / 1000,
    procStatMs: (b.procStat - a.procStat) / 1000,
    sysBusyMs: (b.sys - a.sys) / 1000
  }
}

function peakRssMb () {
  return process.resourceUsage().maxRSS / 1024
}

module.exports = {
  processCpuUs,
  mainThreadCpuUs,
  mainThreadSource: () => mainThreadSource,
  procStatCpuUs,
  systemBusyUs,
  threadCount,
  snapshot,
  delta,
  peakRssMb,
  ncpu: os.cpus().length
}
