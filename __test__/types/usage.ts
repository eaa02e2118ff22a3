// Type tests of the CommonJS entry (index.d.ts), consumed the way a CommonJS TypeScript project
// does. Checked by `npm run test:types` (tsc -p __test__/types), never run. Every
// `@ts-expect-error` line must fail to compile, or tsc reports it.
import RPC = require('@dwdht/krpc-socket')
import RPCDefault from '@dwdht/krpc-socket' // esModuleInterop
import dgram = require('node:dgram')
import util = require('node:util')
import { EventEmitter } from 'node:events'
import type { AddressInfo } from 'node:net'
import type { EngineStats } from '../../generated/binding'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function assertType<T extends true> (): void {}
function expectType<T> (value: T): T { return value }

// The module shape ------------------------------------------------------------------------------

assertType<Equal<typeof RPCDefault, typeof RPC>>()
const withNew: RPC = new RPC()
const withoutNew: RPC = RPC()
const withOpts = RPC({ timeout: 1000, isIP: (host: string) => host === 'x' ? 4 : 0 })
RPC(null)
RPC({ type: 'udp6', matchPort: true, maxInflight: 100, rateLimit: { perSecond: 5, windowMs: 10000, blockMs: 1000 } })
RPC({ rateLimit: true })
RPC({ readOnly: true })
RPC({ type: 'udp6', ipv6Only: false })
RPC({ sendRate: { perSecond: 250 } })
RPC({ maxInflight: { limit: 16, queue: 1000 } })
// @ts-expect-error: queue mode needs both
RPC({ maxInflight: { limit: 16 } })
RPC({ sendRate: { perSecond: 250, burst: 10 } })
// @ts-expect-error: perSecond is required
RPC({ sendRate: { burst: 10 } })
// @ts-expect-error: readOnly is a boolean
RPC({ readOnly: 1 })
RPC({ isIP: () => true })
RPC({ socket: dgram.createSocket('udp4') }) // a dgram socket is a DgramLikeSocket
const ee: EventEmitter = withNew
expectType<boolean>(withoutNew instanceof RPC)
expectType<RPC>(RPC.prototype)
// @ts-expect-error: unknown option value type
RPC({ timeout: 'soon' })
// @ts-expect-error: udp4/udp6 only
RPC({ type: 'tcp' })

// Properties ------------------------------------------------------------------------------------

expectType<number>(withOpts.timeout)
expectType<number>(withOpts.inflight)
expectType<boolean>(withOpts.destroyed)
expectType<number | boolean>(withOpts.isIP('127.0.0.1'))
expectType<RPC.DgramLikeSocket>(withOpts.socket)
withOpts._tick = 65534
expectType<number[]>(withOpts._ids)
expectType<NodeJS.Timeout>(withOpts._timer)
for (const req of withOpts._reqs) {
  if (req === null) continue
  expectType<number>(req.ttl)
  expectType<string | undefined>(req.peer.host)
  expectType<number | string>(req.peer.port)
  expectType<Buffer>(req.message.t)
  expectType<'q'>(req.message.y)
  req.peer = { host: '10.0.0.1', port: 6881 } // third parties replace it
  req.callback(new Error('by hand'), null, req.peer)
}
// The socket: dgram-compatible extras are optional.
withOpts.socket.setRecvBufferSize?.(1 << 20)
expectType<number | undefined>(withOpts.socket.getRecvBufferSize?.())
expectType<AddressInfo>(withOpts.socket.address())

// The README usage example ----------------------------------------------------------------------

const server = RPC()
server.on('query', function (query, peer) {
  console.log('received query', query.q?.toString(), 'from', peer.address, peer.port)
  server.response(peer, query, { hello: 'world' })
})

server.bind(0, '127.0.0.1', function () {
  const client = RPC()
  const peer = { host: '127.0.0.1', port: server.address().port }
  client.query(peer, { q: 'echo', a: { hello: 'world' } }, function (err, response) {
    if (err) throw err
    console.log('response', response?.r?.hello?.toString()) // 'world'
    client.destroy()
    server.destroy()
  })
})

// Every callback shape --------------------------------------------------------------------------

const id = Buffer.alloc(20)
const tid = server.query({ host: '127.0.0.1', port: 6881, id }, { q: 'ping', a: { id } }, (err, message, rinfo, request) => {
  if (!err) {
    // success: (null, message, rinfo, request)
    expectType<RPC.KrpcMessage>(message)
    expectType<RPC.RemoteInfo>(rinfo)
    expectType<RPC.QueryMessage>(request)
    expectType<Buffer | undefined>(message.t)
    expectType<RPC.BencodeValue | undefined>(message.r?.id)
    return
  }
  if (message) {
    // error reply: (err, message, rinfo, request), err.code a number
    expectType<number>(err.code)
    expectType<RPC.BencodeValue[] | undefined>(message.e)
    expectType<RPC.RemoteInfo>(rinfo)
    expectType<RPC.QueryMessage>(request)
    return
  }
  if (rinfo) {
    // EUNEXPECTEDNODE (err, null, rinfo) or timeout / cancel (err, null, peer)
    expectType<null>(message)
    expectType<RPC.RemoteInfo | RPC.Peer>(rinfo)
    expectType<undefined>(request)
    expectType<string | number | undefined>(err.code)
    return
  }
  // DNS failure: (err)
  expectType<Error>(err)
  expectType<undefined>(message)
})
expectType<number | undefined>(tid)
if (tid !== undefined) server.cancel(tid, new Error('no longer needed'))
server.cancel(1)
server.query({ host: 'router.bittorrent.com', port: '6881' }, { q: 'ping' })
// A peer object that carries more fields (a routing-table node, say) fits; in an object literal an
// unknown key is a misspelling, and Peer has no index signature to hide it.
const node = { address: '127.0.0.1', port: 6881, id, lastSeen: 0 }
server.query(node, {})
// @ts-expect-error: `hots` is not a Peer field (and the query would go to no host)
server.query({ hots: '1.2.3.4', port: 1 }, { q: 'ping' })
// A callback typed by hand: the one-signature form.
function onReply (err: Error | null, message?: RPC.KrpcMessage | null, rinfo?: RPC.RemoteInfo | RPC.Peer, request?: RPC.QueryMessage): void {}
server.query({ host: '127.0.0.1', port: 1 }, { q: 'ping' }, onReply)
const viaArgs: RPC.QueryOutcomeCallback = (...args) => {
  if (args[0] === null) expectType<RPC.KrpcMessage>(args[1])
}
server.query({ host: '127.0.0.1', port: 1 }, { q: 'ping' }, viaArgs)
// @ts-expect-error: a query needs a port
server.query({ host: '127.0.0.1' }, { q: 'ping' })
// @ts-expect-error: the message of a success is not nullable, and err is not a string
server.query({ host: '127.0.0.1', port: 1 }, { q: 'ping' }, (err: string, message: RPC.KrpcMessage) => {})
server.query({ host: '127.0.0.1', port: 1 }, { q: 'ping' }, (err, message) => {
  // @ts-expect-error: message may be null (or absent) until err is checked
  message.r
})
// Two or three parameters narrow as four do.
server.query({ host: '127.0.0.1', port: 1 }, { q: 'ping' }, (err, res) => {
  if (err) return
  expectType<RPC.KrpcMessage>(res)
  expectType<RPC.BencodeDict | undefined>(res.r)
})
server.query({ host: '127.0.0.1', port: 1 }, { q: 'ping' }, (err, res, rinfo) => {
  if (err) {
    // @ts-expect-error: without a reply there may be no message
    res.e
    return
  }
  expectType<RPC.RemoteInfo>(rinfo)
  expectType<RPC.KrpcMessage>(res)
})
server.query({ host: '127.0.0.1', port: 1 }, { q: 'ping' }, (err) => { expectType<RPC.QueryError | null>(err) })

// response / error / send / bind / address / destroy --------------------------------------------

server.on('query', (query, rinfo) => {
  server.response(rinfo, query, { id, nodes: Buffer.alloc(26) }, (err, bytes) => {
    if (!err) expectType<number | undefined>(bytes)
  })
  server.response(rinfo, query, undefined)
  server.error(rinfo, query, [201, 'A Generic Error'])
  server.error(rinfo, query, 'oh no')
  server.error(rinfo, query, 202)
  server.error(rinfo, query, new Error('boom'))
  server.error(rinfo, query, { message: [201, 'm'] })
  // @ts-expect-error: error() needs something to send
  server.error(rinfo, query, null)
})
server.send({ host: '127.0.0.1', port: 1 }, { t: Buffer.from('aa'), y: 'r', r: { id, list: [1, 'a', [2]], flag: true } })
server.send({ address: '127.0.0.1', port: '1' }, null, (err) => { expectType<Error | null>(err) })
const received: RPC.KrpcMessage = {}
server.send({ host: '127.0.0.1', port: 1 }, received) // a decoded message encodes as it is
// @ts-expect-error: symbols do not encode
server.send({ host: '127.0.0.1', port: 1 }, { t: Symbol('x') })
server.bind()
server.bind(6881)
server.bind('6881', () => {})
server.bind(undefined, '127.0.0.1', () => {})
server.bind(() => {})
server.bind({ port: 0, address: '127.0.0.1', exclusive: true }, () => {})
expectType<AddressInfo>(server.address())
server.destroy()
server.destroy(() => {})

// Events: typed listeners, and any other name as a fallback -------------------------------------

const rpc = RPC()
rpc.on('query', (message, rinfo) => {
  expectType<RPC.KrpcMessage>(message)
  expectType<RPC.RemoteInfo>(rinfo)
  expectType<'IPv4' | 'IPv6'>(rinfo.family)
})
rpc.once('response', (message, rinfo) => { expectType<Buffer | undefined>(message.y); expectType<number>(rinfo.size) })
rpc.addListener('warning', (err) => { expectType<NodeJS.ErrnoException>(err) })
rpc.prependListener('error', (err) => { expectType<NodeJS.ErrnoException>(err) })
// Socket errors carry dgram's code: comparing it compiles without a cast.
rpc.on('error', (err) => { if (err.code === 'EADDRINUSE' || err.code === 'EACCES') rpc.destroy() })
rpc.on('warning', (err) => { if (err.code === 'ENOBUFS') expectType<string>(err.code) })
rpc.prependOnceListener('listening', () => {})
const onUpdate = (): void => {}
rpc.on('update', onUpdate).on('postupdate', onUpdate)
rpc.off('update', onUpdate)
rpc.removeListener('postupdate', onUpdate)
expectType<boolean>(rpc.emit('query', received, { address: '127.0.0.1', family: 'IPv4', port: 1, size: 0 }))
rpc.emit('update')
rpc.emit('warning', new Error('w'))
rpc.on('custom', (a: number, b: string) => {})
rpc.emit('custom', 1, 'x')
rpc.on(Symbol('s'), () => {})
const anyName: string = 'query'
rpc.on(anyName, (...args: any[]) => {})
rpc.setMaxListeners(0)
assertType<Equal<Parameters<RPC.Events['query']>, [message: RPC.KrpcMessage, rinfo: RPC.RemoteInfo]>>()
// @ts-expect-error: a query listener gets (message, rinfo), not a number
rpc.on('query', (message: number) => {})
// @ts-expect-error: a query listener gets two arguments, not three
rpc.once('query', (message: RPC.KrpcMessage, rinfo: RPC.RemoteInfo, extra: string) => {})
// @ts-expect-error: warning gets an Error
rpc.on('warning', (message: RPC.KrpcMessage) => {})
// @ts-expect-error: emit checks the arguments of the seven events
rpc.emit('query', 'not a message')
// @ts-expect-error: listening has no arguments
rpc.emit('listening', 1)

// Additions: stats(), ref(), unref() ------------------------------------------------------------

const stats = rpc.stats()
expectType<number>(stats.datagramsIn + stats.bytesIn + stats.datagramsOut + stats.bytesOut)
expectType<number>(stats.malformed + stats.unexpectedTid + stats.wrongSource + stats.badTid)
expectType<number>(stats.timeouts + stats.droppedInbox + stats.droppedPortZero + stats.sendErrors)
expectType<number>(stats.rateLimited + stats.queriesInFlight + stats.droppedReadOnly)
expectType<number>(stats.sendQueued + stats.sendQueueFull + stats.sendQueueLength)
// Stats has exactly the engine's fields (generated/binding.d.ts): a renamed or added counter fails here.
assertType<Equal<keyof RPC.Stats, keyof EngineStats>>()
assertType<Equal<RPC.Stats, EngineStats>>()
expectType<RPC>(rpc.unref().ref())
expectType<number>(rpc.queued)
rpc.destroy()

// Subclassing -----------------------------------------------------------------------------------

class Traced extends RPC {
  readonly seen: string[] = []
  constructor (opts?: RPC.RPCOptions) {
    super(opts)
  }

  emit (event: string | symbol, ...args: any[]): boolean {
    this.seen.push(String(event))
    return super.emit(event, ...args)
  }

  response (peer: RPC.Peer, query: RPC.ReplyTo, response?: RPC.BencodeDictInput, cb?: RPC.SendCallback): void {
    super.response(peer, query, { ...response, v: 'TS01' }, cb)
  }

  _cancel (index: number, err?: Error): void {
    super._cancel(index, err)
  }
}
const traced = new Traced({ timeout: 500 })
expectType<Traced>(traced.unref()) // `this`-typed
expectType<Traced>(traced.on('query', (message) => { expectType<RPC.KrpcMessage>(message) }))
expectType<RPC>(traced)
traced.destroy()

// The pre-class pattern: util.inherits plus RPC.call(this, opts).
interface Legacy extends RPC { legacy: true }
function Legacy (this: Legacy, opts?: RPC.RPCOptions) {
  RPC.call(this, opts)
  this.legacy = true
}
util.inherits(Legacy, RPC)

// Overriding methods on an instance (as k-rpc does with emit).
const patched = RPC()
const originalEmit = patched.emit
patched.emit = function (this: RPC, event: string | symbol, ...args: any[]): boolean {
  return originalEmit.apply(this, [event, ...args] as [string, ...any[]])
}
patched.destroy()
