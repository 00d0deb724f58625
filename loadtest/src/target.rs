//! Where connections go: the `--url` safety check (loopback only), the choice
//! of server and source address for each connection, and the TCP connect that
//! precedes the WebSocket handshake.
//!
//! This module opens sockets but speaks no WebSocket; [`crate::client`] does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use tokio::net::{TcpSocket, TcpStream};

use crate::client::io_cause;

/// Connections one source address can comfortably hold towards one server
/// (the ephemeral port range is about 28,000 wide).
pub const CONNS_PER_SRC_IP: usize = 20_000;

/// One server to connect to, checked to be on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as given (used for the handshake's Host and path).
    pub url: String,
    /// Where to open the TCP connection.
    pub addr: SocketAddr,
}

/// Why a `--url` is refused.
#[derive(Debug, PartialEq, Eq)]
pub struct UnsafeUrl(pub String);

impl std::fmt::Display for UnsafeUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parse a `ws://host[:port]/path` URL and refuse any host that is not loopback
/// (127.0.0.0/8, `localhost` or `[::1]`): this tool must never load another machine.
pub fn parse_target(url: &str) -> Result<Target, UnsafeUrl> {
    let refuse = |why: &str| UnsafeUrl(format!("refusing --url {url:?}: {why}"));
    let Some(rest) = url.strip_prefix("ws://") else {
        return Err(refuse(
            "only ws:// URLs are supported (loopback servers, no TLS)",
        ));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Err(refuse("user info in the URL is not supported"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((host, after)) = v6.split_once(']') else {
            return Err(refuse("unclosed [ in the host"));
        };
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| refuse("bad port"))?),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port: u16 = match port {
        None => 80,
        Some(p) => p
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| refuse("bad port"))?,
    };
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else if let Ok(v4) = host.parse::<Ipv4Addr>() {
        if v4.octets()[0] != 127 {
            return Err(refuse(
                "the host is not in 127.0.0.0/8; this tool only loads servers on this machine",
            ));
        }
        IpAddr::V4(v4)
    } else if let Ok(v6) = host.parse::<Ipv6Addr>() {
        if v6 != Ipv6Addr::LOCALHOST {
            return Err(refuse(
                "the host is not [::1]; this tool only loads servers on this machine",
            ));
        }
        IpAddr::V6(v6)
    } else {
        return Err(refuse(
            "the host must be 127.x.y.z, localhost or [::1]; this tool only loads servers on this machine",
        ));
    };
    Ok(Target {
        url: url.to_owned(),
        addr: SocketAddr::new(ip, port),
    })
}

/// The `--src-ips` default: one address below [`CONNS_PER_SRC_IP`] connections in
/// all, else enough addresses for every connection.
pub fn auto_src_ips(total_conns: usize) -> u8 {
    if total_conns < CONNS_PER_SRC_IP {
        1
    } else {
        total_conns.div_ceil(CONNS_PER_SRC_IP).clamp(1, 254) as u8
    }
}

/// Picks a server and source address for a connection and opens its TCP stream.
#[derive(Debug, Clone)]
pub struct Router {
    targets: Vec<Target>,
    /// Number of source addresses (127.0.0.1 ..= 127.0.0.K); `None` = let the kernel pick.
    src_ips: Option<u8>,
}

impl Router {
    /// `src_ips`: `Some(k)` binds to 127.0.0.1..=127.0.0.k (also for k = 1, when asked
    /// for explicitly); `None` leaves the choice to the kernel.
    pub fn new(targets: Vec<Target>, src_ips: Option<u8>) -> Router {
        Router { targets, src_ips }
    }

    /// The server of connection number `global` (round-robin over `--url`).
    pub fn target(&self, global: usize) -> &Target {
        &self.targets[global % self.targets.len()]
    }

    /// The source address of connection number `global`, if sockets are bound.
    fn source(&self, global: usize, target: &Target) -> Option<Ipv4Addr> {
        let k = self.src_ips? as usize;
        if !target.addr.is_ipv4() || k == 0 {
            return None;
        }
        let n = (global / self.targets.len()) % k;
        Some(Ipv4Addr::new(127, 0, 0, (n + 1) as u8))
    }

    /// Open the TCP connection of connection number `global`. The error is a
    /// failure cause (see [`io_cause`]).
    pub async fn connect(&self, global: usize) -> Result<TcpStream, String> {
        let target = self.target(global);
        let stream = match self.source(global, target) {
            Some(src) => {
                let socket = TcpSocket::new_v4().map_err(|e| io_cause(&e))?;
                // Pick the port at connect time, so one address serves many servers.
                set_bind_no_port(&socket);
                socket
                    .bind(SocketAddr::new(IpAddr::V4(src), 0))
                    .map_err(|e| io_cause(&e))?;
                socket
                    .connect(target.addr)
                    .await
                    .map_err(|e| io_cause(&e))?
            }
            None => TcpStream::connect(target.addr)
                .await
                .map_err(|e| io_cause(&e))?,
        };
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

/// `IP_BIND_ADDRESS_NO_PORT`: bind the address now, the port at `connect`. Best effort.
fn set_bind_no_port(socket: &TcpSocket) {
    let one: libc::c_int = 1;
    // SAFETY: a valid socket fd, a pointer to a c_int and its exact length.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_accepted() {
        let t = parse_target("ws://127.0.0.1:8080/ws").expect("loopback");
        assert_eq!(t.addr, "127.0.0.1:8080".parse().expect("addr"));
        let t = parse_target("ws://localhost:9000/ws").expect("localhost");
        assert_eq!(t.addr.port(), 9000);
        let t = parse_target("ws://127.9.8.7/ws").expect("127/8");
        assert_eq!(t.addr.port(), 80);
        let t = parse_target("ws://[::1]:8080/ws").expect("v6 loopback");
        assert!(t.addr.is_ipv6());
    }

    #[test]
    fn other_hosts_and_schemes_are_refused() {
        for url in [
            "ws://10.0.0.1:8080/ws",
            "ws://example.com/ws",
            "ws://128.0.0.1/ws",
            "wss://127.0.0.1/ws",
            "http://127.0.0.1/ws",
            "ws://[::2]:80/ws",
            "ws://evil@127.0.0.1/ws",
            "ws://127.0.0.1.example.com/ws",
            "ws://127.0.0.1:0/ws",
        ] {
            assert!(parse_target(url).is_err(), "{url} should be refused");
        }
    }

    #[test]
    fn source_addresses_go_round_robin() {
        let t = parse_target("ws://127.0.0.1:1/ws").expect("url");
        let r = Router::new(vec![t.clone()], Some(3));
        let ips: Vec<_> = (0..4).map(|g| r.source(g, &t)).collect();
        assert_eq!(
            ips,
            vec![
                Some(Ipv4Addr::new(127, 0, 0, 1)),
                Some(Ipv4Addr::new(127, 0, 0, 2)),
                Some(Ipv4Addr::new(127, 0, 0, 3)),
                Some(Ipv4Addr::new(127, 0, 0, 1)),
            ]
        );
        assert_eq!(auto_src_ips(19_999), 1);
        assert_eq!(auto_src_ips(45_000), 3);
    }
}
