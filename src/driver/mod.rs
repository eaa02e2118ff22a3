//! The Tokio side: one runtime thread for the whole process, one receive task per bound socket.
//!
//! The driver owns I/O only. Protocol decisions belong to [`crate::core::engine::Engine`], which
//! the driver feeds under a mutex shared with the JS thread; waking JS is a callback the binding
//! supplies, so nothing here knows about napi.

pub mod address;
mod clock;
mod reader;
mod recv;
mod runtime;
mod sender;
mod shared;
mod udp;

#[cfg(test)]
mod tests;

pub use clock::Clock;
pub use shared::{Receive, Shared, Wake};
pub use udp::BoundSocket;
