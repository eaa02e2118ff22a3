//! Native floor of the round-trip benchmark (bench/scenarios/rtt.js --impl native).
//!
//!   krpc-bench-native server --response HEX --qoff N --roff N [--rcvbuf B]
//!       prints {"port":P,"pid":PID}, answers until stdin closes (the parent went away)
//!   krpc-bench-native client --port P --server-pid PID --query HEX --qoff N --roff N
//!       --inflight N --warmup MS --duration MS [--rcvbuf B]
//!   krpc-bench-native pair --query HEX --response HEX --qoff N --roff N ...   (both in one thread)
//!
//! The bytes come from bench/lib/workloads.js through the command line, so all implementations
//! put the same datagrams on the wire. The client prints one JSON line of raw measurements;
//! rtt.js turns it into the fields every implementation reports.
mod args;
mod client;
mod probe;
mod server;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

/// Every process of the benchmark stops by itself, even if the orchestrator forgets it.
const HARD_CAP: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(mode) = argv.first() else {
        eprintln!("usage: krpc-bench-native server|client|pair --key value ...");
        return ExitCode::from(2);
    };
    let a = match args::Args::parse(&argv[1..]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("krpc-bench-native: {e}");
            return ExitCode::from(2);
        }
    };
    std::thread::spawn(|| {
        std::thread::sleep(HARD_CAP);
        std::process::exit(3);
    });
    // current_thread: the thread that calls block_on does all the socket work.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("krpc-bench-native: runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let res = match mode.as_str() {
        "server" => rt.block_on(run_server(&a)),
        "client" => rt.block_on(run_client(&a)),
        "pair" => rt.block_on(run_pair(&a)),
        other => Err(format!("unknown mode {other}")),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("krpc-bench-native: {e}");
            ExitCode::from(1)
        }
    }
}

/// A socket bound on 127.0.0.1 (loopback only), with the receive buffer the JS sockets get.
fn bind(rcvbuf: usize) -> Result<tokio::net::UdpSocket, String> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s =
        Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(|e| e.to_string())?;
    if rcvbuf > 0 {
        s.set_recv_buffer_size(rcvbuf).map_err(|e| e.to_string())?;
    }
    s.set_nonblocking(true).map_err(|e| e.to_string())?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    s.bind(&addr.into()).map_err(|e| e.to_string())?;
    tokio::net::UdpSocket::from_std(s.into()).map_err(|e| e.to_string())
}

fn server_template(a: &args::Args) -> Result<server::Template, String> {
    Ok(server::Template {
        response: a.hex("response")?,
        qoff: a.num("qoff")?,
        roff: a.num("roff")?,
    })
}

fn client_config(
    a: &args::Args,
    port: u16,
    server_pid: Option<u32>,
) -> Result<client::Config, String> {
    Ok(client::Config {
        query: a.hex("query")?,
        qoff: a.num("qoff")?,
        roff: a.num("roff")?,
        peer: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        inflight: a.num("inflight")?,
        warmup: Duration::from_millis(a.num("warmup")? as u64),
        duration: Duration::from_millis(a.num("duration")? as u64),
        server_pid,
    })
}

async fn run_server(a: &args::Args) -> Result<(), String> {
    let tpl = server_template(a)?;
    let sock = bind(a.num_or("rcvbuf", 0)?)?;
    let port = sock.local_addr().map_err(|e| e.to_string())?.port();
    println!("{{\"port\":{port},\"pid\":{}}}", std::process::id());
    // The parent holds our stdin: its end closing (exit, crash, kill) ends this server.
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        use std::io::Read;
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    server::serve(sock, tpl).await
}

async fn run_client(a: &args::Args) -> Result<(), String> {
    let port = a.num("port")? as u16;
    let pid = a.num("server-pid")? as u32;
    let cfg = client_config(a, port, Some(pid))?;
    let sock = bind(a.num_or("rcvbuf", 0)?)?;
    let report = client::run(sock, cfg).await?;
    println!("{}", report.json());
    Ok(())
}

async fn run_pair(a: &args::Args) -> Result<(), String> {
    let tpl = server_template(a)?;
    let rcvbuf = a.num_or("rcvbuf", 0)?;
    let ssock = bind(rcvbuf)?;
    let port = ssock.local_addr().map_err(|e| e.to_string())?.port();
    // Spawned on the same current-thread runtime: client and server share one thread, as the
    // JS implementations share the main thread in their 1-process rows.
    tokio::spawn(async move {
        if let Err(e) = server::serve(ssock, tpl).await {
            eprintln!("krpc-bench-native: server: {e}");
        }
    });
    let cfg = client_config(a, port, None)?;
    let report = client::run(bind(rcvbuf)?, cfg).await?;
    println!("{}", report.json());
    Ok(())
}
