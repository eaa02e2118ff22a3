//! Tokio driver (in progress)
