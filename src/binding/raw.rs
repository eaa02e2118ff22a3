//! Plain N-API plumbing for the per-datagram functions of [`super::hot`]: the engine handle (an
//! external, used only if it is in the thread's set of live handles), reading a call's
//! arguments, and turning results, rejected arguments and panics into JS values.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;

use napi::sys;

use super::inner::EngineInner;
use crate::core::multiply_hash::MultiplyHash;

/// Longest address text read without allocating. An IPv6 literal with a zone index is at most
/// 45 + 1 + 15 bytes; anything longer is still read, on the heap.
pub(super) const INLINE_TEXT: usize = 80;

thread_local! {
    /// The `EngineInner` of every live handle on this thread, with the number of handles to each (one
    /// engine can make several). Any N-API external can reach the functions
    /// (`generated/binding.js` is public), so a pointer is used only if it is one of these.
    /// Hashed with a multiply: SipHash cost more than the rest of the check on every call.
    static LIVE_HANDLES: RefCell<HashMap<usize, usize, MultiplyHash>> = RefCell::new(HashMap::default());
}

/// A JS handle (an N-API external) owning one reference to `hot`, released when it is collected.
///
/// # Safety
/// `env` must be the live environment of the current call, on its JS thread.
pub(super) unsafe fn handle(env: sys::napi_env, hot: &Rc<EngineInner>) -> Option<sys::napi_value> {
    let data = Rc::into_raw(Rc::clone(hot)).cast_mut().cast::<c_void>();
    LIVE_HANDLES.with(|live| *live.borrow_mut().entry(data as usize).or_insert(0) += 1);
    let mut external = ptr::null_mut();
    // SAFETY: `data` stays valid until the finalizer runs, and is released here if the
    // external could not be made.
    unsafe {
        if sys::napi_create_external(env, data, Some(release_hot), ptr::null_mut(), &mut external)
            != sys::Status::napi_ok
        {
            release_hot(env, data, ptr::null_mut());
            return None;
        }
    }
    Some(external)
}

unsafe extern "C" fn release_hot(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // `try_with`: a finalizer running during thread teardown must not panic (it would abort).
    let _ = LIVE_HANDLES.try_with(|live| {
        let mut live = live.borrow_mut();
        if let Some(count) = live.get_mut(&(data as usize)) {
            *count -= 1;
            if *count == 0 {
                live.remove(&(data as usize));
            }
        }
    });
    // SAFETY: `data` is the `Rc::into_raw` of `handle`, released once.
    drop(unsafe { Rc::from_raw(data.cast::<EngineInner>()) });
}

fn is_live_handle(data: *mut c_void) -> bool {
    LIVE_HANDLES
        .try_with(|live| live.borrow().contains_key(&(data as usize)))
        .unwrap_or(false)
}

/// Most arguments a function takes, the handle included.
const MAX_ARGS: usize = 9;

/// One call's arguments (after the handle) and state.
pub(super) struct Call<'a> {
    env: sys::napi_env,
    argv: [sys::napi_value; MAX_ARGS],
    pub hot: &'a EngineInner,
}

/// Raised (as a TypeError) when JS passes something else than the engine's own wrappers do.
pub(super) struct BadArgument;

impl<'a> Call<'a> {
    /// The call's arguments; the first must be a handle made by [`handle`].
    ///
    /// # Safety
    /// A callback's `env` and `info`.
    unsafe fn new(env: sys::napi_env, info: sys::napi_callback_info) -> Option<Self> {
        let mut argc = MAX_ARGS;
        let mut argv = [ptr::null_mut(); MAX_ARGS];
        let mut data = ptr::null_mut();
        // SAFETY: per the contract of this function.
        unsafe {
            if sys::napi_get_cb_info(
                env,
                info,
                &mut argc,
                argv.as_mut_ptr(),
                ptr::null_mut(),
                ptr::null_mut(),
            ) != sys::Status::napi_ok
                || sys::napi_get_value_external(env, argv[0], &mut data) != sys::Status::napi_ok
                || !is_live_handle(data)
            {
                return None;
            }
            argv.copy_within(1.., 0);
            // A live handle owns a reference to its `EngineInner`, and JS holds the handle for the call.
            Some(Self {
                env,
                argv,
                hot: &*data.cast::<EngineInner>(),
            })
        }
    }

    pub fn u32(&self, index: usize) -> Result<u32, BadArgument> {
        let mut value = 0;
        // SAFETY: a value of this call (missing arguments are undefined, which fails cleanly).
        let status = unsafe { sys::napi_get_value_uint32(self.env, self.argv[index], &mut value) };
        (status == sys::Status::napi_ok)
            .then_some(value)
            .ok_or(BadArgument)
    }

    pub fn bool(&self, index: usize) -> Result<bool, BadArgument> {
        let mut value = false;
        // SAFETY: as in `u32`.
        let status = unsafe { sys::napi_get_value_bool(self.env, self.argv[index], &mut value) };
        (status == sys::Status::napi_ok)
            .then_some(value)
            .ok_or(BadArgument)
    }

    /// The string's UTF-8 bytes, in `inline` when they fit, else in `heap`.
    pub fn text<'b>(
        &self,
        index: usize,
        inline: &'b mut [u8; INLINE_TEXT],
        heap: &'b mut Vec<u8>,
    ) -> Result<&'b [u8], BadArgument> {
        let value = self.argv[index];
        let mut len = 0;
        // SAFETY: the buffer is INLINE_TEXT bytes long; N-API writes at most that, NUL included.
        let status = unsafe {
            sys::napi_get_value_string_utf8(
                self.env,
                value,
                inline.as_mut_ptr().cast(),
                INLINE_TEXT,
                &mut len,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(BadArgument);
        }
        if len + 1 < INLINE_TEXT {
            return Ok(&inline[..len]);
        }
        // It may have been cut: ask for the full length and read it again.
        // SAFETY: a null buffer asks N-API for the length only; then `heap` has room for it.
        unsafe {
            if sys::napi_get_value_string_utf8(self.env, value, ptr::null_mut(), 0, &mut len)
                != sys::Status::napi_ok
            {
                return Err(BadArgument);
            }
            heap.resize(len + 1, 0);
            if sys::napi_get_value_string_utf8(
                self.env,
                value,
                heap.as_mut_ptr().cast(),
                len + 1,
                &mut len,
            ) != sys::Status::napi_ok
            {
                return Err(BadArgument);
            }
        }
        Ok(&heap[..len])
    }

    /// The elements of a typed array of the given N-API type, borrowed for this call. JS does
    /// not run while the call does, so nothing else touches them meanwhile; the engine's JS never
    /// passes two views of one memory to the same call.
    #[allow(clippy::mut_from_ref)]
    fn typed<T>(
        &self,
        index: usize,
        kind: sys::napi_typedarray_type,
    ) -> Result<&mut [T], BadArgument> {
        let mut actual = -1;
        let mut length = 0;
        let mut data = ptr::null_mut();
        // SAFETY: a value of this call; on success N-API reports a live backing store of
        // `length` elements of `kind` at `data` (null only when empty).
        unsafe {
            if sys::napi_get_typedarray_info(
                self.env,
                self.argv[index],
                &mut actual,
                &mut length,
                &mut data,
                ptr::null_mut(),
                ptr::null_mut(),
            ) != sys::Status::napi_ok
                || actual != kind
            {
                return Err(BadArgument);
            }
            if length == 0 || data.is_null() {
                return Ok(&mut []);
            }
            Ok(std::slice::from_raw_parts_mut(data.cast::<T>(), length))
        }
    }

    pub fn bytes(&self, index: usize) -> Result<&mut [u8], BadArgument> {
        self.typed(index, sys::TypedarrayType::uint8_array)
    }

    pub fn int32s(&self, index: usize) -> Result<&mut [i32], BadArgument> {
        self.typed(index, sys::TypedarrayType::int32_array)
    }
}

pub(super) enum Output {
    Undefined,
    Int(i32),
    Number(f64),
}

/// Runs `body` for a callback: arguments it rejects become a TypeError, a panic an Error,
/// neither unwinds into Node.
///
/// # Safety
/// A callback's `env` and `info`, of a function made by [`super::hot::functions`].
pub(super) unsafe fn run(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    name: &CStr,
    body: impl FnOnce(&Call<'_>) -> Result<Output, BadArgument>,
) -> sys::napi_value {
    // SAFETY: per the contract of this function.
    let Some(call) = (unsafe { Call::new(env, info) }) else {
        // SAFETY: on the JS thread of this callback.
        unsafe {
            sys::napi_throw_type_error(
                env,
                ptr::null(),
                c"krpc-socket: not an engine handle".as_ptr(),
            )
        };
        return ptr::null_mut();
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| body(&call)));
    let mut result = ptr::null_mut();
    // SAFETY: N-API calls on the JS thread of this callback; a null result reads as undefined.
    unsafe {
        match outcome {
            Ok(Ok(Output::Undefined)) => {}
            Ok(Ok(Output::Int(value))) => {
                sys::napi_create_int32(env, value, &mut result);
            }
            Ok(Ok(Output::Number(value))) => {
                sys::napi_create_double(env, value, &mut result);
            }
            Ok(Err(BadArgument)) => {
                let message = format!("krpc-socket: bad argument to {}", name.to_string_lossy());
                let message = std::ffi::CString::new(message).unwrap_or_default();
                sys::napi_throw_type_error(env, ptr::null(), message.as_ptr());
            }
            Err(_) => {
                sys::napi_throw_error(env, ptr::null(), c"krpc-socket: internal error".as_ptr());
            }
        }
    }
    result
}
