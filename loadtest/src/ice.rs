//! How a synthetic client's peer connections reach the server: the TURN servers its join
//! handed out (`joined.ice_servers`), and whether to use nothing but them.

use rtc::peer_connection::configuration::{
    RTCConfiguration, RTCConfigurationBuilder, RTCIceServer, RTCIceTransportPolicy,
};

/// The ICE configuration of a client's peer connections.
#[derive(Debug, Clone, Default)]
pub struct IceSetup {
    /// TURN servers with credentials (`joined.ice_servers`).
    pub servers: Vec<signaling::protocol::IceServer>,
    /// Gather relay candidates only (a client whose network lets nothing else out).
    pub relay_only: bool,
}

/// How a [`SyntheticClient`] connects.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientOptions {
    /// Reach the server only through the TURN servers the join hands out.
    pub relay_only: bool,
}

/// The peer connection configuration for `setup`.
pub(crate) fn configuration(setup: IceSetup) -> RTCConfiguration {
    let servers = setup
        .servers
        .into_iter()
        .map(|s| RTCIceServer {
            urls: s.urls,
            username: s.username,
            credential: s.credential,
        })
        .collect();
    let policy = if setup.relay_only {
        RTCIceTransportPolicy::Relay
    } else {
        RTCIceTransportPolicy::All
    };
    RTCConfigurationBuilder::new()
        .with_ice_servers(servers)
        .with_ice_transport_policy(policy)
        .build()
}
