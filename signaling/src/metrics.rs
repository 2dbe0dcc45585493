//! Prometheus metrics. Media counters live as atomics in the `sfu` crate and are read at scrape
//! time; signaling's own are ordinary collectors. No label carries a user or room id.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use sfu::SfuStats;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub ws_connections: IntGauge,
    pub ws_connections_total: IntCounter,
    pub ws_messages_total: IntCounterVec,
    pub ws_errors_total: IntCounterVec,
    /// Webhook deliveries by outcome (`delivered`, `failed` after retries, `dropped`).
    pub webhooks_total: IntCounterVec,
    /// Open HTTP connections (WebSockets included), and those refused at a cap.
    pub http_connections: IntGauge,
    pub http_connections_refused_total: IntCounter,
    /// Requests refused by a rate limit or cap, by door (`whip`, `whep`).
    pub refused_total: IntCounterVec,
    /// Chat devices cut off because they fell a queue behind (they resync).
    pub chat_device_cutoffs_total: IntCounter,
    /// Sessions whose socket was lost in a room, by outcome: `parked` (kept for a resume),
    /// `resumed` (continued on a new socket), `expired` (the window passed: left the room).
    pub session_resumes_total: IntCounterVec,
    /// Chat events and cache invalidations meant for other nodes that never reached NATS (a
    /// full queue, NATS down); devices there repair with `chat_sync`.
    pub cluster_publish_failures_total: IntCounter,
    /// Nodes alive as this one hears them (itself included; 1 on a single node).
    pub cluster_nodes: prometheus::IntGauge,
    /// Rooms open on each node of the cluster, by `--node-id` (a handful of values).
    pub cluster_node_rooms: prometheus::IntGaugeVec,
    /// Requests to another node's room that failed (NATS down, the node gone or too slow).
    pub cluster_relay_failures_total: IntCounter,
    /// Sessions this node holds for sockets on other nodes (their rooms are here).
    pub cluster_relayed_sessions: prometheus::IntGauge,
}

impl Metrics {
    pub fn new(sfu_stats: Arc<SfuStats>) -> Self {
        let registry = Registry::new();
        let ws_connections = IntGauge::new("parley_ws_connections", "Open signaling WebSockets")
            .expect("valid metric");
        let ws_connections_total = IntCounter::new(
            "parley_ws_connections_total",
            "Signaling WebSockets accepted",
        )
        .expect("valid metric");
        let ws_messages_total = IntCounterVec::new(
            Opts::new(
                "parley_ws_messages_total",
                "Signaling messages by direction",
            ),
            &["direction"],
        )
        .expect("valid metric");
        let ws_errors_total = IntCounterVec::new(
            Opts::new(
                "parley_ws_errors_total",
                "Error replies sent, by protocol error code",
            ),
            &["code"],
        )
        .expect("valid metric");
        let webhooks_total = IntCounterVec::new(
            Opts::new(
                "parley_webhooks_total",
                "Webhook events by outcome: delivered, failed after retries, or dropped",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let http_connections = IntGauge::new(
            "parley_http_connections",
            "Open HTTP connections (WebSockets included)",
        )
        .expect("valid metric");
        let http_connections_refused_total = IntCounter::new(
            "parley_http_connections_refused_total",
            "TCP connections closed at accept: the overall or per-IP connection cap was reached",
        )
        .expect("valid metric");
        let refused_total = IntCounterVec::new(
            Opts::new(
                "parley_refused_total",
                "Requests refused by a rate limit or a cap, by door",
            ),
            &["door"],
        )
        .expect("valid metric");
        let chat_device_cutoffs_total = IntCounter::new(
            "parley_chat_device_cutoffs_total",
            "Chat connections cut off with resync_required: their queue of events (count or bytes) was full",
        )
        .expect("valid metric");
        let cluster_publish_failures_total = IntCounter::new(
            "parley_cluster_publish_failures_total",
            "Chat events and cache invalidations for other nodes lost before reaching NATS (full queue, NATS down)",
        )
        .expect("valid metric");
        let cluster_nodes = prometheus::IntGauge::new(
            "parley_cluster_nodes",
            "Parley nodes alive as this one hears their heartbeats, itself included",
        )
        .expect("valid metric");
        cluster_nodes.set(1);
        let cluster_node_rooms = prometheus::IntGaugeVec::new(
            Opts::new(
                "parley_cluster_node_rooms",
                "Rooms open on each node of the cluster, as its heartbeats say",
            ),
            &["node"],
        )
        .expect("valid metric");
        let cluster_relay_failures_total = IntCounter::new(
            "parley_cluster_relay_failures_total",
            "Signaling requests relayed to a room's node that failed (NATS down, the node gone or not answering in time)",
        )
        .expect("valid metric");
        let cluster_relayed_sessions = prometheus::IntGauge::new(
            "parley_cluster_relayed_sessions",
            "Sessions held here for clients whose socket is on another node (the room is on this one)",
        )
        .expect("valid metric");
        let session_resumes_total = IntCounterVec::new(
            Opts::new(
                "parley_session_resumes_total",
                "Sessions whose socket was lost in a room: parked for a resume, resumed on a new socket, or expired",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        for outcome in ["parked", "resumed", "expired"] {
            session_resumes_total.with_label_values(&[outcome]);
        }
        for door in ["whip", "whep"] {
            refused_total.with_label_values(&[door]);
        }
        // Every outcome is exported from the start, at zero, so alerts can rely on the series.
        for outcome in ["delivered", "failed", "dropped"] {
            webhooks_total.with_label_values(&[outcome]);
        }
        for collector in [
            Box::new(webhooks_total.clone()) as Box<dyn Collector>,
            Box::new(ws_connections.clone()),
            Box::new(http_connections.clone()),
            Box::new(http_connections_refused_total.clone()),
            Box::new(refused_total.clone()),
            Box::new(chat_device_cutoffs_total.clone()),
            Box::new(session_resumes_total.clone()),
            Box::new(cluster_publish_failures_total.clone()),
            Box::new(cluster_nodes.clone()),
            Box::new(cluster_node_rooms.clone()),
            Box::new(cluster_relay_failures_total.clone()),
            Box::new(cluster_relayed_sessions.clone()),
            Box::new(ws_connections_total.clone()),
            Box::new(ws_messages_total.clone()),
            Box::new(ws_errors_total.clone()),
            Box::new(sfu_stats.downlink_estimate_bps.clone()),
            Box::new(sfu_stats.keyframe_wait_seconds.clone()),
            Box::new(sfu_stats.forward_delay_seconds.clone()),
            Box::new(MediaCollector::new(sfu_stats)),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Self {
            registry,
            ws_connections,
            ws_connections_total,
            ws_messages_total,
            ws_errors_total,
            webhooks_total,
            http_connections,
            chat_device_cutoffs_total,
            session_resumes_total,
            cluster_publish_failures_total,
            cluster_nodes,
            cluster_node_rooms,
            cluster_relay_failures_total,
            cluster_relayed_sessions,
            http_connections_refused_total,
            refused_total,
        }
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let encoder = TextEncoder::new();
        if encoder.encode(&self.registry.gather(), &mut out).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

type StatField = fn(&SfuStats) -> &AtomicU64;

/// Media plane gauges and counters, read from `SfuStats` on each scrape.
struct MediaCollector {
    stats: Arc<SfuStats>,
    gauges: Vec<(IntGauge, StatField)>,
    counters: Vec<(IntCounter, StatField)>,
    workers: WorkerMetrics,
    /// Connected peer connections by the way their media travels (`udp`, `tcp`, `relay`).
    transports: IntGaugeVec,
    /// ICE-TCP connections the node closed, by reason (`sfu::TcpRefusal`).
    tcp_closed: IntCounterVec,
    descs: Vec<Desc>,
}

/// Per media worker, labelled by its index (as many values as the node has workers).
struct WorkerMetrics {
    participants: IntGaugeVec,
    received: IntCounterVec,
    sent: IntCounterVec,
}

impl WorkerMetrics {
    fn new() -> Self {
        let opts = Opts::new;
        Self {
            participants: IntGaugeVec::new(
                opts(
                    "parley_media_worker_participants",
                    "Participants in the rooms of each media worker",
                ),
                &["worker"],
            )
            .expect("valid metric"),
            received: IntCounterVec::new(
                opts(
                    "parley_media_worker_received_datagrams_total",
                    "Datagrams handed to each media worker",
                ),
                &["worker"],
            )
            .expect("valid metric"),
            sent: IntCounterVec::new(
                opts(
                    "parley_media_worker_sent_datagrams_total",
                    "Datagrams each media worker sent",
                ),
                &["worker"],
            )
            .expect("valid metric"),
        }
    }

    fn descs(&self) -> Vec<Desc> {
        [
            self.participants.desc(),
            self.received.desc(),
            self.sent.desc(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }

    fn collect(&self, stats: &SfuStats) -> Vec<MetricFamily> {
        for (index, worker) in stats.workers.iter().enumerate() {
            let label = index.to_string();
            self.participants
                .with_label_values(&[&label])
                .set(SfuStats::get(&worker.participants) as i64);
            catch_up(
                &self.received.with_label_values(&[&label]),
                SfuStats::get(&worker.received_datagrams),
            );
            catch_up(
                &self.sent.with_label_values(&[&label]),
                SfuStats::get(&worker.sent_datagrams),
            );
        }
        [
            self.participants.collect(),
            self.received.collect(),
            self.sent.collect(),
        ]
        .concat()
    }
}

/// Moves a Prometheus counter up to an atomic counter's value.
fn catch_up(counter: &IntCounter, target: u64) {
    let current = counter.get();
    if target > current {
        counter.inc_by(target - current);
    }
}

impl MediaCollector {
    fn new(stats: Arc<SfuStats>) -> Self {
        let gauge = |name: &str, help: &str, field: StatField| {
            (IntGauge::new(name, help).expect("valid metric"), field)
        };
        let counter = |name: &str, help: &str, field: StatField| {
            (IntCounter::new(name, help).expect("valid metric"), field)
        };
        let gauges = vec![
            gauge("parley_rooms", "Rooms with at least one participant", |s| {
                &s.rooms
            }),
            gauge("parley_participants", "Participants in rooms", |s| {
                &s.participants
            }),
            gauge("parley_published_tracks", "Tracks being published", |s| {
                &s.published_tracks
            }),
            gauge(
                "parley_peer_connections",
                "Open media peer connections",
                |s| &s.peer_connections,
            ),
            gauge(
                "parley_tcp_connections",
                "Open connections on the ICE-TCP port",
                |s| &s.tcp.connections,
            ),
        ];
        let counters = vec![
            counter(
                "parley_forwarded_packets_total",
                "RTP packets forwarded to subscribers",
                |s| &s.forwarded_packets,
            ),
            counter(
                "parley_forwarded_bytes_total",
                "RTP bytes forwarded to subscribers (before SRTP)",
                |s| &s.forwarded_bytes,
            ),
            counter(
                "parley_received_packets_total",
                "RTP packets received from publishers",
                |s| &s.received_packets,
            ),
            counter(
                "parley_relayed_packets_total",
                "RTP packets of a room spread over media workers, fanned out on a worker other than their publisher's",
                |s| &s.relayed_packets,
            ),
            counter(
                "parley_relay_drops_total",
                "Packets of a room spread over media workers lost between workers (a full worker queue)",
                |s| &s.relay_drops,
            ),
            counter(
                "parley_received_bytes_total",
                "UDP bytes received on the media port",
                |s| &s.received_bytes,
            ),
            counter(
                "parley_keyframe_requests_total",
                "PLIs sent to publishers",
                |s| &s.keyframe_requests,
            ),
            counter(
                "parley_unroutable_datagrams_total",
                "Datagrams matching no peer connection",
                |s| &s.unroutable_datagrams,
            ),
            counter(
                "parley_blocked_sends_total",
                "Datagrams not sent: destination outside the allow-list",
                |s| &s.blocked_sends,
            ),
            counter(
                "parley_layer_switches_total",
                "Subscribers moved between simulcast layers",
                |s| &s.layer_switches,
            ),
            counter(
                "parley_congestion_events_total",
                "Subscriber downlinks that showed congestion and were re-allocated at once",
                |s| &s.congestion_events,
            ),
            counter(
                "parley_connect_timeouts_total",
                "Participants removed because a peer connection never connected in time",
                |s| &s.connect_timeouts,
            ),
            counter(
                "parley_event_cutoffs_total",
                "Participants removed because their session stopped reading media events",
                |s| &s.event_cutoffs,
            ),
            counter(
                "parley_dynacast_changes_total",
                "Publisher simulcast layer sets changed (paused/resumed)",
                |s| &s.dynacast_changes,
            ),
            counter(
                "parley_media_worker_queue_drops_total",
                "Datagrams dropped because their media worker's queue was full",
                |s| &s.worker_queue_drops,
            ),
            counter(
                "parley_tcp_send_drops_total",
                "Packets for ICE-TCP connections lost: connection gone or its send queue full",
                |s| &s.tcp.send_drops,
            ),
        ];
        let workers = WorkerMetrics::new();
        let transports = IntGaugeVec::new(
            Opts::new(
                "parley_peer_connections_by_transport",
                "Connected peer connections by how their media travels: udp (direct), tcp (ICE-TCP) or relay (TURN)",
            ),
            &["transport"],
        )
        .expect("valid metric");
        let tcp_closed = IntCounterVec::new(
            Opts::new(
                "parley_tcp_connections_closed_total",
                "ICE-TCP connections the node closed, by reason: limit, not_allowed, not_stun, oversized, timeout, closed",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let descs = gauges
            .iter()
            .flat_map(|(g, _)| g.desc().into_iter().cloned())
            .chain(
                counters
                    .iter()
                    .flat_map(|(c, _)| c.desc().into_iter().cloned()),
            )
            .chain(workers.descs())
            .chain(transports.desc().into_iter().cloned())
            .chain(tcp_closed.desc().into_iter().cloned())
            .collect();
        Self {
            stats,
            gauges,
            counters,
            workers,
            transports,
            tcp_closed,
            descs,
        }
    }
}

impl Collector for MediaCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut families = Vec::new();
        for (gauge, field) in &self.gauges {
            gauge.set(SfuStats::get(field(&self.stats)) as i64);
            families.extend(gauge.collect());
        }
        for (counter, field) in &self.counters {
            catch_up(counter, SfuStats::get(field(&self.stats)));
            families.extend(counter.collect());
        }
        families.extend(self.workers.collect(&self.stats));
        for (transport, field) in [
            ("udp", &self.stats.peer_connections_udp),
            ("tcp", &self.stats.peer_connections_tcp),
            ("relay", &self.stats.peer_connections_relay),
        ] {
            self.transports
                .with_label_values(&[transport])
                .set(SfuStats::get(field) as i64);
        }
        families.extend(self.transports.collect());
        for reason in sfu::TcpRefusal::ALL {
            catch_up(
                &self.tcp_closed.with_label_values(&[reason.as_str()]),
                self.stats.tcp.refused(reason),
            );
        }
        families.extend(self.tcp_closed.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn media_counters_follow_the_sfu_atomics() {
        let stats = Arc::new(SfuStats::default());
        let metrics = Metrics::new(stats.clone());
        stats.forwarded_packets.store(42, Ordering::Relaxed);
        stats.rooms.store(3, Ordering::Relaxed);
        metrics
            .ws_errors_total
            .with_label_values(&["bad_json"])
            .inc();
        let text = metrics.render();
        assert!(text.contains("parley_forwarded_packets_total 42"), "{text}");
        assert!(text.contains("parley_rooms 3"), "{text}");
        assert!(
            text.contains("parley_ws_errors_total{code=\"bad_json\"} 1"),
            "{text}"
        );
        stats.forwarded_packets.store(50, Ordering::Relaxed);
        assert!(metrics
            .render()
            .contains("parley_forwarded_packets_total 50"));
    }

    #[test]
    fn each_media_worker_has_its_own_series() {
        let stats = Arc::new(SfuStats::new(2));
        let metrics = Metrics::new(stats.clone());
        stats.workers[1].participants.store(3, Ordering::Relaxed);
        stats.workers[1].sent_datagrams.store(70, Ordering::Relaxed);
        stats.workers[0]
            .received_datagrams
            .store(5, Ordering::Relaxed);
        let text = metrics.render();
        for line in [
            "parley_media_worker_participants{worker=\"0\"} 0",
            "parley_media_worker_participants{worker=\"1\"} 3",
            "parley_media_worker_sent_datagrams_total{worker=\"1\"} 70",
            "parley_media_worker_received_datagrams_total{worker=\"0\"} 5",
        ] {
            assert!(text.contains(line), "{line} missing from {text}");
        }
    }
}
