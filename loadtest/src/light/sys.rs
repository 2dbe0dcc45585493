//! The system calls a light worker needs beyond the standard library: one epoll set over every
//! subscriber's socket (itself registered with tokio, so a worker is an ordinary task that
//! learns which sockets are ready from one `epoll_wait`), and `recvmmsg` to read a socket's
//! queued datagrams in one call into buffers allocated once, each with the kernel's arrival time
//! (`SO_TIMESTAMPNS`), so a worker that reads late still reports exact arrivals in its TWCC
//! feedback. Linux only, like `/proc`.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{SystemTime, UNIX_EPOCH};

/// An epoll set: sockets registered for reading, each with a token.
#[derive(Debug)]
pub struct Epoll(OwnedFd);

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

impl Epoll {
    pub fn new() -> io::Result<Self> {
        // SAFETY: no pointers are passed; the result is checked.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just created and is owned by nothing else.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Watches `fd` for reading (level-triggered); its events carry `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `event` is a valid epoll_event for the duration of the call.
        check(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) })
            .map(drop)
    }

    pub fn remove(&self, fd: RawFd) -> io::Result<()> {
        // SAFETY: a null event is allowed for EPOLL_CTL_DEL (Linux ≥ 2.6.9).
        check(unsafe {
            libc::epoll_ctl(
                self.0.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        })
        .map(drop)
    }

    /// The tokens of ready sockets, without waiting; returns how many were written to `ready`.
    pub fn ready(&self, events: &mut [libc::epoll_event], ready: &mut Vec<u64>) -> usize {
        let max = events.len().min(i32::MAX as usize) as libc::c_int;
        // SAFETY: `events` is writable for `max` entries; timeout 0 never blocks.
        let n = unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), max, 0) };
        ready.clear();
        // An error (EINTR) reads as nothing ready: the caller comes back on the next wake-up.
        for event in events.iter().take(n.max(0) as usize) {
            ready.push(event.u64);
        }
        ready.len()
    }
}

impl AsRawFd for Epoll {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Asks the kernel to stamp every datagram `fd` receives with its arrival time.
pub fn enable_timestamps(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a c_int that lives for the call, its size passed alongside.
    check(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Microseconds since the Unix epoch now: the clock of the kernel's datagram timestamps.
pub fn wall_clock_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Datagrams read per `recvmmsg`, and the room for each (larger ones are cut, and then
/// count as malformed).
pub const BATCH: usize = 32;
pub const SLOT: usize = 2048;

/// Room for one control message holding a `timespec` (8-byte aligned, as cmsghdr needs).
type Control = [u64; 8];

/// Buffers for one `recvmmsg` of up to [`BATCH`] datagrams, allocated once per worker.
pub struct RecvBatch {
    buf: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    controls: Vec<Control>,
    lens: [usize; BATCH],
    /// Kernel arrival times, µs since the Unix epoch.
    arrivals: [Option<i64>; BATCH],
    count: usize,
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self {
            buf: vec![0; BATCH * SLOT],
            // SAFETY: sockaddr_storage is plain data; all zeroes is a valid (AF_UNSPEC) value.
            addrs: vec![unsafe { zeroed() }; BATCH],
            controls: vec![[0; 8]; BATCH],
            lens: [0; BATCH],
            arrivals: [None; BATCH],
            count: 0,
        }
    }
}

impl RecvBatch {
    /// Reads what `fd` has queued (up to [`BATCH`] datagrams) without blocking; how many.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.count = 0;
        // SAFETY: iovec and mmsghdr are plain C structs for which all zeroes is valid.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for (i, (iov, msg)) in iovecs.iter_mut().zip(msgs.iter_mut()).enumerate() {
            iov.iov_base = self.buf[i * SLOT..].as_mut_ptr().cast();
            iov.iov_len = SLOT;
            msg.msg_hdr.msg_iov = iov;
            msg.msg_hdr.msg_iovlen = 1;
            msg.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            msg.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msg.msg_hdr.msg_control = self.controls[i].as_mut_ptr().cast();
            msg.msg_hdr.msg_controllen = size_of::<Control>() as _;
        }
        // SAFETY: every msghdr points at a live iovec over `SLOT` bytes of `self.buf`, at a
        // sockaddr_storage of `self.addrs` and at a control buffer of `self.controls`, all
        // outliving the call; MSG_DONTWAIT never blocks.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(err),
            };
        }
        self.count = n as usize;
        for (i, msg) in msgs.iter().enumerate().take(self.count) {
            self.lens[i] = (msg.msg_len as usize).min(SLOT);
            self.arrivals[i] = timestamp(&msg.msg_hdr);
        }
        Ok(self.count)
    }

    /// When datagram `i` arrived (µs since the Unix epoch), if the kernel stamped it.
    pub fn arrival_us(&self, i: usize) -> Option<i64> {
        self.arrivals[i]
    }

    /// Datagram `i` of the last read.
    pub fn datagram(&self, i: usize) -> &[u8] {
        &self.buf[i * SLOT..i * SLOT + self.lens[i]]
    }

    /// Where datagram `i` came from.
    pub fn source(&self, i: usize) -> Option<SocketAddr> {
        socket_addr(&self.addrs[i])
    }
}

/// The `SCM_TIMESTAMPNS` control message of a received datagram, in µs.
fn timestamp(msg: &libc::msghdr) -> Option<i64> {
    // SAFETY: `msg` is a msghdr the kernel just filled: its control pointer and length describe
    // the control buffer, which the CMSG_* macros walk within bounds.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let at: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                return Some(at.tv_sec * 1_000_000 + at.tv_nsec / 1_000);
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    None
}

fn socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large enough for.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn reads_a_batch_with_sources_and_tells_which_socket_is_ready() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let epoll = Epoll::new().unwrap();
        epoll.add(a.as_raw_fd(), 1).unwrap();
        epoll.add(b.as_raw_fd(), 2).unwrap();
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 8];
        let mut ready = Vec::new();
        assert_eq!(epoll.ready(&mut events, &mut ready), 0);
        for payload in [&b"one"[..], b"two", b"three"] {
            sender.send_to(payload, b.local_addr().unwrap()).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        epoll.ready(&mut events, &mut ready);
        assert_eq!(ready, [2]);
        let mut batch = RecvBatch::default();
        assert_eq!(batch.recv(b.as_raw_fd()).unwrap(), 3);
        assert_eq!(batch.arrival_us(0), None, "timestamps not asked for");
        assert_eq!(batch.datagram(2), b"three");
        assert_eq!(batch.source(0), Some(sender.local_addr().unwrap()));
        assert_eq!(batch.recv(b.as_raw_fd()).unwrap(), 0, "drained");
        epoll.remove(b.as_raw_fd()).unwrap();
        assert!(epoll.remove(b.as_raw_fd()).is_err(), "already removed");

        enable_timestamps(a.as_raw_fd()).unwrap();
        // The kernel turns receive timestamping on for the whole stack from a deferred work
        // item; until it runs, datagrams are stamped when read. Give it time to.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let sent_at = wall_clock_us();
        sender.send_to(b"stamped", a.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(batch.recv(a.as_raw_fd()).unwrap(), 1);
        let arrived = batch.arrival_us(0).expect("a kernel timestamp");
        assert!(
            (sent_at..sent_at + 40_000).contains(&arrived),
            "stamped on arrival, not when read: {arrived} vs {sent_at}"
        );
    }
}
