'use strict'
// Forked server child with promise-based IPC and guaranteed cleanup.
const { fork } = require('child_process')
const path = require('path')

const live = new Set()
function killAll () {
  for (const c of live) {
    try { c.kill('SIGKILL') } catch (_) {}
  }
  live.clear()
}
process.on('exit', killAll)

// script: another server of the same IPC protocol (dht-serve-child.js); its second argument is
// then whatever that script takes in place of the workload.
function forkServer (impl, workload, extraExecArgv, rcvbuf, script) {
  return forkScript(script || 'server-child.js', [impl, workload, String(rcvbuf || 0)], extraExecArgv)
}

// Any script of lib/ that speaks this IPC ({type:'ready'} first, replies by type, 'exit').
function forkScript (script, args, extraExecArgv) {
  const child = fork(path.join(__dirname, script), args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: extraExecArgv || []
  })
  live.add(child)
  const waiters = []
  let exited = null
  child.on('message', (m) => {
    const i = waiters.findIndex((w) => w.type === m.type || m.type === 'error')
    if (i !== -1) {
      const w = waiters.splice(i, 1)[0]
      clearTimeout(w.timer)
      if (m.type === 'error' && w.type !== 'error') w.reject(new Error('server child: ' + m.error))
      else w.resolve(m)
    }
  })
  child.on('exit', (code, sig) => {
    live.delete(child)
    exited = { code, sig }
    for (const w of waiters.splice(0)) {
      clearTimeout(w.timer)
      w.reject(new Error(`server child exited (${code}/${sig})`))
    }
  })
  function wait (type, ms) {
    return new Promise((resolve, reject) => {
      if (exited) return reject(new Error('server child already exited'))
      const w = { type, resolve, reject }
      w.timer = setTimeout(() => {
        const i = waiters.indexOf(w)
        if (i !== -1) waiters.splice(i, 1)
        reject(new Error('timed out waiting for ' + type + ' from server child'))
      }, ms)
      waiters.push(w)
    })
  }
  function request (cmd, reply, ms) {
    const p = wait(reply, ms || 5000)
    child.send({ cmd })
    return p
  }
  function stop () {
    return new Promise((resolve) => {
      if (exited) return resolve()
      const t = setTimeout(() => { try { child.kill('SIGKILL') } catch (_) {} resolve() }, 1000)
      child.once('exit', () => { clearTimeout(t); resolve() })
      try { child.send({ cmd: 'exit' }) } catch (_) {}
    })
  }
  return { child, wait, request, stop }
}

module.exports = { forkServer, forkScript, killAll }
