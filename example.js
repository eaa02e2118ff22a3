'use strict'
// The usage example of k-rpc-socket's README, made to run by itself: a server that answers every
// query, and a client that sends it one. Swap require('@dwdht/krpc-socket') for
// require('k-rpc-socket') and the output is the same.

const krpc = require('./') // require('@dwdht/krpc-socket') in your project

const server = krpc()

server.on('query', function (query, peer) {
  console.log('server: received query %s from %s:%d', query.q.toString(), peer.address, peer.port)
  server.response(peer, query, { hello: 'world' })
})

server.bind(0, '127.0.0.1', function () {
  const port = server.address().port
  console.log('server: listening on 127.0.0.1:%d', port)

  const client = krpc()
  client.query({ host: '127.0.0.1', port }, { q: 'echo', a: { hello: 'world' } }, function (err, response) {
    if (err) throw err
    console.log('client: got response', { hello: response.r.hello.toString() })
    client.destroy()
    server.destroy(() => console.log('done'))
  })
})
