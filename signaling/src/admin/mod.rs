//! The server API for apps (a telehealth or classroom backend): rooms, their participants
//! (list, remove, mute), participant tokens, call history and (in `erasure.rs`) deleting a
//! person's data. Authenticated with a server token carrying the `admin` grant
//! (`parley token --grants admin`), which never goes to a browser.
//! The OpenAPI document is generated from these handlers and served at `/api/openapi.json`.

use crate::auth::Claims;
use crate::http::ApiError;
use crate::rooms::{RoomConfig, DEFAULT_EMPTY_TIMEOUT};
use crate::state::AppState;
use crate::webhooks::WebhookEvent;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

mod tokens;
use tokens::{
    __path_call_history, __path_mint_token, call_history, mint_token, CallInfo, CallList,
    TokenRequest, TokenResponse,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/rooms", get(list_rooms).post(create_room))
        .route("/api/rooms/{room}", get(get_room).delete(end_room))
        .route("/api/rooms/{room}/participants", get(list_participants))
        .route(
            "/api/rooms/{room}/participants/{identity}",
            delete(remove_participant),
        )
        .route(
            "/api/rooms/{room}/participants/{identity}/mute",
            post(mute_participant),
        )
        .route("/api/tokens", post(mint_token))
        .route("/api/calls", get(call_history))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Parley server API",
        version = "1",
        description = "Rooms, participants, tokens and call history for apps. Bearer: a server token with the `admin` grant."
    ),
    paths(
        list_rooms,
        create_room,
        get_room,
        end_room,
        list_participants,
        remove_participant,
        mute_participant,
        mint_token,
        call_history,
        conversation_history,
        crate::erasure::erase_user
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        CreateRoom,
        RoomInfo,
        RoomList,
        Participant,
        PublishedTrack,
        ParticipantList,
        MuteRequest,
        TokenRequest,
        TokenResponse,
        CallInfo,
        CallList,
        crate::erasure::ErasureInfo
    )),
    modifiers(&BearerSecurity),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerSecurity;

impl Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Every error: `{"error": {"code", "message"}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `not_authenticated`, `invalid_token`, `forbidden`, `not_found`,
    /// `invalid_request`, `conflict`.
    code: String,
    message: String,
}

pub(crate) fn admin(state: &AppState, headers: &HeaderMap) -> Result<Claims, ApiError> {
    let forbidden = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this API needs a server token with the admin grant",
        )
    };
    match crate::http::bearer_claims(state, headers, crate::auth::Audience::Server) {
        Ok(claims) if claims.grants.admin => Ok(claims),
        Ok(_) => Err(forbidden()),
        // A valid participant token is known but not allowed here.
        Err(refusal) => match crate::http::bearer_token(headers) {
            Ok(token)
                if state
                    .tokens
                    .verify(token, crate::auth::Audience::Participant)
                    .is_ok() =>
            {
                Err(forbidden())
            }
            _ => Err(refusal),
        },
    }
}

fn not_found(room: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no room named '{room}'"),
    )
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    /// 1-64 letters, digits, `-`, `_` or `.`.
    name: String,
    /// Joins beyond this are refused with `room_full`.
    #[serde(default)]
    max_participants: Option<u32>,
    /// Only audio may be published.
    #[serde(default)]
    audio_only: bool,
    /// How long the room stays open once empty (default 30).
    #[serde(default)]
    empty_timeout_secs: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct RoomInfo {
    name: String,
    max_participants: Option<u32>,
    audio_only: bool,
    empty_timeout_secs: u64,
    /// Unix milliseconds.
    created_at: i64,
    /// Created through this API (rather than on first join).
    created_by_api: bool,
    participants: usize,
}

#[derive(Serialize, ToSchema)]
pub struct RoomList {
    rooms: Vec<RoomInfo>,
}

fn room_info(config: RoomConfig, participants: usize) -> RoomInfo {
    RoomInfo {
        name: config.name,
        max_participants: config.max_participants,
        audio_only: config.audio_only,
        empty_timeout_secs: config.empty_timeout.as_secs(),
        created_at: config.created_at_ms,
        created_by_api: config.explicit,
        participants,
    }
}

async fn occupancy(
    state: &AppState,
) -> Result<HashMap<String, Vec<sfu::ParticipantSnapshot>>, ApiError> {
    let rooms = state.sfu.request(sfu::input::Rooms).await;
    Ok(rooms.map_err(crate::whip::sfu_error)?.into_iter().collect())
}

/// Who is in `room` (viewers included), as the media plane says.
async fn room_people(
    state: &AppState,
    room: &str,
) -> Result<Vec<sfu::ParticipantSnapshot>, ApiError> {
    let request = sfu::input::RoomPeople {
        room: room.to_owned(),
    };
    state
        .sfu
        .request(request)
        .await
        .map_err(crate::whip::sfu_error)
}

#[utoipa::path(get, path = "/api/rooms", tag = "rooms",
    responses((status = 200, body = RoomList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_rooms(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<RoomList>, ApiError> {
    admin(&state, &headers)?;
    let present = occupancy(&state).await?;
    let rooms = state
        .rooms
        .list()
        .into_iter()
        .map(|config| {
            let count = present.get(&config.name).map_or(0, Vec::len);
            room_info(config, count)
        })
        .collect();
    Ok(Json(RoomList { rooms }))
}

#[utoipa::path(post, path = "/api/rooms", tag = "rooms", request_body = CreateRoom,
    responses((status = 201, body = RoomInfo), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_room(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<CreateRoom>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<RoomInfo>), ApiError> {
    admin(&state, &headers)?;
    let Json(request) = body.map_err(|e| invalid(e.body_text()))?;
    if !crate::http::valid_room(&request.name) {
        return Err(invalid(
            "name must be 1-64 characters of letters, digits, '-', '_' or '.'",
        ));
    }
    if request.max_participants == Some(0) {
        return Err(invalid("max_participants must be at least 1"));
    }
    let config = RoomConfig {
        name: request.name.clone(),
        max_participants: request.max_participants,
        audio_only: request.audio_only,
        empty_timeout: request
            .empty_timeout_secs
            .map_or(DEFAULT_EMPTY_TIMEOUT, Duration::from_secs),
        created_at_ms: crate::messaging::now_ms(),
        explicit: true,
    };
    if !state.rooms.create(config.clone()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("room '{}' exists", request.name),
        ));
    }
    state.webhooks.send(WebhookEvent::RoomStarted {
        room: request.name.clone(),
    });
    tracing::info!(room = %request.name, "room created through the API");
    Ok((StatusCode::CREATED, Json(room_info(config, 0))))
}

#[utoipa::path(get, path = "/api/rooms/{room}", tag = "rooms",
    params(("room" = String, Path, description = "room name")),
    responses((status = 200, body = RoomInfo), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_room(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(room): Path<String>,
) -> Result<Json<RoomInfo>, ApiError> {
    admin(&state, &headers)?;
    let config = state.rooms.get(&room).ok_or_else(|| not_found(&room))?;
    let count = room_people(&state, &room).await?.len();
    Ok(Json(room_info(config, count)))
}

#[utoipa::path(delete, path = "/api/rooms/{room}", tag = "rooms",
    params(("room" = String, Path, description = "room name")),
    responses((status = 204, description = "everyone was removed and the room is closed"),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn end_room(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(room): Path<String>,
) -> Result<StatusCode, ApiError> {
    let claims = admin(&state, &headers)?;
    let present = room_people(&state, &room).await?;
    if state.rooms.get(&room).is_none() && present.is_empty() {
        return Err(not_found(&room));
    }
    for participant in present {
        let remove = sfu::input::Remove {
            sid: participant.meta.sid,
            reason: "room_ended".to_owned(),
        };
        state
            .sfu
            .request(remove)
            .await
            .map_err(crate::whip::sfu_error)?;
    }
    if state.rooms.remove(&room).is_some() {
        state
            .webhooks
            .send(WebhookEvent::RoomFinished { room: room.clone() });
    }
    if let Some(relay) = &state.relay {
        relay.placement.release(&room).await;
    }
    tracing::info!(room = %room, actor = %claims.sub, "room ended through the API");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct PublishedTrack {
    sid: String,
    /// `audio` or `video`.
    kind: String,
    /// `camera`, `microphone`, `screen`, `screen_audio` or `unknown`.
    source: String,
    muted: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Participant {
    sid: String,
    identity: String,
    name: String,
    /// A WHEP viewer: watches, hidden from the room's participants, counts against its cap.
    viewer: bool,
    tracks: Vec<PublishedTrack>,
}

#[derive(Serialize, ToSchema)]
pub struct ParticipantList {
    participants: Vec<Participant>,
}

fn participant(snapshot: sfu::ParticipantSnapshot) -> Participant {
    Participant {
        sid: snapshot.meta.sid.to_string(),
        identity: snapshot.meta.identity,
        name: snapshot.meta.name,
        viewer: snapshot.meta.hidden,
        tracks: snapshot
            .tracks
            .into_iter()
            .map(|t| PublishedTrack {
                sid: t.sid.to_string(),
                kind: match t.kind {
                    sfu::MediaKind::Audio => "audio",
                    sfu::MediaKind::Video => "video",
                }
                .into(),
                source: format!("{:?}", t.source).to_lowercase(),
                muted: t.muted,
            })
            .collect(),
    }
}

#[utoipa::path(get, path = "/api/rooms/{room}/participants", tag = "participants",
    params(("room" = String, Path, description = "room name")),
    responses((status = 200, body = ParticipantList), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_participants(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(room): Path<String>,
) -> Result<Json<ParticipantList>, ApiError> {
    admin(&state, &headers)?;
    let present = room_people(&state, &room).await?;
    if present.is_empty() && state.rooms.get(&room).is_none() {
        return Err(not_found(&room));
    }
    Ok(Json(ParticipantList {
        participants: present.into_iter().map(participant).collect(),
    }))
}

/// The sessions of `identity` in `room`.
async fn sessions_of(
    state: &AppState,
    room: &str,
    identity: &str,
) -> Result<Vec<sfu::ParticipantSnapshot>, ApiError> {
    let sessions: Vec<_> = room_people(state, room)
        .await?
        .into_iter()
        .filter(|p| p.meta.identity == identity)
        .collect();
    if sessions.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("'{identity}' is not in room '{room}'"),
        ));
    }
    Ok(sessions)
}

#[utoipa::path(delete, path = "/api/rooms/{room}/participants/{identity}", tag = "participants",
    params(("room" = String, Path, description = "room name"), ("identity" = String, Path, description = "participant identity")),
    responses((status = 204, description = "every session of that identity left the room (its clients get `goodbye` with reason `removed`)"),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn remove_participant(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((room, identity)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let claims = admin(&state, &headers)?;
    let sessions = sessions_of(&state, &room, &identity).await?;
    crate::moderation::remove(&state, &room, &claims.sub, sessions).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MuteRequest {
    /// `audio`, `video` or `all` (default `all`).
    #[serde(default)]
    kind: Option<String>,
    /// `false` lifts a mute.
    #[serde(default = "yes")]
    muted: bool,
}

fn yes() -> bool {
    true
}

#[utoipa::path(post, path = "/api/rooms/{room}/participants/{identity}/mute", tag = "participants",
    params(("room" = String, Path, description = "room name"), ("identity" = String, Path, description = "participant identity")),
    request_body = MuteRequest,
    responses((status = 204, description = "the tracks are muted: nothing of them is forwarded; everyone gets `track_muted`"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn mute_participant(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((room, identity)): Path<(String, String)>,
    body: Result<Json<MuteRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let claims = admin(&state, &headers)?;
    let Json(request) = body.map_err(|e| invalid(e.body_text()))?;
    let kinds: &[sfu::MediaKind] = match request.kind.as_deref().unwrap_or("all") {
        "audio" => &[sfu::MediaKind::Audio],
        "video" => &[sfu::MediaKind::Video],
        "all" => &[sfu::MediaKind::Audio, sfu::MediaKind::Video],
        other => {
            return Err(invalid(format!(
                "kind '{other}' is not audio, video or all"
            )))
        }
    };
    let sessions = sessions_of(&state, &room, &identity).await?;
    crate::moderation::mute(&state, &room, &claims.sub, sessions, kinds, request.muted).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of history, as members see it. Served by the chat REST API (`messaging/http.rs`),
/// which also takes server tokens; documented here for apps.
#[utoipa::path(get, path = "/api/conversations/{id}/messages", tag = "conversations",
    params(("id" = String, Path, description = "conversation id"),
        ("before" = Option<i64>, Query, description = "older than this seq"),
        ("after" = Option<i64>, Query, description = "newer than this seq"),
        ("limit" = Option<u32>, Query, description = "1-200, default 50")),
    responses((status = 200, description = "`{messages, prev_before?, next_after?}`: pass `prev_before` as `before` for older messages, `next_after` as `after` for newer"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[allow(dead_code)]
fn conversation_history() {}

/// For tests and docs: every (method, path) the router serves under `/api` for apps, as the
/// OpenAPI document should list it.
pub const DOCUMENTED_ROUTES: &[(&str, &str)] = &[
    ("get", "/api/rooms"),
    ("post", "/api/rooms"),
    ("get", "/api/rooms/{room}"),
    ("delete", "/api/rooms/{room}"),
    ("get", "/api/rooms/{room}/participants"),
    ("delete", "/api/rooms/{room}/participants/{identity}"),
    ("post", "/api/rooms/{room}/participants/{identity}/mute"),
    ("post", "/api/tokens"),
    ("get", "/api/calls"),
    ("get", "/api/conversations/{id}/messages"),
    ("delete", "/api/users/{identity}"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_exactly_the_routes() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.push((method.clone(), path.clone()));
            }
        }
        documented.sort();
        let mut expected: Vec<(String, String)> = DOCUMENTED_ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        expected.sort();
        assert_eq!(documented, expected);
    }
}
