//! ICE servers handed to clients (`joined.ice_servers`).

use serde::{Deserialize, Serialize};

/// One ICE server as a browser's `RTCIceServer` takes it: TURN URLs and short-lived
/// credentials (see `crate::turn`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: String,
    pub credential: String,
}
