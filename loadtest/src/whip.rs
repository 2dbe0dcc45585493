//! WHIP and WHEP clients: the same synthetic media, over one plain HTTP request each (no Parley
//! WebSocket), as OBS, GStreamer or a WHEP player would do it.

use crate::client::{
    add_synthetic_tracks, local_offer, new_peer, start_sending, wait_until, ClientError, Shared,
};
use crate::{Publication, RoomView};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use signaling::protocol::PeerTarget;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use webrtc::peer_connection::PeerConnection;

/// A finished WHIP/WHEP exchange.
pub struct HttpSession {
    pc: Arc<dyn PeerConnection>,
    shared: Shared,
    /// Absolute URL of the session resource (from `Location`).
    pub resource: String,
    token: String,
}

/// The raw answer to a WHIP/WHEP POST, for tests of the status codes.
pub async fn post_offer(
    url: &str,
    token: Option<&str>,
    content_type: &str,
    body: String,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut request = reqwest::Client::new()
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await
}

async fn exchange(
    base_url: &str,
    path: &str,
    token: &str,
    pc: &Arc<dyn PeerConnection>,
) -> Result<String, ClientError> {
    let offer = local_offer(pc).await?;
    let url = format!("{base_url}{path}");
    let response = post_offer(&url, Some(token), "application/sdp", offer)
        .await
        .map_err(|e| ClientError::Unexpected(e.to_string()))?;
    if response.status() != reqwest::StatusCode::CREATED {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        return Err(ClientError::Unexpected(format!("{status}: {body}")));
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ClientError::Unexpected("no Location header".into()))?
        .to_owned();
    let answer = response
        .text()
        .await
        .map_err(|e| ClientError::Unexpected(e.to_string()))?;
    pc.set_remote_description(RTCSessionDescription::answer(answer)?)
        .await?;
    Ok(format!("{base_url}{location}"))
}

impl HttpSession {
    /// Publishes synthetic audio and video to `room` with WHIP.
    pub async fn whip(
        base_url: &str,
        room: &str,
        token: &str,
    ) -> Result<(Self, Arc<Publication>, watch::Sender<bool>), ClientError> {
        let shared = Shared::new();
        shared.set_ice(crate::ice::IceSetup::default());
        let pc = new_peer(shared.clone(), PeerTarget::Publisher).await?;
        let media = add_synthetic_tracks(&pc, "whip").await?;
        let resource = exchange(base_url, &format!("/whip/{room}"), token, &pc).await?;
        wait_until(&shared, "WHIP connection", Duration::from_secs(10), |v| {
            v.publisher_connected
        })
        .await?;
        let (stop, stop_rx) = watch::channel(false);
        let publication = start_sending(media, stop_rx);
        Ok((
            Self {
                pc,
                shared,
                resource,
                token: token.to_owned(),
            },
            publication,
            stop,
        ))
    }

    /// Plays `room` with WHEP (one audio and one video slot), optionally following an identity.
    pub async fn whep(
        base_url: &str,
        room: &str,
        token: &str,
        participant: Option<&str>,
    ) -> Result<Self, ClientError> {
        let shared = Shared::new();
        shared.set_ice(crate::ice::IceSetup::default());
        // Received tracks are keyed by msid track id (`parley-audio`, `parley-video`).
        let pc = new_peer(shared.clone(), PeerTarget::Publisher).await?;
        for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
            pc.add_transceiver_from_kind(
                kind,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Recvonly,
                    streams: vec![],
                    send_encodings: vec![],
                }),
            )
            .await?;
        }
        let path = match participant {
            Some(identity) => format!("/whep/{room}?participant={identity}"),
            None => format!("/whep/{room}"),
        };
        let resource = exchange(base_url, &path, token, &pc).await?;
        Ok(Self {
            pc,
            shared,
            resource,
            token: token.to_owned(),
        })
    }

    pub fn view(&self) -> RoomView {
        self.shared.view()
    }

    pub async fn wait_until(
        &self,
        what: &'static str,
        timeout: Duration,
        condition: impl Fn(&RoomView) -> bool,
    ) -> Result<RoomView, ClientError> {
        wait_until(&self.shared, what, timeout, condition).await
    }

    /// `DELETE` on the session resource; returns the HTTP status.
    pub async fn delete(&self) -> Result<u16, ClientError> {
        let response = reqwest::Client::new()
            .delete(&self.resource)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        Ok(response.status().as_u16())
    }

    pub async fn close(self) {
        let _ = self.pc.close().await;
    }
}
