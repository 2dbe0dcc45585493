//! The only part of the media plane that touches sockets and the clock. One task owns the
//! [`SfuCore`]; one receive task per UDP socket hands it batches of datagrams (drained with
//! non-blocking reads after each wake-up, so a burst costs one channel send). Signaling talks
//! to the core through [`SfuHandle`] requests and receives [`SfuEvent`]s on a channel per
//! participant.

use crate::config::SfuConfig;
use crate::core::{Candidate, CoreConfig, SfuCore, SfuEvent};
use crate::error::SfuError;
use crate::ids::{ParticipantSid, PeerRole};
use crate::rooms::{ParticipantMeta, ParticipantSnapshot, TrackSource};
use crate::stats::SfuStats;
use bytes::BytesMut;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
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
/// Large enough for any datagram a browser sends (they stay under ~1500 bytes).
const RECV_BUFFER: usize = 2048;

type Reply<T> = oneshot::Sender<Result<T, SfuError>>;

enum Command {
    Join {
        room: String,
        meta: ParticipantMeta,
        events: EventSender,
        reply: Reply<Vec<ParticipantSnapshot>>,
    },
    JoinViewer {
        room: String,
        meta: ParticipantMeta,
        offer: String,
        follow: Option<String>,
        events: EventSender,
        reply: Reply<String>,
    },
    Publish {
        sid: ParticipantSid,
        role: PeerRole,
        sdp: String,
        sources: Vec<(String, TrackSource)>,
        reply: Reply<String>,
    },
    SubscriberAnswer {
        sid: ParticipantSid,
        sdp: String,
        reply: Reply<()>,
    },
    IceCandidate {
        sid: ParticipantSid,
        role: PeerRole,
        candidate: Candidate,
        reply: Reply<()>,
    },
    SetLayerLimit {
        sid: ParticipantSid,
        track: crate::ids::TrackSid,
        limit: crate::layers::LayerLimit,
        reply: Reply<()>,
    },
    SetTrackMuted {
        sid: ParticipantSid,
        track: crate::ids::TrackSid,
        muted: bool,
        reply: Reply<()>,
    },
    Unpublish {
        sid: ParticipantSid,
        track: crate::ids::TrackSid,
        reply: Reply<()>,
    },
    ForceMute {
        track: crate::ids::TrackSid,
        muted: bool,
        reply: Reply<()>,
    },
    Rooms {
        reply: oneshot::Sender<Vec<(String, Vec<crate::rooms::ParticipantSnapshot>)>>,
    },
    RoomPeople {
        room: String,
        reply: oneshot::Sender<Vec<crate::rooms::ParticipantSnapshot>>,
    },
    Remove {
        sid: ParticipantSid,
        reason: String,
        reply: oneshot::Sender<()>,
    },
    Leave {
        sid: ParticipantSid,
        reply: oneshot::Sender<()>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

struct Datagram {
    local: SocketAddr,
    peer: SocketAddr,
    at: Instant,
    data: BytesMut,
}

/// Cheap to clone; every signaling session holds one.
#[derive(Clone)]
pub struct SfuHandle {
    commands: mpsc::Sender<Command>,
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

    async fn request<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, SfuError> {
        let (reply, response) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| SfuError::Stopped)?;
        response.await.map_err(|_| SfuError::Stopped)?
    }

    /// Joins a room; events for this participant arrive on `events` until `leave`.
    pub async fn join(
        &self,
        room: String,
        meta: ParticipantMeta,
        events: EventSender,
    ) -> Result<Vec<ParticipantSnapshot>, SfuError> {
        self.request(|reply| Command::Join {
            room,
            meta,
            events,
            reply,
        })
        .await
    }

    /// Adds a hidden receive-only viewer from its offer (WHEP); returns the answer.
    pub async fn join_viewer(
        &self,
        room: String,
        meta: ParticipantMeta,
        offer: String,
        follow: Option<String>,
        events: EventSender,
    ) -> Result<String, SfuError> {
        self.request(|reply| Command::JoinViewer {
            room,
            meta,
            offer,
            follow,
            events,
            reply,
        })
        .await
    }

    pub async fn publish(
        &self,
        sid: ParticipantSid,
        sdp: String,
        sources: Vec<(String, TrackSource)>,
    ) -> Result<String, SfuError> {
        self.publish_on(sid, PeerRole::Publisher, sdp, sources)
            .await
    }

    /// A publisher offer on the camera/microphone connection or the screen-share one.
    pub async fn publish_on(
        &self,
        sid: ParticipantSid,
        role: PeerRole,
        sdp: String,
        sources: Vec<(String, TrackSource)>,
    ) -> Result<String, SfuError> {
        self.request(|reply| Command::Publish {
            sid,
            role,
            sdp,
            sources,
            reply,
        })
        .await
    }

    pub async fn subscriber_answer(
        &self,
        sid: ParticipantSid,
        sdp: String,
    ) -> Result<(), SfuError> {
        self.request(|reply| Command::SubscriberAnswer { sid, sdp, reply })
            .await
    }

    pub async fn add_ice_candidate(
        &self,
        sid: ParticipantSid,
        role: PeerRole,
        candidate: Candidate,
    ) -> Result<(), SfuError> {
        self.request(|reply| Command::IceCandidate {
            sid,
            role,
            candidate,
            reply,
        })
        .await
    }

    /// What this subscriber wants of one track (paused, a layer cap, or its rendered size).
    pub async fn set_layer_limit(
        &self,
        sid: ParticipantSid,
        track: crate::ids::TrackSid,
        limit: crate::layers::LayerLimit,
    ) -> Result<(), SfuError> {
        self.request(|reply| Command::SetLayerLimit {
            sid,
            track,
            limit,
            reply,
        })
        .await
    }

    /// The publisher muted or unmuted one of its tracks; the room is told.
    pub async fn set_track_muted(
        &self,
        sid: ParticipantSid,
        track: crate::ids::TrackSid,
        muted: bool,
    ) -> Result<(), SfuError> {
        self.request(|reply| Command::SetTrackMuted {
            sid,
            track,
            muted,
            reply,
        })
        .await
    }

    /// The publisher stops one of its tracks (e.g. a screen share) without leaving.
    pub async fn unpublish(
        &self,
        sid: ParticipantSid,
        track: crate::ids::TrackSid,
    ) -> Result<(), SfuError> {
        self.request(|reply| Command::Unpublish { sid, track, reply })
            .await
    }

    /// A moderator mutes or unmutes someone's track: it stops being forwarded, the room is told.
    pub async fn force_mute(
        &self,
        track: crate::ids::TrackSid,
        muted: bool,
    ) -> Result<(), SfuError> {
        self.request(|reply| Command::ForceMute {
            track,
            muted,
            reply,
        })
        .await
    }

    /// Every room and its participants, by name.
    pub async fn rooms(&self) -> Vec<(String, Vec<crate::rooms::ParticipantSnapshot>)> {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Rooms { reply }).await.is_err() {
            return Vec::new();
        }
        done.await.unwrap_or_default()
    }

    /// Who is in one room (empty if it is not open).
    pub async fn room_people(&self, room: &str) -> Vec<crate::rooms::ParticipantSnapshot> {
        let (reply, done) = oneshot::channel();
        let command = Command::RoomPeople {
            room: room.to_owned(),
            reply,
        };
        if self.commands.send(command).await.is_err() {
            return Vec::new();
        }
        done.await.unwrap_or_default()
    }

    /// Removes a participant from its room; its session says goodbye with `reason`.
    pub async fn remove(&self, sid: ParticipantSid, reason: &str) {
        let (reply, done) = oneshot::channel();
        let command = Command::Remove {
            sid,
            reason: reason.to_owned(),
            reply,
        };
        if self.commands.send(command).await.is_ok() {
            let _ = done.await;
        }
    }

    pub async fn leave(&self, sid: ParticipantSid) {
        let (reply, done) = oneshot::channel();
        if self
            .commands
            .send(Command::Leave { sid, reply })
            .await
            .is_ok()
        {
            let _ = done.await;
        }
    }

    /// Closes every peer connection (DTLS close alerts are sent) and stops the media task.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self
            .commands
            .send(Command::Shutdown { reply })
            .await
            .is_ok()
        {
            let _ = done.await;
        }
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
    let (command_tx, command_rx) = mpsc::channel(1024);
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
        }
        .run(command_rx, datagram_rx),
    );
    Ok(SfuHandle {
        commands: command_tx,
        stats,
        local_addrs: Arc::new(local_addrs),
    })
}

async fn receive_loop(
    socket: Arc<UdpSocket>,
    advertised: SocketAddr,
    to_core: mpsc::Sender<Vec<Datagram>>,
) {
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let first = socket.recv_from(&mut buf).await;
        let mut batch = Vec::with_capacity(8);
        let mut push = |n: usize, peer: SocketAddr, buf: &[u8]| {
            batch.push(Datagram {
                local: advertised,
                peer,
                at: Instant::now(),
                data: BytesMut::from(&buf[..n]),
            })
        };
        match first {
            Ok((n, peer)) => push(n, peer, &buf),
            Err(err) => {
                // ICMP errors surface here on some systems; they are not fatal to the port.
                tracing::debug!(%err, "udp receive error");
                continue;
            }
        }
        for _ in 1..RECV_BATCH {
            match socket.try_recv_from(&mut buf) {
                Ok((n, peer)) => push(n, peer, &buf),
                Err(_) => break,
            }
        }
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
}

impl MediaTask {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut datagrams: mpsc::Receiver<Vec<Datagram>>,
    ) {
        loop {
            let deadline = self
                .core
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                command = commands.recv() => {
                    let Some(command) = command else { break };
                    if self.handle_command(command) {
                        self.flush().await;
                        break;
                    }
                }
                batch = datagrams.recv() => {
                    let Some(batch) = batch else { break };
                    for d in batch {
                        self.core.handle_datagram(d.at, d.local, d.peer, d.data);
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    self.core.handle_timeout(Instant::now());
                }
            }
            self.flush().await;
        }
        tracing::info!("media plane stopped");
    }

    /// Returns true when the task should stop.
    fn handle_command(&mut self, command: Command) -> bool {
        let now = Instant::now();
        match command {
            Command::Join {
                room,
                meta,
                events,
                reply,
            } => {
                let sid = meta.sid.clone();
                self.subscribers.insert(sid.clone(), events);
                let result = self.core.join(now, &room, meta);
                if result.is_err() {
                    self.subscribers.remove(&sid);
                }
                let _ = reply.send(result);
            }
            Command::JoinViewer {
                room,
                meta,
                offer,
                follow,
                events,
                reply,
            } => {
                let sid = meta.sid.clone();
                self.subscribers.insert(sid.clone(), events);
                let result = self.core.join_viewer(now, &room, meta, offer, follow);
                if result.is_err() {
                    self.subscribers.remove(&sid);
                }
                let _ = reply.send(result);
            }
            Command::Publish {
                sid,
                role,
                sdp,
                sources,
                reply,
            } => {
                let _ = reply.send(self.core.publish_on(now, &sid, role, sdp, sources));
            }
            Command::SubscriberAnswer { sid, sdp, reply } => {
                let _ = reply.send(self.core.subscriber_answer(now, &sid, sdp));
            }
            Command::IceCandidate {
                sid,
                role,
                candidate,
                reply,
            } => {
                let _ = reply.send(self.core.add_ice_candidate(now, &sid, role, candidate));
            }
            Command::SetLayerLimit {
                sid,
                track,
                limit,
                reply,
            } => {
                let _ = reply.send(self.core.set_layer_limit(now, &sid, &track, limit));
            }
            Command::SetTrackMuted {
                sid,
                track,
                muted,
                reply,
            } => {
                let _ = reply.send(self.core.set_track_muted(now, &sid, &track, muted));
            }
            Command::Unpublish { sid, track, reply } => {
                let _ = reply.send(self.core.unpublish(now, &sid, &track));
            }
            Command::ForceMute {
                track,
                muted,
                reply,
            } => {
                let _ = reply.send(self.core.force_mute(now, &track, muted));
            }
            Command::Rooms { reply } => {
                let _ = reply.send(self.core.rooms());
            }
            Command::RoomPeople { room, reply } => {
                let _ = reply.send(self.core.room_people(&room));
            }
            Command::Remove { sid, reason, reply } => {
                self.core.remove(now, &sid, &reason);
                // The removal event must reach the session before its channel goes away.
                self.deliver_events();
                self.subscribers.remove(&sid);
                let _ = reply.send(());
            }
            Command::Leave { sid, reply } => {
                self.core.leave(now, &sid);
                self.subscribers.remove(&sid);
                let _ = reply.send(());
            }
            Command::Shutdown { reply } => {
                self.core.close_all(now);
                self.subscribers.clear();
                let _ = reply.send(());
                return true;
            }
        }
        false
    }

    async fn flush(&mut self) {
        while let Some(transmit) = self.core.poll_transmit() {
            if !self.allowlist.is_empty()
                && !self
                    .allowlist
                    .iter()
                    .any(|n| n.contains(transmit.peer.ip()))
            {
                SfuStats::add(&self.stats.blocked_sends, 1);
                continue;
            }
            let Some(socket) = self
                .sockets
                .iter()
                .find(|s| s.advertised == transmit.local)
                .or_else(|| self.sockets.first())
            else {
                continue;
            };
            match socket.socket.try_send_to(&transmit.payload, transmit.peer) {
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(err) = socket
                        .socket
                        .send_to(&transmit.payload, transmit.peer)
                        .await
                    {
                        tracing::debug!(%err, "udp send failed");
                    }
                }
                Err(err) => tracing::debug!(%err, peer = %transmit.peer, "udp send failed"),
            }
        }
        self.deliver_events();
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
                    self.core.remove(Instant::now(), &sid, "too_slow");
                }
            }
        }
    }
}
