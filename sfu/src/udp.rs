//! Many datagrams per system call. One datagram from a publisher becomes one for each of its
//! subscribers in the same pass of the core; `sendmmsg(2)` hands the kernel up to
//! [`SEND_BATCH`] of them at once instead of one `sendto` each.

use socket2::SockAddr;
#[cfg(not(target_os = "linux"))]
use socket2::SockRef;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

/// Datagrams per `sendmmsg` call (Linux caps a call at 1024; more buys little).
pub const SEND_BATCH: usize = 64;

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
    fn a_refused_first_datagram_is_an_error() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        // An IPv6 destination from an IPv4 socket.
        let bytes = [1u8; 10];
        let err = send_many(&sender, &[("[::1]:9".parse().unwrap(), &bytes[..])]).unwrap_err();
        assert_ne!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(SockRef::from(&sender).local_addr().is_ok());
    }
}
