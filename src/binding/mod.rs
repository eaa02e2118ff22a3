//! napi binding (in progress)
