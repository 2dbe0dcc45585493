//! Identifiers the media plane hands out. Random, prefixed so logs are readable, and never
//! derived from user input (identities and room names stay in signaling's hands).

use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use std::fmt;

fn random_suffix(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

macro_rules! sid_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub String);

        impl $name {
            pub fn random() -> Self {
                Self(format!("{}{}", $prefix, random_suffix(12)))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

sid_type!(
    /// One participant's presence in one room (a join); an identity may hold several.
    ParticipantSid,
    "PA_"
);
sid_type!(
    /// One published media track.
    TrackSid,
    "TR_"
);

/// Which of a participant's two peer connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerRole {
    Publisher,
    Subscriber,
    /// A second publisher connection, for a screen share. Adding the share there means the
    /// camera's connection is never renegotiated: webrtc-rs 0.21.1 rebuilds a receiver's
    /// simulcast bindings on every remote description, and Chromium stops sending the RID
    /// extension once the SSRCs are acknowledged, so a renegotiated simulcast camera would go dark.
    Screen,
}

impl PeerRole {
    /// Connections the client sends media on.
    pub fn publishes(self) -> bool {
        matches!(self, Self::Publisher | Self::Screen)
    }
}

/// Index of a peer connection inside the core; cheap to copy and hash on the packet path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_are_prefixed_and_distinct() {
        let a = ParticipantSid::random();
        let b = ParticipantSid::random();
        assert!(a.as_str().starts_with("PA_"));
        assert_eq!(a.as_str().len(), 15);
        assert_ne!(a, b);
        assert!(TrackSid::random().as_str().starts_with("TR_"));
    }
}
