//! Pieces the core's integration tests share.

use sfu::{ParticipantMeta, ParticipantSid};

/// A participant who may publish and subscribe, named after its identity.
pub fn meta(identity: &str) -> ParticipantMeta {
    ParticipantMeta {
        sid: ParticipantSid::random(),
        identity: identity.to_owned(),
        name: identity.to_owned(),
        can_publish: true,
        can_subscribe: true,
        hidden: false,
    }
}
