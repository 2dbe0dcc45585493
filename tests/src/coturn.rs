//! A real coturn (`turnserver`, Debian package `coturn`, installed by `scripts/test.sh`) on
//! loopback for one test: shared-secret credentials (`use-auth-secret`), relaying to loopback
//! peers (Parley listens there in tests), its own pid file, database and log in a temp dir, killed
//! when dropped.

use std::net::{TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Coturn {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl Coturn {
    /// Starts coturn with `secret` as its `static-auth-secret`; panics with what to do when it
    /// is not installed or does not come up.
    pub fn start(secret: &str) -> Self {
        let binary = ["/usr/bin/turnserver", "/usr/local/bin/turnserver"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .expect("turnserver not found: run scripts/test.sh, which installs coturn");
        let dir = std::env::temp_dir().join(format!("parley-coturn-{}", crate::rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let relay_from = free_port().max(20_000);
        let child = Command::new(binary)
            .args([
                "-n",
                "--listening-ip=127.0.0.1",
                "--relay-ip=127.0.0.1",
                &format!("--listening-port={port}"),
                &format!("--min-port={relay_from}"),
                &format!("--max-port={}", relay_from + 200),
                "--use-auth-secret",
                &format!("--static-auth-secret={secret}"),
                "--realm=parley.test",
                "--no-tls",
                "--no-dtls",
                "--no-cli",
                "--allow-loopback-peers",
                "--fingerprint",
                "--verbose",
                "--simple-log",
                &format!("--log-file={}", dir.join("turn.log").display()),
                &format!("--pidfile={}", dir.join("turn.pid").display()),
                &format!("--userdb={}", dir.join("turndb").display()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start turnserver");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "coturn did not listen on 127.0.0.1:{port}; its log: {}",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { port, child, dir }
    }

    /// `turn:` URL of this server over UDP.
    pub fn url(&self) -> String {
        format!("turn:127.0.0.1:{}?transport=udp", self.port)
    }

    /// What coturn logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("turn.log")).unwrap_or_default()
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port free for both UDP and TCP right now.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
