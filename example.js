const krpc = require('@dwdht/krpc-socket') // was: require('k-rpc-socket')

const socket = krpc()

socket.on('query', function (query, peer) {
  socket.response(peer, query, { echo: query.a })
})

socket.bind(0, '127.0.0.1', function () {
  const anotherSocket = krpc()
  const peer = { host: '127.0.0.1', port: socket.address().port }
  anotherSocket.query(peer, { q: 'echo', a: { greetings: 'martian' } }, function (err, response) {
    if (err) throw err
    console.log(response.r) // prints { echo: { greetings: <Buffer 6d 61 72 74 69 61 6e> } }
    anotherSocket.destroy()
    socket.destroy()
  })
})
