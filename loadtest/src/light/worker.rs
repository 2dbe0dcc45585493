//! A light worker: one tokio task holding many light subscribers. Their sockets are in one
//! epoll set registered with tokio; when it is readable, one `epoll_wait` says which sockets have
//! datagrams and `recvmmsg` reads each one's into buffers allocated once. Rounds of reading are
//! at least [`COALESCE`] apart, so under load a wake-up reads many sockets instead of one
//! datagram (arrival times come from the kernel, so feedback stays exact). Connection timers and
//! RTCP run off one 5 ms tick. Signaling tasks reach the worker with [`Command`]s.

use super::subscriber::Subscriber;
use super::sys::{wall_clock_us, Epoll, RecvBatch, BATCH};
use super::LightError;
use rtc::peer_connection::transport::RTCIceCandidateInit;
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

/// The worker's timer resolution: connection timers, TWCC feedback and reports.
const TICK: Duration = Duration::from_millis(5);
/// The least time between two rounds of reading while datagrams keep coming.
const COALESCE: Duration = Duration::from_millis(4);
/// `recvmmsg` calls per socket per round at most (a socket with more waits for the next round).
const READS_PER_ROUND: usize = 8;
/// Ready sockets taken per `epoll_wait`.
const EVENTS: usize = 256;

pub enum Command {
    Add {
        subscriber: Box<Subscriber>,
        reply: oneshot::Sender<Result<usize, LightError>>,
    },
    Offer {
        slot: usize,
        sdp: String,
        reply: oneshot::Sender<Result<String, LightError>>,
    },
    Candidate {
        slot: usize,
        candidate: RTCIceCandidateInit,
    },
    Remove {
        slot: usize,
    },
}

/// How signaling tasks reach a worker; the worker stops when every handle is gone.
#[derive(Clone)]
pub struct WorkerHandle(mpsc::UnboundedSender<Command>);

impl WorkerHandle {
    /// Starts a worker task on the current tokio runtime.
    pub fn spawn() -> Result<Self, LightError> {
        // SAFETY: `Epoll` owns its descriptor and returns that same one from `as_raw_fd` until
        // it is dropped, which the `AsyncFd` does.
        let epoll = unsafe { AsyncFd::register_with_interest(Epoll::new()?, Interest::READABLE) }
            .map_err(std::io::Error::from)?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(epoll, Worker::default(), rx));
        Ok(Self(tx))
    }

    /// Hands a subscriber to the worker; its slot, for the other commands.
    pub async fn add(&self, subscriber: Subscriber) -> Result<usize, LightError> {
        let (reply, answer) = oneshot::channel();
        let subscriber = Box::new(subscriber);
        self.send(Command::Add { subscriber, reply })?;
        answer.await.map_err(|_| LightError::WorkerStopped)?
    }

    /// Applies a server offer to the subscriber in `slot`; its answer.
    pub async fn offer(&self, slot: usize, sdp: String) -> Result<String, LightError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Offer { slot, sdp, reply })?;
        answer.await.map_err(|_| LightError::WorkerStopped)?
    }

    pub fn candidate(&self, slot: usize, candidate: RTCIceCandidateInit) {
        let _ = self.send(Command::Candidate { slot, candidate });
    }

    pub fn remove(&self, slot: usize) {
        let _ = self.send(Command::Remove { slot });
    }

    fn send(&self, command: Command) -> Result<(), LightError> {
        self.0.send(command).map_err(|_| LightError::WorkerStopped)
    }
}

struct Worker {
    /// Slot → subscriber; a slot is the epoll token of its socket.
    slots: Vec<Option<Subscriber>>,
    free: Vec<usize>,
    batch: RecvBatch,
    events: Vec<libc::epoll_event>,
    ready: Vec<u64>,
}

impl Default for Worker {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            batch: RecvBatch::default(),
            events: vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS],
            ready: Vec::with_capacity(EVENTS),
        }
    }
}

async fn run(
    epoll: AsyncFd<Epoll>,
    mut worker: Worker,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            command = commands.recv() => match command {
                Some(command) => worker.apply(epoll.get_ref(), command),
                None => break,
            },
            _ = tick.tick() => worker.on_tick(Instant::now()),
            guard = epoll.readable() => match guard {
                Ok(mut guard) => {
                    if worker.receive(epoll.get_ref()) == 0 {
                        guard.clear_ready();
                    } else {
                        drop(guard);
                        tokio::time::sleep(COALESCE).await;
                    }
                }
                Err(err) => {
                    tracing::warn!(%err, "light worker: epoll failed");
                    break;
                }
            },
        }
    }
    let now = Instant::now();
    for slot in 0..worker.slots.len() {
        worker.remove(epoll.get_ref(), slot, now);
    }
}

impl Worker {
    fn apply(&mut self, epoll: &Epoll, command: Command) {
        let now = Instant::now();
        match command {
            Command::Add { subscriber, reply } => {
                let _ = reply.send(self.add(epoll, *subscriber));
            }
            Command::Offer { slot, sdp, reply } => {
                let answer = match self.slots.get_mut(slot).and_then(Option::as_mut) {
                    Some(subscriber) => subscriber.answer(now, sdp).and_then(|answer| {
                        // An ICE-TCP subscriber's connection opens with its first offer.
                        match subscriber.take_new_fd() {
                            Some(fd) => epoll.add(fd, slot as u64).map(|_| answer),
                            None => Ok(answer),
                        }
                        .map_err(LightError::from)
                    }),
                    None => Err(LightError::WorkerStopped),
                };
                let _ = reply.send(answer);
            }
            Command::Candidate { slot, candidate } => {
                if let Some(subscriber) = self.slots.get_mut(slot).and_then(Option::as_mut) {
                    subscriber.add_candidate(candidate);
                }
            }
            Command::Remove { slot } => self.remove(epoll, slot, now),
        }
    }

    fn add(&mut self, epoll: &Epoll, subscriber: Subscriber) -> Result<usize, LightError> {
        let slot = self.free.pop().unwrap_or(self.slots.len());
        if let Some(fd) = subscriber.fd() {
            if let Err(err) = epoll.add(fd, slot as u64) {
                self.free.push(slot);
                return Err(err.into());
            }
        }
        if slot == self.slots.len() {
            self.slots.push(Some(subscriber));
        } else {
            self.slots[slot] = Some(subscriber);
        }
        Ok(slot)
    }

    fn remove(&mut self, epoll: &Epoll, slot: usize, now: Instant) {
        if let Some(mut subscriber) = self.slots.get_mut(slot).and_then(Option::take) {
            if let Some(fd) = subscriber.fd() {
                let _ = epoll.remove(fd);
            }
            subscriber.close(now);
            self.free.push(slot);
        }
    }

    fn on_tick(&mut self, now: Instant) {
        for subscriber in self.slots.iter_mut().flatten() {
            subscriber.on_tick(now);
        }
    }

    /// Reads every ready socket; how many were ready (0: the epoll set is drained).
    fn receive(&mut self, epoll: &Epoll) -> usize {
        let ready = epoll.ready(&mut self.events, &mut self.ready);
        for &token in &self.ready {
            let Some(subscriber) = self.slots.get_mut(token as usize).and_then(Option::as_mut)
            else {
                continue;
            };
            let Some(fd) = subscriber.fd() else { continue };
            if subscriber.is_tcp() {
                // A closed connection's descriptor is closed with it, leaving the epoll set.
                subscriber.read_tcp(Instant::now());
                continue;
            }
            for _ in 0..READS_PER_ROUND {
                let count = match self.batch.recv(fd) {
                    Ok(count) => count,
                    Err(err) => {
                        tracing::debug!(%err, "light subscriber: receive failed");
                        break;
                    }
                };
                let now = Instant::now();
                for i in 0..count {
                    let arrival_us = self.batch.arrival_us(i).unwrap_or_else(wall_clock_us);
                    let source = self.batch.source(i);
                    subscriber.on_datagram(self.batch.datagram(i), source, now, arrival_us);
                }
                if count < BATCH {
                    break;
                }
            }
        }
        ready
    }
}
