//! The server's CPU time and resident memory, read from /proc when the server runs on this
//! machine: which process listens on the URL's port (/proc/net/tcp{,6}, then the `socket:[inode]`
//! links under /proc/*/fd), and its utime + stime (/proc/PID/stat) and VmRSS (/proc/PID/status).

use serde::Serialize;
use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

/// One reading of the server process.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ServerSample {
    /// Seconds since the run started.
    pub t_s: f64,
    /// CPU time used so far (user + system), in seconds.
    pub cpu_s: f64,
    /// Resident set size, in bytes.
    pub rss_bytes: u64,
}

/// Reads one process's CPU time and memory.
#[derive(Clone, Debug)]
pub struct Probe {
    pub pid: u32,
    /// Clock ticks per second: the unit of utime and stime.
    ticks_per_second: f64,
}

impl Probe {
    /// A probe for `pid`, if /proc/PID can be read now.
    pub fn new(pid: u32) -> anyhow::Result<Self> {
        let probe = Self {
            pid,
            ticks_per_second: clock_ticks_per_second(),
        };
        probe.read()?;
        Ok(probe)
    }

    /// CPU seconds and RSS bytes now.
    pub fn read(&self) -> anyhow::Result<(f64, u64)> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let ticks = cpu_ticks(&stat)
            .ok_or_else(|| anyhow::anyhow!("unexpected /proc/{}/stat", self.pid))?;
        let rss_kib = vm_rss_kib(&status)
            .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{}/status", self.pid))?;
        Ok((ticks as f64 / self.ticks_per_second, rss_kib * 1024))
    }
}

impl Probe {
    /// CPU seconds of each of the process's threads whose name starts with `prefix` (Parley
    /// names its media workers `media-0`, `media-1`, …), by name.
    pub fn threads(&self, prefix: &str) -> Vec<(String, f64)> {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) else {
            return Vec::new();
        };
        let mut threads: Vec<(String, f64)> = tasks
            .flatten()
            .filter_map(|task| {
                let dir = task.path();
                let name = std::fs::read_to_string(dir.join("comm")).ok()?;
                let name = name.trim_end();
                if !name.starts_with(prefix) {
                    return None;
                }
                let ticks = cpu_ticks(&std::fs::read_to_string(dir.join("stat")).ok()?)?;
                Some((name.to_owned(), ticks as f64 / self.ticks_per_second))
            })
            .collect();
        threads.sort_by(|a, b| a.0.cmp(&b.0));
        threads
    }
}

/// `sysconf(_SC_CLK_TCK)`, or the usual 100 if it fails.
fn clock_ticks_per_second() -> f64 {
    // SAFETY: `sysconf` reads a configuration value and has no memory-safety preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// utime + stime (fields 14 and 15 of /proc/PID/stat), in clock ticks. The command name (field
/// 2, in parentheses) may itself hold spaces and parentheses, so fields are counted after the
/// last `)`.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11); // field 3 is the first here
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// VmRSS from /proc/PID/status, in KiB.
pub fn vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let value = words.next()?.parse().ok()?;
    (words.next()? == "kB").then_some(value)
}

/// The inodes of sockets listening on TCP `port` in a /proc/net/tcp or /proc/net/tcp6 table.
pub fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let local_port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            (local_port == port && *fields.get(3)? == LISTEN)
                .then(|| fields.get(9)?.parse().ok())
                .flatten()
        })
        .collect()
}

/// The inode in a /proc/PID/fd link to a socket (`socket:[12345]`).
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The process listening on TCP `port` of this machine, if any is visible.
pub fn find_listener(port: u16) -> Option<u32> {
    let inodes: HashSet<u64> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| listening_inodes(&table, port))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|&pid| holds_socket(Path::new(&format!("/proc/{pid}/fd")), &inodes))
}

fn holds_socket(fd_dir: &Path, inodes: &HashSet<u64>) -> bool {
    let Ok(fds) = std::fs::read_dir(fd_dir) else {
        return false;
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|link| socket_inode(link.to_str()?))
        .any(|inode| inodes.contains(&inode))
}

/// Whether a URL's host (as `Url::host_str` gives it: IPv6 in brackets) names this machine: a
/// loopback address or `localhost`.
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let name = bare.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 34567 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 34999 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:46B9 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
";

    #[rustfmt::skip]
    #[test]
    fn listening_inodes_by_port() {
        let cases: &[(&str, u16, &[u64])] = &[
            (TCP,  8080,  &[34567]), // the established connection on 8080 is not listening
            (TCP,  22,    &[1111]),
            (TCP,  9999,  &[]),
            (TCP6, 18105, &[777]),
            ("",   8080,  &[]),
        ];
        for &(table, port, expected) in cases {
            assert_eq!(listening_inodes(table, port), expected, "port {port}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn socket_inodes() {
        let cases: &[(&str, Option<u64>)] = &[
            ("socket:[34567]", Some(34567)),
            ("socket:[]",      None),
            ("pipe:[34567]",   None),
            ("/dev/null",      None),
        ];
        for &(link, expected) in cases {
            assert_eq!(socket_inode(link), expected, "{link}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn cpu_ticks_after_the_command_name() {
        let cases: &[(&str, Option<u64>)] = &[
            ("1234 (parley) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 10 0", Some(325)),
            ("1234 (a (b) c) R 1 1234 1234 0 -1 4194560 1000 0 0 0 7 3 0 0 20 0 10 0",   Some(10)),
            ("1234 (parley) S 1 1234",                                                   None),
            ("garbage",                                                                  None),
        ];
        for &(stat, expected) in cases {
            assert_eq!(cpu_ticks(stat), expected, "{stat}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn vm_rss_from_status() {
        let cases: &[(&str, Option<u64>)] = &[
            ("Name:\tparley\nVmPeak:\t  99 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n", Some(12345)),
            ("Name:\tkthreadd\nThreads:\t1\n",                                   None),
            ("VmRSS:\t12 MB\n",                                                  None),
        ];
        for &(status, expected) in cases {
            assert_eq!(vm_rss_kib(status), expected, "{status}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn loopback_hosts() {
        let cases: &[(&str, bool)] = &[
            ("127.0.0.1",       true),
            ("127.1.2.3",       true),
            ("[::1]",           true),
            ("localhost",       true),
            ("LocalHost.",      true),
            ("app.localhost",   true),
            ("10.0.0.1",        false),
            ("[2001:db8::1]",   false),
            ("parley.example",  false),
        ];
        for &(host, expected) in cases {
            assert_eq!(is_loopback(host), expected, "{host}");
        }
    }

    #[test]
    fn finds_the_process_listening_on_a_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(find_listener(port), Some(std::process::id()));
        drop(listener);
        assert_eq!(find_listener(port), None);
    }

    #[test]
    fn names_and_times_this_process_threads() {
        let (started, running) = std::sync::mpsc::channel();
        let (stop, stopping) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::Builder::new()
            .name("probe-worker".into())
            .spawn(move || {
                // The name is set as the thread starts: it is there once this runs.
                started.send(()).unwrap();
                let _ = stopping.recv();
            })
            .unwrap();
        running.recv().unwrap();
        let probe = Probe::new(std::process::id()).unwrap();
        let threads = probe.threads("probe-");
        assert_eq!(threads.len(), 1, "{threads:?}");
        assert_eq!(threads[0].0, "probe-worker");
        assert!(threads[0].1 >= 0.0);
        stop.send(()).unwrap();
        worker.join().unwrap();
    }

    #[test]
    fn probes_this_process() {
        let (cpu, rss) = Probe::new(std::process::id()).unwrap().read().unwrap();
        assert!(cpu >= 0.0);
        assert!(rss > 0);
    }
}
