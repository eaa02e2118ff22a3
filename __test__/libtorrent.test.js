'use strict'
// readOnly (BEP 43) against a real libtorrent DHT node (Debian's python3-libtorrent): the node
// answers a read-only node's queries but keeps it out of its routing table, and adds the same
// node when it queries without `ro`. Skipped, with a message, where python3 has no libtorrent
// (`apt-get install python3-libtorrent` provides it).
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn, spawnSync } = require('node:child_process')
const crypto = require('node:crypto')
const path = require('node:path')
const RPC = require('..')

const PYTHON = ['/usr/bin/python3', 'python3'].find(p => spawnSync(p, ['-c', 'import libtorrent'], { stdio: 'ignore' }).status === 0)
const skip = PYTHON ? false : 'python3 with the libtorrent module (Debian: python3-libtorrent) is not installed'

// Starts a libtorrent node, runs `fn(port)`, then waits for two more routing table reports and
// returns { result, routingNodes } with the last one.
async function withLibtorrent (fn) {
  const py = spawn(PYTHON, [path.join(__dirname, 'fixtures', 'libtorrent-node.py'), '20'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = []
  let waiting = null
  let buf = ''
  py.stdout.on('data', d => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)))
      buf = buf.slice(i + 1)
      if (waiting) waiting()
    }
  })
  const next = (pred) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('libtorrent node did not report')), 10000)
    const check = () => {
      const at = lines.findIndex(pred)
      if (at < 0) return
      clearTimeout(timer)
      waiting = null
      resolve(lines.splice(0, at + 1).pop())
    }
    waiting = check
    check()
  })
  try {
    const { port, version } = await next(l => l.port)
    const result = await fn(port)
    await next(l => l.routing_nodes !== undefined)
    const last = await next(l => l.routing_nodes !== undefined)
    return { result, version, routingNodes: last.routing_nodes }
  } finally {
    py.stdin.end()
    py.kill()
  }
}

function queries (opts, port) {
  return new Promise((resolve, reject) => {
    const rpc = RPC({ ...opts, timeout: 2000 })
    const id = crypto.randomBytes(20)
    const replies = []
    rpc.bind(0, '127.0.0.1', () => {
      const methods = ['ping', 'find_node', 'find_node']
      const step = () => {
        const q = methods.shift()
        if (!q) { rpc.destroy(); return resolve(replies) }
        rpc.query({ host: '127.0.0.1', port }, { q, a: { id, target: id } }, (err, res) => {
          if (err) { rpc.destroy(); return reject(err) }
          replies.push(String(res.y))
          setTimeout(step, 200)
        })
      }
      step()
    })
  })
}

test('readOnly against libtorrent: its queries are answered, and libtorrent keeps it out of its routing table', { skip, timeout: 40000 }, async t => {
  const ro = await withLibtorrent(port => queries({ readOnly: true }, port))
  t.diagnostic(`libtorrent ${ro.version}: read-only node: replies ${ro.result.join(',')}, libtorrent routing table ${ro.routingNodes}`)
  assert.deepEqual(ro.result, ['r', 'r', 'r'])
  assert.equal(ro.routingNodes, 0, 'a read-only node is not added')
  const rw = await withLibtorrent(port => queries({}, port))
  t.diagnostic(`the same without readOnly: replies ${rw.result.join(',')}, libtorrent routing table ${rw.routingNodes}`)
  assert.deepEqual(rw.result, ['r', 'r', 'r'])
  assert.equal(rw.routingNodes, 1, 'without ro the querying node is added (so the check above can fail)')
})
