//! Replays the fuzz corpora and regression inputs on stable, without a fuzzer.
//!
//! Every file under `fuzz/corpus/**` and `fuzz/regressions/**` goes through the same invariant
//! checks as the fuzz targets (`fuzz/src/checks.rs`, included below): files in a `tokenize/`
//! directory through `check_tokenize`, files in an `engine/` directory through `check_engine`,
//! any other file through both (both accept arbitrary bytes).
//! A failure names the file and the broken invariant.
//!
//! `checks.rs` names the core as `crate::core`; here that is the crate's own module.

use krpc_socket::core;

#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "../fuzz/src/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else if path.is_file()
            && !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            out.push(path);
        }
    }
}

fn replay(sub: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(sub);
    let mut files = Vec::new();
    files_under(&root, &mut files);
    files.sort();
    for path in &files {
        let data = std::fs::read(path).expect("read corpus file");
        let run = |what: &str, f: fn(&[u8])| {
            if let Err(panic) = std::panic::catch_unwind(|| f(&data)) {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!(
                    "{what} check failed on {} ({} bytes, hex {}): {msg}",
                    path.display(),
                    data.len(),
                    checks::hex(&data[..data.len().min(256)])
                );
            }
        };
        // Files of a target's directory get that target's checks; anything else gets both.
        let under = |name: &str| path.components().any(|c| c.as_os_str() == name);
        let (tokenize, engine) = (under("tokenize"), under("engine"));
        if tokenize || !engine {
            run("tokenize", checks::check_tokenize);
        }
        if engine || !tokenize {
            run("engine", checks::check_engine);
        }
    }
    files.len()
}

// One test per directory so the harness runs them in parallel.

#[test]
fn fuzz_corpus_tokenize_replays_clean() {
    let n = replay("corpus/tokenize");
    assert!(
        n > 0,
        "no files under fuzz/corpus/tokenize: the replay would test nothing"
    );
}

#[test]
fn fuzz_corpus_engine_replays_clean() {
    let n = replay("corpus/engine");
    assert!(
        n > 0,
        "no files under fuzz/corpus/engine: the replay would test nothing"
    );
}

#[test]
fn fuzz_regressions_replay_clean() {
    replay("regressions");
}
