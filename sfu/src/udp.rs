//! Many datagrams per system call. One datagram from a publisher becomes one for each of its
//! subscribers in the same pass of the core; `sendmmsg(2)` hands the kernel up to
//! [`SEND_BATCH`] of them at once instead of one `sendto` each. Receiving, `recvmmsg(2)` reads
//! up to [`RECV_BATCH`] into one buffer, which the datagrams then share (one allocation per
//! batch, not one per datagram).

use bytes::BytesMut;
#[cfg(not(target_os = "linux"))]
use socket2::SockRef;
use socket2::{SockAddr, SockAddrStorage};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

/// Datagrams per `sendmmsg` call (Linux caps a call at 1024; more buys little).
pub const SEND_BATCH: usize = 64;
/// Datagrams per `recvmmsg` call.
pub const RECV_BATCH: usize = 32;
/// Room for one datagram: more than any WebRTC peer sends (they stay under ~1500 bytes); a
/// longer one is cut short, and dropped.
pub const DATAGRAM_ROOM: usize = 2048;

/// A new receive buffer is taken when fewer datagrams than this fit in the current one.
const RECV_REFILL: usize = 8;

/// Where received datagrams are read into; keep one per socket.
#[derive(Default)]
pub struct RecvBuffer {
    arena: BytesMut,
}

/// Sends a prefix of `datagrams` (destination, bytes) in one system call and says how many went
/// (at least one). An error is about the first datagram (`WouldBlock`: the socket buffer is
/// full); the kernel stops a batch at a datagram it refuses and reports the ones before it.
#[cfg(target_os = "linux")]
pub fn send_many(socket: &impl AsFd, datagrams: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let datagrams = &datagrams[..datagrams.len().min(SEND_BATCH)];
    if datagrams.is_empty() {
        return Ok(0);
    }
    let addrs: Vec<SockAddr> = datagrams
        .iter()
        .map(|(to, _)| SockAddr::from(*to))
        .collect();
    let mut iovs: Vec<libc::iovec> = datagrams
        .iter()
        .map(|(_, bytes)| libc::iovec {
            iov_base: bytes.as_ptr().cast_mut().cast(),
            iov_len: bytes.len(),
        })
        .collect();
    let mut messages: Vec<libc::mmsghdr> = addrs
        .iter()
        .zip(iovs.iter_mut())
        .map(|(addr, iov)| {
            // SAFETY: an all-zero `mmsghdr` is valid (null pointers, zero lengths).
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_name = addr.as_ptr().cast_mut().cast();
            m.msg_hdr.msg_namelen = addr.len();
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    let fd = socket.as_fd().as_raw_fd();
    // SAFETY: every header points into `addrs`, `iovs` and the borrowed datagrams, all alive
    // and unmoved until the call returns; the kernel only reads them (and writes `msg_len`).
    let sent =
        unsafe { libc::sendmmsg(fd, messages.as_mut_ptr(), messages.len() as libc::c_uint, 0) };
    if sent < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(sent as usize)
    }
}

/// Reads the datagrams waiting on `socket`, up to [`RECV_BATCH`], in one system call, and
/// appends them to `out` with their senders. `WouldBlock` when there are none. Datagrams that
/// did not fit [`DATAGRAM_ROOM`] are dropped.
#[cfg(target_os = "linux")]
pub fn recv_many(
    socket: &impl AsFd,
    buffer: &mut RecvBuffer,
    out: &mut Vec<(SocketAddr, BytesMut)>,
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let arena = &mut buffer.arena;
    // Datagrams of earlier calls share the buffer; read into what is left of it until that is
    // little, then into a new one (the old one is freed with the last datagram using it).
    if arena.capacity() - arena.len() < RECV_REFILL * DATAGRAM_ROOM {
        arena.reserve(RECV_BATCH * DATAGRAM_ROOM);
    }
    debug_assert!(arena.is_empty(), "every datagram read is split off");
    let slots = ((arena.capacity() - arena.len()) / DATAGRAM_ROOM).min(RECV_BATCH);
    let spare = &mut arena.spare_capacity_mut()[..slots * DATAGRAM_ROOM];
    let mut names: Vec<SockAddrStorage> = (0..slots).map(|_| SockAddrStorage::zeroed()).collect();
    let mut iovs: Vec<libc::iovec> = spare
        .chunks_exact_mut(DATAGRAM_ROOM)
        .map(|room| libc::iovec {
            iov_base: room.as_mut_ptr().cast(),
            iov_len: DATAGRAM_ROOM,
        })
        .collect();
    let mut messages: Vec<libc::mmsghdr> = names
        .iter_mut()
        .zip(iovs.iter_mut())
        .map(|(name, iov)| {
            // SAFETY: an all-zero `mmsghdr` is valid (null pointers, zero lengths).
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_namelen = name.size_of();
            m.msg_hdr.msg_name = (name as *mut SockAddrStorage).cast();
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    // SAFETY: every header points at a name, an iovec and a slot of the arena's spare capacity,
    // all alive and unmoved until the call returns; the kernel writes at most `iov_len` bytes
    // into each slot and at most `msg_namelen` into each name.
    let received = unsafe {
        libc::recvmmsg(
            socket.as_fd().as_raw_fd(),
            messages.as_mut_ptr(),
            slots as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if received < 0 {
        return Err(io::Error::last_os_error());
    }
    let received = received as usize;
    // SAFETY: the first `received` slots were written by the kernel (up to `msg_len` bytes
    // each); the rest of each slot is never read: every datagram is cut to its length below.
    unsafe { arena.set_len(received * DATAGRAM_ROOM) };
    let mut kept = 0;
    for (message, name) in messages.iter().zip(names).take(received) {
        let mut datagram = arena.split_to(DATAGRAM_ROOM);
        let len = message.msg_len as usize;
        if message.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 || len > DATAGRAM_ROOM {
            continue;
        }
        datagram.truncate(len);
        // SAFETY: the kernel wrote a socket address of `msg_namelen` bytes into `name`.
        let from = unsafe { SockAddr::new(name, message.msg_hdr.msg_namelen) };
        if let Some(from) = from.as_socket() {
            out.push((from, datagram));
            kept += 1;
        }
    }
    Ok(kept)
}

/// Elsewhere, one `recvfrom` per call.
#[cfg(not(target_os = "linux"))]
pub fn recv_many(
    socket: &impl AsFd,
    _buffer: &mut RecvBuffer,
    out: &mut Vec<(SocketAddr, BytesMut)>,
) -> io::Result<usize> {
    let mut room = BytesMut::zeroed(DATAGRAM_ROOM);
    let (len, from) = SockRef::from(socket).recv_from(unsafe {
        // SAFETY: `room` is initialised (zeroed); recv_from only writes into it.
        &mut *(room.as_mut() as *mut [u8] as *mut [std::mem::MaybeUninit<u8>])
    })?;
    room.truncate(len);
    match from.as_socket() {
        Some(from) => {
            out.push((from, room));
            Ok(1)
        }
        None => Ok(0),
    }
}

/// Elsewhere, one `sendto` per call.
#[cfg(not(target_os = "linux"))]
pub fn send_many(socket: &impl AsFd, datagrams: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    let Some((to, bytes)) = datagrams.first() else {
        return Ok(0);
    };
    SockRef::from(socket).send_to(bytes, &SockAddr::from(*to))?;
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::SockRef;
    use std::net::UdpSocket;

    #[test]
    fn a_batch_reaches_every_destination_in_order() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let receivers: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let payloads: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; 100 + usize::from(i)]).collect();
        let datagrams: Vec<(SocketAddr, &[u8])> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| (receivers[i % 3].local_addr().unwrap(), p.as_slice()))
            .collect();
        let mut sent = 0;
        while sent < datagrams.len() {
            let n = send_many(&sender, &datagrams[sent..]).unwrap();
            assert!((1..=SEND_BATCH).contains(&n));
            sent += n;
        }
        let mut buf = [0u8; 512];
        for (i, payload) in payloads.iter().enumerate() {
            let (n, from) = receivers[i % 3].recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], payload.as_slice(), "datagram {i}");
            assert_eq!(from, sender.local_addr().unwrap());
        }
    }

    #[test]
    fn received_datagrams_come_whole_with_their_senders() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver.set_nonblocking(true).unwrap();
        let to = receiver.local_addr().unwrap();
        let senders: Vec<UdpSocket> = (0..2)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let mut buffer = RecvBuffer::default();
        let mut out = Vec::new();
        let err = recv_many(&receiver, &mut buffer, &mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "nothing waiting");
        // 40 datagrams (more than one call's worth), one too long to keep.
        for i in 0..40u8 {
            let len = if i == 7 {
                DATAGRAM_ROOM + 10
            } else {
                1 + usize::from(i) * 30
            };
            senders[usize::from(i % 2)]
                .send_to(&vec![i; len], to)
                .unwrap();
        }
        let mut calls = 0;
        while let Ok(n) = recv_many(&receiver, &mut buffer, &mut out) {
            assert!(n <= RECV_BATCH);
            calls += 1;
        }
        assert!(calls >= 2);
        assert_eq!(out.len(), 39, "all but the one that did not fit");
        for (from, datagram) in &out {
            let i = datagram[0];
            assert_ne!(i, 7);
            assert_eq!(datagram.len(), 1 + usize::from(i) * 30);
            assert!(datagram.iter().all(|&b| b == i));
            assert_eq!(*from, senders[usize::from(i % 2)].local_addr().unwrap());
        }
    }

    #[test]
    fn a_refused_first_datagram_is_an_error() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        // An IPv6 destination from an IPv4 socket.
        let bytes = [1u8; 10];
        let err = send_many(&sender, &[("[::1]:9".parse().unwrap(), &bytes[..])]).unwrap_err();
        assert_ne!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(SockRef::from(&sender).local_addr().is_ok());
    }
}
