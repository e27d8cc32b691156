//! When a pod is quiet: a pure detector fed snapshots of the socket table and the time
//! they were taken (an injected clock), so every rule is tested on synthetic tables.
//!
//! Inbound activity, counted only on sockets whose local port is one the pod listens on
//! (other than the waiter's own) and whose peer is not loopback:
//! - a connection not seen in the previous snapshot, unless a probe of that port is due
//!   (the kubelet opens a new connection per probe, from the node's address, which
//!   NodePort and load-balancer traffic may share after SNAT, so the source proves
//!   nothing: the period does);
//! - bytes received on a known connection that is not a probe's (sock_diag's
//!   `bytes_received`; without it, unread bytes waiting in its receive queue).
//!
//! An idle kept-alive connection is no activity. Loopback is never inbound: a proxy in
//! the pod forwards over loopback, and what reaches it from outside shows on its own port.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use super::table::{LISTEN, Socket};

/// A probe the kubelet keeps sending: a new connection to `port` every `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub port: u16,
    pub period: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    probe: Probe,
    last: Option<Duration>,
}

#[derive(Debug, Clone, Copy)]
struct Connection {
    probe: bool,
    /// For a connection taken for a probe: its one request has arrived. The kubelet's
    /// prober sends one request per connection and closes it, so a second is traffic
    /// that happened to connect when a probe was due (an ingress opening an upstream
    /// connection): without this, every request it carried later would be invisible.
    probe_request_seen: bool,
    bytes: Option<u64>,
}

/// What one snapshot showed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observation {
    /// New inbound connections that no probe accounts for.
    pub new_connections: u32,
    /// New inbound connections taken for probes.
    pub probes: u32,
    /// Known connections that received bytes.
    pub busy_connections: u32,
}

impl Observation {
    pub fn active(&self) -> bool {
        self.new_connections > 0 || self.busy_connections > 0
    }
}

/// Totals since the detector started, for the waiter's log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub snapshots: u64,
    pub new_connections: u64,
    pub probes: u64,
    pub busy: u64,
}

#[derive(Debug)]
pub struct Detector {
    own_port: u16,
    count_requests: bool,
    slots: Vec<Slot>,
    known: HashMap<(SocketAddr, SocketAddr), Connection>,
    baseline_taken: bool,
    last_activity: Option<Duration>,
    totals: Totals,
}

impl Detector {
    /// `own_port`: the waiter's, whose connections are the hooks themselves.
    /// `count_requests`: bytes on known connections are traffic (else only new
    /// connections are).
    pub fn new(own_port: u16, probes: &[Probe], count_requests: bool) -> Self {
        Detector {
            own_port,
            count_requests,
            slots: probes
                .iter()
                .map(|&probe| Slot { probe, last: None })
                .collect(),
            known: HashMap::new(),
            baseline_taken: false,
            last_activity: None,
            totals: Totals::default(),
        }
    }

    /// When the last inbound activity was seen; `None`: none since the first snapshot.
    pub fn last_activity(&self) -> Option<Duration> {
        self.last_activity
    }

    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Counts activity as unexplained, e.g. when the table could not be read: the pod
    /// cannot be shown quiet, so it is not.
    pub fn assume_activity(&mut self, now: Duration) {
        self.last_activity = Some(now);
    }

    /// Takes the snapshot made at `now`. The first one is the baseline: what is open
    /// then is known, not new.
    pub fn observe(&mut self, now: Duration, sockets: &[Socket]) -> Observation {
        self.totals.snapshots += 1;
        let listening: HashSet<u16> = sockets
            .iter()
            .filter(|s| s.state == LISTEN && s.local.port() != self.own_port)
            .map(|s| s.local.port())
            .collect();
        let mut seen = HashMap::with_capacity(self.known.len());
        let mut observation = Observation::default();
        for socket in sockets {
            if socket.state == LISTEN
                || !listening.contains(&socket.local.port())
                || socket.remote.ip().to_canonical().is_loopback()
            {
                continue;
            }
            let key = (socket.local, socket.remote);
            let connection = match self.known.get(&key) {
                None if !self.baseline_taken => Connection {
                    probe: false,
                    probe_request_seen: false,
                    bytes: socket.bytes_received,
                },
                None => {
                    let probe = self.take_probe_slot(socket.local.port(), now);
                    if probe {
                        observation.probes += 1;
                    } else {
                        observation.new_connections += 1;
                    }
                    Connection {
                        probe,
                        probe_request_seen: socket.bytes_received.is_some_and(|b| b > 0),
                        bytes: socket.bytes_received,
                    }
                }
                Some(known) => {
                    // With byte counters: whether it received since the last snapshot.
                    let grew = match (known.bytes, socket.bytes_received) {
                        (Some(before), Some(now)) => Some(now > before),
                        _ => None,
                    };
                    // Without them, only data not yet read shows.
                    let received = grew.unwrap_or(socket.rx_queue > 0);
                    // A probe's connection that receives a second request is not a probe's.
                    let probe = known.probe && !(grew == Some(true) && known.probe_request_seen);
                    let busy = self.count_requests && !probe && received;
                    if busy {
                        observation.busy_connections += 1;
                    }
                    Connection {
                        probe,
                        probe_request_seen: known.probe_request_seen || grew == Some(true),
                        bytes: socket.bytes_received,
                    }
                }
            };
            seen.insert(key, connection);
        }
        // Connections gone from the table are forgotten: a peer that reuses the same
        // address and port later is a new connection.
        self.known = seen;
        self.baseline_taken = true;
        if observation.active() {
            self.last_activity = Some(now);
        }
        self.totals.new_connections += u64::from(observation.new_connections);
        self.totals.probes += u64::from(observation.probes);
        self.totals.busy += u64::from(observation.busy_connections);
        observation
    }

    /// A new connection to `port` is a probe's when a probe of that port is due: it has
    /// not been seen yet, or at least half its period has passed since it last was (the
    /// kubelet's timer is not exact). Traffic mistaken for a probe takes the slot the
    /// real probe then finds used, so it shows within a period anyway.
    fn take_probe_slot(&mut self, port: u16, now: Duration) -> bool {
        let due = self
            .slots
            .iter_mut()
            .filter(|slot| slot.probe.port == port)
            .filter(|slot| {
                slot.last
                    .is_none_or(|last| now.saturating_sub(last) >= slot.probe.period / 2)
            })
            .min_by_key(|slot| slot.last);
        match due {
            Some(slot) => {
                slot.last = Some(now);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::{ESTABLISHED, TIME_WAIT};
    use super::*;

    const POD: &str = "10.88.2.5";
    const NODE: &str = "10.88.2.1";

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn listen(port: u16) -> Socket {
        socket(&format!("0.0.0.0:{port}"), "0.0.0.0:0", LISTEN, None)
    }

    fn socket(local: &str, remote: &str, state: u8, bytes: Option<u64>) -> Socket {
        Socket {
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            state,
            rx_queue: 0,
            inode: 1,
            bytes_received: bytes,
        }
    }

    fn inbound(port: u16, peer: &str, peer_port: u16, bytes: Option<u64>) -> Socket {
        socket(
            &format!("{POD}:{port}"),
            &format!("{peer}:{peer_port}"),
            ESTABLISHED,
            bytes,
        )
    }

    #[test]
    fn what_is_open_at_the_first_snapshot_is_not_new() {
        let mut detector = Detector::new(9471, &[], true);
        let table = [listen(8080), inbound(8080, "10.1.0.7", 40000, None)];
        assert!(!detector.observe(ms(0), &table).active());
        assert!(!detector.observe(ms(100), &table).active());
        assert_eq!(detector.last_activity(), None);
    }

    #[test]
    fn a_new_connection_is_activity_and_so_is_its_time_wait() {
        let mut detector = Detector::new(9471, &[], true);
        detector.observe(ms(0), &[listen(8080)]);
        let seen = detector.observe(
            ms(100),
            &[listen(8080), inbound(8080, "10.1.0.7", 40001, None)],
        );
        assert_eq!(seen.new_connections, 1);
        // A short request that opened and closed between two snapshots leaves TIME_WAIT
        // (the server closed first) behind: still a new connection.
        let mut closed = inbound(8080, "10.1.0.7", 40002, None);
        closed.state = TIME_WAIT;
        let seen = detector.observe(ms(200), &[listen(8080), closed]);
        assert_eq!(seen.new_connections, 1);
        assert_eq!(detector.last_activity(), Some(ms(200)));
        // The same TIME_WAIT entry in the next snapshot is not new.
        assert!(!detector.observe(ms(300), &[listen(8080), closed]).active());
    }

    #[test]
    fn ports_the_pod_does_not_listen_on_and_the_waiters_own_do_not_count() {
        let mut detector = Detector::new(9471, &[], true);
        detector.observe(ms(0), &[listen(8080), listen(9471)]);
        let table = [
            listen(8080),
            listen(9471),
            // The hooks calling the waiter.
            inbound(9471, NODE, 50000, None),
            // The app's own outbound connection to a database.
            socket(&format!("{POD}:41000"), "10.1.2.3:5432", ESTABLISHED, None),
        ];
        assert!(!detector.observe(ms(100), &table).active());
    }

    #[test]
    fn loopback_is_not_inbound() {
        let mut detector = Detector::new(9471, &[], true);
        detector.observe(ms(0), &[listen(8080), listen(3000)]);
        let table = [
            listen(8080),
            listen(3000),
            // nginx in the pod forwarding to the app over loopback.
            socket("127.0.0.1:3000", "127.0.0.1:51000", ESTABLISHED, None),
            socket("[::1]:3000", "[::1]:51001", ESTABLISHED, None),
            socket(
                "[::ffff:127.0.0.1]:3000",
                "[::ffff:127.0.0.1]:51002",
                ESTABLISHED,
                None,
            ),
        ];
        assert!(!detector.observe(ms(100), &table).active());
    }

    #[test]
    fn probes_are_not_traffic_but_more_than_the_probes_is() {
        let probe = Probe {
            port: 8080,
            period: Duration::from_secs(1),
        };
        let mut detector = Detector::new(9471, &[probe], true);
        detector.observe(ms(0), &[listen(8080)]);
        // One new connection from the node each second: the readiness probe.
        for (i, at) in [100u64, 1100, 2100, 3050].iter().enumerate() {
            let port = 60000 + u16::try_from(i).unwrap();
            let seen = detector.observe(ms(*at), &[listen(8080), inbound(8080, NODE, port, None)]);
            assert_eq!(seen.probes, 1, "at {at}");
            assert!(!seen.active(), "at {at}");
        }
        // NodePort traffic SNATed to the node's address, between two probes: the slot
        // was used 100 ms ago, so this one is traffic.
        let seen = detector.observe(ms(3150), &[listen(8080), inbound(8080, NODE, 61000, None)]);
        assert_eq!(seen.new_connections, 1);
        assert_eq!(detector.last_activity(), Some(ms(3150)));
    }

    #[test]
    fn two_probes_on_one_port_have_two_slots() {
        let probes = [
            Probe {
                port: 8080,
                period: Duration::from_secs(10),
            },
            Probe {
                port: 8080,
                period: Duration::from_secs(10),
            },
        ];
        let mut detector = Detector::new(9471, &probes, true);
        detector.observe(ms(0), &[listen(8080)]);
        let table = [
            listen(8080),
            inbound(8080, NODE, 60000, None),
            inbound(8080, NODE, 60001, None),
        ];
        let seen = detector.observe(ms(100), &table);
        assert_eq!((seen.probes, seen.new_connections), (2, 0));
        let mut more = table.to_vec();
        more.push(inbound(8080, NODE, 60002, None));
        assert_eq!(detector.observe(ms(200), &more).new_connections, 1);
    }

    #[test]
    fn bytes_on_a_kept_alive_connection_are_activity_and_idle_ones_are_not() {
        let mut detector = Detector::new(9471, &[], true);
        let ingress = |bytes| inbound(8080, "10.1.0.9", 45000, Some(bytes));
        detector.observe(ms(0), &[listen(8080), ingress(5_000)]);
        // Open for minutes, nothing new: idle.
        assert!(
            !detector
                .observe(ms(100), &[listen(8080), ingress(5_000)])
                .active()
        );
        assert!(
            !detector
                .observe(ms(200), &[listen(8080), ingress(5_000)])
                .active()
        );
        // A request on it.
        let seen = detector.observe(ms(300), &[listen(8080), ingress(5_420)]);
        assert_eq!(seen.busy_connections, 1);
        assert_eq!(detector.last_activity(), Some(ms(300)));
    }

    /// `wait-on: connections`: requests on a connection the pod already holds (a client
    /// pinned through kube-proxy) do not hold it; a new connection still does.
    #[test]
    fn counting_connections_only_ignores_bytes_on_known_ones() {
        let mut detector = Detector::new(9471, &[], false);
        let pinned = |bytes| inbound(8080, "10.1.0.9", 45000, Some(bytes));
        detector.observe(ms(0), &[listen(8080), pinned(5_000)]);
        let seen = detector.observe(ms(100), &[listen(8080), pinned(9_000)]);
        assert!(!seen.active(), "{seen:?}");
        let seen = detector.observe(
            ms(200),
            &[
                listen(8080),
                pinned(12_000),
                inbound(8080, "10.1.0.10", 46000, Some(0)),
            ],
        );
        assert_eq!((seen.new_connections, seen.busy_connections), (1, 0));
    }

    #[test]
    fn a_probes_own_bytes_are_not_traffic() {
        let probe = Probe {
            port: 8080,
            period: Duration::from_secs(10),
        };
        let mut detector = Detector::new(9471, &[probe], true);
        detector.observe(ms(0), &[listen(8080)]);
        let conn = |bytes| inbound(8080, NODE, 60000, Some(bytes));
        assert!(!detector.observe(ms(100), &[listen(8080), conn(0)]).active());
        assert!(
            !detector
                .observe(ms(200), &[listen(8080), conn(120)])
                .active()
        );
        // A second request on it: the kubelet never sends one, so this connection was
        // traffic that connected while a probe was due, and it counts from now on.
        let seen = detector.observe(ms(300), &[listen(8080), conn(240)]);
        assert_eq!(seen.busy_connections, 1, "{seen:?}");
        let seen = detector.observe(ms(400), &[listen(8080), conn(360)]);
        assert_eq!(seen.busy_connections, 1, "{seen:?}");
    }

    /// An ingress's new upstream connection taken for a probe when it opened, already
    /// carrying its first request: the next request shows it is not a probe.
    #[test]
    fn traffic_mistaken_for_a_probe_shows_at_its_next_request() {
        let probe = Probe {
            port: 8080,
            period: Duration::from_secs(1),
        };
        let mut detector = Detector::new(9471, &[probe], true);
        detector.observe(ms(0), &[listen(8080)]);
        let upstream = |bytes| inbound(8080, "10.244.0.40", 41000, Some(bytes));
        let seen = detector.observe(ms(250), &[listen(8080), upstream(300)]);
        assert_eq!((seen.probes, seen.new_connections), (1, 0));
        let seen = detector.observe(ms(500), &[listen(8080), upstream(600)]);
        assert_eq!(seen.busy_connections, 1, "{seen:?}");
    }

    #[test]
    fn without_byte_counters_unread_data_is_activity() {
        let mut detector = Detector::new(9471, &[], true);
        let mut conn = inbound(8080, "10.1.0.9", 45000, None);
        detector.observe(ms(0), &[listen(8080), conn]);
        conn.rx_queue = 78;
        assert_eq!(
            detector
                .observe(ms(100), &[listen(8080), conn])
                .busy_connections,
            1
        );
    }

    #[test]
    fn an_unreadable_table_is_not_quiet() {
        let mut detector = Detector::new(9471, &[], true);
        detector.assume_activity(ms(700));
        assert_eq!(detector.last_activity(), Some(ms(700)));
    }
}
