//! Calls as the store hands them out: invitations that ring, and records of calls that took
//! place. Plain data, like [`crate::model`]; the ringing itself (timers, devices) is signaling's.
//!
//! An invitation's life:
//!
//! ```text
//! Ringing ──accept──▶ Accepted        (first accept; later group accepts keep it Accepted)
//!    │ ─cancel (caller)─▶ Cancelled
//!    │ ─every invitee declined or busy─▶ Declined
//!    └ ─expire_invitations past expires_at─▶ Missed
//! ```
//!
//! Each invitee starts `Ringing` and leaves it at most once. Invitee `Ringing` only exists while
//! the invitation is `Ringing` or `Accepted` (a group call others may still join).

/// Largest explicit invitee list [`crate::Store::create_invitation`] accepts.
pub const MAX_INVITEES: usize = 1000;
/// Largest page [`crate::Store::call_history`] and [`crate::Store::calls`] return.
pub const MAX_CALL_HISTORY_LIMIT: u32 = 200;
/// Largest idempotency key of [`crate::Store::post_system_message`], in bytes.
pub const MAX_SYSTEM_KEY_BYTES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallMedia {
    Audio,
    Video,
}

impl CallMedia {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "audio" => Some(Self::Audio),
            "video" => Some(Self::Video),
            _ => None,
        }
    }
}

/// Where one invitee stands. Every state but `Ringing` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InviteeState {
    Ringing,
    Accepted,
    Declined,
    /// Was in another call when it rang.
    Busy,
    /// Another invitee accepted a direct-conversation call first (see
    /// [`crate::Store::accept_invitation`]). A person's *other devices* being answered is
    /// signaling's business: the store tracks people, not devices.
    AnsweredElsewhere,
    /// Still ringing when the invitation expired.
    Missed,
    /// Still ringing when the caller cancelled.
    Cancelled,
}

impl InviteeState {
    const ALL: [Self; 7] = [
        Self::Ringing,
        Self::Accepted,
        Self::Declined,
        Self::Busy,
        Self::AnsweredElsewhere,
        Self::Missed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ringing => "ringing",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Busy => "busy",
            Self::AnsweredElsewhere => "answered_elsewhere",
            Self::Missed => "missed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvitationState {
    Ringing,
    /// Someone accepted; the call is (or was) on. Not an end state for ringing: in a group the
    /// invitees still `Ringing` may accept until the invitation expires.
    Accepted,
    /// Every invitee declined or was busy, nobody accepted.
    Declined,
    /// The caller hung up while it rang.
    Cancelled,
    /// Nobody answered before `expires_at_ms`.
    Missed,
}

impl InvitationState {
    const ALL: [Self; 5] = [
        Self::Ringing,
        Self::Accepted,
        Self::Declined,
        Self::Cancelled,
        Self::Missed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ringing => "ringing",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Cancelled => "cancelled",
            Self::Missed => "missed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitee {
    pub identity: String,
    pub state: InviteeState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: String,
    pub conversation: String,
    /// Empty once the caller's data was erased with [`crate::Store::delete_user`].
    pub caller: String,
    pub media: CallMedia,
    /// The call room name, `"call-<id>"`; chosen by the store.
    pub room: String,
    /// Sorted by identity.
    pub invitees: Vec<Invitee>,
    pub state: InvitationState,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    /// When it stopped ringing as `Declined`, `Cancelled` or `Missed` (for `Missed`: its
    /// `expires_at_ms`, also when the sweep ran later, e.g. after a restart). `None` while
    /// `Ringing` and for `Accepted`.
    pub ended_at_ms: Option<i64>,
    /// The first invitee who accepted.
    pub answered_by: Option<String>,
}

impl Invitation {
    /// The invitee entry of `identity`, if invited.
    pub fn invitee(&self, identity: &str) -> Option<&Invitee> {
        self.invitees.iter().find(|i| i.identity == identity)
    }

    /// Invitees whose devices still ring.
    pub fn ringing(&self) -> impl Iterator<Item = &str> {
        self.invitees
            .iter()
            .filter(|i| i.state == InviteeState::Ringing)
            .map(|i| i.identity.as_str())
    }
}

/// A call: a room's life from first join to last leave, tied to a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub id: String,
    pub conversation: String,
    pub room: String,
    /// The invitation that led to it, if any.
    pub invitation: Option<String>,
    pub media: CallMedia,
    /// Empty once the starter's data was erased with [`crate::Store::delete_user`].
    pub started_by: String,
    pub started_at_ms: i64,
    /// `None` while the call is open.
    pub ended_at_ms: Option<i64>,
    /// `ended_at_ms - started_at_ms`, never negative; `None` while open.
    pub duration_ms: Option<i64>,
    /// Everyone who joined at least once (the starter included), in order of first join.
    pub participants: Vec<String>,
}

impl CallRecord {
    pub fn is_open(&self) -> bool {
        self.ended_at_ms.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for state in InviteeState::ALL {
            assert_eq!(InviteeState::parse(state.as_str()), Some(state));
        }
        for state in InvitationState::ALL {
            assert_eq!(InvitationState::parse(state.as_str()), Some(state));
        }
        for media in [CallMedia::Audio, CallMedia::Video] {
            assert_eq!(CallMedia::parse(media.as_str()), Some(media));
        }
        assert_eq!(InviteeState::parse("Ringing"), None);
        assert_eq!(CallMedia::parse(""), None);
    }
}
