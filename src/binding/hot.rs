//! The calls JS makes for every datagram, as plain Node-API functions.
//!
//! A `#[napi]` class method costs about 260 ns per call on the 2-vCPU machine of bench/, about
//! 200 ns of it in napi-rs's per-call bookkeeping (a native-borrow scope registered in a
//! process-wide map, a class identity check), measured with `perf`. A query and its reply make
//! five to seven of these calls on each side. Here each function gets its state as N-API callback
//! data and reads its arguments with the plain N-API getters: about 60 ns per call.
//!
//! [`functions`] makes them once per JS environment; each takes the engine's handle first
//! ([`super::raw::handle`]: an N-API external owning an `Rc` of the [`EngineInner`] state; everything
//! here runs on the JS thread that created it). lib/native.js binds them to each engine object.

use std::ffi::CStr;
use std::ptr;

use napi::sys;

use super::inner::{return_free_memory, EngineInner, EINVAL};
use super::raw::{run, BadArgument, Call, Output, INLINE_TEXT};

type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

/// An object holding the per-datagram functions. Made once per JS environment: each function
/// takes the engine's handle (see [`super::raw::handle`]) as its first argument, so no engine needs
/// functions of its own (8 functions per engine cost 4.5 KB of RSS each, measured with 10,000
/// engines).
///
/// # Safety
/// `env` must be the live environment of the current call, on its JS thread.
pub(super) unsafe fn functions(env: sys::napi_env) -> Option<sys::napi_value> {
    const FUNCTIONS: [(&CStr, Callback); 11] = [
        (c"register", register),
        (c"query", query),
        (c"release", release),
        (c"lookup", lookup),
        (c"ingest", ingest),
        (c"pendingBytes", pending_bytes),
        (c"drain", drain),
        (c"enqueue", enqueue),
        (c"sendNow", send_now),
        (c"flush", flush),
        (c"returnFreeMemory", return_free_memory_fn),
    ];
    let mut object = ptr::null_mut();
    // SAFETY: plain N-API calls on the JS thread of `env`.
    unsafe {
        if sys::napi_create_object(env, &mut object) != sys::Status::napi_ok {
            return None;
        }
        for (name, callback) in FUNCTIONS {
            let mut function = ptr::null_mut();
            if sys::napi_create_function(
                env,
                name.as_ptr(),
                name.count_bytes() as isize,
                Some(callback),
                ptr::null_mut(),
                &mut function,
            ) != sys::Status::napi_ok
                || sys::napi_set_named_property(env, object, name.as_ptr(), function)
                    != sys::Status::napi_ok
            {
                return None;
            }
        }
    }
    Some(object)
}

/// `register(lastTid, host, gen, port)`: `slot * 65536 + tid`, or -1 when no tid is free.
unsafe extern "C" fn register(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"register", |call| {
            let (mut inline, mut heap) = ([0; INLINE_TEXT], Vec::new());
            let host = call.text(1, &mut inline, &mut heap)?;
            Ok(Output::Number(call.hot.register(
                call.u32(0)?,
                host,
                call.u32(2)?,
                call.u32(3)?,
            )))
        })
    }
}

/// `query(lastTid, host, gen, port, datagram, length, tidAt, enqueue)`: registers the query and
/// sends `datagram[0, length)` with its tid written at `tidAt`; see [`EngineInner::query`].
unsafe extern "C" fn query(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"query", |call| {
            let (mut inline, mut heap) = ([0; INLINE_TEXT], Vec::new());
            let host = call.text(1, &mut inline, &mut heap)?;
            let buffer = call.bytes(4)?;
            let Some(datagram) = buffer.get_mut(..call.u32(5)? as usize) else {
                return Ok(Output::Int(-EINVAL));
            };
            Ok(Output::Number(call.hot.query(
                call.u32(0)?,
                host,
                call.u32(2)?,
                call.u32(3)?,
                datagram,
                call.u32(6)? as usize,
                call.bool(7)?,
            )))
        })
    }
}

/// `returnFreeMemory()`: gives back the inbox's spare capacity after a burst, then see
/// [`return_free_memory`]. JS calls it on the first quiet tick after a burst, and once a big
/// tape or batch Buffer it dropped has been garbage collected.
unsafe extern "C" fn return_free_memory_fn(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"returnFreeMemory", |call| {
            call.hot.shared.engine().inbox().release_spare();
            return_free_memory();
            Ok(Output::Undefined)
        })
    }
}

/// `release(slot)`: frees a slot.
unsafe extern "C" fn release(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"release", |call| {
            call.hot.shared.engine().release(call.u32(0)?);
            Ok(Output::Undefined)
        })
    }
}

/// `lookup(tid)`: the slot holding `tid`, or -1.
unsafe extern "C" fn lookup(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"lookup", |call| {
            Ok(Output::Int(call.hot.lookup(call.u32(0)?)))
        })
    }
}

/// `ingest(datagram, address, port, ipv6)`.
unsafe extern "C" fn ingest(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"ingest", |call| {
            let (mut inline, mut heap) = ([0; INLINE_TEXT], Vec::new());
            let address = call.text(1, &mut inline, &mut heap)?;
            call.hot
                .ingest(call.bytes(0)?, address, call.u32(2)?, call.bool(3)?);
            Ok(Output::Undefined)
        })
    }
}

/// `pendingBytes()`: bytes waiting for `drain()`, or -1.
unsafe extern "C" fn pending_bytes(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"pendingBytes", |call| {
            Ok(Output::Number(call.hot.pending_bytes()))
        })
    }
}

/// `drain(tape, bytes)`: see [`EngineInner::drain`].
unsafe extern "C" fn drain(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"drain", |call| {
            let (tape, bytes) = (call.int32s(0)?, call.bytes(1)?);
            // Both are written: two views of one memory would be two `&mut` to it.
            let tape_range = tape.as_ptr_range();
            let (tape_start, tape_end) = (tape_range.start as usize, tape_range.end as usize);
            let bytes_range = bytes.as_ptr_range();
            let (bytes_start, bytes_end) = (bytes_range.start as usize, bytes_range.end as usize);
            if tape_start < bytes_end && bytes_start < tape_end {
                return Err(BadArgument);
            }
            Ok(Output::Int(call.hot.drain(tape, bytes)))
        })
    }
}

/// `enqueue(buffer, offset, length, port, address)`: 0, `-errno`, or `SEND_NOT_AN_IP`.
unsafe extern "C" fn enqueue(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"enqueue", |call| {
            with_datagram(call, EngineInner::enqueue)
        })
    }
}

/// `sendNow(buffer, offset, length, port, address)`: bytes sent, `-errno`, `SEND_NOT_AN_IP` or
/// `SEND_LATER`.
unsafe extern "C" fn send_now(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"sendNow", |call| {
            with_datagram(call, EngineInner::send_now)
        })
    }
}

/// Reads the `(buffer, offset, length, port, address)` of a send and hands the datagram, the port
/// and the address text to `send`. A range outside the buffer is `-EINVAL`, as dgram's.
fn with_datagram(
    call: &Call<'_>,
    send: impl FnOnce(&EngineInner, &[u8], u32, &[u8]) -> i32,
) -> Result<Output, BadArgument> {
    let buffer = call.bytes(0)?;
    let (offset, length) = (call.u32(1)? as usize, call.u32(2)? as usize);
    let Some(data) = buffer.get(offset..offset.saturating_add(length)) else {
        return Ok(Output::Int(-EINVAL));
    };
    let (mut inline, mut heap) = ([0; INLINE_TEXT], Vec::new());
    let address = call.text(4, &mut inline, &mut heap)?;
    Ok(Output::Int(send(call.hot, data, call.u32(3)?, address)))
}

/// `flush(results)`: see [`EngineInner::flush`].
unsafe extern "C" fn flush(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"flush", |call| {
            Ok(Output::Int(call.hot.flush(call.int32s(0)?)))
        })
    }
}
