//! What the JS thread and the runtime thread share about one socket: the engine (behind a
//! mutex), its clock, the wake-up edge and the drain signal, and the gate that lets `close` free
//! the port while the runtime may be inside a system call on it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::clock::Clock;
use crate::core::engine::Engine;

/// Tells JS that the inbox has something. Called at most once per drain.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// Where datagrams are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receive {
    /// On the caller's thread, when its event loop reports readability.
    OnCaller,
    /// On the runtime thread.
    OnRuntime,
}

/// What the JS thread and the runtime share.
pub struct Shared {
    pub(super) engine: Mutex<Engine>,
    /// The engine's time (ticks and milliseconds).
    pub clock: Clock,
    /// Set when JS has been woken and has not drained yet: wake only on the empty -> non-empty edge.
    pub(super) woken: AtomicBool,
    /// Signalled after each drain, for a runtime reader that stopped because the inbox was full:
    /// it waits here, leaving the datagrams in the kernel's queue, instead of reading them only
    /// to drop them (or spinning on a socket that stays readable).
    pub(super) drained: Notify,
}

impl Shared {
    /// Shares `engine` between JS and the driver.
    pub fn new(engine: Engine) -> Arc<Self> {
        Arc::new(Self {
            engine: Mutex::new(engine),
            clock: Clock::new(),
            woken: AtomicBool::new(false),
            drained: Notify::new(),
        })
    }

    /// The engine. A panic while the lock was held cannot leave it half-updated in a way that
    /// matters more than losing the process, so poisoning is ignored rather than propagated.
    pub fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called by JS right before draining: later datagrams must wake it again. Clearing before
    /// taking means a wake can be spurious (an empty drain) but never lost.
    pub fn rearm(&self) {
        self.woken.store(false, Ordering::Release);
    }

    /// Called by JS after it took the inbox: a reader waiting for room may read again. A drain
    /// with no reader waiting leaves one permit, which costs that reader one extra look.
    pub fn drained(&self) {
        self.drained.notify_one();
    }

    pub(super) fn wake_if_needed(&self, wake: &Wake) {
        if !self.woken.swap(true, Ordering::AcqRel) {
            wake();
        }
    }
}

/// Guards the runtime thread's system calls on the socket against [`BoundSocket::close`].
///
/// `close` must free the port before it returns (dgram does: its `close` event comes after the
/// descriptor was closed, and programs rebind the same port from it), yet the runtime thread may
/// be inside a `recvmmsg` or `sendto` on the descriptor at that moment. Each such call runs with
/// the gate held and only while it is open; `close` shuts it, so once `close` has the lock no call
/// holds a reference to the socket and none will start.
pub struct Gate {
    pub(super) closed: Mutex<bool>,
}

impl Gate {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            closed: Mutex::new(false),
        })
    }

    /// Runs `call` unless the socket was closed (then `None`).
    pub(super) fn open<R>(&self, call: impl FnOnce() -> R) -> Option<R> {
        let closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
        (!*closed).then(call)
    }
}
