//! The socket table as the kernel's sock_diag netlink interface gives it: what
//! `/proc/net/tcp` shows, plus each connection's `tcp_info`, whose `bytes_received` is what
//! makes a kept-alive connection that carries requests count as traffic. An ingress or a
//! client pool sends request after request over connections it opened long before the
//! hook called; without byte counters only the rare unread byte in a receive queue shows
//! them. Like `ss`, it needs no privilege and answers for the caller's network namespace.

use std::io;
use std::net::SocketAddr;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags, nlas::Nla,
};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;

use super::SocketSource;
use super::table::Socket;

/// `tcpi_bytes_received` sits at this offset of `struct tcp_info` (Linux 4.1 and later),
/// after 8 one-byte fields, 24 `u32`s and 3 `u64`s. Read from the raw attribute rather
/// than through the netlink crate's typed `tcp_info`, which refuses any kernel whose
/// struct is shorter than the one the crate was written against (5.10 and 5.15 nodes).
const BYTES_RECEIVED: std::ops::Range<usize> = 128..136;

/// A receive buffer larger than any dump message the kernel builds (at most 32 KiB), so
/// none is truncated.
const RECEIVE_BUFFER: usize = 64 * 1024;

pub struct SockDiag {
    socket: netlink_sys::Socket,
    buffer: Vec<u8>,
    sequence: u32,
}

impl SockDiag {
    /// Opens the netlink socket; fails where the kernel or a seccomp profile refuses it.
    pub fn open() -> io::Result<Self> {
        let mut socket = netlink_sys::Socket::new(NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        socket.connect(&netlink_sys::SocketAddr::new(0, 0))?;
        Ok(SockDiag {
            socket,
            buffer: vec![0; RECEIVE_BUFFER],
            sequence: 0,
        })
    }

    /// Every TCP socket of one address family, in every state (the listeners say which
    /// ports the pod serves; a `TIME_WAIT` shows a connection that came and went between
    /// two samples).
    fn dump(&mut self, family: u8, into: &mut Vec<Socket>) -> io::Result<()> {
        self.sequence = self.sequence.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = self.sequence;
        let mut request = NetlinkMessage::new(
            header,
            SockDiagMessage::InetRequest(InetRequest {
                family,
                protocol: IPPROTO_TCP,
                extensions: ExtensionFlags::INFO,
                states: StateFlags::all(),
                socket_id: if family == AF_INET {
                    SocketId::new_v4()
                } else {
                    SocketId::new_v6()
                },
            })
            .into(),
        );
        request.finalize();
        let mut bytes = vec![0; request.buffer_len()];
        request.serialize(&mut bytes);
        self.socket.send(&bytes, 0)?;

        loop {
            let size = self.socket.recv(&mut &mut self.buffer[..], 0)?;
            let mut offset = 0;
            while offset < size {
                let message =
                    NetlinkMessage::<SockDiagMessage>::deserialize(&self.buffer[offset..size])
                        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
                let length = message.header.length as usize;
                if message.header.sequence_number == self.sequence {
                    match message.payload {
                        NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                            into.push(socket(&response));
                        }
                        NetlinkPayload::Done(_) => return Ok(()),
                        NetlinkPayload::Error(error) => return Err(error.to_io()),
                        _ => {}
                    }
                }
                if length == 0 {
                    break;
                }
                offset += length;
            }
        }
    }
}

impl SocketSource for SockDiag {
    fn sample(&mut self) -> io::Result<Vec<Socket>> {
        let mut sockets = Vec::new();
        self.dump(AF_INET, &mut sockets)?;
        // A node without IPv6 has no IPv6 table to dump: that is an empty one, as a
        // missing `/proc/net/tcp6` is.
        let before = sockets.len();
        if self.dump(AF_INET6, &mut sockets).is_err() {
            sockets.truncate(before);
        }
        Ok(sockets)
    }
}

fn socket(response: &InetResponse) -> Socket {
    let header = &response.header;
    let id = &header.socket_id;
    let bytes_received = response.nlas.iter().find_map(|nla| match nla {
        Nla::TcpInfo(info) => bytes_received(info),
        _ => None,
    });
    Socket {
        local: SocketAddr::new(id.source_address, id.source_port),
        remote: SocketAddr::new(id.destination_address, id.destination_port),
        state: header.state,
        rx_queue: header.recv_queue,
        inode: u64::from(header.inode),
        bytes_received,
    }
}

/// `tcpi_bytes_received` of a raw `struct tcp_info`, when the kernel's is long enough to
/// hold it.
fn bytes_received(info: &[u8]) -> Option<u64> {
    let field = info.get(BYTES_RECEIVED)?;
    Some(u64::from_ne_bytes(field.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::waiter::quiet::Detector;
    use crate::waiter::table::{ESTABLISHED, LISTEN};
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    #[test]
    fn bytes_received_is_read_where_the_kernel_puts_it() {
        let mut info = vec![0u8; 232];
        info[BYTES_RECEIVED].copy_from_slice(&4242u64.to_ne_bytes());
        assert_eq!(bytes_received(&info), Some(4242));
        // A kernel older than 4.1 stops before the field.
        assert_eq!(bytes_received(&info[..104]), None);
        assert_eq!(bytes_received(&[]), None);
    }

    /// The real kernel: a connection's bytes show on the accepting side, and the
    /// listener and the connection are in the table with the states the detector reads.
    #[test]
    fn counts_the_bytes_a_real_connection_received() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut served, peer) = listener.accept().unwrap();
        let mut diag = SockDiag::open().unwrap();
        let find = |sockets: &[Socket]| {
            sockets
                .iter()
                .find(|s| s.local == listener.local_addr().unwrap() && s.remote == peer)
                .copied()
        };

        let before = find(&diag.sample().unwrap()).expect("the accepted connection");
        assert_eq!(before.state, ESTABLISHED);
        assert_eq!(before.bytes_received, Some(0));

        client.write_all(&[7u8; 1000]).unwrap();
        let mut read = [0u8; 1000];
        served.read_exact(&mut read).unwrap();
        let sockets = diag.sample().unwrap();
        let after = find(&sockets).expect("the accepted connection");
        assert_eq!(after.bytes_received, Some(1000));
        assert!(
            sockets
                .iter()
                .any(|s| s.state == LISTEN && s.local == listener.local_addr().unwrap())
        );
    }

    /// The detector on the real kernel's table: a kept-alive connection is no traffic
    /// while idle and is traffic as soon as it receives bytes. Only the test's own port
    /// is kept, so the machine's other sockets cannot change the answer.
    #[test]
    fn an_idle_kept_alive_connection_is_quiet_and_a_request_on_it_is_not() {
        // The detector ignores loopback peers: connect through this machine's address.
        let Some(address) = non_loopback_address() else {
            return;
        };
        let listener = TcpListener::bind((address, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut served, _) = listener.accept().unwrap();
        let mut diag = SockDiag::open().unwrap();
        let mut own = || -> Vec<Socket> {
            let sockets = diag.sample().unwrap();
            sockets
                .into_iter()
                .filter(|s| s.local.port() == port)
                .collect()
        };
        let mut detector = Detector::new(0, &[], true);
        detector.observe(Duration::ZERO, &own());
        let idle = detector.observe(Duration::from_millis(250), &own());
        assert!(!idle.active(), "{idle:?}");

        client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut read = [0u8; 64];
        let _ = served.read(&mut read).unwrap();
        let busy = detector.observe(Duration::from_millis(500), &own());
        assert_eq!(busy.busy_connections, 1, "{busy:?}");
    }

    /// A UDP socket "connected" to a documentation address (TEST-NET-1) picks the source
    /// address a route would use; no packet is sent.
    fn non_loopback_address() -> Option<std::net::IpAddr> {
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
        socket.connect("192.0.2.1:9").ok()?;
        let ip = socket.local_addr().ok()?.ip();
        (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
    }
}
