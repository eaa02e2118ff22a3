// Type tests of the ESM entry (index.d.mts), consumed the way an ES module TypeScript project
// does. Checked by `npm run test:types`, never run.
import krpc, { RPC } from '@dwdht/krpc-socket'
import type { KrpcMessage, RemoteInfo, Peer, Stats, RPCOptions, QueryCallback, QueryOutcomeCallback } from '@dwdht/krpc-socket'
import CjsRPC = require('@dwdht/krpc-socket')

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function assertType<T extends true> (): void {}
function expectType<T> (value: T): T { return value }

// The default and the named export are the CommonJS constructor.
assertType<Equal<typeof krpc, typeof RPC>>()
assertType<Equal<typeof krpc, typeof CjsRPC>>()
assertType<Equal<Stats, CjsRPC.Stats>>()

const opts: RPCOptions = { timeout: 1000 }
const server: RPC = krpc(opts)
const client = new RPC()

server.on('query', (query, rinfo) => {
  expectType<KrpcMessage>(query)
  expectType<RemoteInfo>(rinfo)
  server.response(rinfo, query, { id: Buffer.alloc(20) })
})

server.bind(0, '127.0.0.1', () => {
  const peer: Peer = { host: '127.0.0.1', port: server.address().port }
  const onPing: QueryOutcomeCallback = (err, message, rinfo, request) => {
    if (err) {
      if (message) expectType<number>(err.code)
      return
    }
    expectType<KrpcMessage>(message)
    expectType<RemoteInfo>(rinfo)
    expectType<'q'>(request.y)
    client.destroy()
    server.destroy()
  }
  expectType<number | undefined>(client.query(peer, { q: 'ping', a: { id: Buffer.alloc(20) } }, onPing))
})

const loose: QueryCallback = (err, message) => { if (!err) expectType<KrpcMessage | null | undefined>(message) }
client.query({ address: '127.0.0.1', port: 1 }, { q: 'ping' }, loose)
expectType<number>(server.stats().queriesInFlight)
expectType<RPC>(server.unref().ref())

class Sub extends RPC {
  hello (): string { return 'hi' }
}
expectType<Sub>(new Sub().unref())

// @ts-expect-error: a response listener gets (message, rinfo)
server.on('response', (message: string) => {})
// @ts-expect-error: a peer needs a port
client.query({ host: '127.0.0.1' }, { q: 'ping' })
