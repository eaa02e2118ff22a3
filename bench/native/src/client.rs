//! The client: N queries in flight over one socket, each reply issuing the next query, the
//! query's 2 tid bytes patched in place. Phases as in rtt.js: ramp, warm-up, measured window,
//! drain. No transaction table: the tid only indexes the send times, as in the raw-dgram floor.
use crate::probe::{self, Snap};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

pub struct Config {
    pub query: Vec<u8>,
    pub qoff: usize,
    pub roff: usize,
    pub peer: SocketAddr,
    pub inflight: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub server_pid: Option<u32>,
}

/// Same cap as rtt.js's latency array.
const MAX_SAMPLES: usize = 2_000_000;
/// As the floor's watchdog: this long without a reply means the datagrams in flight were lost.
const WATCHDOG: Duration = Duration::from_millis(250);
const DRAIN: Duration = Duration::from_millis(300);

pub struct Report {
    window_ns: u64,
    completed: u64,
    lost: u64,
    send_errors: u64,
    lat_us: Vec<f64>,
    d: Snap,
    server_pid: Option<u32>,
}

#[derive(PartialEq, PartialOrd, Clone, Copy)]
enum Phase {
    Warmup,
    Measure,
    Drain,
}

pub async fn run(sock: UdpSocket, cfg: Config) -> Result<Report, String> {
    if cfg.qoff + 2 > cfg.query.len() {
        return Err("--qoff outside the query".into());
    }
    let mut out = cfg.query.clone();
    let mut sent = vec![Instant::now(); 65536];
    let mut lat_us: Vec<f64> = vec![0.0; MAX_SAMPLES];
    // Resident up front, as rtt.js touches its latency array (see "Peak RSS" in bench/README.md).
    for i in (0..MAX_SAMPLES).step_by(512) {
        lat_us[i] = 1.0;
    }
    let mut nlat = 0usize;
    let mut buf = vec![0u8; 65536];
    let mut tid: u16 = 0;
    let mut inflight = 0usize;
    let (mut completed, mut lost, mut send_errors) = (0u64, 0u64, 0u64);

    // Ramp up 8 at a time, yielding between, as rtt.js does.
    while inflight < cfg.inflight {
        for _ in 0..8.min(cfg.inflight - inflight) {
            tid = next_query(&sock, &cfg, &mut out, tid, &mut sent, &mut send_errors).await;
            inflight += 1;
        }
        tokio::task::yield_now().await;
    }

    let mut phase = Phase::Warmup;
    let mut phase_end = Instant::now() + cfg.warmup;
    let mut last_reply = Instant::now();
    let (mut s0, mut s1) = (Snap::default(), Snap::default());
    let (mut t0, mut t1) = (Instant::now(), Instant::now());
    loop {
        let now;
        match sock.try_recv_from(&mut buf) {
            Ok((n, _)) => {
                now = Instant::now();
                if n < cfg.roff + 2 {
                    continue;
                }
                let id = u16::from_be_bytes([buf[cfg.roff], buf[cfg.roff + 1]]);
                inflight = inflight.saturating_sub(1);
                last_reply = now;
                if phase == Phase::Measure {
                    completed += 1;
                    if nlat < MAX_SAMPLES {
                        lat_us[nlat] = (now - sent[id as usize]).as_nanos() as f64 / 1000.0;
                        nlat += 1;
                    }
                }
                if phase < Phase::Drain {
                    tid = next_query(&sock, &cfg, &mut out, tid, &mut sent, &mut send_errors).await;
                    inflight += 1;
                } else if inflight == 0 {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let wait = phase_end
                    .saturating_duration_since(Instant::now())
                    .min(WATCHDOG);
                let ready = tokio::time::timeout(wait, sock.readable()).await;
                now = Instant::now();
                if let Ok(r) = ready {
                    r.map_err(|e| e.to_string())?;
                } else if phase < Phase::Drain && inflight > 0 && now - last_reply >= WATCHDOG {
                    lost += inflight as u64;
                    inflight = 0;
                    for _ in 0..cfg.inflight {
                        tid = next_query(&sock, &cfg, &mut out, tid, &mut sent, &mut send_errors)
                            .await;
                        inflight += 1;
                    }
                    last_reply = now;
                }
            }
            Err(_) => continue,
        }
        if now >= phase_end {
            match phase {
                Phase::Warmup => {
                    phase = Phase::Measure;
                    s0 = probe::snap(cfg.server_pid);
                    t0 = Instant::now();
                    phase_end = t0 + cfg.duration;
                }
                Phase::Measure => {
                    t1 = Instant::now();
                    s1 = probe::snap(cfg.server_pid);
                    phase = Phase::Drain;
                    phase_end = t1 + DRAIN;
                    if inflight == 0 {
                        break;
                    }
                }
                Phase::Drain => break,
            }
        }
    }
    lat_us.truncate(nlat);
    Ok(Report {
        window_ns: (t1 - t0).as_nanos() as u64,
        completed,
        lost,
        send_errors,
        lat_us,
        d: Snap {
            main: s1.main.saturating_sub(s0.main),
            proc: s1.proc.saturating_sub(s0.proc),
            srv_main: s1.srv_main.saturating_sub(s0.srv_main),
            srv_proc: s1.srv_proc.saturating_sub(s0.srv_proc),
            sys: s1.sys.saturating_sub(s0.sys),
        },
        server_pid: cfg.server_pid,
    })
}

/// Sends the query with the tid after `tid` (wrapping past 65535 to 1, as rtt.js does), noting
/// when it left for the latency; returns that tid.
async fn next_query(
    sock: &UdpSocket,
    cfg: &Config,
    out: &mut [u8],
    tid: u16,
    sent: &mut [Instant],
    errors: &mut u64,
) -> u16 {
    let tid = if tid == u16::MAX { 1 } else { tid + 1 };
    out[cfg.qoff..cfg.qoff + 2].copy_from_slice(&tid.to_be_bytes());
    sent[tid as usize] = Instant::now();
    // A failed send is a lost query, as for dgram: the watchdog refills.
    if sock.send_to(out, cfg.peer).await.is_err() {
        *errors += 1;
    }
    tid
}

/// Nearest rank, as bench/lib/stats.js.
fn pct(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).saturating_sub(1);
    Some(sorted[rank.min(sorted.len() - 1)])
}

fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "null".into(),
    }
}

impl Report {
    pub fn json(mut self) -> String {
        self.lat_us.sort_by(|a, b| a.total_cmp(b));
        let l = &self.lat_us;
        let me = std::process::id();
        let srv = |f: fn(u32) -> Option<u64>| num(self.server_pid.and_then(f).map(|x| x as f64));
        let srv_threads = num(self
            .server_pid
            .and_then(probe::thread_count)
            .map(|x| x as f64));
        format!(
            concat!(
                "{{\"window_ns\":{},\"completed\":{},\"lost\":{},\"send_errors\":{},",
                "\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{},",
                "\"main_ns\":{},\"proc_ns\":{},\"srv_main_ns\":{},\"srv_proc_ns\":{},\"sys_busy_ns\":{},",
                "\"ncpu\":{},\"rss_kb\":{},\"srv_rss_kb\":{},\"threads\":{},\"srv_threads\":{}}}"
            ),
            self.window_ns,
            self.completed,
            self.lost,
            self.send_errors,
            num(pct(l, 0.5)),
            num(pct(l, 0.99)),
            num(pct(l, 0.999)),
            num(l.last().copied()),
            self.d.main,
            self.d.proc,
            if self.server_pid.is_some() { self.d.srv_main.to_string() } else { "null".into() },
            if self.server_pid.is_some() { self.d.srv_proc.to_string() } else { "null".into() },
            self.d.sys,
            probe::ncpu(),
            num(probe::peak_rss_kb(me).map(|x| x as f64)),
            srv(probe::peak_rss_kb),
            num(probe::thread_count(me).map(|x| x as f64)),
            srv_threads
        )
    }
}
