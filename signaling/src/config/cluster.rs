//! Joining other nodes as one service: NATS for the bus, PostgreSQL for the shared store.

use super::{redact::redact_url, ConfigError};

/// Set when `--nats-url` is: this node is one of several.
#[derive(Clone)]
pub struct ClusterConfig {
    pub nats_urls: Vec<String>,
    /// Every NATS subject is under it (`--cluster-name`), so deployments sharing a NATS
    /// server never hear each other.
    pub name: String,
    /// This node's name on the bus and in logs (`--node-id`, else random per start).
    pub node_id: String,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self.nats_urls.iter().map(|u| redact_url(u)).collect();
        f.debug_struct("ClusterConfig")
            .field("nats_urls", &urls)
            .field("name", &self.name)
            .field("node_id", &self.node_id)
            .finish()
    }
}

/// The cluster settings, or `None` for a single node. Several nodes need one store they all
/// reach: SQLite (a file of one machine) is refused.
pub(super) fn cluster_config(
    nats_urls: Option<Vec<String>>,
    (name, node_id): (Option<String>, Option<String>),
    database_url: &str,
) -> Result<Option<ClusterConfig>, ConfigError> {
    let nats_urls: Vec<String> = nats_urls
        .unwrap_or_default()
        .into_iter()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    if nats_urls.is_empty() {
        return Ok(None);
    }
    if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
        return Err(ConfigError::Cluster(
            "several nodes share one store: --nats-url needs a PostgreSQL --database-url \
             (postgres://...); SQLite is a file of one machine"
                .into(),
        ));
    }
    let node_id = match node_id {
        Some(id) => id,
        None => {
            use rand::distr::{Alphanumeric, SampleString};
            Alphanumeric
                .sample_string(&mut rand::rng(), 8)
                .to_lowercase()
        }
    };
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !plain(&node_id) {
        return Err(ConfigError::Cluster(format!(
            "--node-id '{node_id}': 1 to 64 letters, digits, '-' or '_'"
        )));
    }
    let name = name.unwrap_or_else(|| "parley".to_owned());
    if !plain(&name) {
        return Err(ConfigError::Cluster(format!(
            "--cluster-name '{name}': 1 to 64 letters, digits, '-' or '_'"
        )));
    }
    Ok(Some(ClusterConfig {
        nats_urls,
        name,
        node_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (nats urls, node id, database, Ok(node id) or the error's start)
    type Row<'a> = (
        Option<Vec<String>>,
        Option<&'a str>,
        &'a str,
        Result<Option<&'a str>, &'a str>,
    );

    #[test]
    #[rustfmt::skip]
    fn several_nodes_need_postgres_and_a_plain_node_id() {
        let pg = "postgres://u@db/parley";
        let nats = || Some(vec!["nats://127.0.0.1:4222".to_owned()]);
        let rows: Vec<Row> = vec![
            (None,                  None,           "sqlite://data/parley.db", Ok(None)),
            (Some(vec![" ".into()]), None,          "sqlite://data/parley.db", Ok(None)),
            (nats(),                Some("n1"),     pg,                         Ok(Some("n1"))),
            (nats(),                Some("n1"),     "postgresql://db/p",        Ok(Some("n1"))),
            (nats(),                Some("n1"),     "sqlite://data/parley.db",  Err("cluster: several nodes share one store")),
            (nats(),                Some("a.b"),    pg,                         Err("cluster: --node-id 'a.b'")),
            (nats(),                Some(""),       pg,                         Err("cluster: --node-id ''")),
        ];
        for (i, (urls, id, db, want)) in rows.into_iter().enumerate() {
            let got = cluster_config(urls, (None, id.map(str::to_owned)), db);
            match (got, want) {
                (Ok(c), Ok(want)) => assert_eq!(c.map(|c| c.node_id), want.map(str::to_owned), "row {i}"),
                (Err(e), Err(start)) => assert!(e.to_string().starts_with(start), "row {i}: {e}"),
                (got, want) => panic!("row {i}: {got:?} vs {want:?}"),
            }
        }
        let random = cluster_config(nats(), (None, None), pg).unwrap().unwrap();
        assert_eq!(random.name, "parley");
        let named = cluster_config(nats(), (Some("a.b".into()), None), pg);
        assert!(named.unwrap_err().to_string().contains("--cluster-name 'a.b'"));
        assert_eq!(random.node_id.len(), 8);
    }
}
