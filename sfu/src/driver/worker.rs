//! One media worker: a thread with a single-threaded tokio runtime that owns one [`SfuCore`]
//! (the rooms placed on it). It applies jobs (requests), batches of datagrams from the receive
//! loops and its own timeouts, then sends what its core produced from its own descriptor of
//! each shared socket, up to [`SEND_BATCH`] datagrams per system call, and hands out events.
//! It touches nothing of another worker's: the node's shared tables (`crate::node`) are
//! written by its core under short locks, and placement is told who left.

use super::tcp::TcpPaths;
use super::{lock, EventSender, Socket};
use crate::core::input::{Datagram, Input, OpenShard, Relay, Remove, Timeout};
use crate::core::relay::Relayed;
use crate::core::{SfuCore, Transmit};
use crate::flow::Transport;
use crate::ids::ParticipantSid;
use crate::node::{Placement, WorkerIndex};
use crate::stats::SfuStats;
use crate::udp::{self, SEND_BATCH};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// One request for a worker: runs on it with the core at hand and the time it runs.
pub(super) type Job = Box<dyn FnOnce(&mut MediaTask, Instant) + Send>;

/// The worker's clock: tokio's, which is the system's except on a paused runtime (tests of the
/// in-memory media plane, whose timers then run on virtual time).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A datagram as a receive loop read it, with when.
pub(super) struct Received {
    pub at: Instant,
    pub datagram: Datagram,
}

pub(super) struct Setup<'a> {
    pub index: WorkerIndex,
    pub core: SfuCore,
    pub sockets: &'a [Socket],
    pub tcp: Arc<TcpPaths>,
    pub allowlist: Vec<crate::config::IpNet>,
    pub placement: Arc<Mutex<Placement>>,
    pub stats: Arc<SfuStats>,
    pub relays: Relays,
    pub jobs: mpsc::Receiver<Job>,
    pub datagrams: mpsc::Receiver<Vec<Received>>,
}

/// Every worker's job queue, for the messages a worker's shards of spread rooms send the
/// others (`core/relay.rs`); connected once every worker is started.
#[derive(Clone)]
pub(super) struct Relays {
    queues: Arc<OnceLock<Arc<[mpsc::Sender<Job>]>>>,
    workers: usize,
}

impl Relays {
    pub(super) fn new(workers: usize) -> Self {
        Self {
            queues: Arc::default(),
            workers,
        }
    }

    pub(super) fn connect(&self, queues: Arc<[mpsc::Sender<Job>]>) {
        let _ = self.queues.set(queues);
    }
}

/// At most this many messages other than media wait for a full worker queue (then the oldest
/// are lost, logged): only a worker stalled for long gets near it.
const HELD_RELAYS: usize = 65_536;

/// What one worker has for the others, per worker.
struct Outbox {
    relays: Relays,
    /// Messages gathered from the core, per destination worker.
    pending: Vec<Vec<Relayed>>,
}

/// Starts worker `setup.index` on its own thread (named `media-<index>`, so per-thread CPU in
/// `/proc/<pid>/task` shows each worker).
pub(super) fn start(setup: Setup<'_>) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Each worker sends through its own descriptor of the shared socket, registered with its
    // own runtime's reactor.
    let sockets = {
        let _entered = runtime.enter();
        setup
            .sockets
            .iter()
            .map(|s| {
                Ok(WorkerSocket {
                    socket: UdpSocket::from_std(s.socket.try_clone()?)?,
                    advertised: s.advertised,
                })
            })
            .collect::<io::Result<Vec<_>>>()?
    };
    let task = MediaTask {
        index: setup.index,
        core: setup.core,
        sockets,
        tcp: setup.tcp,
        allowlist: setup.allowlist,
        subscribers: HashMap::new(),
        placement: setup.placement,
        stats: setup.stats,
        stopping: false,
        outgoing: Vec::with_capacity(SEND_BATCH),
        outbox: Outbox::new(setup.relays),
    };
    let (jobs, datagrams) = (setup.jobs, setup.datagrams);
    std::thread::Builder::new()
        .name(format!("media-{}", setup.index))
        .spawn(move || runtime.block_on(task.run(jobs, datagrams)))?;
    Ok(())
}

/// A worker without sockets on the caller's runtime (`super::spawn_in_memory`).
pub(super) struct InMemory {
    pub index: WorkerIndex,
    pub core: SfuCore,
    pub placement: Arc<Mutex<Placement>>,
    pub stats: Arc<SfuStats>,
    pub relays: Relays,
    pub jobs: mpsc::Receiver<Job>,
}

/// Starts an in-memory worker: what its connections would send is dropped, nothing arrives.
pub(super) fn start_in_memory(setup: InMemory) {
    let task = MediaTask {
        index: setup.index,
        core: setup.core,
        sockets: Vec::new(),
        tcp: Arc::default(),
        allowlist: Vec::new(),
        subscribers: HashMap::new(),
        placement: setup.placement,
        stats: setup.stats,
        stopping: false,
        outgoing: Vec::new(),
        outbox: Outbox::new(setup.relays),
    };
    let (no_datagrams, datagrams) = mpsc::channel(1);
    let jobs = setup.jobs;
    tokio::spawn(async move {
        let _open = no_datagrams; // the loop ends when its datagram channel closes
        task.run(jobs, datagrams).await;
    });
}

struct WorkerSocket {
    socket: UdpSocket,
    advertised: SocketAddr,
}

pub(super) struct MediaTask {
    index: WorkerIndex,
    pub(super) core: SfuCore,
    sockets: Vec<WorkerSocket>,
    /// The node's ICE-TCP connections, for what goes over TCP.
    tcp: Arc<TcpPaths>,
    allowlist: Vec<crate::config::IpNet>,
    pub(super) subscribers: HashMap<ParticipantSid, EventSender>,
    placement: Arc<Mutex<Placement>>,
    stats: Arc<SfuStats>,
    /// Set by `SfuHandle::shutdown`: stop once what it sent is out.
    pub(super) stopping: bool,
    /// Datagrams being sent, with the index of their socket (kept for its allocation).
    outgoing: Vec<(usize, Transmit)>,
    /// Messages for the other workers' shards of spread rooms.
    outbox: Outbox,
}

impl MediaTask {
    async fn run(
        mut self,
        mut jobs: mpsc::Receiver<Job>,
        mut datagrams: mpsc::Receiver<Vec<Received>>,
    ) {
        loop {
            let deadline = self
                .core
                .poll_timeout()
                .unwrap_or_else(|| now() + Duration::from_secs(3600));
            tokio::select! {
                job = jobs.recv() => {
                    let Some(job) = job else { break };
                    job(&mut self, now());
                }
                batch = datagrams.recv() => {
                    let Some(batch) = batch else { break };
                    // Each datagram's sends leave before the next is applied: a packet fanned
                    // out to hundreds never waits for the rest of its batch to be processed.
                    for Received { at, datagram } in batch {
                        self.apply(at, datagram);
                        self.flush_timed(Some(at)).await;
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    self.apply(now(), Timeout);
                }
            }
            self.flush_timed(None).await;
            if self.stopping {
                break;
            }
        }
        tracing::info!(worker = self.index, "media worker stopped");
    }

    /// Sends what the input caused and hands out events, then closes departed participants'
    /// queues. After a datagram (`received`: when it was read), records how long it took from
    /// the socket to the last send it caused, if it caused any.
    async fn flush_timed(&mut self, received: Option<Instant>) {
        let sent = self.flush().await;
        if let Some(received) = received.filter(|_| sent > 0) {
            let delay = now().saturating_duration_since(received);
            self.stats
                .forward_delay_seconds
                .observe(delay.as_secs_f64());
        }
        self.drop_departed();
    }

    /// An input of the worker's own (datagrams, the clock): those never fail.
    fn apply<I: Input<Output = ()>>(&mut self, now: Instant, input: I) {
        if let Err(err) = self.core.handle(now, input) {
            tracing::debug!(%err, "media input failed");
        }
    }

    /// Closes the event queues of participants the core no longer has (they left, were
    /// removed or timed out), after their last events went out, and frees their places.
    fn drop_departed(&mut self) {
        let mut placement = None;
        while let Some(sid) = self.core.poll_departure() {
            self.subscribers.remove(&sid);
            placement
                .get_or_insert_with(|| lock(&self.placement))
                .leave(&sid);
        }
    }

    /// Sends what the core has to send, up to [`SEND_BATCH`] datagrams per system call, then
    /// hands out its events; returns how many datagrams went out. A full socket buffer is
    /// waited out, as one `send_to` would.
    async fn flush(&mut self) -> usize {
        let mut batch = std::mem::take(&mut self.outgoing);
        let mut sent = 0;
        loop {
            batch.clear();
            let mut framed = 0;
            while batch.len() < SEND_BATCH {
                let Some(transmit) = self.core.poll_transmit() else {
                    break;
                };
                if transmit.flow.transport == Transport::Tcp {
                    self.tcp.send(&transmit.flow, transmit.payload, &self.stats);
                    framed += 1;
                } else if let Some(socket) = self.socket_for(&transmit) {
                    batch.push((socket, transmit));
                }
            }
            if batch.is_empty() && framed == 0 {
                break;
            }
            sent += batch.len() + framed;
            if let Some(worker) = self.stats.workers.get(self.index) {
                SfuStats::add(&worker.sent_datagrams, (batch.len() + framed) as u64);
            }
            // Consecutive datagrams leaving by the same socket go together (usually all).
            let mut start = 0;
            while start < batch.len() {
                let socket = batch[start].0;
                let run = batch[start..]
                    .iter()
                    .take_while(|(s, _)| *s == socket)
                    .count();
                send_run(&self.sockets[socket].socket, &batch[start..start + run]).await;
                start += run;
            }
        }
        self.outgoing = batch;
        self.deliver_events();
        self.send_relays();
        sent
    }

    /// The room opens here while other workers hold it (placement spread it): the core
    /// introduces itself to them before the join that opens it.
    pub(super) fn open_shard(&mut self, now: Instant, room: String, others: Vec<WorkerIndex>) {
        if !others.is_empty() {
            self.apply(now, OpenShard { room, others });
        }
    }

    /// Hands each other worker what the core has for it, one job per worker, in order. On a
    /// full queue media is lost (counted; repairs and keyframes recover it, as on a network)
    /// and the rest waits for the next flush.
    fn send_relays(&mut self) {
        let outbox = &mut self.outbox;
        while let Some((to, message)) = self.core.poll_relay() {
            if let Some(pending) = outbox.pending.get_mut(to) {
                pending.push(message);
            }
        }
        let Some(queues) = outbox.relays.queues.get() else {
            return;
        };
        for (to, pending) in outbox.pending.iter_mut().enumerate() {
            if pending.is_empty() {
                continue;
            }
            let Some(queue) = queues.get(to) else {
                pending.clear();
                continue;
            };
            match queue.try_reserve() {
                Ok(permit) => {
                    let messages = std::mem::take(pending);
                    let from = self.index;
                    permit.send(Box::new(move |task: &mut MediaTask, now| {
                        task.apply(now, Relay { from, messages });
                    }));
                }
                Err(mpsc::error::TrySendError::Full(())) => {
                    let before = pending.len();
                    pending.retain(|m| !m.is_media());
                    SfuStats::add(&self.stats.relay_drops, (before - pending.len()) as u64);
                    if pending.len() > HELD_RELAYS {
                        let excess = pending.len() - HELD_RELAYS;
                        tracing::error!(
                            worker = to,
                            lost = excess,
                            "a media worker stopped taking room updates: some are lost"
                        );
                        pending.drain(..excess);
                    }
                }
                Err(mpsc::error::TrySendError::Closed(())) => pending.clear(),
            }
        }
    }

    /// The socket a transmit leaves by (the one its connection uses), unless the peer is
    /// outside the allowlist.
    fn socket_for(&self, transmit: &Transmit) -> Option<usize> {
        if !self.allowlist.is_empty()
            && !self
                .allowlist
                .iter()
                .any(|n| n.contains(transmit.flow.peer.ip()))
        {
            SfuStats::add(&self.stats.blocked_sends, 1);
            return None;
        }
        let found = self
            .sockets
            .iter()
            .position(|s| s.advertised == transmit.flow.local);
        found.or((!self.sockets.is_empty()).then_some(0))
    }

    /// Hands each event to its participant's session. A session whose queue is full stopped
    /// reading: it is cut off (its queue closes) and its participant removed, which frees what
    /// it held and tells the others.
    fn deliver_events(&mut self) {
        loop {
            let mut cut_off = Vec::new();
            while let Some((sid, event)) = self.core.poll_event() {
                let Some(tx) = self.subscribers.get(&sid) else {
                    continue;
                };
                // A closed receiver means the session is going away; its leave follows.
                if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(event) {
                    cut_off.push(sid);
                }
            }
            if cut_off.is_empty() {
                return;
            }
            for sid in cut_off {
                if self.subscribers.remove(&sid).is_some() {
                    tracing::warn!(participant = %sid, "session stopped reading its events: cut off");
                    SfuStats::add(&self.stats.event_cutoffs, 1);
                    let removal = Remove {
                        sid,
                        reason: "too_slow".to_owned(),
                    };
                    self.apply(now(), removal);
                }
            }
        }
    }
}

/// Sends datagrams that leave by one socket, batched; waits out a full socket buffer.
async fn send_run(socket: &UdpSocket, run: &[(usize, Transmit)]) {
    let datagrams: Vec<(SocketAddr, &[u8])> = run
        .iter()
        .map(|(_, t)| (t.flow.peer, &t.payload[..]))
        .collect();
    let mut sent = 0;
    while sent < datagrams.len() {
        let rest = &datagrams[sent..];
        match socket.try_io(Interest::WRITABLE, || udp::send_many(socket, rest)) {
            Ok(n) => sent += n.max(1),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                if let Err(err) = socket.writable().await {
                    tracing::debug!(%err, "udp socket failed");
                    return;
                }
            }
            Err(err) => {
                // The kernel refused the first of the rest (unreachable, too big): skip it.
                tracing::debug!(%err, peer = %rest[0].0, "udp send failed");
                sent += 1;
            }
        }
    }
}

impl Outbox {
    fn new(relays: Relays) -> Self {
        Self {
            pending: vec![Vec::new(); relays.workers],
            relays,
        }
    }
}
