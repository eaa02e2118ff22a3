'use strict'
// What third parties do with `rpc.socket` (docs/compatibility.md, "What third parties reach into"): buffer sizes, address(), raw sends
// on the DHT port, ref/unref. Ours is a dgram-compatible object over the native socket; the
// reference's is a dgram.Socket. The transcripts must match.
const { differential } = require('./harness')

function attempt (t, label, fn) {
  try {
    t.log(label, fn())
  } catch (err) {
    t.log(label, 'threw', err.name, err.code, err.message)
  }
}

differential('rpc.socket: buffer sizes before and after bind, address(), ref/unref return the socket', async (RPC, t) => {
  const r = t.rpc()
  attempt(t, 'setRecvBufferSize before bind', () => r.socket.setRecvBufferSize(1 << 20))
  attempt(t, 'getSendBufferSize before bind', () => r.socket.getSendBufferSize())
  await new Promise(resolve => r.bind(0, '127.0.0.1', resolve))
  attempt(t, 'setRecvBufferSize(262144)', () => r.socket.setRecvBufferSize(262144))
  attempt(t, 'getRecvBufferSize', () => r.socket.getRecvBufferSize())
  attempt(t, 'setSendBufferSize(131072)', () => r.socket.setSendBufferSize(131072))
  attempt(t, 'getSendBufferSize', () => r.socket.getSendBufferSize())
  attempt(t, 'socket.address() deep-equals rpc.address()', () => JSON.stringify(r.socket.address()) === JSON.stringify(r.address()))
  attempt(t, 'unref() returns the socket', () => r.socket.unref() === r.socket)
  attempt(t, 'ref() returns the socket', () => r.socket.ref() === r.socket)
  r.destroy()
})

differential('rpc.socket.send: raw bytes on the DHT port (the two dgram argument forms), callback (null, bytes)', async (RPC, t) => {
  const peer = await t.peer('remote')
  const r = t.rpc()
  await new Promise(resolve => r.bind(0, '127.0.0.1', resolve))
  t.namePort(r.address().port, 'rpc')
  const cb1 = t.cb('send cb (buf, offset, length, port, host, cb)')
  r.socket.send(Buffer.from('xxRAW1yy'), 2, 4, peer.port, '127.0.0.1', cb1)
  await peer.recv()
  await t.wait(cb1.called)
  const cb2 = t.cb('send cb (buf, port, host, cb)')
  r.socket.send(Buffer.from('RAW2'), peer.port, '127.0.0.1', cb2)
  await peer.recv()
  await t.wait(cb2.called)
  const cb3 = t.cb('send cb (string, port, host, cb)')
  r.socket.send('RAW3', peer.port, '127.0.0.1', cb3)
  await peer.recv()
  await t.wait(cb3.called)
  attempt(t, 'send with offset past the end', () => r.socket.send(Buffer.from('ab'), 5, 1, peer.port, '127.0.0.1'))
  r.destroy()
})

differential('a wrapped rpc.socket.send gets Buffers it may keep: bytes of earlier sends are not overwritten by later ones', async (RPC, t) => {
  const peer = await t.peer('remote')
  const r = t.rpc()
  await new Promise(resolve => r.bind(0, '127.0.0.1', resolve))
  const kept = []
  const send = r.socket.send
  r.socket.send = function (buf, offset, length, ...rest) {
    kept.push({ buf, offset, length, copy: Buffer.from(buf.subarray(offset, offset + length)) })
    t.log('wrapped send: callback is a function', typeof rest[rest.length - 1] === 'function')
    return send.call(this, buf, offset, length, ...rest)
  }
  r.query({ host: '127.0.0.1', port: peer.port }, { q: 'first', a: { id: Buffer.alloc(20, 1) } })
  r.query({ host: '127.0.0.1', port: peer.port }, { q: 'second_and_longer', a: { id: Buffer.alloc(20, 2) } })
  await peer.recv()
  await peer.recv()
  for (const k of kept) t.log('kept bytes unchanged', k.buf.subarray(k.offset, k.offset + k.length).equals(k.copy))
  r.destroy()
})
