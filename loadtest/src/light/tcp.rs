//! A light subscriber over ICE-TCP, as a browser on a network without UDP connects: an active
//! TCP candidate, one connection to the server's passive candidate (RFC 6544), each packet
//! behind a 16-bit length (RFC 4571). The connection is opened when the server's offer names
//! the candidate; reads are cut into frames, writes framed and queued while the socket is full.

use bytes::{Buf, BytesMut};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};

/// Bytes read per call.
const READ_CHUNK: usize = 64 * 1024;
/// Bytes queued for a server that does not read before the subscriber gives up on it.
const MAX_OUTBOX: usize = 1 << 20;

/// How a light subscriber's packets travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LightTransport {
    #[default]
    Udp,
    Tcp,
}

pub struct TcpLink {
    stream: TcpStream,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    inbox: BytesMut,
    outbox: Vec<u8>,
}

impl TcpLink {
    /// Connects to the server's passive candidate (on loopback or a LAN this completes at once).
    pub fn connect(server: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(server)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        Ok(Self {
            local: stream.local_addr()?,
            peer: server,
            stream,
            inbox: BytesMut::with_capacity(READ_CHUNK),
            outbox: Vec::new(),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Everything readable now, as whole frames; `Err` once the server closed the connection.
    pub fn read_frames(&mut self, frames: &mut Vec<BytesMut>) -> io::Result<()> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.inbox.extend_from_slice(&chunk[..n]),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
        while self.inbox.len() >= 2 {
            let len = usize::from(u16::from_be_bytes([self.inbox[0], self.inbox[1]]));
            if self.inbox.len() < 2 + len {
                break;
            }
            self.inbox.advance(2);
            frames.push(self.inbox.split_to(len));
        }
        Ok(())
    }

    /// Frames and sends one packet (queued behind what the socket did not take yet).
    pub fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        let len = u16::try_from(packet.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "packet too long"))?;
        if self.outbox.len() + packet.len() > MAX_OUTBOX {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.outbox.extend_from_slice(&len.to_be_bytes());
        self.outbox.extend_from_slice(packet);
        self.flush()
    }

    /// Writes what is queued, as far as the socket takes it.
    pub fn flush(&mut self) -> io::Result<()> {
        while !self.outbox.is_empty() {
            match self.stream.write(&self.outbox) {
                Ok(n) => {
                    self.outbox.drain(..n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

/// The first passive TCP host candidate among an SDP's `a=candidate` lines.
pub fn passive_candidate(sdp: &str) -> Option<SocketAddr> {
    sdp.lines().find_map(|line| {
        let fields: Vec<&str> = line
            .trim()
            .strip_prefix("a=candidate:")?
            .split_whitespace()
            .collect();
        let passive = fields.get(2)?.eq_ignore_ascii_case("tcp")
            && fields.get(6..8) == Some(&["typ", "host"][..])
            && fields.get(8..10) == Some(&["tcptype", "passive"][..]);
        passive.then(|| format!("{}:{}", fields[4], fields[5]).parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_passive_tcp_candidate_is_found() {
        #[rustfmt::skip]
        let cases: [(&str, Option<&str>); 4] = [
            ("a=candidate:1 1 udp 2130706431 127.0.0.1 7882 typ host\r\na=candidate:2 1 tcp 1671430143 127.0.0.1 7881 typ host tcptype passive\r\n", Some("127.0.0.1:7881")),
            ("a=candidate:1 1 udp 2130706431 127.0.0.1 7882 typ host\r\n",                                                                           None),
            ("a=candidate:3 1 tcp 1518280447 10.0.0.2 9 typ host tcptype active\r\n",                                                                 None),
            ("a=candidate:4 1 tcp 1671430143 not-an-ip 7881 typ host tcptype passive\r\n",                                                          None),
        ];
        for (sdp, want) in cases {
            let want = want.map(|a| a.parse::<SocketAddr>().unwrap());
            assert_eq!(passive_candidate(sdp), want, "{sdp}");
        }
    }

    #[test]
    fn frames_cross_a_real_connection_in_both_directions() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut link = TcpLink::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        link.send(b"ping").unwrap();
        let mut got = [0u8; 6];
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"\x00\x04ping");
        // Two frames, the second split across writes.
        server.write_all(b"\x00\x02hi\x00\x03a").unwrap();
        let mut frames = Vec::new();
        while frames.is_empty() {
            link.read_frames(&mut frames).unwrap();
        }
        assert_eq!(frames, vec![BytesMut::from(&b"hi"[..])]);
        server.write_all(b"bc").unwrap();
        frames.clear();
        while frames.is_empty() {
            link.read_frames(&mut frames).unwrap();
        }
        assert_eq!(frames, vec![BytesMut::from(&b"abc"[..])]);
        drop(server);
        let closed = loop {
            match link.read_frames(&mut frames) {
                Ok(()) => continue,
                Err(err) => break err,
            }
        };
        assert_eq!(closed.kind(), io::ErrorKind::UnexpectedEof);
    }
}
