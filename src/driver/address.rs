//! Address text from JS to socket addresses: where a datagram goes, and what a socket binds.
//! JS resolves host names first (as dgram does), so anything here that is not an IP literal is
//! reported back for a DNS lookup.

use std::net::{IpAddr, SocketAddr};

/// Why an address text cannot be used as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressError {
    /// Not an IP literal: JS resolves it and calls again.
    NotAnIp,
    /// An IP of the other family than the socket's (dgram's EINVAL).
    WrongFamily,
}

/// The destination of a send on a socket of the given family. On a dual-stack socket
/// (`ipv6Only: false`) an IPv4 address is sent to as `::ffff:a.b.c.d`. A port above 65535 becomes
/// 0, which the kernel refuses as dgram's own check would.
pub fn destination(
    text: &[u8],
    port: u32,
    ipv6_socket: bool,
    dual_stack: bool,
) -> Result<SocketAddr, AddressError> {
    let ip = std::str::from_utf8(text)
        .ok()
        .and_then(|text| text.parse::<IpAddr>().ok())
        .ok_or(AddressError::NotAnIp)?;
    let ip = match ip {
        IpAddr::V4(v4) if dual_stack => IpAddr::V6(v4.to_ipv6_mapped()),
        ip => ip,
    };
    if ip.is_ipv6() != ipv6_socket {
        return Err(AddressError::WrongFamily);
    }
    Ok(SocketAddr::new(ip, u16::try_from(port).unwrap_or(0)))
}

/// The address a socket of the given family binds: an IP literal of that family, or `None`.
pub fn bind_address(text: &str, port: u32, ipv6_socket: bool) -> Option<SocketAddr> {
    let ip: IpAddr = text.parse().ok()?;
    (ip.is_ipv6() == ipv6_socket).then(|| SocketAddr::new(ip, u16::try_from(port).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("a literal socket address")
    }

    #[test]
    fn destinations_of_each_family() {
        assert_eq!(
            destination(b"127.0.0.1", 6881, false, false),
            Ok(addr("127.0.0.1:6881"))
        );
        assert_eq!(
            destination(b"::1", 6881, true, false),
            Ok(addr("[::1]:6881"))
        );
        assert_eq!(
            destination(b"::1", 6881, false, false),
            Err(AddressError::WrongFamily)
        );
        assert_eq!(
            destination(b"127.0.0.1", 6881, true, false),
            Err(AddressError::WrongFamily)
        );
        assert_eq!(
            destination(b"localhost", 6881, false, false),
            Err(AddressError::NotAnIp)
        );
        assert_eq!(
            destination(b"\xff\xfe", 6881, false, false),
            Err(AddressError::NotAnIp)
        );
        assert_eq!(
            destination(b"127.0.0.1", 70000, false, false),
            Ok(addr("127.0.0.1:0"))
        );
    }

    #[test]
    fn a_dual_stack_socket_sends_to_ipv4_as_mapped() {
        assert_eq!(
            destination(b"127.0.0.1", 1, true, true),
            Ok(addr("[::ffff:127.0.0.1]:1"))
        );
        assert_eq!(destination(b"::1", 1, true, true), Ok(addr("[::1]:1")));
    }

    #[test]
    fn bind_addresses_must_be_literals_of_the_socket_family() {
        assert_eq!(bind_address("0.0.0.0", 0, false), Some(addr("0.0.0.0:0")));
        assert_eq!(bind_address("::", 6881, true), Some(addr("[::]:6881")));
        assert_eq!(bind_address("::", 6881, false), None);
        assert_eq!(bind_address("localhost", 6881, false), None);
    }
}
