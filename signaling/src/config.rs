//! The server's one typed configuration, from (highest first) command-line flags, `PARLEY_*`
//! environment variables, an optional TOML file (`--config`), and defaults.

use clap::{Args, ValueEnum};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Flags and environment variables; every field is optional so the file and defaults can fill in.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (snake_case keys).
    #[arg(long, env = "PARLEY_CONFIG")]
    pub config: Option<PathBuf>,
    /// HTTP/WebSocket listen address. Default 127.0.0.1:8080.
    #[arg(long, env = "PARLEY_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// The single UDP port for all media. Default 7882.
    #[arg(long, env = "PARLEY_UDP_PORT")]
    pub udp_port: Option<u16>,
    /// IPs advertised as ICE candidates (comma-separated). Default: 127.0.0.1 plus the host's
    /// IPv4 interface addresses.
    #[arg(long, env = "PARLEY_PUBLIC_IP", value_delimiter = ',')]
    pub public_ip: Option<Vec<IpAddr>>,
    /// Behind 1:1 NAT: bind media here and advertise the (single) public IP.
    #[arg(long, env = "PARLEY_UDP_BIND_IP")]
    pub udp_bind_ip: Option<IpAddr>,
    /// Networks media may be sent to (comma-separated CIDRs). Default: anywhere.
    #[arg(long, env = "PARLEY_PEER_ALLOWLIST", value_delimiter = ',')]
    pub peer_allowlist: Option<Vec<String>>,
    /// Directory for the SQLite database and attachments. Default ./data.
    #[arg(long, env = "PARLEY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://... or postgres://... Default: sqlite in the data directory.
    #[arg(long, env = "PARLEY_DATABASE_URL")]
    pub database_url: Option<String>,
    /// HS256 secret for participant tokens. Default: random per start (tokens die on restart).
    #[arg(long, env = "PARLEY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Serve POST /api/guest-token. Default: on only when listening on loopback.
    #[arg(long, env = "PARLEY_GUEST_TOKENS")]
    pub guest_tokens: Option<bool>,
    /// Log format. Default text.
    #[arg(long, env = "PARLEY_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// POST room, participant, call and message events here (signed with the JWT secret).
    #[arg(long, env = "PARLEY_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// Open a room on its first join (else only rooms created through the API exist). Default on.
    #[arg(long, env = "PARLEY_AUTO_CREATE_ROOMS")]
    pub auto_create_rooms: Option<bool>,
    /// How long a call invitation rings before it is missed, in seconds. Default 45.
    #[arg(long, env = "PARLEY_RING_TIMEOUT_SECS")]
    pub ring_timeout_secs: Option<u64>,
    /// How long an uploaded file waits to be sent with a message before it is deleted, in
    /// seconds. Default 86400 (a day).
    #[arg(long, env = "PARLEY_UNSENT_UPLOAD_TTL_SECS")]
    pub unsent_upload_ttl_secs: Option<u64>,
    /// A peer connection (WebSocket, WHIP or WHEP) that has not connected this many seconds
    /// after it was offered is given up and its participant removed. Default 25.
    #[arg(long, env = "PARLEY_CONNECT_TIMEOUT_SECS")]
    pub connect_timeout_secs: Option<u64>,
    /// Someone removed from a room (server API or moderator) cannot rejoin it with the same
    /// identity, at any door, for this many seconds. Default 600.
    #[arg(long, env = "PARLEY_REMOVAL_BAN_SECS")]
    pub removal_ban_secs: Option<u64>,
    /// Tokens that live longer than this (`exp - iat`, seconds) are refused. Default 86400.
    #[arg(long, env = "PARLEY_MAX_TOKEN_LIFETIME_SECS")]
    pub max_token_lifetime_secs: Option<u64>,
    /// A WebSocket that sends nothing (not even a pong) this long is closed; it is pinged after
    /// a third of it. Default 60.
    #[arg(long, env = "PARLEY_WS_IDLE_TIMEOUT_SECS")]
    pub ws_idle_timeout_secs: Option<u64>,
    /// Someone whose last session left a room and who is back within this many seconds
    /// continues their visit to its conversation (a reconnect); later, a new visit starts.
    /// Default 30.
    #[arg(long, env = "PARLEY_REJOIN_GRACE_SECS")]
    pub rejoin_grace_secs: Option<u64>,
}

/// The TOML file: same names as the flags, snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    http_addr: Option<SocketAddr>,
    udp_port: Option<u16>,
    public_ip: Option<Vec<IpAddr>>,
    udp_bind_ip: Option<IpAddr>,
    peer_allowlist: Option<Vec<String>>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    jwt_secret: Option<String>,
    guest_tokens: Option<bool>,
    log_format: Option<LogFormat>,
    webhook_url: Option<String>,
    auto_create_rooms: Option<bool>,
    ring_timeout_secs: Option<u64>,
    unsent_upload_ttl_secs: Option<u64>,
    connect_timeout_secs: Option<u64>,
    removal_ban_secs: Option<u64>,
    max_token_lifetime_secs: Option<u64>,
    ws_idle_timeout_secs: Option<u64>,
    rejoin_grace_secs: Option<u64>,
}

#[derive(Clone)]
pub struct Config {
    pub http_addr: SocketAddr,
    pub udp_port: u16,
    pub public_ips: Vec<IpAddr>,
    pub udp_bind_ip: Option<IpAddr>,
    pub peer_allowlist: Vec<sfu::config::IpNet>,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// `None` until resolved at start (a random secret is generated then).
    pub jwt_secret: Option<String>,
    pub guest_tokens: bool,
    pub log_format: LogFormat,
    pub webhook_url: Option<String>,
    pub auto_create_rooms: bool,
    pub ring_timeout: std::time::Duration,
    pub unsent_upload_ttl: std::time::Duration,
    pub connect_timeout: std::time::Duration,
    pub removal_ban: std::time::Duration,
    pub max_token_lifetime: std::time::Duration,
    pub ws_idle_timeout: std::time::Duration,
    pub rejoin_grace: std::time::Duration,
}

impl std::fmt::Debug for Config {
    // Hand-written so the secret can never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("http_addr", &self.http_addr)
            .field("udp_port", &self.udp_port)
            .field("public_ips", &self.public_ips)
            .field("udp_bind_ip", &self.udp_bind_ip)
            .field("peer_allowlist", &self.peer_allowlist)
            .field("data_dir", &self.data_dir)
            .field("database", &redact_url(&self.database_url))
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<set>"))
            .field("guest_tokens", &self.guest_tokens)
            .field("log_format", &self.log_format)
            .field("webhook_url", &self.webhook_url.as_deref().map(redact_url))
            .field("auto_create_rooms", &self.auto_create_rooms)
            .field("ring_timeout", &self.ring_timeout)
            .field("unsent_upload_ttl", &self.unsent_upload_ttl)
            .field("connect_timeout", &self.connect_timeout)
            .field("removal_ban", &self.removal_ban)
            .field("max_token_lifetime", &self.max_token_lifetime)
            .field("ws_idle_timeout", &self.ws_idle_timeout)
            .field("rejoin_grace", &self.rejoin_grace)
            .finish()
    }
}

/// Drops credentials from a database URL for logging.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the JWT secret is {0} bytes: use at least {min} random bytes (e.g. `openssl rand -hex 32`)", min = crate::auth::MIN_SECRET_BYTES)]
    WeakSecret(usize),
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid peer allow-list entry: {0}")]
    Allowlist(String),
}

impl Config {
    pub fn resolve(args: ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let http_addr = args
            .http_addr
            .or(file.http_addr)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let database_url = args
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| default_database_url(&data_dir));
        let jwt_secret = args
            .jwt_secret
            .or(file.jwt_secret)
            .filter(|s| !s.is_empty());
        if let Some(secret) = &jwt_secret {
            if secret.len() < crate::auth::MIN_SECRET_BYTES {
                return Err(ConfigError::WeakSecret(secret.len()));
            }
        }
        let peer_allowlist = args
            .peer_allowlist
            .or(file.peer_allowlist)
            .unwrap_or_default()
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.parse().map_err(ConfigError::Allowlist))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            http_addr,
            udp_port: args.udp_port.or(file.udp_port).unwrap_or(7882),
            public_ips: args
                .public_ip
                .or(file.public_ip)
                .unwrap_or_else(default_public_ips),
            udp_bind_ip: args.udp_bind_ip.or(file.udp_bind_ip),
            peer_allowlist,
            data_dir,
            database_url,
            jwt_secret,
            guest_tokens: args
                .guest_tokens
                .or(file.guest_tokens)
                .unwrap_or_else(|| http_addr.ip().is_loopback()),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            webhook_url: args
                .webhook_url
                .or(file.webhook_url)
                .filter(|u| !u.trim().is_empty()),
            auto_create_rooms: args
                .auto_create_rooms
                .or(file.auto_create_rooms)
                .unwrap_or(true),
            ring_timeout: std::time::Duration::from_secs(
                args.ring_timeout_secs
                    .or(file.ring_timeout_secs)
                    .unwrap_or(45)
                    .max(1),
            ),
            unsent_upload_ttl: std::time::Duration::from_secs(
                args.unsent_upload_ttl_secs
                    .or(file.unsent_upload_ttl_secs)
                    .unwrap_or(86_400)
                    .max(1),
            ),
            connect_timeout: std::time::Duration::from_secs(
                args.connect_timeout_secs
                    .or(file.connect_timeout_secs)
                    .unwrap_or(25)
                    .max(1),
            ),
            removal_ban: std::time::Duration::from_secs(
                args.removal_ban_secs
                    .or(file.removal_ban_secs)
                    .unwrap_or(600),
            ),
            max_token_lifetime: std::time::Duration::from_secs(
                args.max_token_lifetime_secs
                    .or(file.max_token_lifetime_secs)
                    .unwrap_or(crate::auth::DEFAULT_MAX_TOKEN_LIFETIME.as_secs())
                    .max(1),
            ),
            ws_idle_timeout: std::time::Duration::from_secs(
                args.ws_idle_timeout_secs
                    .or(file.ws_idle_timeout_secs)
                    .unwrap_or(60)
                    .max(3),
            ),
            rejoin_grace: std::time::Duration::from_secs(
                args.rejoin_grace_secs
                    .or(file.rejoin_grace_secs)
                    .unwrap_or(30),
            ),
        })
    }

    pub fn sfu_config(&self) -> sfu::SfuConfig {
        sfu::SfuConfig {
            udp_port: self.udp_port,
            public_ips: self.public_ips.clone(),
            udp_bind_ip: self.udp_bind_ip,
            peer_allowlist: self.peer_allowlist.clone(),
            connect_timeout: self.connect_timeout,
            ..Default::default()
        }
    }
}

fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source: Box::new(source),
    })
}

fn default_database_url(data_dir: &Path) -> String {
    format!("sqlite://{}/parley.db?mode=rwc", data_dir.display())
}

/// Loopback plus every IPv4 address of the host's interfaces.
pub fn default_public_ips() -> Vec<IpAddr> {
    let mut ips = vec![IpAddr::from([127, 0, 0, 1])];
    if let Ok(interfaces) = if_addrs::get_if_addrs() {
        for iface in interfaces {
            let ip = iface.ip();
            if ip.is_ipv4() && !ip.is_loopback() && !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beat_defaults() {
        let dir = std::env::temp_dir().join(format!("parley-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("parley.toml");
        std::fs::write(
            &path,
            "udp_port = 9000\nhttp_addr = \"0.0.0.0:9090\"\npeer_allowlist = [\"127.0.0.0/8\"]\n",
        )
        .unwrap();
        let config = Config::resolve(ServeArgs {
            config: Some(path.clone()),
            udp_port: Some(9001),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(config.udp_port, 9001, "flag wins over file");
        assert_eq!(
            config.http_addr,
            "0.0.0.0:9090".parse::<SocketAddr>().unwrap(),
            "file wins over default"
        );
        assert!(
            !config.guest_tokens,
            "guest tokens default off when not on loopback"
        );
        assert_eq!(config.peer_allowlist.len(), 1);
        std::fs::write(&path, "no_such_key = 1\n").unwrap();
        let err = Config::resolve(ServeArgs {
            config: Some(path),
            ..Default::default()
        })
        .err()
        .unwrap();
        assert!(err.to_string().contains("no_such_key"), "{err}");
    }

    #[test]
    fn defaults_are_local_and_safe() {
        let config = Config::resolve(ServeArgs::default()).unwrap();
        assert_eq!(
            config.http_addr,
            "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(config.udp_port, 7882);
        assert!(config.guest_tokens);
        assert!(config.database_url.starts_with("sqlite://data/"));
        assert_eq!(config.public_ips[0], IpAddr::from([127, 0, 0, 1]));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let config = Config::resolve(ServeArgs {
            jwt_secret: Some("hunter2-hunter2-hunter2-hunter2-hunter2".into()),
            database_url: Some("postgres://user:pw@db/parley".into()),
            ..Default::default()
        })
        .unwrap();
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("pw@"),
            "{shown}"
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        let refused = Config::resolve(ServeArgs {
            jwt_secret: Some("hunter2".into()),
            ..Default::default()
        });
        assert!(
            matches!(refused, Err(ConfigError::WeakSecret(7))),
            "{refused:?}"
        );
        let exactly = Config::resolve(ServeArgs {
            jwt_secret: Some("x".repeat(crate::auth::MIN_SECRET_BYTES)),
            ..Default::default()
        });
        assert!(exactly.is_ok());
    }
}
