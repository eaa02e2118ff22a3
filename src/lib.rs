//! KRPC socket engine for Node.js.
//!
//! Layout, from the wire inwards:
//! - [`core`]: the sans-IO protocol core. It knows no sockets and no JS: bytes and time come in as
//!   parameters, tape records (see `docs/ARCHITECTURE.md`) come out. Unit-tested with `cargo test`.
//! - [`driver`]: the Tokio side. One runtime thread for the whole process; each bound socket is a
//!   task that reads datagrams in bounded bursts and feeds them to the core.
//! - [`binding`]: the napi-rs layer, kept thin: argument conversion, the wake ThreadsafeFunction,
//!   and errno reporting. Everything JS-visible beyond that lives in `index.js` and `lib/`.
#![deny(clippy::unwrap_used)]

pub mod binding;
pub mod core;
pub mod driver;
