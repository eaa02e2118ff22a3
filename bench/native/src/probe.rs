//! CPU and memory from /proc, in the units of bench/lib/cpu.js: schedstat nanoseconds per thread
//! (exact, unlike the 10 ms ticks of /proc/<pid>/stat), system busy time from /proc/stat.
use std::fs;

/// Nanoseconds on CPU of one thread (first field of its schedstat).
pub fn thread_ns(pid: u32, tid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/task/{tid}/schedstat")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Nanoseconds on CPU of all live threads of a process. The helper threads here (stdin watch,
/// hard cap) live as long as the process, so none of its CPU leaves with an exited thread.
pub fn process_ns(pid: u32) -> Option<u64> {
    let mut sum = 0;
    for e in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let tid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        sum += thread_ns(pid, tid)?;
    }
    Some(sum)
}

pub fn thread_count(pid: u32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/task")).ok()?.count())
}

/// Peak resident set (VmHWM) in kB.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Busy (non-idle, non-iowait) time of the whole machine, nanoseconds (USER_HZ = 100).
pub fn system_busy_ns() -> Option<u64> {
    let s = fs::read_to_string("/proc/stat").ok()?;
    let f: Vec<u64> = s
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    Some((at(0) + at(1) + at(2) + at(5) + at(6) + at(7)) * 10_000_000)
}

pub fn ncpu() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// CPU of the measured processes at one instant.
#[derive(Clone, Copy, Default)]
pub struct Snap {
    pub main: u64,
    pub proc: u64,
    pub srv_main: u64,
    pub srv_proc: u64,
    pub sys: u64,
}

pub fn snap(server_pid: Option<u32>) -> Snap {
    let me = std::process::id();
    let (srv_main, srv_proc) = match server_pid {
        Some(p) => (thread_ns(p, p).unwrap_or(0), process_ns(p).unwrap_or(0)),
        None => (0, 0),
    };
    Snap {
        main: thread_ns(me, me).unwrap_or(0),
        proc: process_ns(me).unwrap_or(0),
        srv_main,
        srv_proc,
        sys: system_busy_ns().unwrap_or(0),
    }
}
