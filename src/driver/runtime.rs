//! The process-wide runtime.
//!
//! One current-thread runtime on a dedicated thread serves every socket of every Node
//! environment (main thread and workers). On a 2-core machine a multi-threaded runtime would
//! compete with Node's main thread and libuv's pool for no gain: each socket's work is a
//! short burst of non-blocking syscalls and parsing.

use std::io;
use std::sync::Mutex;
use tokio::runtime::{Builder, Handle};

static HANDLE: Mutex<Option<Handle>> = Mutex::new(None);

/// The runtime's handle, starting the runtime thread on first use.
pub(crate) fn handle() -> io::Result<Handle> {
    let mut guard = HANDLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(handle) = guard.as_ref() {
        return Ok(handle.clone());
    }
    let runtime = Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("krpc-io".into())
        // The thread never ends: Node exits the process without waiting for it, and sockets
        // are closed by `destroy()` or by the environment cleanup hooks.
        .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
    *guard = Some(handle.clone());
    Ok(handle)
}
