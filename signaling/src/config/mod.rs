//! The server's one typed configuration, from (highest first) command-line flags, `PARLEY_*`
//! environment variables, an optional TOML file (`--config`), and defaults.

mod cluster;
mod integrations;
mod redact;

pub use cluster::ClusterConfig;

use integrations::{turn_config, webhook_target};

use clap::{Args, ValueEnum};
pub use redact::redact_url;
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
    /// The ICE-TCP port (RFC 6544), beside the UDP port, for clients on networks that block
    /// UDP. Default 7881.
    #[arg(long, env = "PARLEY_TCP_PORT")]
    pub tcp_port: Option<u16>,
    /// Offer ICE-TCP candidates on `--tcp-port`. Default true.
    #[arg(long, env = "PARLEY_ICE_TCP", num_args = 0..=1, default_missing_value = "true")]
    pub ice_tcp: Option<bool>,
    /// IPs advertised as ICE candidates (comma-separated). Default: 127.0.0.1 plus the host's
    /// IPv4 interface addresses.
    #[arg(long, env = "PARLEY_PUBLIC_IP", value_delimiter = ',')]
    pub public_ip: Option<Vec<IpAddr>>,
    /// Behind 1:1 NAT: bind media here and advertise the (single) public IP.
    #[arg(long, env = "PARLEY_UDP_BIND_IP")]
    pub udp_bind_ip: Option<IpAddr>,
    /// Media worker threads, each holding its own rooms (all share the one UDP port).
    /// Default: one per available core.
    #[arg(long, env = "PARLEY_MEDIA_WORKERS")]
    pub media_workers: Option<std::num::NonZeroUsize>,
    /// Participants of one room a media worker takes before the room spreads to another
    /// worker (media relayed between them); 0: a room stays on one worker. Default: 100.
    #[arg(long, env = "PARLEY_ROOM_SPREAD_AT")]
    pub room_spread_at: Option<usize>,
    /// Networks media may be sent to (comma-separated CIDRs). Default: anywhere.
    #[arg(long, env = "PARLEY_PEER_ALLOWLIST", value_delimiter = ',')]
    pub peer_allowlist: Option<Vec<String>>,
    /// TURN servers handed to clients with credentials (comma-separated `turn:`/`turns:` URLs,
    /// e.g. `turn:turn.example.com:3478?transport=udp,turns:turn.example.com:443?transport=tcp`):
    /// coturn with `use-auth-secret`. Default: none.
    #[arg(long, env = "PARLEY_TURN_URL", value_delimiter = ',')]
    pub turn_url: Option<Vec<String>>,
    /// coturn's `static-auth-secret`: signs the TURN credentials.
    #[arg(long, env = "PARLEY_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,
    /// How long TURN credentials stay valid, in seconds (a call longer than this loses its
    /// relay when the allocation is next refreshed). Default 43200 (12 hours).
    #[arg(long, env = "PARLEY_TURN_CREDENTIAL_LIFETIME_SECS")]
    pub turn_credential_lifetime_secs: Option<u64>,
    /// Directory for the SQLite database and attachments. Default ./data.
    #[arg(long, env = "PARLEY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://... or postgres://... Default: sqlite in the data directory.
    #[arg(long, env = "PARLEY_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// NATS server(s) that join this node to others as one service (comma-separated
    /// nats://... URLs); needs a PostgreSQL --database-url shared by every node. Default: none
    /// (a single node).
    #[arg(
        long,
        env = "PARLEY_NATS_URL",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub nats_url: Option<Vec<String>>,
    /// This node's name among several (letters, digits, '-', '_'). Default: random per start.
    #[arg(long, env = "PARLEY_NODE_ID")]
    pub node_id: Option<String>,
    /// The cluster's name: every NATS subject is under it, so deployments sharing one NATS
    /// server never hear each other (letters, digits, '-', '_'). Default: parley.
    #[arg(long, env = "PARLEY_CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    /// HS256 secret for participant tokens. Default: random per start (tokens die on restart).
    #[arg(long, env = "PARLEY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Serve POST /api/guest-token: anyone may then call (join, publish, subscribe; never chat
    /// or watch) in rooms not created through the server API. Default off.
    #[arg(long, env = "PARLEY_GUEST_TOKENS", num_args = 0..=1, default_missing_value = "true")]
    pub guest_tokens: Option<bool>,
    /// Log format. Default text.
    #[arg(long, env = "PARLEY_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// POST room, participant, call and message events here (https://; http:// only with
    /// --webhook-allow-http).
    #[arg(long, env = "PARLEY_WEBHOOK_URL", hide_env_values = true)]
    pub webhook_url: Option<String>,
    /// HMAC secret that signs webhooks (at least 32 bytes; required with a webhook URL, never
    /// the token secret).
    #[arg(long, env = "PARLEY_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Allow a plain http:// webhook URL (events then travel unencrypted).
    #[arg(long, env = "PARLEY_WEBHOOK_ALLOW_HTTP", num_args = 0..=1, default_missing_value = "true")]
    pub webhook_allow_http: Option<bool>,
    /// PEM file of extra CA certificates trusted for the webhook URL (a private CA).
    #[arg(long, env = "PARLEY_WEBHOOK_CA_FILE")]
    pub webhook_ca_file: Option<PathBuf>,
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
    /// Open HTTP connections (WebSockets included) at most. Default 10000.
    #[arg(long, env = "PARLEY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Open HTTP connections per client IP at most (loopback, where a reverse proxy connects
    /// from, only counts against --max-connections). Default 256.
    #[arg(long, env = "PARLEY_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Peer connections on the server at most. Default 10000.
    #[arg(long, env = "PARLEY_MAX_PEER_CONNECTIONS")]
    pub max_peer_connections: Option<usize>,
    /// Peer connections of one room at most. Default 1000.
    #[arg(long, env = "PARLEY_MAX_ROOM_PEER_CONNECTIONS")]
    pub max_room_peer_connections: Option<usize>,
    /// Sessions (WebSocket joins, WHIP, WHEP) one identity may hold at once. Default 8.
    #[arg(long, env = "PARLEY_MAX_SESSIONS_PER_IDENTITY")]
    pub max_sessions_per_identity: Option<usize>,
    /// Other origins whose pages may call the participant APIs (CORS) and open `/ws`
    /// (comma-separated, e.g. `https://clinic.example`). Default: none, same origin only.
    #[arg(long, env = "PARLEY_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Option<Vec<String>>,
    /// Pages that may frame the app (CSP `frame-ancestors` sources, comma-separated).
    /// Default: the server's own origin only.
    #[arg(long, env = "PARLEY_FRAME_ANCESTORS", value_delimiter = ',')]
    pub frame_ancestors: Option<Vec<String>>,
    /// Someone whose last session left a room and who is back within this many seconds
    /// continues their visit to its conversation (a reconnect); later, a new visit starts.
    /// Default 30.
    #[arg(long, env = "PARLEY_REJOIN_GRACE_SECS")]
    pub rejoin_grace_secs: Option<u64>,
    /// A session in a room whose socket is lost (no close handshake: a network change) is
    /// kept this many seconds for the client to continue it on a new socket (`hello.resume`)
    /// with the same participant, connections and tracks; 0: never kept. Default 20.
    #[arg(long, env = "PARLEY_RESUME_WINDOW_SECS")]
    pub resume_window_secs: Option<u64>,
    /// On SIGTERM, rooms stop being placed here and the node waits up to this many seconds
    /// for its rooms to empty before it stops (their people are then told to rejoin:
    /// `goodbye migrate` with several nodes). Default 0: stop at once.
    #[arg(long, env = "PARLEY_DRAIN_TIMEOUT_SECS")]
    pub drain_timeout_secs: Option<u64>,
}

/// The TOML file: same names as the flags, snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    http_addr: Option<SocketAddr>,
    udp_port: Option<u16>,
    tcp_port: Option<u16>,
    ice_tcp: Option<bool>,
    public_ip: Option<Vec<IpAddr>>,
    udp_bind_ip: Option<IpAddr>,
    media_workers: Option<std::num::NonZeroUsize>,
    room_spread_at: Option<usize>,
    peer_allowlist: Option<Vec<String>>,
    turn_url: Option<Vec<String>>,
    turn_secret: Option<String>,
    turn_credential_lifetime_secs: Option<u64>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    nats_url: Option<Vec<String>>,
    node_id: Option<String>,
    cluster_name: Option<String>,
    jwt_secret: Option<String>,
    guest_tokens: Option<bool>,
    log_format: Option<LogFormat>,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
    webhook_allow_http: Option<bool>,
    webhook_ca_file: Option<PathBuf>,
    auto_create_rooms: Option<bool>,
    ring_timeout_secs: Option<u64>,
    unsent_upload_ttl_secs: Option<u64>,
    connect_timeout_secs: Option<u64>,
    removal_ban_secs: Option<u64>,
    max_token_lifetime_secs: Option<u64>,
    ws_idle_timeout_secs: Option<u64>,
    rejoin_grace_secs: Option<u64>,
    resume_window_secs: Option<u64>,
    drain_timeout_secs: Option<u64>,
    allowed_origins: Option<Vec<String>>,
    frame_ancestors: Option<Vec<String>>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    max_peer_connections: Option<usize>,
    max_room_peer_connections: Option<usize>,
    max_sessions_per_identity: Option<usize>,
}

#[derive(Clone)]
pub struct Config {
    pub http_addr: SocketAddr,
    pub udp_port: u16,
    /// The ICE-TCP port; `None`: ICE-TCP off.
    pub tcp_port: Option<u16>,
    pub public_ips: Vec<IpAddr>,
    pub udp_bind_ip: Option<IpAddr>,
    /// Media workers; `None`: one per available core.
    pub media_workers: Option<std::num::NonZeroUsize>,
    /// See `ServeArgs::room_spread_at`.
    pub room_spread_at: usize,
    pub peer_allowlist: Vec<sfu::config::IpNet>,
    /// TURN servers and their shared secret, when configured.
    pub turn: Option<crate::turn::TurnConfig>,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// Several nodes as one service (`--nats-url`); `None`: a single node.
    pub cluster: Option<ClusterConfig>,
    /// `None` until resolved at start (a random secret is generated then).
    pub jwt_secret: Option<String>,
    pub guest_tokens: bool,
    pub log_format: LogFormat,
    pub webhook: Option<crate::webhooks::WebhookTarget>,
    pub auto_create_rooms: bool,
    pub ring_timeout: std::time::Duration,
    pub unsent_upload_ttl: std::time::Duration,
    pub connect_timeout: std::time::Duration,
    pub removal_ban: std::time::Duration,
    pub max_token_lifetime: std::time::Duration,
    pub ws_idle_timeout: std::time::Duration,
    pub rejoin_grace: std::time::Duration,
    /// How long a session whose socket was lost may be resumed (zero: not kept).
    pub resume_window: std::time::Duration,
    /// How long SIGTERM waits for this node's rooms to empty (zero: it stops at once).
    pub drain_timeout: std::time::Duration,
    /// Normalized `scheme://host[:port]`.
    pub allowed_origins: Vec<String>,
    pub frame_ancestors: Vec<String>,
    pub connection_limits: crate::listener::ConnectionLimits,
    pub media_limits: sfu::config::Limits,
}

impl std::fmt::Debug for Config {
    // Hand-written so the secret can never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("http_addr", &self.http_addr)
            .field("udp_port", &self.udp_port)
            .field("tcp_port", &self.tcp_port)
            .field("public_ips", &self.public_ips)
            .field("udp_bind_ip", &self.udp_bind_ip)
            .field("media_workers", &self.media_workers)
            .field("room_spread_at", &self.room_spread_at)
            .field("peer_allowlist", &self.peer_allowlist)
            .field("turn", &self.turn)
            .field("data_dir", &self.data_dir)
            .field("database", &redact_url(&self.database_url))
            .field("cluster", &self.cluster)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<set>"))
            .field("guest_tokens", &self.guest_tokens)
            .field("log_format", &self.log_format)
            .field("webhook", &self.webhook)
            .field("auto_create_rooms", &self.auto_create_rooms)
            .field("ring_timeout", &self.ring_timeout)
            .field("unsent_upload_ttl", &self.unsent_upload_ttl)
            .field("connect_timeout", &self.connect_timeout)
            .field("removal_ban", &self.removal_ban)
            .field("max_token_lifetime", &self.max_token_lifetime)
            .field("ws_idle_timeout", &self.ws_idle_timeout)
            .field("rejoin_grace", &self.rejoin_grace)
            .field("resume_window", &self.resume_window)
            .field("drain_timeout", &self.drain_timeout)
            .field("allowed_origins", &self.allowed_origins)
            .field("frame_ancestors", &self.frame_ancestors)
            .field("connection_limits", &self.connection_limits)
            .field("media_limits", &self.media_limits)
            .finish()
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
    #[error("webhooks: {0}")]
    Webhook(String),
    #[error("TURN: {0}")]
    Turn(String),
    #[error("cluster: {0}")]
    Cluster(String),
    #[error("invalid allowed origin: {0}")]
    Origin(String),
    #[error(
        "invalid frame ancestor '{0}': a CSP source without spaces, quotes only around keywords"
    )]
    FrameAncestor(String),
}

impl Config {
    pub fn resolve(args: ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let webhook = webhook_target(&args, &file)?;
        let turn = turn_config(&args, &file)?;
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
        let cluster = cluster::cluster_config(
            args.nats_url.clone().or(file.nats_url.clone()),
            (
                args.cluster_name.clone().or(file.cluster_name.clone()),
                args.node_id.clone().or(file.node_id.clone()),
            ),
            &database_url,
        )?;
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
        let allowed_origins = args
            .allowed_origins
            .or(file.allowed_origins)
            .unwrap_or_default()
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| crate::browser_policy::normalize_origin(s).map_err(ConfigError::Origin))
            .collect::<Result<_, _>>()?;
        let frame_ancestors = args
            .frame_ancestors
            .or(file.frame_ancestors)
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .map(|s| {
                let ok = !s.contains([' ', ';', ',', '\n', '\r'])
                    && (!s.contains('\'') || (s.starts_with('\'') && s.ends_with('\'')));
                if ok {
                    Ok(s)
                } else {
                    Err(ConfigError::FrameAncestor(s))
                }
            })
            .collect::<Result<_, _>>()?;
        let connection_limits = crate::listener::ConnectionLimits {
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .unwrap_or(10_000)
                .max(1),
            max_connections_per_ip: args
                .max_connections_per_ip
                .or(file.max_connections_per_ip)
                .unwrap_or(256)
                .max(1),
        };
        let defaults = sfu::config::Limits::default();
        let media_limits = sfu::config::Limits {
            peer_connections: args
                .max_peer_connections
                .or(file.max_peer_connections)
                .unwrap_or(defaults.peer_connections)
                .max(1),
            peer_connections_per_room: args
                .max_room_peer_connections
                .or(file.max_room_peer_connections)
                .unwrap_or(defaults.peer_connections_per_room)
                .max(1),
            sessions_per_identity: args
                .max_sessions_per_identity
                .or(file.max_sessions_per_identity)
                .unwrap_or(defaults.sessions_per_identity)
                .max(1),
            ..defaults
        };
        Ok(Self {
            media_limits,
            allowed_origins,
            frame_ancestors,
            connection_limits,
            http_addr,
            udp_port: args.udp_port.or(file.udp_port).unwrap_or(7882),
            tcp_port: args
                .ice_tcp
                .or(file.ice_tcp)
                .unwrap_or(true)
                .then(|| args.tcp_port.or(file.tcp_port).unwrap_or(7881)),
            public_ips: args
                .public_ip
                .or(file.public_ip)
                .unwrap_or_else(default_public_ips),
            udp_bind_ip: args.udp_bind_ip.or(file.udp_bind_ip),
            media_workers: args.media_workers.or(file.media_workers),
            room_spread_at: args
                .room_spread_at
                .or(file.room_spread_at)
                .unwrap_or(sfu::config::DEFAULT_ROOM_SPREAD_AT),
            peer_allowlist,
            turn,
            data_dir,
            database_url,
            cluster,
            jwt_secret,
            guest_tokens: args.guest_tokens.or(file.guest_tokens).unwrap_or(false),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            webhook,
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
            resume_window: std::time::Duration::from_secs(
                args.resume_window_secs
                    .or(file.resume_window_secs)
                    .unwrap_or(20),
            ),
            drain_timeout: std::time::Duration::from_secs(
                args.drain_timeout_secs
                    .or(file.drain_timeout_secs)
                    .unwrap_or(0),
            ),
        })
    }

    pub fn sfu_config(&self) -> sfu::SfuConfig {
        sfu::SfuConfig {
            udp_port: self.udp_port,
            tcp_port: self.tcp_port,
            public_ips: self.public_ips.clone(),
            udp_bind_ip: self.udp_bind_ip,
            peer_allowlist: self.peer_allowlist.clone(),
            connect_timeout: self.connect_timeout,
            limits: self.media_limits,
            workers: self.media_workers.map_or(0, |n| n.get()),
            room_spread_at: self.room_spread_at,
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
mod tests;
