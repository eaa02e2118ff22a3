// Type tests of lib/native.d.ts (the engine as the JS side uses it). Each `@ts-expect-error`
// line must fail to compile.
import native = require('../../lib/native')

const engine = native.createEngine(false)
const registered: number = engine.register(0, '127.0.0.1', 1, 6881)
const slot: number = Math.floor(registered / 65536)
engine.release(slot)
const sent: number = engine.sendNow(Buffer.alloc(4), 0, 4, 6881, '127.0.0.1')
if (sent === native.tapeFormat().sendNotAnIp) engine.enqueue(Buffer.alloc(4), 0, 4, 6881, '127.0.0.1')
const copied: number = engine.drain(new Int32Array(16), Buffer.alloc(engine.pendingBytes()))
engine.flush(new Int32Array(4))
const handle: native.EngineHandle = engine.hotHandle()
native.hotFunctions().lookup(handle, 1)
const stats: native.EngineStats = engine.stats()
const path: 'node' | 'bun' | 'deno' | 'unknown' = native.runtime
void [copied, stats, path]

// @ts-expect-error: the host is a string, not a Buffer
engine.register(0, Buffer.from('127.0.0.1'), 1, 6881)
// @ts-expect-error: a hot function takes the handle first, not a number
native.hotFunctions().lookup(1, 1)
// @ts-expect-error: there is no such hot function
engine.query(Buffer.alloc(4))

// The query path's one call, and its result codes.
const queried: number = engine.query(0, '127.0.0.1', 2, 6881, Buffer.alloc(64), 40, 31, false)
if (queried === native.tapeFormat().queryNoTid || queried >= native.tapeFormat().queryEnqueued) engine.release(0)
// @ts-expect-error the last argument says whether to enqueue
engine.query(0, '127.0.0.1', 2, 6881, Buffer.alloc(64), 40, 31)

// The public stats typing (index.d.ts, documented field by field) has exactly the engine's fields.
import RPC = require('../../index')
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false
const statsMatch: SameKeys<RPC.Stats, native.EngineStats> = true
const publicStats: RPC.Stats = stats
export { queried, statsMatch, publicStats }
