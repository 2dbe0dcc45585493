//! WHIP (RFC 9725) ingest and WHEP playback: one HTTP request joins a room, no Parley SDK.
//!
//! - `POST /whip/{room}` (token with `join` + `publish` for the room, `application/sdp` offer)
//!   → `201 Created`, the answer, and `Location: /whip/{room}/{session}`. The publisher is a room
//!   participant like any other (identity and name from the token).
//! - `POST /whep/{room}[?participant=<identity>]` (the `watch` grant) → a hidden viewer whose
//!   one audio and one video slot follow the named identity, else the room's first publisher.
//!   Both doors admit like a WebSocket join: bans, `--auto-create-rooms`, the participant cap
//!   (viewers count; operators list and remove them as `viewer`).
//! - `DELETE` on the session URL ends it (the participant leaves); `PATCH` is `405` (the server
//!   is ICE-lite with its candidates in the answer, so trickle and restarts are not needed);
//!   `OPTIONS` answers with `Accept-Post: application/sdp`.
//!
//! A session also ends when its peer connection fails or closes.

use crate::auth::Claims;
use crate::http::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use sfu::input::{Join, JoinViewer, Leave, Publish};
use sfu::{ParticipantMeta, ParticipantSid, PeerRole, PeerState, SfuError, SfuEvent};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Whip,
    Whep,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Self::Whip => "whip",
            Self::Whep => "whep",
        }
    }
}

#[derive(Debug, Clone)]
struct Session {
    kind: Kind,
    room: String,
    sid: ParticipantSid,
    identity: String,
}

/// Live WHIP/WHEP sessions by resource id.
#[derive(Clone, Default)]
pub struct MediaSessions(Arc<Mutex<HashMap<String, Session>>>);

impl MediaSessions {
    fn insert(&self, id: String, session: Session) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(id, session);
        }
    }

    fn remove(&self, id: &str) -> Option<Session> {
        self.0.lock().ok()?.remove(id)
    }

    fn get(&self, id: &str) -> Option<Session> {
        self.0.lock().ok()?.get(id).cloned()
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/whip/{room}", post(whip).options(options))
        .route("/whep/{room}", post(whep).options(options))
        .route(
            "/whip/{room}/{session}",
            axum::routing::delete(delete_whip)
                .patch(patch_whip)
                .options(session_options),
        )
        .route(
            "/whep/{room}/{session}",
            axum::routing::delete(delete_whep)
                .patch(patch_whep)
                .options(session_options),
        )
}

/// Checks the bearer token: valid (401 otherwise), for this room, with the grants (403).
fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    room: &str,
    kind: Kind,
) -> Result<Claims, ApiError> {
    let claims = crate::http::bearer_claims(state, headers, crate::auth::Audience::Participant)?;
    let forbidden = |message: &str| ApiError::new(StatusCode::FORBIDDEN, "forbidden", message);
    if claims.room != room {
        return Err(forbidden("the token is for a different room"));
    }
    let allowed = match kind {
        Kind::Whip => claims.grants.join && claims.grants.publish,
        Kind::Whep => claims.grants.watch,
    };
    if !allowed {
        return Err(forbidden(match kind {
            Kind::Whip => "the token does not grant join and publish",
            Kind::Whep => "the token does not grant watch (WHEP viewing is its own grant)",
        }));
    }
    Ok(claims)
}

/// The same admission as a WebSocket join (bans, `--auto-create-rooms`); an audio-only room
/// takes no video from WHIP. Returns the room's participant cap, which the media plane checks
/// with the join.
async fn admit(
    state: &AppState,
    kind: Kind,
    room: &str,
    claims: &crate::auth::Claims,
    offer: &str,
) -> Result<Option<u32>, ApiError> {
    use crate::rooms::AdmitError;
    let admitted = crate::lifecycle::admit(state, room, claims)
        .await
        .map_err(|err| {
            let (status, code) = match err {
                AdmitError::NotFound => (StatusCode::NOT_FOUND, "room_not_found"),
                AdmitError::Banned { .. } => (StatusCode::FORBIDDEN, "banned"),
                AdmitError::GuestsNotAllowed => (StatusCode::FORBIDDEN, "forbidden"),
                AdmitError::Elsewhere => (StatusCode::CONFLICT, "room_on_another_node"),
                AdmitError::Unplaced | AdmitError::Draining => {
                    (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
                }
            };
            ApiError::new(status, code, err.to_string())
        })?;
    let sends_video = sfu::sdp::media_sections(offer)
        .iter()
        .any(|s| s.kind == "video" && s.accepted && s.direction.sends());
    if kind == Kind::Whip && admitted.config.audio_only && sends_video {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "audio_only",
            "this room is audio-only: publish without video",
        ));
    }
    Ok(admitted.config.max_participants)
}

/// The offer body: `application/sdp` (415 otherwise), UTF-8 (400 otherwise).
fn offer_body(headers: &HeaderMap, body: &Bytes) -> Result<String, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/sdp") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be an SDP offer with Content-Type: application/sdp",
        ));
    }
    String::from_utf8(body.to_vec()).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_sdp",
            "the SDP is not UTF-8",
        )
    })
}

/// A media plane error as the HTTP APIs (WHIP, WHEP, the server API) answer it.
pub(crate) fn sfu_error(err: SfuError) -> ApiError {
    match err {
        SfuError::InvalidSdp(reason) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_sdp",
            format!("invalid SDP: {reason}"),
        ),
        SfuError::LimitExceeded(reason) => {
            ApiError::new(StatusCode::BAD_REQUEST, "limit_exceeded", reason)
        }
        SfuError::RoomFull => ApiError::new(StatusCode::FORBIDDEN, "room_full", "the room is full"),
        SfuError::Capacity(reason) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "at_capacity", reason)
        }
        SfuError::NoCommonMedia(reason) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_media",
            format!("nothing in the offer can be carried: {reason}"),
        ),
        SfuError::Stopped => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_shutting_down",
            "the server is shutting down",
        ),
        other => {
            tracing::error!(err = %other, "whip/whep media error");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal media error",
            )
        }
    }
}

/// The 201 answer, with the TURN servers (and fresh credentials) as RFC 9725 `Link` headers
/// when the server has TURN configured.
fn created(
    kind: Kind,
    room: &str,
    id: &str,
    answer: String,
    turn: Option<&crate::turn::TurnConfig>,
) -> Response {
    let location = format!("/{}/{room}/{id}", kind.path());
    let mut response = (
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/sdp".to_owned()),
            (header::LOCATION, location),
        ],
        answer,
    )
        .into_response();
    if let Some(turn) = turn {
        for link in crate::turn::link_headers(&turn.ice_server()) {
            // URLs are checked at start-up and credentials are base64 and digits: always valid.
            if let Ok(value) = HeaderValue::from_str(&link) {
                response.headers_mut().append(header::LINK, value);
            }
        }
    }
    response
}

/// Ends the session when its connection fails or closes (a client that vanished without DELETE).
fn watch_session(state: AppState, id: String, mut events: sfu::EventReceiver) {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let ended = matches!(
                event,
                SfuEvent::Removed { .. }
                    | SfuEvent::PeerState {
                        state: PeerState::Failed | PeerState::Closed,
                        ..
                    }
            );
            if ended {
                if let Some(session) = state.media_sessions.remove(&id) {
                    tracing::info!(participant = %session.sid, "whip/whep connection ended");
                    leave(&state, session.sid).await;
                    crate::lifecycle::participant_left(&state, &session.room, &session.identity)
                        .await;
                }
                return;
            }
        }
    });
}

/// The client's address, as the listener recorded it.
type Peer = Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>;

async fn whip(
    State(state): State<AppState>,
    Path(room): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ip = peer.map(|p| p.0 .0.ip());
    open_session(state, Kind::Whip, room, None, (&headers, ip), &body).await
}

#[derive(Debug, Deserialize)]
struct WhepQuery {
    /// Identity to watch; default: the room's first publisher.
    participant: Option<String>,
}

async fn whep(
    State(state): State<AppState>,
    Path(room): Path<String>,
    Query(query): Query<WhepQuery>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ip = peer.map(|p| p.0 .0.ip());
    let request = (&headers, ip);
    open_session(state, Kind::Whep, room, query.participant, request, &body).await
}

/// POST on either endpoint: check the token and body, join the room as a publisher (WHIP) or
/// a hidden viewer (WHEP), and answer `201 Created` with the session's `Location`.
async fn open_session(
    state: AppState,
    kind: Kind,
    room: String,
    follow: Option<String>,
    (headers, ip): (&HeaderMap, Option<std::net::IpAddr>),
    body: &Bytes,
) -> Response {
    let claims = match authorize(&state, headers, &room, kind) {
        Ok(claims) => claims,
        Err(refusal) => return refusal.into_response(),
    };
    if let Err(refusal) = state.session_rate.check(&claims.sub, ip) {
        state
            .metrics
            .refused_total
            .with_label_values(&[kind.path()])
            .inc();
        let whose = match refusal {
            crate::whip_limits::Refusal::Identity => "this identity",
            crate::whip_limits::Refusal::Address => "this address",
        };
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("{whose} opens sessions too fast; try again in a second"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
    let offer = match offer_body(headers, body) {
        Ok(offer) => offer,
        Err(refusal) => return refusal.into_response(),
    };
    let max_participants = match admit(&state, kind, &room, &claims, &offer).await {
        Ok(max_participants) => max_participants,
        Err(refusal) => return refusal.into_response(),
    };
    let sid = ParticipantSid::random();
    let meta = ParticipantMeta {
        sid: sid.clone(),
        identity: claims.sub.clone(),
        name: claims.name.clone(),
        can_publish: kind == Kind::Whip,
        can_subscribe: kind == Kind::Whep,
        hidden: kind == Kind::Whep,
    };
    let (events_tx, events_rx) = sfu::event_channel();
    let joining = Joining {
        room: room.clone(),
        meta,
        offer,
        follow,
        max_participants,
    };
    let answer = match enter(&state, kind, joining, events_tx).await {
        Ok(answer) => answer,
        Err(refusal) => return refusal.into_response(),
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    tracing::info!(room = %room, participant = %sid, kind = kind.path(), "session started");
    state.media_sessions.insert(
        id.clone(),
        Session {
            kind,
            room: room.clone(),
            sid,
            identity: claims.sub,
        },
    );
    let config = state.config.clone();
    watch_session(state, id.clone(), events_rx);
    created(kind, &room, &id, answer, config.turn.as_ref())
}

/// A WHIP or WHEP client about to enter the media plane.
struct Joining {
    room: String,
    meta: ParticipantMeta,
    offer: String,
    follow: Option<String>,
    max_participants: Option<u32>,
}

/// Joins the room in the media plane (which checks its cap in the same step) as a publisher
/// that offers (WHIP) or as a hidden viewer (WHEP); returns the answer.
async fn enter(
    state: &AppState,
    kind: Kind,
    joining: Joining,
    events: sfu::EventSender,
) -> Result<String, ApiError> {
    let Joining {
        room,
        meta,
        offer,
        follow,
        max_participants,
    } = joining;
    let sid = meta.sid.clone();
    if kind == Kind::Whep {
        let view = JoinViewer {
            room: room.clone(),
            meta,
            offer,
            follow,
            max_participants,
        };
        return match state.sfu.join_with_events(view, events).await {
            Ok(answer) => Ok(answer),
            Err(err) => Err(refused(state, &room, err).await),
        };
    }
    let join = Join {
        room: room.clone(),
        meta,
        max_participants,
    };
    if let Err(err) = state.sfu.join_with_events(join, events).await {
        return Err(refused(state, &room, err).await);
    }
    let publish = Publish {
        sid: sid.clone(),
        role: PeerRole::Publisher,
        offer,
        sources: Vec::new(),
    };
    match state.sfu.request(publish).await {
        Ok(answer) => Ok(answer),
        Err(err) => {
            leave(state, sid).await;
            Err(sfu_error(err))
        }
    }
}

/// The media plane refused a join (the room is full, the server at capacity).
async fn refused(state: &AppState, room: &str, err: SfuError) -> ApiError {
    crate::lifecycle::join_refused(state, room).await;
    sfu_error(err)
}

/// The participant leaves the media plane (nothing to do once it stopped).
async fn leave(state: &AppState, sid: ParticipantSid) {
    if let Err(err) = state.sfu.request(Leave { sid }).await {
        tracing::debug!(%err, "leaving a stopped media plane");
    }
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such session")
}

/// The session named by the URL, if the caller may act on it (its own identity or a moderator).
fn owned_session(
    state: &AppState,
    headers: &HeaderMap,
    kind: Kind,
    room: &str,
    id: &str,
) -> Result<Session, ApiError> {
    let session = state
        .media_sessions
        .get(id)
        .filter(|s| s.kind == kind && s.room == room)
        .ok_or_else(not_found)?;
    let claims = crate::http::bearer_claims(state, headers, crate::auth::Audience::Participant)?;
    if claims.room != room || (claims.sub != session.identity && !claims.grants.moderate) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "not your session",
        ));
    }
    Ok(session)
}

async fn delete_session(
    state: AppState,
    headers: HeaderMap,
    kind: Kind,
    room: String,
    id: String,
) -> Response {
    if let Err(refusal) = owned_session(&state, &headers, kind, &room, &id) {
        return refusal.into_response();
    }
    match state.media_sessions.remove(&id) {
        Some(session) => {
            leave(&state, session.sid.clone()).await;
            crate::lifecycle::participant_left(&state, &room, &session.identity).await;
            tracing::info!(room = %room, participant = %session.sid, "whip/whep session deleted");
            StatusCode::OK.into_response()
        }
        None => not_found().into_response(),
    }
}

async fn delete_whip(
    State(state): State<AppState>,
    Path((room, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    delete_session(state, headers, Kind::Whip, room, id).await
}

async fn delete_whep(
    State(state): State<AppState>,
    Path((room, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    delete_session(state, headers, Kind::Whep, room, id).await
}

fn patch_not_supported(state: &AppState, kind: Kind, room: &str, id: &str) -> Response {
    if state
        .media_sessions
        .get(id)
        .is_none_or(|s| s.kind != kind || s.room != room)
    {
        return not_found().into_response();
    }
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "trickle ICE and ICE restarts are not supported: the server is ICE-lite and its candidates are in the answer",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("DELETE, OPTIONS"));
    response
}

async fn patch_whip(
    State(state): State<AppState>,
    Path((room, id)): Path<(String, String)>,
) -> Response {
    patch_not_supported(&state, Kind::Whip, &room, &id)
}

async fn patch_whep(
    State(state): State<AppState>,
    Path((room, id)): Path<(String, String)>,
) -> Response {
    patch_not_supported(&state, Kind::Whep, &room, &id)
}

async fn options() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (
                header::HeaderName::from_static("accept-post"),
                "application/sdp",
            ),
            (header::ALLOW, "POST, OPTIONS"),
        ],
    )
        .into_response()
}

async fn session_options() -> Response {
    (StatusCode::NO_CONTENT, [(header::ALLOW, "DELETE, OPTIONS")]).into_response()
}

/// CORS answers preflight `OPTIONS` itself, before routing; this outermost layer still tells
/// WHIP/WHEP clients what the endpoint accepts (RFC 9725 §4.2).
pub async fn advertise_accept_post(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let advertise = request.method() == axum::http::Method::OPTIONS && {
        let path = request.uri().path();
        let mut parts = path.trim_start_matches('/').split('/');
        matches!(parts.next(), Some("whip" | "whep")) && parts.count() == 1
    };
    let mut response = next.run(request).await;
    if advertise {
        response.headers_mut().insert(
            header::HeaderName::from_static("accept-post"),
            HeaderValue::from_static("application/sdp"),
        );
    }
    response
}
