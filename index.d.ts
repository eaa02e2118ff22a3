/// <reference types="node" />
// Typings of the CommonJS entry (index.js). Hand-written: keep them in step with index.js,
// README.md (API) and generated/binding.d.ts (EngineStats). `npm run test:types` checks them.

import type { EventEmitter } from 'node:events'
import type { BindOptions } from 'node:dgram'
import type { AddressInfo } from 'node:net'

/**
 * A KRPC socket (BitTorrent DHT, BEP 5) over UDP: a drop-in replacement for `k-rpc-socket`.
 * Callable with or without `new`; `class extends RPC` and `util.inherits` + `RPC.call(this, opts)`
 * both work.
 */
declare const RPC: RPC.RPCConstructor

/** An instance of {@link RPC}: an EventEmitter with typed events (see {@link RPC.Events}). */
interface RPC extends EventEmitter {
  /** The `timeout` option as given (2000 when it was falsy). Changing it later has no effect. */
  timeout: number
  /** Queries waiting for a reply. Already decremented when a query's callback runs. */
  inflight: number
  /** `true` once `destroy()` was called. */
  destroyed: boolean
  /** Decides whether `peer.host` is an IP address or needs a DNS lookup first. */
  isIP: (host: string) => number | boolean
  /** The socket: `opts.socket`, or the built-in native socket (dgram-compatible). */
  socket: RPC.DgramLikeSocket
  /** The last transaction id handed out (0 before the first query). Writable. */
  _tick: number
  /** Transaction id per slot; 0 marks a free slot. Never shrinks. */
  _ids: number[]
  /** Pending request per slot (in step with `_ids`), or `null` for a free slot. */
  _reqs: Array<RPC.Request | null>
  /** The tick interval that times queries out. */
  _timer: NodeJS.Timeout

  /** The socket's bound address (`socket.address()`). Throws before the socket is bound. */
  address (): AddressInfo

  /**
   * Answers a query: sends `{ t: query.t, y: 'r', r: response }` to `peer.address || peer.host`.
   * @param peer where to send it; usually the `rinfo` of the `query` event
   * @param query the received query (only its `t` is used)
   * @param response the `r` dictionary
   * @param callback dgram's send callback
   */
  response (peer: RPC.Peer, query: RPC.ReplyTo, response?: RPC.BencodeDictInput, callback?: RPC.SendCallback): void

  /**
   * Sends an error reply `{ t: query.t, y: 'e', e: [...] }`. The list is `error.message || error`,
   * used as is when it is an array, else wrapped in one (e.g. `[201, 'A Generic Error']`).
   */
  error (peer: RPC.Peer, query: RPC.ReplyTo, error: RPC.ErrorInput, callback?: RPC.SendCallback): void

  /**
   * Bencodes `message` (synchronously) and sends it to `peer.address || peer.host` at `peer.port`.
   * Throws on a bad port or after `destroy()`.
   */
  send (peer: RPC.Peer, message: RPC.BencodeInput, callback?: RPC.SendCallback): void

  /**
   * Binds the socket; every form of dgram's `bind` works. The `listening` event fires before
   * `callback`. The first `query()`/`send()` binds implicitly to a random port.
   */
  bind (port?: number | string, address?: string, callback?: () => void): void
  bind (port: number | string | undefined, callback: () => void): void
  bind (callback: () => void): void
  bind (options: BindOptions, callback?: () => void): void

  /**
   * Cancels every pending query (`Query was cancelled`), stops the timer and closes the socket.
   * @param callback called once the socket is closed
   */
  destroy (callback?: () => void): void

  /**
   * Sends the query `{ t, y: 'q', q: query.q, a: query.a }` and calls `callback` once with the
   * outcome. A callback that declares two, three or four parameters gets them narrowed by checking
   * `err`, then `message` (see {@link RPC.QueryCallbackArgs}): after `if (err) return`, `message` is
   * a {@link RPC.KrpcMessage}. A one-parameter callback gets {@link RPC.QueryCallback}'s union.
   * @returns the transaction id, or `undefined` when `peer.host` must be resolved by DNS first
   */
  query (peer: RPC.Peer, query: RPC.QueryInput, callback?: RPC.QueryOutcomeCallback): number | undefined
  // A function type with fewer parameters than a rest tuple is not assignable to it, so each
  // shorter arity gets the same outcomes cut to its length.
  query (peer: RPC.Peer, query: RPC.QueryInput, callback?: (...args: RPC.QueryCallbackArgsPrefix<3>) => void): number | undefined
  query (peer: RPC.Peer, query: RPC.QueryInput, callback?: (...args: RPC.QueryCallbackArgsPrefix<2>) => void): number | undefined
  query (peer: RPC.Peer, query: RPC.QueryInput, callback?: RPC.QueryCallback): number | undefined

  /**
   * Completes the pending query with transaction id `tid` now, with `err` (default
   * `Error('Query was cancelled')`). Unknown ids are ignored.
   */
  cancel (tid: number, err?: Error): void

  /** Internal, overridable: completes the request in slot `index` as cancelled. */
  _cancel (index: number, err?: Error): void

  /** Internal, overridable: resolves `peer.host` by DNS, then queries the address. */
  _resolveAndQuery (peer: RPC.Peer, query: RPC.QueryInput, callback: RPC.QueryCallback): void

  /** Lets this instance keep the process alive again (the default). Added to k-rpc-socket's API. */
  ref (): this

  /** Stops this instance from keeping the process alive (dgram's meaning). Added to k-rpc-socket's API. */
  unref (): this

  /** A snapshot of the engine's counters. Added to k-rpc-socket's API. */
  stats (): RPC.Stats

  /**
   * How received datagrams reach JS: `'loop'` (Node's event loop watches the native socket),
   * `'runtime'` (the engine's thread reads it: Bun, Deno, `KRPC_RECEIVE_ON_RUNTIME=1`) or
   * `'socket'` (a user-supplied `opts.socket`). Before bind, the path a bind would take.
   * Added to k-rpc-socket's API.
   */
  readonly receivePath: 'loop' | 'runtime' | 'socket'
  /** Added: queries waiting for `maxInflight`'s window (queue mode; 0 otherwise). */
  readonly queued: number

  // Typed events. The fallback overload takes any event name except the seven below.

  /** Adds a listener for one of the {@link RPC.Events}. */
  on<E extends keyof RPC.Events> (event: E, listener: RPC.Events[E]): this
  on<E extends string | symbol> (event: E & RPC.OtherEvent<E>, listener: (...args: any[]) => void): this
  /** Adds a one-time listener for one of the {@link RPC.Events}. */
  once<E extends keyof RPC.Events> (event: E, listener: RPC.Events[E]): this
  once<E extends string | symbol> (event: E & RPC.OtherEvent<E>, listener: (...args: any[]) => void): this
  /** Same as `on`. */
  addListener<E extends keyof RPC.Events> (event: E, listener: RPC.Events[E]): this
  addListener<E extends string | symbol> (event: E & RPC.OtherEvent<E>, listener: (...args: any[]) => void): this
  /** Adds a listener in front of the others. */
  prependListener<E extends keyof RPC.Events> (event: E, listener: RPC.Events[E]): this
  prependListener<E extends string | symbol> (event: E & RPC.OtherEvent<E>, listener: (...args: any[]) => void): this
  /** Adds a one-time listener in front of the others. */
  prependOnceListener<E extends keyof RPC.Events> (event: E, listener: RPC.Events[E]): this
  prependOnceListener<E extends string | symbol> (event: E & RPC.OtherEvent<E>, listener: (...args: any[]) => void): this
  /** Removes a listener. */
  off<E extends keyof RPC.Events> (event: E, listener: RPC.Events[E]): this
  off<E extends string | symbol> (event: E & RPC.OtherEvent<E>, listener: (...args: any[]) => void): this
  /** Removes a listener. */
  removeListener<E extends keyof RPC.Events> (event: E, listener: RPC.Events[E]): this
  removeListener<E extends string | symbol> (event: E & RPC.OtherEvent<E>, listener: (...args: any[]) => void): this
  /** Emits an event; every internal event goes through here, so overriding `emit` sees them all. */
  emit<E extends keyof RPC.Events> (event: E, ...args: Parameters<RPC.Events[E]>): boolean
  emit<E extends string | symbol> (event: E & RPC.OtherEvent<E>, ...args: any[]): boolean
}

declare namespace RPC {
  /** The constructor: `new RPC(opts)` and `RPC(opts)` are the same. */
  interface RPCConstructor {
    /** Creates an instance. The socket is not bound yet (see `bind()`). */
    new (opts?: RPCOptions | null): RPC
    /** Same as `new RPC(opts)`. */
    (opts?: RPCOptions | null): RPC
    readonly prototype: RPC
  }

  /** Options of the constructor. Any falsy value is the same as `{}`. */
  interface RPCOptions {
    /** Milliseconds until a query fails with `ETIMEDOUT`. Default (and for any falsy value) 2000. */
    timeout?: number
    /** A dgram-like socket to use instead of the built-in native one. */
    socket?: DgramLikeSocket
    /** Decides whether `peer.host` needs a DNS lookup. Default `net.isIP`. */
    isIP?: (host: string) => number | boolean
    /** Added: the built-in socket's family. Default `'udp4'`. Ignored with `socket`. */
    type?: 'udp4' | 'udp6'
    /** Added, off by default: a reply must also come from the port that was queried. */
    matchPort?: boolean
    /**
     * Added, off by default. A number: queries beyond this many in flight fail with
     * `ETOOMANYQUERIES`. `{ limit, queue }`: past `limit` queries sent and unanswered, a query
     * waits (FIFO, at most `queue`; beyond that `ETOOMANYQUERIES`), registered at `query()` (tid
     * returned, timeout running from there), and is sent when the window has room.
     */
    maxInflight?: number | InflightQueueOptions
    /**
     * Added, off by default: ignore a source that sends more than `perSecond` datagrams on average
     * over `windowMs`, for `blockMs`. `true` means 5 per second over 10 s, blocked for 5 minutes.
     */
    rateLimit?: boolean | RateLimitOptions
    /**
     * Added, off by default: a BEP 43 read-only node. Every query sent carries `ro: 1`; incoming
     * queries are dropped unanswered (no `query` event), counted in `stats().droppedReadOnly`.
     */
    readOnly?: boolean
    /**
     * Added, with `type: 'udp6'` only (not with `socket`): IPV6_V6ONLY, dgram's option. `false`:
     * one socket on `::` for both families; an IPv4 sender's `rinfo` is dotted with family
     * `'IPv4'`, IPv4 hosts are sent to as `::ffff:a.b.c.d`, and replies match either spelling.
     * Absent: the system's default, as before.
     */
    ipv6Only?: boolean
    /**
     * Added, off by default, not with `socket`: a token bucket over every datagram the socket
     * sends (queries, responses, errors), in the engine. What waits is sent in order; at most
     * 4 MiB waits, beyond that a send fails with `ENOBUFS`.
     */
    sendRate?: SendRateOptions
  }

  /** Settings of {@link RPCOptions.maxInflight}'s queue mode. */
  interface InflightQueueOptions {
    /** Most queries sent and unanswered at once. */
    limit: number
    /** Most queries waiting for the window. */
    queue: number
  }

  /** Settings of {@link RPCOptions.sendRate}. */
  interface SendRateOptions {
    /** Datagrams per second on average. */
    perSecond: number
    /** Most datagrams sent back to back. Default `max(1, ceil(perSecond / 1000))`. */
    burst?: number
  }

  /** Settings of {@link RPCOptions.rateLimit}; each falls back to its default. */
  interface RateLimitOptions {
    /** Average datagrams per second allowed from one source. Default 5. */
    perSecond?: number
    /** Window the average is taken over, in ms. Default 10000. */
    windowMs?: number
    /** How long a source stays ignored, in ms. Default 300000. */
    blockMs?: number
  }

  /**
   * Where to send. Queries go to `address || host`; `host` may be a name (resolved by DNS).
   * Extra fields are kept at run time (the very object is handed back on timeout and cancel), and
   * any object with these fields fits; there is no index signature, so a misspelt key in an object
   * literal (`{ hots: '1.2.3.4', port: 1 }`) is a compile error.
   */
  interface Peer {
    /** IP address or host name. */
    host?: string
    /** IP address; takes precedence over `host` (an `rinfo` works as a peer). */
    address?: string
    /** UDP port (a numeric string works too). */
    port: number | string
    /** Expected node id: a reply with another `r.id` fails with `EUNEXPECTEDNODE`. */
    id?: Buffer | Uint8Array
  }

  /** The sender of a datagram, as dgram reports it. Usable as a {@link Peer}. */
  type RemoteInfo = {
    /** Sender's IP address. */
    address: string
    /** Address family. */
    family: 'IPv4' | 'IPv6'
    /** Sender's port. */
    port: number
    /** Datagram size in bytes. */
    size: number
  }

  /** A decoded bencode value: byte strings are Buffers, integers numbers. */
  type BencodeValue = Buffer | number | BencodeValue[] | { [key: string]: BencodeValue }

  /** A decoded bencode dictionary. */
  interface BencodeDict {
    [key: string]: BencodeValue
  }

  /**
   * A received KRPC message, decoded. The fields are typed as the protocol defines them; a
   * remote peer controls the content, so check what you rely on.
   */
  interface KrpcMessage {
    /** Transaction id. */
    t?: Buffer
    /** Message type: `q`, `r` or `e`. */
    y?: Buffer
    /** Query method name (queries). */
    q?: Buffer
    /** Query arguments (queries). */
    a?: BencodeDict
    /** Response values (responses). */
    r?: BencodeDict
    /** `[code, message]` (error replies). */
    e?: BencodeValue[]
    [key: string]: BencodeValue | undefined
  }

  /**
   * A value the encoder accepts: strings (UTF-8), numbers (truncated to integers), booleans
   * (0/1), byte views, lists and dictionaries (keys sorted). `null`/`undefined` are skipped.
   */
  type BencodeInput =
    | string
    | number
    | boolean
    | ArrayBufferView
    | ArrayBuffer
    | null
    | undefined
    | readonly BencodeInput[]
    | BencodeDictInput
    | ReadonlyMap<string | Uint8Array, BencodeInput>
    | ReadonlySet<BencodeInput>

  /** A dictionary to encode. */
  interface BencodeDictInput {
    readonly [key: string]: BencodeInput
  }

  /** The query argument: only `q` and `a` are sent. */
  interface QueryInput {
    /** Method name, e.g. `'ping'`. */
    q?: string | Uint8Array
    /** Arguments, e.g. `{ id }`. */
    a?: BencodeDictInput
  }

  /** The message a query sends: the 4th argument of a successful callback. */
  interface QueryMessage {
    /** 2-byte transaction id. */
    t: Buffer
    y: 'q'
    /** `query.q` as given (not copied). */
    q?: string | Uint8Array
    /** `query.a` as given (not copied). */
    a?: BencodeDictInput
  }

  /** What `response()` and `error()` reply to: only `t` is used. */
  interface ReplyTo {
    /** Transaction id copied into the reply. */
    t?: BencodeInput
  }

  /** `error()`'s argument: a message, a list such as `[201, 'A Generic Error']`, or an Error. */
  type ErrorInput = string | number | Uint8Array | readonly BencodeInput[] | { readonly message: string | readonly BencodeInput[] }

  /** A pending query, as kept in `_reqs`. */
  interface Request {
    /** Always 4 (deadlines live in the engine). */
    ttl: number
    /** The very object passed to `query()`. */
    peer: Peer
    /** The message that was encoded. */
    message: QueryMessage
    /** The query's callback (a no-op when none was given). */
    callback: QueryCallback
  }

  /** Error of a failed query; `code` tells the cases apart where there is one. */
  interface QueryError extends Error {
    /** `'ETIMEDOUT'`, `'EUNEXPECTEDNODE'`, `'ETOOMANYQUERIES'`, a DNS code, or undefined (cancelled). */
    code?: string | number
  }

  /** Error of an error reply (`y: 'e'`): the remote list joined with spaces. */
  interface RemoteError extends Error {
    /** The remote error code (first list item), or 0 when it is not a number. */
    code: number
  }

  /**
   * The arguments of a query callback, one shape per outcome. Arguments that are not passed are
   * typed `undefined`. Check `err`, then `message`, and TypeScript narrows the rest.
   */
  type QueryCallbackArgs =
    /** A reply (`y: 'r'`). */
    | [err: null, message: KrpcMessage, rinfo: RemoteInfo, request: QueryMessage]
    /** An error reply (`y: 'e'`). */
    | [err: RemoteError, message: KrpcMessage, rinfo: RemoteInfo, request: QueryMessage]
    /**
     * `EUNEXPECTEDNODE` (with the reply's sender), or `ETIMEDOUT`, cancel, `ETOOMANYQUERIES`
     * (with the very peer object passed to `query()`).
     */
    | [err: QueryError, message: null, rinfo: RemoteInfo | Peer, request: undefined]
    /** The DNS lookup of `peer.host` failed, or the instance was destroyed during it. */
    | [err: QueryError, message: undefined, rinfo: undefined, request: undefined]

  /** The first `N` arguments of each outcome of {@link QueryCallbackArgs}. */
  type QueryCallbackArgsPrefix<N extends 2 | 3> = QueryCallbackArgs extends infer A ? (A extends unknown ? TuplePrefix<A, N> : never) : never

  /** The first `N` elements of tuple `T`. */
  type TuplePrefix<T, N extends number, Taken extends unknown[] = []> =
    Taken['length'] extends N ? Taken : T extends readonly [infer Head, ...infer Rest] ? TuplePrefix<Rest, N, [...Taken, Head]> : Taken

  /** A query callback whose parameters narrow together: see {@link QueryCallbackArgs}. */
  type QueryOutcomeCallback = (...args: QueryCallbackArgs) => void

  /**
   * A query callback with one signature: every parameter is the union of its possible values
   * (see {@link QueryCallbackArgs} for which go together).
   */
  type QueryCallback = (err: QueryError | null, message?: KrpcMessage | null, rinfo?: RemoteInfo | Peer, request?: QueryMessage) => void

  /** dgram's send callback: `(null, bytes)` on success, `(err)` on failure. */
  type SendCallback = (error: Error | null, bytes?: number) => void

  /** Listener signatures of the events an instance emits. */
  interface Events {
    /** A query (`y: 'q'`) arrived. */
    query: (message: KrpcMessage, rinfo: RemoteInfo) => void
    /** A reply arrived (after its query's callback), or a reply nobody waited for. */
    response: (message: KrpcMessage, rinfo: RemoteInfo) => void
    /**
     * Something non-fatal: a malformed datagram, an unknown transaction id, a socket error (those
     * carry dgram's `code`, `errno`, `syscall`).
     */
    warning: (error: NodeJS.ErrnoException) => void
    /** `EACCES` or `EADDRINUSE` while binding: `error.code` says which. */
    error: (error: NodeJS.ErrnoException) => void
    /** The socket is bound. */
    listening: () => void
    /** A query completed (any outcome). */
    update: () => void
    /** Right after `update`. */
    postupdate: () => void
  }

  /** `unknown` for an event name that is not one of {@link Events}, else `never`. */
  type OtherEvent<E> = E extends keyof Events ? never : unknown

  /**
   * What `rpc.socket` must provide: a dgram `Socket` fits. It must emit `message(buf, rinfo)`,
   * `error(err)`, `listening` and `close`.
   */
  interface DgramLikeSocket {
    on (event: string, listener: (...args: any[]) => void): unknown
    send (msg: Uint8Array, offset: number, length: number, port: number, address: string, callback: (error: Error | null, bytes: number) => void): void
    bind (...args: any[]): unknown
    close (callback?: () => void): unknown
    address (): AddressInfo
    setRecvBufferSize? (size: number): void
    setSendBufferSize? (size: number): void
    getRecvBufferSize? (): number
    getSendBufferSize? (): number
    ref? (): unknown
    unref? (): unknown
  }

  /** Counters of one socket, from `stats()` (exact below 2^53). */
  interface Stats {
    /** Datagrams received. */
    datagramsIn: number
    /** Bytes received. */
    bytesIn: number
    /** Datagrams sent. */
    datagramsOut: number
    /** Bytes sent. */
    bytesOut: number
    /** Datagrams that were not bencode (each one a `warning`). */
    malformed: number
    /** Replies with a transaction id not in flight. */
    unexpectedTid: number
    /** Replies with a tid in flight from another source address. */
    wrongSource: number
    /** Replies whose `t` is not a byte string (dropped). */
    badTid: number
    /** Queries that timed out. */
    timeouts: number
    /**
     * Datagrams dropped because JavaScript did not keep up (the inbox is capped at 8 MiB). On the
     * built-in socket they wait in the kernel's queue instead; this counts `opts.socket` deliveries.
     */
    droppedInbox: number
    /** Datagrams from port 0 (dropped). */
    droppedPortZero: number
    /** Sends that failed. */
    sendErrors: number
    /** Datagrams ignored by the rate limit. */
    rateLimited: number
    /** Incoming queries dropped unanswered by `readOnly`. */
    droppedReadOnly: number
    /** Datagrams that waited in the send queue (for `sendRate`, or for room in the kernel). */
    sendQueued: number
    /** Datagrams refused with `ENOBUFS` because 4 MiB already waited. */
    sendQueueFull: number
    /** Datagrams waiting in the send queue now. */
    sendQueueLength: number
    /** Queries in flight. */
    queriesInFlight: number
  }
}

export = RPC
