//! Parley's media plane.
//!
//! # Layout
//! - [`core`]: the Sans-I/O SFU ([`SfuCore`]): rooms, peer connections, forwarding. Every
//!   input (a datagram, the clock, a request) is a struct in [`input`], applied by
//!   [`SfuCore::handle`]; datagrams and events come out (`poll_transmit`, `poll_event`).
//! - [`input`]: the inputs, one struct each (`sfu::input::Join { .. }` and so on), the same
//!   for the in-memory core and for [`SfuHandle::request`].
//! - [`driver`]: the only code that touches sockets, threads and the clock; runs one core per
//!   media worker thread behind an [`SfuHandle`], a datagram going to the worker of its
//!   connection and a request to the worker of its room.
//! - [`node`]: what the workers of a node share (demultiplexing table, placement, limits).
//! - Small pure policies, each with table tests: [`forwarder`] (header rewriting),
//!   [`rooms`] (membership and routing), [`codec`] (keyframe detection), [`stun`] (demux),
//!   [`sdp`] (what Parley reads and repairs in offers and answers).
//! - [`peer`]: how each webrtc-rs `rtc` peer connection is configured.
//!
//! This crate knows nothing of HTTP, JSON signaling or SQL.

pub mod allocation;
pub mod candidate;
pub mod codec;
pub mod config;
pub mod core;
pub mod delivery;
pub mod driver;
pub mod error;
pub mod flow;
pub mod forwarder;
pub mod ids;
pub mod layers;
pub mod node;
pub mod peer;
pub mod rooms;
pub mod sdp;
pub mod speaker;
pub mod stats;
pub mod stun;
pub mod udp;
pub mod vp8;

pub use crate::core::input::{self, Input};
pub use crate::core::{Candidate, CoreConfig, PeerState, SfuCore, SfuEvent, Transmit};
pub use config::SfuConfig;
pub use driver::{
    event_channel, spawn, spawn_in_memory, EventReceiver, EventSender, SfuHandle, EVENT_QUEUE,
};
pub use error::SfuError;
pub use flow::{Flow, Transport};
pub use ids::{ParticipantSid, PeerRole, TrackSid};
pub use layers::LayerLimit;
pub use rooms::{MediaKind, ParticipantMeta, ParticipantSnapshot, TrackMeta, TrackSource};
pub use stats::{SfuStats, TcpRefusal, TcpStats, WorkerStats};
