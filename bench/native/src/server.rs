//! The echo server: copy the pre-encoded reply, put the query's 2 tid bytes in it, send it back.
use std::io::ErrorKind;
use tokio::net::UdpSocket;

pub struct Template {
    pub response: Vec<u8>,
    pub qoff: usize,
    pub roff: usize,
}

pub async fn serve(sock: UdpSocket, tpl: Template) -> Result<(), String> {
    let mut buf = vec![0u8; 65536];
    let mut out = tpl.response.clone();
    if tpl.roff + 2 > out.len() {
        return Err("--roff outside the response".into());
    }
    loop {
        match sock.try_recv_from(&mut buf) {
            Ok((n, from)) => {
                if n < tpl.qoff + 2 {
                    continue;
                }
                out[tpl.roff] = buf[tpl.qoff];
                out[tpl.roff + 1] = buf[tpl.qoff + 1];
                // A failed send is a lost reply, as for dgram: the client's watchdog refills.
                let _ = sock.send_to(&out, from).await;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                sock.readable().await.map_err(|e| e.to_string())?;
            }
            // ECONNREFUSED from an earlier send to a closed port, and the like: keep serving.
            Err(_) => continue,
        }
    }
}
