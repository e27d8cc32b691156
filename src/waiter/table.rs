//! The kernel's TCP socket table as `/proc/net/tcp` and `/proc/net/tcp6` print it: read
//! without privileges, for the network namespace of the reader (the pod's, for a sidecar).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP states as the kernel numbers them (`include/net/tcp_states.h`).
pub const ESTABLISHED: u8 = 0x01;
pub const SYN_RECV: u8 = 0x03;
pub const TIME_WAIT: u8 = 0x06;
pub const LISTEN: u8 = 0x0A;

/// One socket of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Socket {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: u8,
    /// Bytes received and not yet read by the application.
    pub rx_queue: u32,
    /// 0 for sockets no process owns any more (`TIME_WAIT`, not yet accepted).
    pub inode: u64,
    /// Bytes received over the socket's life (`tcp_info.tcpi_bytes_received`), when the
    /// source can tell (sock_diag can, `/proc/net/tcp` cannot).
    pub bytes_received: Option<u64>,
}

/// Parses the text of `/proc/net/tcp` or `/proc/net/tcp6`. Lines that do not parse (the
/// header, a truncated last line) are skipped.
pub fn parse(text: &str) -> Vec<Socket> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Socket> {
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    let mut fields = line.split_ascii_whitespace();
    let slot = fields.next()?;
    if !slot.ends_with(':') {
        return None;
    }
    let local = address(fields.next()?)?;
    let remote = address(fields.next()?)?;
    let state = u8::from_str_radix(fields.next()?, 16).ok()?;
    let (_, rx) = fields.next()?.split_once(':')?;
    let rx_queue = u32::from_str_radix(rx, 16).ok()?;
    let inode = fields.nth(4)?.parse().ok()?;
    Some(Socket {
        local,
        remote,
        state,
        rx_queue,
        inode,
        bytes_received: None,
    })
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6). The kernel prints each
/// 32-bit word of the address as a native-endian number, the port as a plain one.
fn address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (index, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(ip.get(index * 8..index * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured on a little-endian Linux host (x86_64), like every node lameduck ships for.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65532        0 812345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:24F7 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65532        0 812399 1 0000000000000000 100 0 0 10 0
   2: 0502580A:1F90 0102580A:C1A4 01 00000000:00000000 02:000AFC80 00000000 65532        0 812400 2 0000000000000000 20 4 30 10 -1
   3: 0502580A:1F90 0102580A:C1A6 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
   4: 0502580A:1F90 0A00A8C0:D431 01 00000000:0000004E 00:00000000 00000000 65532        0 812401 1 0000000000000000 20 4 1 10 -1
";

    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 65532        0 900001 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000502580A:1F90 0000000000000000FFFF00000102580A:C1B0 01 00000000:00000000 00:00000000 00000000 65532        0 900002 1 0000000000000000 20 4 30 10 -1
   2: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:E5D2 01 00000000:00000000 00:00000000 00000000 65532        0 900003 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn reads_ipv4_sockets() {
        let sockets = parse(TCP);
        assert_eq!(sockets.len(), 5);
        assert_eq!(sockets[0].local, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(sockets[0].state, LISTEN);
        assert_eq!(sockets[1].local, "127.0.0.1:9463".parse().unwrap());
        assert_eq!(sockets[2].local, "10.88.2.5:8080".parse().unwrap());
        assert_eq!(sockets[2].remote, "10.88.2.1:49572".parse().unwrap());
        assert_eq!(sockets[2].state, ESTABLISHED);
        assert_eq!(sockets[2].inode, 812400);
        assert_eq!(sockets[3].state, TIME_WAIT);
        assert_eq!(sockets[3].inode, 0);
        assert_eq!(sockets[4].remote, "192.168.0.10:54321".parse().unwrap());
        assert_eq!(sockets[4].rx_queue, 0x4E);
        assert!(sockets.iter().all(|s| s.bytes_received.is_none()));
    }

    #[test]
    fn reads_ipv6_and_mapped_sockets() {
        let sockets = parse(TCP6);
        assert_eq!(sockets.len(), 3);
        assert_eq!(sockets[0].local, "[::]:8080".parse().unwrap());
        assert_eq!(sockets[1].local, "[::ffff:10.88.2.5]:8080".parse().unwrap());
        assert_eq!(
            sockets[1].remote,
            "[::ffff:10.88.2.1]:49584".parse().unwrap()
        );
        assert_eq!(sockets[2].remote, "[::1]:58834".parse().unwrap());
    }

    #[test]
    fn garbage_is_skipped() {
        assert!(parse("").is_empty());
        assert!(parse("   0: zz:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1").is_empty());
        assert!(parse("   0: 0100007F:1F90 00000000:0000 0A 00000000").is_empty());
        assert!(
            parse("   0: 01007F:1F90 00000000:0000 0A 00000000:00000000 00:0 0 0 0 1").is_empty()
        );
    }
}
