// Typings of lib/native.js: the engine as index.js and lib/native-socket.js use it. The binding's
// generated typings (generated/binding.d.ts) type the napi-rs class; the per-datagram functions
// are plain N-API functions (src/binding/hot.rs) that napi-rs cannot describe, so they are
// declared here.
// __test__/binding.test.js checks that these names are exactly the functions the engine makes.

import type { Engine, TapeFormat, EngineStats, LocalAddress } from '../generated/binding'

export * from '../generated/binding'

/** An opaque handle to one engine (an N-API external), the first argument of every hot function. */
export type EngineHandle = object & { readonly __engineHandle: unique symbol }

/** The per-datagram functions, made once per JS environment (`hotFunctions()`). */
export interface HotFunctions {
  /** Registers a query: `slot * 65536 + tid`, or -1 when every tid is in flight. */
  register (h: EngineHandle, lastTid: number, host: string, gen: number, port: number): number
  /**
   * Registers a query and sends `datagram[0, length)` with its tid written at `tidAt`:
   * `slot * 65536 + tid` (plus `TapeFormat.queryEnqueued` when it waits for `flush()`), or
   * `TapeFormat.queryNoTid`, `TapeFormat.sendNotAnIp`, -EBADF, -EINVAL with nothing done.
   */
  query (h: EngineHandle, lastTid: number, host: string, gen: number, port: number, datagram: Uint8Array, length: number, tidAt: number, enqueue: boolean): number
  /** Frees a slot (reply handled, cancelled or timed out). */
  release (h: EngineHandle, slot: number): void
  /** The slot holding `tid`, or -1. */
  lookup (h: EngineHandle, tid: number): number
  /** Feeds a datagram a user-supplied socket received. */
  ingest (h: EngineHandle, datagram: Uint8Array, address: string, port: number, ipv6: boolean): void
  /** Bytes waiting for `drain()`, or -1 when there is nothing. */
  pendingBytes (h: EngineHandle): number
  /**
   * Moves the inbox into `tape` (word 0 = words used) and `bytes`: bytes copied (>= 1), 0 when
   * empty, -1 when `tape` is too small (`tape[0]` = -words needed), -2 when `bytes` is.
   */
  drain (h: EngineHandle, tape: Int32Array, bytes: Uint8Array): number
  /** Accepts a datagram for the next `flush()`: 0, -errno, or `TapeFormat.sendNotAnIp`. */
  enqueue (h: EngineHandle, buffer: Uint8Array, offset: number, length: number, port: number, address: string): number
  /** Sends at once: bytes sent, -errno, `TapeFormat.sendNotAnIp` or `TapeFormat.sendLater`. */
  sendNow (h: EngineHandle, buffer: Uint8Array, offset: number, length: number, port: number, address: string): number
  /** Sends what was enqueued: the count (results[i] = bytes or -errno), or -needed. */
  flush (h: EngineHandle, results: Int32Array): number
  /** Gives back spare inbox capacity and memory freed inside the allocator. */
  returnFreeMemory (h: EngineHandle): void
}

/** `HotFunctions` bound to one engine's handle, as own methods of that engine. */
export type BoundHotFunctions = {
  [K in keyof HotFunctions]: HotFunctions[K] extends (h: EngineHandle, ...args: infer A) => infer R ? (...args: A) => R : never
}

/** What `createEngine()` returns: the napi-rs class with the hot functions bound to it. */
export type NativeEngine = Omit<Engine, 'hotHandle'> & BoundHotFunctions & { hotHandle (): EngineHandle }

/** A new engine for a `udp6` (`ipv6`) or `udp4` socket. */
export function createEngine (ipv6: boolean): NativeEngine

/** The JavaScript runtime that loaded the engine. */
export const runtime: 'node' | 'bun' | 'deno' | 'unknown'

export type { Engine, TapeFormat, EngineStats, LocalAddress }
