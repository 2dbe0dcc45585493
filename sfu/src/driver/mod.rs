//! The only part of the media plane that touches sockets, threads and the clock.
//!
//! A node runs one media worker per core (`SfuConfig::workers`): a thread with its own
//! single-threaded tokio runtime and its own [`SfuCore`], holding the rooms placed on it
//! ([`Placement`]: a room on the least-loaded worker when it opens). Every worker sends from
//! the shared UDP port (its own descriptor of the same socket). One receive task per socket,
//! on the caller's runtime, reads batches of datagrams and hands each to the worker owning its
//! connection ([`crate::node::Demux`]: a Binding request by its ICE ufrag, the rest by
//! validated address pair), so the node advertises one port whatever the number of workers.
//!
//! Signaling sends inputs (`sfu::input::*`) with [`SfuHandle::request`]: each goes to the
//! worker its [`Route`] names as a boxed job over that worker's bounded channel, is applied
//! through `SfuCore::handle` and answered on a oneshot. Signaling receives [`SfuEvent`]s on a
//! bounded channel per participant, registered by [`SfuHandle::join_with_events`] and closed
//! once the core no longer has that participant.

mod receive;
mod tcp;
mod worker;

pub use tcp::{
    codec as tcp_codec, TcpDeadlines, TcpPaths, CHECK_EVERY, MAX_FRAME, MAX_UNANSWERED_PER_IP,
};

use crate::config::SfuConfig;
use crate::core::input::{CloseAll, Joining, Request, Route};
use crate::core::{CoreConfig, SfuCore, SfuEvent};
use crate::error::SfuError;
use crate::node::{Node, Placement, Seat, WorkerIndex, WorkerLoad};
use crate::stats::SfuStats;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use worker::{Job, MediaTask};

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

/// Requests queued per worker.
const JOB_QUEUE: usize = 1024;
/// Batches of datagrams queued per worker; past it the receive loop drops (and counts).
const DATAGRAM_QUEUE: usize = 1024;

/// Cheap to clone; every signaling session holds one.
#[derive(Clone)]
pub struct SfuHandle {
    workers: Arc<[mpsc::Sender<Job>]>,
    placement: Arc<Mutex<Placement>>,
    stats: Arc<SfuStats>,
    local_addrs: Arc<Vec<SocketAddr>>,
    tcp_addrs: Arc<Vec<SocketAddr>>,
}

impl SfuHandle {
    pub fn stats(&self) -> &Arc<SfuStats> {
        &self.stats
    }

    /// The advertised media addresses (one per public IP, all on the shared port).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The advertised ICE-TCP addresses (one per public IP on the TCP port; none when off).
    pub fn tcp_addrs(&self) -> &[SocketAddr] {
        &self.tcp_addrs
    }

    /// Rooms and participants on each media worker, by worker index.
    pub fn worker_loads(&self) -> Vec<WorkerLoad> {
        lock(&self.placement).loads().to_vec()
    }

    /// Applies one request (`sfu::input::*`) on the worker its route names and returns what it
    /// yields; [`SfuError::Stopped`] for every request once the media plane is gone.
    pub async fn request<I>(&self, input: I) -> Result<I::Output, SfuError>
    where
        I: Request + Send + 'static,
        I::Output: Send + 'static,
    {
        let worker = match input.route() {
            Route::Join {
                room,
                sid,
                max_participants,
            } => {
                let sid = sid.clone();
                let room = room.to_owned();
                let seat = lock(&self.placement)
                    .join(&room, &sid, max_participants)
                    .ok_or(SfuError::RoomFull)?;
                let reserved = seat.reserved;
                let output = self.run(seat.worker, move |task, now| {
                    task.open_shard(now, room, seat.others);
                    task.core.handle(now, input)
                });
                return self.placed(output.await, reserved, &sid);
            }
            Route::Participant(sid) => lock(&self.placement).participant(sid),
            Route::Everywhere => return self.everywhere(input).await,
        };
        self.run(worker.unwrap_or(0), move |task, now| {
            task.core.handle(now, input)
        })
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
        I: Joining + Request + Send + 'static,
        I::Output: Send + 'static,
    {
        let sid = input.participant().clone();
        let (seat, room) = match input.route() {
            Route::Join {
                room,
                sid,
                max_participants,
            } => {
                let seat = lock(&self.placement)
                    .join(room, sid, max_participants)
                    .ok_or(SfuError::RoomFull)?;
                (seat, room.to_owned())
            }
            _ => {
                let worker = lock(&self.placement).participant(&sid).unwrap_or(0);
                let seat = Seat {
                    worker,
                    reserved: false,
                    others: Vec::new(),
                };
                (seat, String::new())
            }
        };
        let reserved = seat.reserved;
        let output = self.run(seat.worker, move |task, now| {
            task.open_shard(now, room, seat.others);
            let sid = input.participant().clone();
            // A participant already in keeps its queue (its join is refused).
            task.subscribers.entry(sid.clone()).or_insert(events);
            let output = task.core.handle(now, input);
            if output.is_err() && !task.core.has_participant(&sid) {
                task.subscribers.remove(&sid);
            }
            output
        });
        self.placed(output.await, reserved, &sid)
    }

    /// Closes every peer connection (DTLS close alerts are sent) and stops every worker.
    pub async fn shutdown(&self) {
        let mut stops = Vec::new();
        for worker in 0..self.workers.len() {
            let stop = self.submit(worker, |task, now| {
                task.subscribers.clear();
                task.stopping = true;
                task.core.handle(now, CloseAll)
            });
            stops.push(stop.await);
        }
        for stop in stops {
            let stopped = match stop {
                Ok(response) => response.await.unwrap_or(Err(SfuError::Stopped)),
                Err(err) => Err(err),
            };
            if let Err(err) = stopped {
                tracing::debug!(%err, "media worker already stopped");
            }
        }
    }

    /// A join's outcome: a refused join gives back the place it reserved.
    fn placed<T>(
        &self,
        output: Result<T, SfuError>,
        reserved: bool,
        sid: &crate::ids::ParticipantSid,
    ) -> Result<T, SfuError> {
        if output.is_err() && reserved {
            lock(&self.placement).leave(sid);
        }
        output
    }

    /// Runs a request on every worker: it succeeds if it succeeded on one (outputs gathered),
    /// else fails with the first worker's error.
    async fn everywhere<I>(&self, input: I) -> Result<I::Output, SfuError>
    where
        I: Request + Send + 'static,
        I::Output: Send + 'static,
    {
        let mut runs = Vec::with_capacity(self.workers.len());
        for worker in 0..self.workers.len() {
            let input = input.clone();
            runs.push(
                self.submit(worker, move |task, now| task.core.handle(now, input))
                    .await,
            );
        }
        let mut gathered: Option<Result<I::Output, SfuError>> = None;
        for run in runs {
            let output = match run {
                Ok(response) => response.await.unwrap_or(Err(SfuError::Stopped)),
                Err(err) => Err(err),
            };
            gathered = Some(match (gathered, output) {
                (None, output) => output,
                (Some(Ok(first)), Ok(other)) => Ok(I::gather(first, other)),
                (Some(Ok(first)), Err(_)) => Ok(first),
                (Some(Err(_)), Ok(other)) => Ok(other),
                (Some(Err(first)), Err(_)) => Err(first),
            });
        }
        gathered.unwrap_or(Err(SfuError::Stopped))
    }

    async fn run<T: Send + 'static>(
        &self,
        worker: WorkerIndex,
        job: impl FnOnce(&mut MediaTask, Instant) -> Result<T, SfuError> + Send + 'static,
    ) -> Result<T, SfuError> {
        let response = self.submit(worker, job).await?;
        response.await.map_err(|_| SfuError::Stopped)?
    }

    /// Queues a job on a worker; its result comes on the returned receiver.
    async fn submit<T: Send + 'static>(
        &self,
        worker: WorkerIndex,
        job: impl FnOnce(&mut MediaTask, Instant) -> Result<T, SfuError> + Send + 'static,
    ) -> Result<oneshot::Receiver<Result<T, SfuError>>, SfuError> {
        let jobs = self.workers.get(worker).ok_or(SfuError::Stopped)?;
        let (reply, response) = oneshot::channel();
        let job: Job = Box::new(move |task, now| {
            // The requester may have gone away meanwhile; the input was applied all the same.
            let _ = reply.send(job(task, now));
        });
        jobs.send(job).await.map_err(|_| SfuError::Stopped)?;
        Ok(response)
    }
}

fn lock(placement: &Mutex<Placement>) -> MutexGuard<'_, Placement> {
    // Placement stays consistent if a holder panicked: each update completes under the lock.
    placement.lock().unwrap_or_else(|e| e.into_inner())
}

/// One bound media socket: what the receive loop reads and every worker sends from.
struct Socket {
    socket: std::net::UdpSocket,
    advertised: SocketAddr,
}

fn bind_sockets(config: &SfuConfig) -> io::Result<Vec<Socket>> {
    if config.public_ips.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no public IP to advertise",
        ));
    }
    let bind = |addr: SocketAddr| -> io::Result<std::net::UdpSocket> {
        let socket = std::net::UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    };
    if let Some(bind_ip) = config.udp_bind_ip {
        let socket = bind(SocketAddr::new(bind_ip, config.udp_port))?;
        let port = socket.local_addr()?.port();
        return Ok(vec![Socket {
            socket,
            advertised: SocketAddr::new(config.public_ips[0], port),
        }]);
    }
    let mut port = config.udp_port;
    let mut sockets = Vec::new();
    for ip in &config.public_ips {
        let socket = bind(SocketAddr::new(*ip, port))?;
        // Port 0 (tests): the first bind picks the port, the others share it.
        port = socket.local_addr()?.port();
        sockets.push(Socket {
            socket,
            advertised: SocketAddr::new(*ip, port),
        });
    }
    Ok(sockets)
}

/// The ICE-TCP listeners (one per public IP, or one on `udp_bind_ip`) with the addresses they
/// are advertised as; none when ICE-TCP is off.
fn bind_tcp(config: &SfuConfig) -> io::Result<Vec<(std::net::TcpListener, SocketAddr)>> {
    let Some(mut port) = config.tcp_port else {
        return Ok(Vec::new());
    };
    let bind = |addr: SocketAddr| -> io::Result<std::net::TcpListener> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(listener)
    };
    if let Some(bind_ip) = config.udp_bind_ip {
        let listener = bind(SocketAddr::new(bind_ip, port))?;
        let advertised = SocketAddr::new(config.public_ips[0], listener.local_addr()?.port());
        return Ok(vec![(listener, advertised)]);
    }
    let mut listeners = Vec::new();
    for ip in &config.public_ips {
        let listener = bind(SocketAddr::new(*ip, port))?;
        // Port 0 (tests): the first bind picks the port, the others share it.
        port = listener.local_addr()?.port();
        listeners.push((listener, SocketAddr::new(*ip, port)));
    }
    Ok(listeners)
}

/// Binds the media port(s), starts the media workers, the UDP receive loops and the ICE-TCP
/// listeners (on the caller's tokio runtime).
pub async fn spawn(config: SfuConfig) -> io::Result<SfuHandle> {
    spawn_with(config, TcpDeadlines::default()).await
}

/// A media plane with no sockets, on the caller's runtime: one worker and the same
/// [`SfuHandle`] (requests, placement, events, timers, limits), but nothing is sent or
/// received; the host candidates it advertises are the configured public IPs on the configured
/// ports. For testing what drives the media plane (signaling's sessions) without a network; on
/// a paused tokio clock its timers (connect deadlines, silence) run on virtual time.
pub fn spawn_in_memory(config: &SfuConfig) -> SfuHandle {
    let workers = config.workers.max(1);
    let stats = Arc::new(SfuStats::new(workers));
    let placement = Arc::new(Mutex::new(Placement::new(workers, config.room_spread_at)));
    let candidates: Vec<SocketAddr> = config
        .public_ips
        .iter()
        .map(|ip| SocketAddr::new(*ip, config.udp_port))
        .collect();
    let core_config = CoreConfig {
        candidates: candidates.clone(),
        tcp_candidates: Vec::new(),
        keyframe_request_interval: config.keyframe_request_interval,
        connect_timeout: config.connect_timeout,
        limits: config.limits,
    };
    let node = Arc::new(Node::default());
    let relays = worker::Relays::new(workers);
    let mut jobs = Vec::with_capacity(workers);
    for index in 0..workers {
        let (job_tx, job_rx) = mpsc::channel(JOB_QUEUE);
        let core = SfuCore::on_node(core_config.clone(), stats.clone(), node.clone(), index);
        worker::start_in_memory(worker::InMemory {
            index,
            core,
            placement: placement.clone(),
            stats: stats.clone(),
            relays: relays.clone(),
            jobs: job_rx,
        });
        jobs.push(job_tx);
    }
    let workers: Arc<[mpsc::Sender<Job>]> = jobs.into();
    relays.connect(workers.clone());
    SfuHandle {
        workers,
        placement,
        stats,
        local_addrs: Arc::new(candidates),
        tcp_addrs: Arc::new(Vec::new()),
    }
}

/// [`spawn`] with other ICE-TCP deadlines.
pub async fn spawn_with(config: SfuConfig, deadlines: TcpDeadlines) -> io::Result<SfuHandle> {
    let sockets = bind_sockets(&config)?;
    let listeners = bind_tcp(&config)?;
    let workers = config.worker_count();
    let stats = Arc::new(SfuStats::new(workers));
    let node = Arc::new(Node::default());
    let placement = Arc::new(Mutex::new(Placement::new(workers, config.room_spread_at)));
    let relays = worker::Relays::new(workers);
    let tcp_paths = Arc::new(TcpPaths::default());
    let local_addrs: Vec<SocketAddr> = sockets.iter().map(|s| s.advertised).collect();
    let tcp_addrs: Vec<SocketAddr> = listeners.iter().map(|(_, a)| *a).collect();
    let core_config = CoreConfig {
        candidates: local_addrs.clone(),
        tcp_candidates: tcp_addrs.clone(),
        keyframe_request_interval: config.keyframe_request_interval,
        connect_timeout: config.connect_timeout,
        limits: config.limits,
    };
    let mut jobs = Vec::with_capacity(workers);
    let mut inboxes = Vec::with_capacity(workers);
    for index in 0..workers {
        let (job_tx, job_rx) = mpsc::channel(JOB_QUEUE);
        let (datagram_tx, datagram_rx) = mpsc::channel(DATAGRAM_QUEUE);
        let core = SfuCore::on_node(core_config.clone(), stats.clone(), node.clone(), index);
        worker::start(worker::Setup {
            index,
            core,
            sockets: &sockets,
            tcp: tcp_paths.clone(),
            allowlist: config.peer_allowlist.clone(),
            placement: placement.clone(),
            stats: stats.clone(),
            relays: relays.clone(),
            jobs: job_rx,
            datagrams: datagram_rx,
        })?;
        jobs.push(job_tx);
        inboxes.push(datagram_tx);
    }
    for socket in &sockets {
        let reader = tokio::net::UdpSocket::from_std(socket.socket.try_clone()?)?;
        tokio::spawn(receive::receive_loop(receive::Dispatch {
            socket: reader,
            advertised: socket.advertised,
            workers: inboxes.clone(),
            node: node.clone(),
            stats: stats.clone(),
        }));
    }
    let door = Arc::new(tcp::Door {
        workers: inboxes,
        node,
        stats: stats.clone(),
        paths: tcp_paths,
        allowlist: config.peer_allowlist.clone(),
        permits: Arc::new(tokio::sync::Semaphore::new(config.limits.tcp_connections)),
        deadlines,
        unanswered: Mutex::default(),
    });
    for (listener, advertised) in listeners {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tokio::spawn(tcp::accept_loop(listener, advertised, door.clone()));
    }
    tracing::info!(addrs = ?local_addrs, tcp_addrs = ?tcp_addrs, workers, "media plane listening (UDP and ICE-TCP, ICE-lite)");
    let jobs: Arc<[mpsc::Sender<Job>]> = jobs.into();
    relays.connect(jobs.clone());
    Ok(SfuHandle {
        workers: jobs,
        placement,
        stats,
        local_addrs: Arc::new(local_addrs),
        tcp_addrs: Arc::new(tcp_addrs),
    })
}
