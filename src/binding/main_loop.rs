//! Readability of a native socket reported by Node's own event loop (a libuv `uv_poll_t`).
//!
//! The datagrams are then read on the JS thread, inside the loop iteration that noticed them, so
//! a reply reaches JS without waking any other thread. libuv is the loop Node runs; its functions
//! are exported by the `node` executable, and are looked up at run time (`dlsym`) rather than
//! linked, so the crate still links on its own (`cargo test`).
//!
//! Finding the symbols does not mean Node's libuv runs the loop: Bun exports `uv_*` stubs that
//! abort the process, Deno's `uv_poll` never reports readiness to this watcher. So nothing here
//! is called unless the engine was built with the loop trigger, which lib/native.js asks for only
//! in Node itself (and Electron); see `receivePath` in README.md.

use std::ffi::{c_int, c_void, CStr};
use std::ptr;
use std::sync::OnceLock;

use napi::sys;

type PollCallback = unsafe extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
type CloseCallback = unsafe extern "C" fn(handle: *mut c_void);

/// `UV_POLL` in libuv's `uv_handle_type` (stable since libuv 1.0).
const UV_POLL: c_int = 8;
/// `UV_READABLE` in `uv_poll_event`.
const UV_READABLE: c_int = 1;

/// The libuv functions this module needs, from the running process.
struct Uv {
    handle_size: unsafe extern "C" fn(c_int) -> usize,
    poll_init_socket: unsafe extern "C" fn(*mut c_void, *mut c_void, c_int) -> c_int,
    poll_start: unsafe extern "C" fn(*mut c_void, c_int, PollCallback) -> c_int,
    poll_stop: unsafe extern "C" fn(*mut c_void) -> c_int,
    close: unsafe extern "C" fn(*mut c_void, Option<CloseCallback>),
    set_data: unsafe extern "C" fn(*mut c_void, *mut c_void),
    get_data: unsafe extern "C" fn(*const c_void) -> *mut c_void,
    ref_handle: unsafe extern "C" fn(*mut c_void),
    unref_handle: unsafe extern "C" fn(*mut c_void),
}

fn uv() -> Option<&'static Uv> {
    static UV: OnceLock<Option<Uv>> = OnceLock::new();
    UV.get_or_init(resolve).as_ref()
}

#[cfg(unix)]
fn symbol(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym with RTLD_DEFAULT only reads the process's symbol tables.
    let address = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!address.is_null()).then_some(address)
}

#[cfg(not(unix))]
fn symbol(_: &CStr) -> Option<*mut c_void> {
    None
}

fn resolve() -> Option<Uv> {
    macro_rules! function {
        ($name:literal, $type:ty) => {
            // SAFETY: the symbol is libuv's function of that name, whose C signature is `$type`
            // (libuv's public, stable API).
            unsafe { std::mem::transmute::<*mut c_void, $type>(symbol($name)?) }
        };
    }
    Some(Uv {
        handle_size: function!(c"uv_handle_size", unsafe extern "C" fn(c_int) -> usize),
        poll_init_socket: function!(
            c"uv_poll_init_socket",
            unsafe extern "C" fn(*mut c_void, *mut c_void, c_int) -> c_int
        ),
        poll_start: function!(
            c"uv_poll_start",
            unsafe extern "C" fn(*mut c_void, c_int, PollCallback) -> c_int
        ),
        poll_stop: function!(c"uv_poll_stop", unsafe extern "C" fn(*mut c_void) -> c_int),
        close: function!(
            c"uv_close",
            unsafe extern "C" fn(*mut c_void, Option<CloseCallback>)
        ),
        set_data: function!(
            c"uv_handle_set_data",
            unsafe extern "C" fn(*mut c_void, *mut c_void)
        ),
        get_data: function!(
            c"uv_handle_get_data",
            unsafe extern "C" fn(*const c_void) -> *mut c_void
        ),
        ref_handle: function!(c"uv_ref", unsafe extern "C" fn(*mut c_void)),
        unref_handle: function!(c"uv_unref", unsafe extern "C" fn(*mut c_void)),
    })
}

/// True when libuv's functions can be found in this process. Only asked for engines built with
/// the loop trigger: where the runtime is not Node, the symbols may be stubs.
pub fn available() -> bool {
    uv().is_some()
}

/// What the poll callback needs. Lives on the heap, owned by the handle, freed on close.
struct Context {
    env: sys::napi_env,
    callback: sys::napi_ref,
    async_context: sys::napi_async_context,
    on_readable: Box<dyn FnMut() -> bool>,
}

/// A socket watched by Node's loop. Not `Send`: it belongs to its JS thread.
pub struct Watcher {
    handle: *mut c_void,
    context: *mut Context,
}

impl Watcher {
    /// Starts watching `fd`. On readability `on_readable` runs (it reads and returns true when
    /// JS has work), and then `callback` is called as a top-level callback (process.nextTick
    /// and microtasks run after it, as after any I/O callback).
    pub fn start(
        env: sys::napi_env,
        fd: c_int,
        callback: sys::napi_value,
        on_readable: Box<dyn FnMut() -> bool>,
    ) -> Option<Self> {
        let uv = uv()?;
        // SAFETY: every call below is a napi or libuv call made on the JS thread that owns `env`,
        // with pointers this function created; failures unwind what was created.
        unsafe {
            let mut event_loop = ptr::null_mut();
            if sys::napi_get_uv_event_loop(env, &mut event_loop) != sys::Status::napi_ok {
                return None;
            }
            let mut reference = ptr::null_mut();
            if sys::napi_create_reference(env, callback, 1, &mut reference) != sys::Status::napi_ok
            {
                return None;
            }
            let mut name = ptr::null_mut();
            let mut async_context = ptr::null_mut();
            let label = c"krpc-socket";
            let mut resource = ptr::null_mut();
            sys::napi_create_object(env, &mut resource);
            sys::napi_create_string_utf8(env, label.as_ptr(), 11, &mut name);
            if sys::napi_async_init(env, resource, name, &mut async_context) != sys::Status::napi_ok
            {
                sys::napi_delete_reference(env, reference);
                return None;
            }
            let context = Box::into_raw(Box::new(Context {
                env,
                callback: reference,
                async_context,
                on_readable,
            }));
            let handle = libc::calloc(1, (uv.handle_size)(UV_POLL));
            let started =
                !handle.is_null() && (uv.poll_init_socket)(event_loop.cast(), handle, fd) == 0 && {
                    (uv.set_data)(handle, context.cast());
                    (uv.poll_start)(handle, UV_READABLE, on_poll) == 0
                };
            let watcher = Self { handle, context };
            if !started {
                watcher.release_context();
                if !handle.is_null() {
                    libc::free(handle);
                }
                return None;
            }
            Some(watcher)
        }
    }

    /// Lets the handle keep the loop alive (a bound dgram socket does).
    pub fn set_ref(&self, keep_alive: bool) {
        if let Some(uv) = uv() {
            // SAFETY: the handle is live until `stop`, which consumes self.
            unsafe {
                if keep_alive {
                    (uv.ref_handle)(self.handle)
                } else {
                    (uv.unref_handle)(self.handle)
                }
            }
        }
    }

    fn release_context(&self) {
        // SAFETY: called once, on the JS thread, with the env alive.
        unsafe {
            let context = Box::from_raw(self.context);
            sys::napi_delete_reference(context.env, context.callback);
            sys::napi_async_destroy(context.env, context.async_context);
        }
    }

    /// Stops watching and frees everything. Must run on the JS thread while its env is alive
    /// (from `close()` or the environment cleanup hook).
    pub fn stop(self) {
        let Some(uv) = uv() else { return };
        // SAFETY: the handle was started by `start`; libuv frees nothing itself, `on_close`
        // frees the memory once libuv is done with the handle.
        unsafe {
            (uv.poll_stop)(self.handle);
            (uv.set_data)(self.handle, ptr::null_mut());
            (uv.close)(self.handle, Some(on_close));
        }
        self.release_context();
    }
}

unsafe extern "C" fn on_close(handle: *mut c_void) {
    // SAFETY: allocated with calloc in `start`; libuv no longer uses it.
    unsafe { libc::free(handle) };
}

unsafe extern "C" fn on_poll(handle: *mut c_void, _status: c_int, _events: c_int) {
    let Some(uv) = uv() else { return };
    // SAFETY: data is the Context set in `start`, cleared in `stop` before it is freed.
    let context = unsafe { (uv.get_data)(handle) }.cast::<Context>();
    if context.is_null() {
        return;
    }
    // SAFETY: only this callback and `stop` use the context, both on the JS thread.
    let context = unsafe { &mut *context };
    // A panic must not unwind into libuv; the read path has no panics, this is a last guard.
    let has_work =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (context.on_readable)()))
            .unwrap_or(false);
    if has_work {
        // SAFETY: a JS-thread libuv callback: open a scope and make a top-level callback.
        unsafe { call_js(context) };
    }
}

unsafe fn call_js(context: &Context) {
    let env = context.env;
    // SAFETY: called on the JS thread from a libuv callback, with the env alive (the watcher is
    // stopped before the env goes away).
    unsafe {
        let mut scope = ptr::null_mut();
        if sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
            return;
        }
        let mut function = ptr::null_mut();
        let mut receiver = ptr::null_mut();
        sys::napi_get_reference_value(env, context.callback, &mut function);
        sys::napi_get_global(env, &mut receiver);
        let mut result = ptr::null_mut();
        let status = sys::napi_make_callback(
            env,
            context.async_context,
            receiver,
            function,
            0,
            ptr::null(),
            &mut result,
        );
        if status == sys::Status::napi_pending_exception {
            // Like an exception thrown from a dgram 'message' listener: uncaught.
            let mut error = ptr::null_mut();
            sys::napi_get_and_clear_last_exception(env, &mut error);
            sys::napi_fatal_exception(env, error);
        }
        sys::napi_close_handle_scope(env, scope);
    }
}
