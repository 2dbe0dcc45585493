//! The HTTP listener: Parley's own accept loop around hyper, so that nothing a client does with
//! bare TCP holds the server. A connection must finish its request head within
//! [`HEADER_READ_TIMEOUT`]; there is a cap on connections overall and per client IP (loopback,
//! where a reverse proxy connects from, counts only against the overall cap); every socket gets
//! `TCP_NODELAY` (small chat frames go out at once). Each request carries its peer address as
//! axum's `ConnectInfo` and a [`SendBufferRequest`]. At shutdown, connections finish their current request and close.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// A connection that has not sent a whole request head by then is closed (slowloris).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for requests in flight before it closes their connections.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Open connections, overall and per IP (exported as `parley_http_connections`, refusals as
/// `parley_http_connections_refused_total`).
#[derive(Debug)]
pub struct ConnectionTracker {
    limits: ConnectionLimits,
    counts: Mutex<Counts>,
    open: prometheus::IntGauge,
    refused: prometheus::IntCounter,
}

/// One admitted connection: released when its socket (or the WebSocket it became) closes.
#[derive(Debug)]
pub struct Slot {
    tracker: Arc<ConnectionTracker>,
    ip: IpAddr,
}

impl ConnectionTracker {
    pub fn new(
        limits: ConnectionLimits,
        open: prometheus::IntGauge,
        refused: prometheus::IntCounter,
    ) -> Arc<Self> {
        Arc::new(Self {
            limits,
            counts: Mutex::default(),
            open,
            refused,
        })
    }

    /// A slot for a connection from `ip`, or `None` when a cap is reached.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut counts = self.counts.lock().ok()?;
        let mine = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if counts.total >= self.limits.max_connections
            || (!ip.is_loopback() && mine >= self.limits.max_connections_per_ip)
        {
            self.refused.inc();
            return None;
        }
        self.open.inc();
        counts.total += 1;
        *counts.per_ip.entry(ip).or_default() += 1;
        Some(Slot {
            tracker: self.clone(),
            ip,
        })
    }

    pub fn open(&self) -> usize {
        self.counts.lock().map(|c| c.total).unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.tracker.counts.lock() {
            self.tracker.open.dec();
            counts.total = counts.total.saturating_sub(1);
            if let Some(n) = counts.per_ip.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    counts.per_ip.remove(&self.ip);
                }
            }
        }
    }
}

/// Lets a request's handler resize its connection's kernel send buffer (a WebSocket asks for
/// a small one: see `ws.rs`). Carried as a request extension; the connection applies it before
/// its next write, so the socket itself never leaves the connection.
#[derive(Debug, Clone, Default)]
pub struct SendBufferRequest(Arc<AtomicUsize>);

impl SendBufferRequest {
    pub fn request(&self, bytes: usize) {
        self.0.store(bytes, Ordering::Relaxed);
    }
}

/// A socket holding its slot: the slot goes when the socket does, also after an upgrade.
struct Counted {
    stream: TcpStream,
    send_buffer: SendBufferRequest,
    _slot: Slot,
}

impl Counted {
    fn apply_requests(&self) {
        // Read first: a write to the shared atomic on every socket write costs more than the
        // rare request it serves.
        if self.send_buffer.0.load(Ordering::Relaxed) == 0 {
            return;
        }
        let bytes = self.send_buffer.0.swap(0, Ordering::Relaxed);
        if bytes > 0 {
            if let Err(err) = socket2::SockRef::from(&self.stream).set_send_buffer_size(bytes) {
                tracing::debug!(%err, "could not resize a socket's send buffer");
            }
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.apply_requests();
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.apply_requests();
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Serves `app` on `listener` until `shutdown` turns true, then drains.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tracker: Arc<ConnectionTracker>,
    shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    let stop = shutdown.clone();
    let stopping = draining(shutdown);
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let Some(slot) = tracker.admit(remote.ip()) else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let io = Counted { stream, send_buffer: SendBufferRequest::default(), _slot: slot };
                    connections.spawn(connection(io, remote, app.clone(), stop.clone()));
                }
                Err(err) => {
                    // Out of file descriptors, most likely: let some close.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut stopping => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
}

/// Resolves once the server starts draining.
async fn draining(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|draining| *draining).await;
}

async fn connection(io: Counted, remote: SocketAddr, app: Router, shutdown: watch::Receiver<bool>) {
    let send_buffer = io.send_buffer.clone();
    let service = app.map_request(move |mut request: axum::http::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        request.extensions_mut().insert(send_buffer.clone());
        request
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let conn = builder
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(conn);
    let finished = tokio::select! {
        _ = conn.as_mut() => true,
        () = draining(shutdown) => false,
    };
    if !finished {
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_overall_and_per_ip_with_loopback_exempt_from_the_per_ip_cap() {
        let refused = prometheus::IntCounter::new("refused", "-").unwrap();
        let tracker = ConnectionTracker::new(
            ConnectionLimits {
                max_connections: 4,
                max_connections_per_ip: 2,
            },
            prometheus::IntGauge::new("open", "-").unwrap(),
            refused.clone(),
        );
        let remote: IpAddr = "203.0.113.7".parse().unwrap();
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let a = tracker.admit(remote).unwrap();
        let _b = tracker.admit(remote).unwrap();
        assert!(tracker.admit(remote).is_none(), "per-IP cap");
        let _c = tracker.admit(proxy).unwrap();
        let _d = tracker.admit(proxy).unwrap();
        assert!(tracker.admit(proxy).is_none(), "overall cap");
        drop(a);
        assert_eq!(tracker.open(), 3);
        assert!(
            tracker.admit(remote).is_some(),
            "a closed connection frees its slot"
        );
        assert_eq!(refused.get(), 2);
    }
}
