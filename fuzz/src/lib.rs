//! Shared invariant checks of the fuzz targets. `tests/fuzz_corpus.rs` includes `checks.rs` too;
//! it reaches the core as `crate::core`, hence the re-export.
pub use krpc_socket::core;
pub mod checks;
