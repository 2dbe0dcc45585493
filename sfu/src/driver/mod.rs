//! The only part of the media plane that touches sockets and the clock. One task owns the
//! [`SfuCore`]; one receive task per UDP socket hands it batches of datagrams (drained with
//! non-blocking reads after each wake-up, so a burst costs one channel send). Signaling sends
//! it inputs (`sfu::input::*`) with [`SfuHandle::request`]: each travels as a boxed job over one
//! bounded channel, is applied through `SfuCore::handle` and answered on a oneshot, so a new
//! request needs nothing here. Signaling receives [`SfuEvent`]s on a bounded channel per
//! participant, registered by [`SfuHandle::join_with_events`] and closed once the core no
//! longer has that participant.

use crate::config::SfuConfig;
use crate::core::input::{CloseAll, Datagram, Input, Joining, Remove, Timeout};
use crate::core::{CoreConfig, SfuCore, SfuEvent, Transmit};
use crate::error::SfuError;
use crate::ids::ParticipantSid;
use crate::stats::SfuStats;
use crate::udp::{self, SEND_BATCH};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// Media events queued for one participant's session before it counts as not reading and is
/// cut off (a browser that freezes, a client that stopped reading its socket).
pub const EVENT_QUEUE: usize = 1024;

/// Where a participant's media events go; make one with [`event_channel`].
pub type EventSender = mpsc::Sender<SfuEvent>;
pub type EventReceiver = mpsc::Receiver<SfuEvent>;

/// A participant's bounded event queue ([`EVENT_QUEUE`]).
pub fn event_channel() -> (EventSender, EventReceiver) {
    mpsc::channel(EVENT_QUEUE)
}

/// Datagrams read per wake-up before handing the batch to the core.
const RECV_BATCH: usize = 64;

/// One request for the media task: runs on it with the core at hand and the time it runs.
type Job = Box<dyn FnOnce(&mut MediaTask, Instant) + Send>;

/// A datagram as the receive loop read it, with when.
struct Received {
    at: Instant,
    datagram: Datagram,
}

/// Cheap to clone; every signaling session holds one.
#[derive(Clone)]
pub struct SfuHandle {
    jobs: mpsc::Sender<Job>,
    stats: Arc<SfuStats>,
    local_addrs: Arc<Vec<SocketAddr>>,
}

impl SfuHandle {
    pub fn stats(&self) -> &Arc<SfuStats> {
        &self.stats
    }

    /// The advertised media addresses (one per public IP, all on the shared port).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Applies one input (`sfu::input::*`) on the media task and returns what it yields;
    /// [`SfuError::Stopped`] for every request once the media task is gone.
    pub async fn request<I>(&self, input: I) -> Result<I::Output, SfuError>
    where
        I: Input + Send + 'static,
        I::Output: Send + 'static,
    {
        self.run(move |task, now| task.core.handle(now, input))
            .await
    }

    /// A join (`Join`, `JoinViewer`): events for this participant arrive on `events` until it
    /// leaves or is removed (then the queue closes). A refused join leaves nothing behind.
    pub async fn join_with_events<I>(
        &self,
        input: I,
        events: EventSender,
    ) -> Result<I::Output, SfuError>
    where
        I: Joining + Send + 'static,
        I::Output: Send + 'static,
    {
        self.run(move |task, now| {
            // A participant already in keeps its queue (its join is refused).
            task.subscribers
                .entry(input.participant().clone())
                .or_insert(events);
            task.core.handle(now, input)
        })
        .await
    }

    /// Closes every peer connection (DTLS close alerts are sent) and stops the media task.
    pub async fn shutdown(&self) {
        let stopped = self
            .run(|task, now| {
                task.subscribers.clear();
                task.stopping = true;
                task.core.handle(now, CloseAll)
            })
            .await;
        if let Err(err) = stopped {
            tracing::debug!(%err, "media plane already stopped");
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut MediaTask, Instant) -> Result<T, SfuError> + Send + 'static,
    ) -> Result<T, SfuError> {
        let (reply, response) = oneshot::channel();
        let job: Job = Box::new(move |task, now| {
            // The requester may have gone away meanwhile; the input was applied all the same.
            let _ = reply.send(job(task, now));
        });
        self.jobs.send(job).await.map_err(|_| SfuError::Stopped)?;
        response.await.map_err(|_| SfuError::Stopped)?
    }
}

struct Socket {
    socket: Arc<UdpSocket>,
    advertised: SocketAddr,
}

async fn bind_sockets(config: &SfuConfig) -> io::Result<Vec<Socket>> {
    if config.public_ips.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no public IP to advertise",
        ));
    }
    if let Some(bind_ip) = config.udp_bind_ip {
        let socket = UdpSocket::bind(SocketAddr::new(bind_ip, config.udp_port)).await?;
        let port = socket.local_addr()?.port();
        return Ok(vec![Socket {
            socket: Arc::new(socket),
            advertised: SocketAddr::new(config.public_ips[0], port),
        }]);
    }
    let mut port = config.udp_port;
    let mut sockets = Vec::new();
    for ip in &config.public_ips {
        let socket = UdpSocket::bind(SocketAddr::new(*ip, port)).await?;
        // Port 0 (tests): the first bind picks the port, the others share it.
        port = socket.local_addr()?.port();
        sockets.push(Socket {
            socket: Arc::new(socket),
            advertised: SocketAddr::new(*ip, port),
        });
    }
    Ok(sockets)
}

/// Binds the media port(s) and starts the media task.
pub async fn spawn(config: SfuConfig) -> io::Result<SfuHandle> {
    let sockets = bind_sockets(&config).await?;
    let stats = Arc::new(SfuStats::default());
    let local_addrs: Vec<SocketAddr> = sockets.iter().map(|s| s.advertised).collect();
    let core = SfuCore::new(
        CoreConfig {
            candidates: local_addrs.clone(),
            keyframe_request_interval: config.keyframe_request_interval,
            connect_timeout: config.connect_timeout,
            limits: config.limits,
        },
        stats.clone(),
    );
    let (job_tx, job_rx) = mpsc::channel(1024);
    let (datagram_tx, datagram_rx) = mpsc::channel(1024);
    for socket in &sockets {
        tokio::spawn(receive_loop(
            socket.socket.clone(),
            socket.advertised,
            datagram_tx.clone(),
        ));
    }
    tracing::info!(addrs = ?local_addrs, "media plane listening (UDP, ICE-lite)");
    tokio::spawn(
        MediaTask {
            core,
            sockets,
            allowlist: config.peer_allowlist,
            subscribers: HashMap::new(),
            stats: stats.clone(),
            stopping: false,
            outgoing: Vec::with_capacity(SEND_BATCH),
        }
        .run(job_rx, datagram_rx),
    );
    Ok(SfuHandle {
        jobs: job_tx,
        stats,
        local_addrs: Arc::new(local_addrs),
    })
}

async fn receive_loop(
    socket: Arc<UdpSocket>,
    advertised: SocketAddr,
    to_core: mpsc::Sender<Vec<Received>>,
) {
    let mut buffer = udp::RecvBuffer::default();
    let mut read = Vec::with_capacity(RECV_BATCH);
    loop {
        if let Err(err) = socket.readable().await {
            tracing::warn!(%err, "udp socket failed");
            return;
        }
        // Everything waiting, up to RECV_BATCH datagrams per hand-over to the core.
        while read.len() < RECV_BATCH {
            match socket.try_io(Interest::READABLE, || {
                udp::recv_many(&*socket, &mut buffer, &mut read)
            }) {
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => {
                    // ICMP errors surface here on some systems; they are not fatal to the port.
                    tracing::debug!(%err, "udp receive error");
                    break;
                }
            }
        }
        if read.is_empty() {
            continue;
        }
        let at = Instant::now();
        let batch = read
            .drain(..)
            .map(|(peer, data)| Received {
                at,
                datagram: Datagram {
                    local: advertised,
                    peer,
                    data,
                },
            })
            .collect();
        if to_core.send(batch).await.is_err() {
            return;
        }
    }
}

struct MediaTask {
    core: SfuCore,
    sockets: Vec<Socket>,
    allowlist: Vec<crate::config::IpNet>,
    subscribers: HashMap<ParticipantSid, EventSender>,
    stats: Arc<SfuStats>,
    /// Set by `SfuHandle::shutdown`: stop once what it sent is out.
    stopping: bool,
    /// Datagrams being sent, with the index of their socket (kept for its allocation).
    outgoing: Vec<(usize, Transmit)>,
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
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            // Requests and timers may remove participants; datagrams do not.
            let mut departures = true;
            tokio::select! {
                job = jobs.recv() => {
                    let Some(job) = job else { break };
                    job(&mut self, Instant::now());
                }
                batch = datagrams.recv() => {
                    let Some(batch) = batch else { break };
                    departures = false;
                    for Received { at, datagram } in batch {
                        self.apply(at, datagram);
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    self.apply(Instant::now(), Timeout);
                }
            }
            self.flush().await;
            if departures {
                self.drop_departed();
            }
            if self.stopping {
                break;
            }
        }
        tracing::info!("media plane stopped");
    }

    /// An input of the media task's own (datagrams, the clock): those never fail.
    fn apply<I: Input<Output = ()>>(&mut self, now: Instant, input: I) {
        if let Err(err) = self.core.handle(now, input) {
            tracing::debug!(%err, "media input failed");
        }
    }

    /// Closes the event queues of participants the core no longer has (they left, were
    /// removed or timed out, or their join was refused), after their last events went out.
    fn drop_departed(&mut self) {
        let core = &self.core;
        self.subscribers.retain(|sid, _| core.has_participant(sid));
    }

    /// Sends what the core has to send, up to [`SEND_BATCH`] datagrams per system call, then
    /// hands out its events. A full socket buffer is waited out, as one `send_to` would.
    async fn flush(&mut self) {
        let mut batch = std::mem::take(&mut self.outgoing);
        loop {
            batch.clear();
            while batch.len() < SEND_BATCH {
                let Some(transmit) = self.core.poll_transmit() else {
                    break;
                };
                if let Some(socket) = self.socket_for(&transmit) {
                    batch.push((socket, transmit));
                }
            }
            if batch.is_empty() {
                break;
            }
            // Consecutive datagrams leaving by the same socket go together (usually all).
            let mut start = 0;
            while start < batch.len() {
                let socket = batch[start].0;
                let run = batch[start..]
                    .iter()
                    .take_while(|(s, _)| *s == socket)
                    .count();
                let socket = self.sockets[socket].socket.clone();
                send_run(&socket, &batch[start..start + run]).await;
                start += run;
            }
        }
        self.outgoing = batch;
        self.deliver_events();
    }

    /// The socket a transmit leaves by (the one its connection uses), unless the peer is
    /// outside the allowlist.
    fn socket_for(&self, transmit: &Transmit) -> Option<usize> {
        if !self.allowlist.is_empty()
            && !self
                .allowlist
                .iter()
                .any(|n| n.contains(transmit.peer.ip()))
        {
            SfuStats::add(&self.stats.blocked_sends, 1);
            return None;
        }
        let found = self
            .sockets
            .iter()
            .position(|s| s.advertised == transmit.local);
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
                    self.apply(Instant::now(), removal);
                }
            }
        }
    }
}

/// Sends datagrams that leave by one socket, batched; waits out a full socket buffer.
async fn send_run(socket: &UdpSocket, run: &[(usize, Transmit)]) {
    let datagrams: Vec<(SocketAddr, &[u8])> =
        run.iter().map(|(_, t)| (t.peer, &t.payload[..])).collect();
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
