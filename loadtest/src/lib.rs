//! Synthetic Parley clients for integration and load tests.
//!
//! - [`signal`]: the signaling protocol v1 over WebSocket (the server's own message types).
//! - [`client`]: a participant on the async `webrtc` crate that publishes synthetic media and
//!   checks what it receives.
//! - [`chatter`]: a chat-only device (tests and the chat load scenario).
//! - [`media`]: the synthetic VP8/Opus payloads, verifiable byte for byte.
//! - [`light`]: light subscribers for load: real ICE, DTLS-SRTP and RTCP feedback, media counted
//!   from the clear RTP header without decrypting it, many per task.

pub mod chatter;
pub mod client;
pub mod ice;
pub mod light;
pub mod media;
pub mod signal;
pub mod whip;

pub use client::{
    ClientError, ClientOptions, Publication, RoomView, SyntheticClient, TrackReceipt,
};
