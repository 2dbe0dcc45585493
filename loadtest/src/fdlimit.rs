//! The open-file limit: every WebSocket is a file descriptor, so 10,000 chatters need far more
//! than the usual soft limit of 1,024. At startup the soft limit is raised to the hard limit
//! (which needs no privilege).

use std::io;

/// Raises this process's open-file soft limit to its hard limit; returns the soft limit now in
/// force.
pub fn raise_to_hard() -> io::Result<u64> {
    let mut limit = current()?;
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: `limit` is a valid, initialised `rlimit` that lives across the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(current()?.rlim_cur as u64)
}

/// The open-file soft limit in force.
pub fn soft() -> io::Result<u64> {
    Ok(current()?.rlim_cur as u64)
}

fn current() -> io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` only writes into `limit`, a valid `rlimit` owned by this frame.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    #[test]
    fn raising_never_lowers_the_soft_limit() {
        let before = super::soft().unwrap();
        let after = super::raise_to_hard().unwrap();
        assert!(after >= before);
        assert_eq!(super::soft().unwrap(), after);
    }
}
