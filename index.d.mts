// Typings of the ESM entry (index.mjs): the CommonJS typings (index.d.ts) re-exported.
import RPC from './index.js'

export { RPC }
export default RPC

/** Options of the constructor. */
export type RPCOptions = RPC.RPCOptions
/** Settings of `RPCOptions.rateLimit`. */
export type RateLimitOptions = RPC.RateLimitOptions
/** Settings of `RPCOptions.maxInflight`'s queue mode. */
export type InflightQueueOptions = RPC.InflightQueueOptions
/** Settings of `RPCOptions.sendRate`. */
export type SendRateOptions = RPC.SendRateOptions
/** The constructor's type: callable and constructible. */
export type RPCConstructor = RPC.RPCConstructor
/** Where to send a query or reply. */
export type Peer = RPC.Peer
/** The sender of a datagram. */
export type RemoteInfo = RPC.RemoteInfo
/** A decoded bencode value. */
export type BencodeValue = RPC.BencodeValue
/** A decoded bencode dictionary. */
export type BencodeDict = RPC.BencodeDict
/** A received KRPC message, decoded. */
export type KrpcMessage = RPC.KrpcMessage
/** A value the encoder accepts. */
export type BencodeInput = RPC.BencodeInput
/** A dictionary to encode. */
export type BencodeDictInput = RPC.BencodeDictInput
/** The query argument of `query()`. */
export type QueryInput = RPC.QueryInput
/** The message a query sends. */
export type QueryMessage = RPC.QueryMessage
/** What `response()` and `error()` reply to. */
export type ReplyTo = RPC.ReplyTo
/** `error()`'s argument. */
export type ErrorInput = RPC.ErrorInput
/** A pending query, as kept in `_reqs`. */
export type Request = RPC.Request
/** Error of a failed query. */
export type QueryError = RPC.QueryError
/** Error of an error reply. */
export type RemoteError = RPC.RemoteError
/** The arguments a query callback gets, one shape per outcome. */
export type QueryCallbackArgs = RPC.QueryCallbackArgs
/** A query callback with one signature (union-typed parameters). */
export type QueryCallback = RPC.QueryCallback
/** A query callback whose parameters narrow together. */
export type QueryOutcomeCallback = RPC.QueryOutcomeCallback
/** dgram's send callback. */
export type SendCallback = RPC.SendCallback
/** Listener signatures of the events. */
export type Events = RPC.Events
/** What `rpc.socket` must provide. */
export type DgramLikeSocket = RPC.DgramLikeSocket
/** Counters from `stats()`. */
export type Stats = RPC.Stats
