//! The ICE-TCP port: RFC 6544 passive host candidates, RFC 4571 framing (each packet behind a
//! 16-bit length), for clients on networks that let no UDP out. One listener per advertised
//! address, on the caller's runtime like the UDP receive loops.
//!
//! A connection is nobody's until its first frame: that must be a STUN Binding request whose
//! USERNAME names a connection of the node (its ICE ufrag); the connection then belongs to the
//! worker owning that ufrag and every later frame goes there, as a datagram over a TCP
//! [`Flow`]. The core answers only checks that pass MESSAGE-INTEGRITY; its sends over the flow
//! come back through [`TcpPaths`] to this connection's writer. What a client can make the
//! node hold is bounded: connections in total (`Limits::tcp_connections`) and not yet
//! answered from one address ([`MAX_UNANSWERED_PER_IP`]); a frame's length ([`MAX_FRAME`]);
//! the time to an answered check ([`TcpDeadlines::handshake`]) and between frames
//! ([`TcpDeadlines::idle`]); a connection outlives the peer connection it served by at most
//! [`CHECK_EVERY`]. Every connection the node closes is counted by reason.

use super::worker::Received;
use crate::config::IpNet;
use crate::core::input::Datagram;
use crate::flow::Flow;
use crate::node::{Node, WorkerIndex};
use crate::stats::{SfuStats, TcpRefusal};
use crate::stun;
use bytes::{BufMut, BytesMut};
use futures_util::{FutureExt, StreamExt};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec, LengthDelimitedCodecError};

/// The longest frame accepted: above any packet a WebRTC client sends (they keep RTP, DTLS
/// and STUN under a UDP MTU), below what would let a client make the node buffer much.
pub const MAX_FRAME: usize = 4096;
/// Connections from one IP address that have not had a check answered yet. A whole
/// organization can be behind one address (a hospital's NAT), each browser opening a
/// connection per candidate pair as everyone joins at once; an answered connection no longer
/// counts.
pub const MAX_UNANSWERED_PER_IP: usize = 256;
/// Frames queued for one connection's writer; past it they are lost (counted).
const SEND_QUEUE: usize = 512;
/// Frames handed to a worker at once at most (those one read brought).
const HANDOVER_BATCH: usize = 64;
/// Bytes written per system call at most (frames queued meanwhile go together).
const WRITE_BATCH: usize = 64 * 1024;
/// How often a connection checks its deadlines and whether its peer connection still exists.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

/// How long a connection may wait for things to happen before the node closes it.
#[derive(Debug, Clone, Copy)]
pub struct TcpDeadlines {
    /// From accepting it to the core answering a check over it (a client that never sends
    /// STUN, or only an incomplete frame, is closed then).
    pub handshake: Duration,
    /// Between two frames from the client once answered (ICE consent checks arrive every few
    /// seconds on a live connection).
    pub idle: Duration,
    /// For one batch of frames to be written (a client that stopped reading).
    pub write: Duration,
}

impl Default for TcpDeadlines {
    fn default() -> Self {
        Self {
            handshake: Duration::from_secs(10),
            idle: Duration::from_secs(30),
            write: Duration::from_secs(10),
        }
    }
}

/// The frame codec: a 16-bit big-endian length, then the packet (RFC 4571).
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_type::<u16>()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

/// One open connection, as the workers see it.
struct Conn {
    frames: mpsc::Sender<BytesMut>,
    /// Something was sent to the client: the core answered a check over this connection.
    answered: AtomicBool,
}

/// The node's open ICE-TCP connections by flow, where workers send what goes over TCP.
#[derive(Default)]
pub struct TcpPaths {
    conns: RwLock<HashMap<Flow, Arc<Conn>>>,
}

impl TcpPaths {
    /// Queues one packet for the connection of `flow`; lost (and counted) if it is gone or
    /// its queue is full.
    pub(super) fn send(&self, flow: &Flow, payload: BytesMut, stats: &SfuStats) {
        let conns = self.conns.read().unwrap_or_else(|e| e.into_inner());
        let Some(conn) = conns.get(flow) else {
            SfuStats::add(&stats.tcp.send_drops, 1);
            return;
        };
        if !conn.answered.load(Ordering::Relaxed) {
            conn.answered.store(true, Ordering::Relaxed);
        }
        if conn.frames.try_send(payload).is_err() {
            SfuStats::add(&stats.tcp.send_drops, 1);
        }
    }

    fn insert(&self, flow: Flow, conn: Arc<Conn>) {
        let mut conns = self.conns.write().unwrap_or_else(|e| e.into_inner());
        conns.insert(flow, conn);
    }

    fn remove(&self, flow: &Flow, conn: &Arc<Conn>) {
        let mut conns = self.conns.write().unwrap_or_else(|e| e.into_inner());
        if conns.get(flow).is_some_and(|c| Arc::ptr_eq(c, conn)) {
            conns.remove(flow);
        }
    }

    /// Open connections a worker can send to.
    pub fn len(&self) -> usize {
        self.conns.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What every connection of the node shares.
pub(super) struct Door {
    pub workers: Vec<mpsc::Sender<Vec<Received>>>,
    pub node: Arc<Node>,
    pub stats: Arc<SfuStats>,
    pub paths: Arc<TcpPaths>,
    pub allowlist: Vec<IpNet>,
    pub permits: Arc<Semaphore>,
    pub deadlines: TcpDeadlines,
    /// Connections not answered yet, by client IP.
    pub unanswered: Mutex<HashMap<IpAddr, usize>>,
}

/// Accepts connections on `listener` (advertised as `advertised`) until the workers are gone.
pub(super) async fn accept_loop(listener: TcpListener, advertised: SocketAddr, door: Arc<Door>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of descriptors, or a connection reset while queued: not fatal.
                tracing::debug!(%err, "ice-tcp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if door.workers.iter().all(|w| w.is_closed()) {
            return;
        }
        if let Err(reason) = door.admit(peer.ip()) {
            door.stats.tcp.refuse(reason);
            continue;
        }
        let Ok(permit) = door.permits.clone().try_acquire_owned() else {
            door.unanswered_done(peer.ip());
            door.stats.tcp.refuse(TcpRefusal::Limit);
            continue;
        };
        tokio::spawn(serve(
            stream,
            Flow::tcp(advertised, peer),
            door.clone(),
            permit,
        ));
    }
}

impl Door {
    /// Whether a connection from `ip` may be opened; counts it as not answered yet.
    fn admit(&self, ip: IpAddr) -> Result<(), TcpRefusal> {
        if !self.allowlist.is_empty() && !self.allowlist.iter().any(|n| n.contains(ip)) {
            return Err(TcpRefusal::NotAllowed);
        }
        let mut unanswered = self.unanswered.lock().unwrap_or_else(|e| e.into_inner());
        let count = unanswered.entry(ip).or_default();
        if *count >= MAX_UNANSWERED_PER_IP {
            return Err(TcpRefusal::Limit);
        }
        *count += 1;
        Ok(())
    }

    fn unanswered_done(&self, ip: IpAddr) {
        let mut unanswered = self.unanswered.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = unanswered.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                unanswered.remove(&ip);
            }
        }
    }
}

/// Runs one connection until the client closes it or the node does (counted by reason).
async fn serve(stream: TcpStream, flow: Flow, door: Arc<Door>, _permit: OwnedSemaphorePermit) {
    SfuStats::add(&door.stats.tcp.connections, 1);
    // Media: no waiting to coalesce small frames.
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let (frames, queued) = mpsc::channel(SEND_QUEUE);
    let conn = Arc::new(Conn {
        frames,
        answered: AtomicBool::new(false),
    });
    let mut reader = Reader {
        flow,
        door: &door,
        conn: &conn,
        bound: None,
        counted_unanswered: true,
    };
    let closed_by = tokio::select! {
        reason = reader.run(read) => reason,
        reason = write_frames(write, queued, door.deadlines.write) => reason,
    };
    if reader.counted_unanswered {
        door.unanswered_done(flow.peer.ip());
    }
    door.paths.remove(&flow, &conn);
    if let Some(reason) = closed_by {
        tracing::debug!(peer = %flow.peer, reason = reason.as_str(), "ice-tcp connection closed");
        door.stats.tcp.refuse(reason);
    }
    door.stats.tcp.connections.fetch_sub(1, Ordering::Relaxed);
}

/// The reading half of a connection, with what it learnt.
struct Reader<'a> {
    flow: Flow,
    door: &'a Door,
    conn: &'a Arc<Conn>,
    /// The worker and ICE ufrag of the peer connection the first frame was for.
    bound: Option<(WorkerIndex, String)>,
    /// Still counted in `Door::unanswered`.
    counted_unanswered: bool,
}

impl Reader<'_> {
    /// Reads frames and hands them to the worker; `Some(reason)` when the node closes the
    /// connection, `None` when the client did (or the node stops).
    async fn run(&mut self, read: OwnedReadHalf) -> Option<TcpRefusal> {
        let mut frames = FramedRead::new(read, codec());
        let accepted = Instant::now();
        let mut last_frame = accepted;
        loop {
            let answered = self.conn.answered.load(Ordering::Relaxed);
            if answered && std::mem::take(&mut self.counted_unanswered) {
                self.door.unanswered_done(self.flow.peer.ip());
            }
            let deadline = match answered {
                true => last_frame + self.door.deadlines.idle,
                false => accepted + self.door.deadlines.handshake,
            };
            let wake = deadline.min(Instant::now() + CHECK_EVERY);
            let frame = match tokio::time::timeout_at(wake, frames.next()).await {
                Err(_) if Instant::now() >= deadline => return Some(TcpRefusal::Timeout),
                Err(_) => {
                    let gone = self
                        .bound
                        .as_ref()
                        .is_some_and(|(_, ufrag)| !self.door.node.demux.has_ufrag(ufrag));
                    if gone {
                        return Some(TcpRefusal::Closed);
                    }
                    continue;
                }
                Ok(Some(Ok(frame))) => frame,
                Ok(end) => return ended(end),
            };
            last_frame = Instant::now();
            let worker = match &self.bound {
                Some((worker, _)) => *worker,
                None => match self.bind(&frame) {
                    Ok(worker) => worker,
                    Err(reason) => return Some(reason),
                },
            };
            // Frames already read go to the worker together: one hand-over per read, not one
            // per frame.
            let (at, flow) = (std::time::Instant::now(), self.flow);
            let received = |data| Received {
                at,
                datagram: Datagram { flow, data },
            };
            let mut batch = vec![received(frame)];
            let mut end = None;
            while batch.len() < HANDOVER_BATCH {
                match frames.next().now_or_never() {
                    Some(Some(Ok(frame))) => batch.push(received(frame)),
                    Some(other) => {
                        end = Some(other);
                        break;
                    }
                    None => break,
                }
            }
            if !self.hand_over(worker, batch) {
                return None;
            }
            if let Some(end) = end {
                return ended(end);
            }
        }
    }

    /// Queues frames on the worker (lost and counted if its queue is full); false if the
    /// worker is gone.
    fn hand_over(&self, worker: WorkerIndex, batch: Vec<Received>) -> bool {
        let count = batch.len() as u64;
        match self.door.workers[worker].try_send(batch) {
            Ok(()) => {
                if let Some(stats) = self.door.stats.workers.get(worker) {
                    SfuStats::add(&stats.received_datagrams, count);
                }
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                SfuStats::add(&self.door.stats.worker_queue_drops, count);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// The first frame: a Binding request for a connection of the node binds this TCP
    /// connection to that connection's worker; anything else closes it.
    fn bind(&mut self, frame: &[u8]) -> Result<WorkerIndex, TcpRefusal> {
        let stun::Route::BindingRequest { local_ufrag } = stun::classify(frame) else {
            return Err(TcpRefusal::NotStun);
        };
        let worker = self
            .door
            .node
            .demux
            .router()
            .worker_for(self.flow.local, self.flow.peer, frame)
            .filter(|w| *w < self.door.workers.len())
            .ok_or(TcpRefusal::NotStun)?;
        self.bound = Some((worker, local_ufrag.to_owned()));
        self.door.paths.insert(self.flow, self.conn.clone());
        Ok(worker)
    }
}

/// How the stream of frames ended: the client closed it (`None`), or the node refuses it.
fn ended(end: Option<io::Result<BytesMut>>) -> Option<TcpRefusal> {
    match end {
        Some(Err(err)) => oversized(&err).then_some(TcpRefusal::Oversized),
        None | Some(Ok(_)) => None,
    }
}

fn oversized(err: &io::Error) -> bool {
    err.get_ref()
        .is_some_and(|inner| inner.is::<LengthDelimitedCodecError>())
}

/// Writes what the workers queued, framed, several frames per system call; `Some(Timeout)` if
/// a batch could not be written in time (the client stopped reading).
async fn write_frames(
    mut write: OwnedWriteHalf,
    mut queued: mpsc::Receiver<BytesMut>,
    deadline: Duration,
) -> Option<TcpRefusal> {
    let mut buffer = BytesMut::with_capacity(WRITE_BATCH);
    while let Some(first) = queued.recv().await {
        buffer.clear();
        frame_into(&mut buffer, &first);
        while buffer.len() < WRITE_BATCH {
            let Ok(next) = queued.try_recv() else { break };
            frame_into(&mut buffer, &next);
        }
        match tokio::time::timeout(deadline, write.write_all(&buffer)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return None,
            Err(_) => return Some(TcpRefusal::Timeout),
        }
    }
    None
}

/// Appends one RFC 4571 frame (packets are never longer than a length field can say).
fn frame_into(buffer: &mut BytesMut, packet: &[u8]) {
    if let Ok(len) = u16::try_from(packet.len()) {
        buffer.put_u16(len);
        buffer.put_slice(packet);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::codec::Decoder;

    /// What the codec makes of bytes arriving in pieces: complete frames, nothing yet, or an
    /// error for a frame over [`MAX_FRAME`].
    /// A name, the reads, and the frames cut from them (`None`: the stream is refused).
    type Case<'a> = (&'a str, &'a [&'a [u8]], Option<&'a [&'a [u8]]>);

    #[test]
    fn frames_are_cut_from_a_byte_stream() {
        #[rustfmt::skip]
        let cases: [Case<'_>; 7] = [
            ("one whole frame",            &[&[0, 3, 1, 2, 3]],                 Some(&[&[1, 2, 3]])),
            ("two frames in one read",     &[&[0, 1, 9, 0, 2, 7, 8]],           Some(&[&[9], &[7, 8]])),
            ("a frame split in three",     &[&[0], &[2, 5], &[6]],              Some(&[&[5, 6]])),
            ("a length with no body yet",  &[&[0, 4, 1]],                       Some(&[])),
            ("an empty frame",             &[&[0, 0, 0, 1, 4]],                 Some(&[&[], &[4]])),
            ("the longest frame's header", &[&[0x10, 0x00]],                    Some(&[])),
            ("one byte over the longest",  &[&[0x10, 0x01]],                    None),
        ];
        for (name, reads, want) in cases {
            let mut codec = codec();
            let mut buffer = BytesMut::new();
            let mut got: Vec<Vec<u8>> = Vec::new();
            let mut failed = false;
            for read in reads {
                buffer.extend_from_slice(read);
                loop {
                    match codec.decode(&mut buffer) {
                        Ok(Some(frame)) => got.push(frame.to_vec()),
                        Ok(None) => break,
                        Err(err) => {
                            assert!(oversized(&err), "{name}: {err}");
                            failed = true;
                            break;
                        }
                    }
                }
            }
            match want {
                Some(frames) => {
                    assert!(!failed, "{name}: refused");
                    let frames: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
                    assert_eq!(got, frames, "{name}");
                }
                None => assert!(failed, "{name}: accepted"),
            }
        }
    }

    #[test]
    fn frames_written_are_the_frames_read() {
        let mut buffer = BytesMut::new();
        for packet in [&b"stun"[..], &[0u8; MAX_FRAME][..], &[]] {
            frame_into(&mut buffer, packet);
        }
        let mut codec = codec();
        assert_eq!(codec.decode(&mut buffer).unwrap().unwrap(), &b"stun"[..]);
        assert_eq!(codec.decode(&mut buffer).unwrap().unwrap().len(), MAX_FRAME);
        assert!(codec.decode(&mut buffer).unwrap().unwrap().is_empty());
        assert!(buffer.is_empty());
    }
}
