//! Clusters for the multi-node tests: a PostgreSQL database per test (every node sweeps its
//! store, so test clusters running at once must not share one), nodes on the machine's NATS
//! (the test command makes sure it runs), and a NATS server of a test's own to stop.

use crate::TestServer;
use std::time::Duration;

pub fn nats_url() -> String {
    std::env::var("PARLEY_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

pub fn postgres_url() -> String {
    std::env::var("PARLEY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// One test's PostgreSQL database, dropped at the end: every node of a cluster sweeps its
/// store (ring timeouts), so clusters of tests running at once must not share one.
pub struct Database {
    server: String,
    pub name: String,
}

impl Database {
    pub fn fresh() -> Self {
        let base = postgres_url();
        let (server, _) = base.rsplit_once('/').expect("a database URL");
        let db = Self {
            server: server.to_owned(),
            name: format!("parley_cluster_{}", uuid::Uuid::new_v4().simple()),
        };
        db.admin(&format!("CREATE DATABASE {}", db.name));
        db
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    fn admin(&self, sql: &str) {
        let status = std::process::Command::new("psql")
            .arg(format!("{}/postgres", self.server))
            .args(["-qc", sql])
            .status()
            .expect("psql is needed (scripts/test.sh installs PostgreSQL)");
        assert!(status.success(), "{sql} failed");
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .arg(format!("{}/postgres", self.server))
            .args([
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .status();
    }
}

/// One node of the cluster on `db`; fails at once if NATS is not there.
pub async fn node(id: &str, db: &Database) -> TestServer {
    node_with(id, db, |_| {}).await
}

pub async fn node_with(
    id: &str,
    db: &Database,
    customize: impl FnOnce(&mut signaling::config::ServeArgs),
) -> TestServer {
    let url = nats_url();
    let addr = url.trim_start_matches("nats://").to_owned();
    tokio::net::TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("NATS at {url} is needed (run scripts/test.sh): {e}"));
    let id = id.to_owned();
    let (database, name) = (db.url(), db.name.clone());
    TestServer::start_with(move |args| {
        args.database_url = Some(database);
        // Each test's cluster is its own: tests running at once share the NATS server.
        args.cluster_name = Some(name);
        args.nats_url = Some(vec![url]);
        args.node_id = Some(id);
        customize(args);
    })
    .await
}

/// A NATS server of this test's own (the machine's is never stopped), killed on drop.
pub struct OwnNats {
    child: std::process::Child,
    pub port: u16,
}

impl OwnNats {
    /// On a free port (`url` says which; restart it there with [`OwnNats::start`]).
    pub async fn start_anywhere() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start(port).await
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub async fn start(port: u16) -> Self {
        let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("nats-server is needed (scripts/test.sh installs Debian's)");
        let child = std::process::Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server starts");
        // Owned at once, so it is killed and reaped however this ends.
        let nats = Self { child, port };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return nats;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nats-server did not listen on {port}");
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
