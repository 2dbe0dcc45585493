//! The receive loop of one shared UDP socket: reads up to 32 datagrams per `recvmmsg` into a
//! shared buffer (`crate::udp`), then hands each to the worker owning its connection, one
//! batch per worker per wake-up. With one worker nothing is looked up.

use super::worker::Received;
use crate::core::input::Datagram;
use crate::flow::Flow;
use crate::node::Node;
use crate::stats::SfuStats;
use crate::udp;
use bytes::BytesMut;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Datagrams read per wake-up before handing them to the workers.
const RECV_BATCH: usize = 64;

pub(super) struct Dispatch {
    pub socket: UdpSocket,
    pub advertised: SocketAddr,
    /// Each worker's datagram queue, by worker index.
    pub workers: Vec<mpsc::Sender<Vec<Received>>>,
    pub node: Arc<Node>,
    pub stats: Arc<SfuStats>,
}

pub(super) async fn receive_loop(mut dispatch: Dispatch) {
    let mut buffer = udp::RecvBuffer::default();
    let mut read = Vec::with_capacity(RECV_BATCH);
    loop {
        if let Err(err) = dispatch.socket.readable().await {
            tracing::warn!(%err, "udp socket failed");
            return;
        }
        let socket = &dispatch.socket;
        // Everything waiting, up to RECV_BATCH datagrams per hand-over.
        while read.len() < RECV_BATCH {
            match socket.try_io(Interest::READABLE, || {
                udp::recv_many(socket, &mut buffer, &mut read)
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
        if !dispatch.hand_over(Instant::now(), &mut read) {
            tracing::info!("media workers gone: receive loop stops");
            return;
        }
    }
}

impl Dispatch {
    /// Queues each datagram on its worker; false once every worker is gone. A worker whose
    /// queue is full loses the datagrams (counted), as a full socket buffer would: one slow
    /// worker never holds up the others.
    fn hand_over(&mut self, at: Instant, read: &mut Vec<(SocketAddr, BytesMut)>) -> bool {
        let local = self.advertised;
        let received = |(peer, data)| Received {
            at,
            datagram: Datagram {
                flow: Flow::udp(local, peer),
                data,
            },
        };
        if self.workers.len() == 1 {
            let batch: Vec<Received> = read.drain(..).map(received).collect();
            return self.queue(0, batch);
        }
        let mut batches: Vec<Vec<Received>> = self.workers.iter().map(|_| Vec::new()).collect();
        {
            let router = self.node.demux.router();
            for (peer, data) in read.drain(..) {
                match router.worker_for(local, peer, &data) {
                    Some(worker) if worker < batches.len() => {
                        batches[worker].push(received((peer, data)))
                    }
                    _ => SfuStats::add(&self.stats.unroutable_datagrams, 1),
                }
            }
        }
        let mut alive = false;
        for (worker, batch) in batches.into_iter().enumerate() {
            alive |= self.queue(worker, batch);
        }
        alive
    }

    /// False if the worker is gone.
    fn queue(&self, worker: usize, batch: Vec<Received>) -> bool {
        if batch.is_empty() {
            return !self.workers[worker].is_closed();
        }
        let count = batch.len() as u64;
        match self.workers[worker].try_send(batch) {
            Ok(()) => {
                if let Some(stats) = self.stats.workers.get(worker) {
                    SfuStats::add(&stats.received_datagrams, count);
                }
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                SfuStats::add(&self.stats.worker_queue_drops, count);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}
