//! The server API's tokens and call history: `POST /api/tokens` mints a participant token for
//! an app's user, `GET /api/calls` lists calls (newest first).

use super::{admin, invalid, ErrorBody};
use crate::auth::Grants;
use crate::http::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    identity: String,
    /// Display name (default: the identity).
    #[serde(default)]
    name: Option<String>,
    room: String,
    /// Any of `join`, `publish`, `subscribe`, `chat`, `moderate`, `watch` (WHEP; default: a
    /// participant's: join, publish, subscribe, chat). `admin` cannot be minted here.
    #[serde(default)]
    grants: Option<Vec<String>>,
    /// Lifetime in seconds (default 3600, at most 86400).
    #[serde(default)]
    ttl_secs: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    token: String,
    /// Unix seconds.
    expires_at: u64,
}

#[utoipa::path(post, path = "/api/tokens", tag = "tokens", request_body = TokenRequest,
    responses((status = 200, body = TokenResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn mint_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<TokenRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    admin(&state, &headers)?;
    let Json(request) = body.map_err(|e| invalid(e.body_text()))?;
    if request.identity.trim().is_empty() || request.identity.len() > 128 {
        return Err(invalid("identity must be 1-128 bytes"));
    }
    if !crate::http::valid_room(&request.room) {
        return Err(invalid(
            "room must be 1-64 letters, digits, '-', '_' or '.'",
        ));
    }
    let grants = match &request.grants {
        None => Grants::participant(),
        Some(list) => {
            let grants = Grants::parse_list(&list.join(",")).map_err(invalid)?;
            if grants.admin {
                return Err(invalid(
                    "admin tokens are minted with `parley token`, not here",
                ));
            }
            grants
        }
    };
    let ttl = Duration::from_secs(request.ttl_secs.unwrap_or(3600).clamp(1, 86_400));
    let name = request.name.as_deref().unwrap_or(&request.identity);
    let token = state
        .tokens
        .mint(&request.identity, name, &request.room, grants, ttl)
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "could not mint a token",
            )
        })?;
    let expires_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + ttl.as_secs();
    Ok(Json(TokenResponse { token, expires_at }))
}

#[derive(Serialize, ToSchema)]
pub struct CallInfo {
    id: String,
    conversation: String,
    room: String,
    invitation: Option<String>,
    /// `audio` or `video`.
    media: String,
    started_by: String,
    /// Unix milliseconds.
    started_at: i64,
    ended_at: Option<i64>,
    duration_ms: Option<i64>,
    participants: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CallList {
    calls: Vec<CallInfo>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallQuery {
    /// Only this conversation's calls.
    conversation: Option<String>,
    /// At most this many, newest first (default and maximum 200).
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/calls", tag = "calls", params(CallQuery),
    responses((status = 200, body = CallList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn call_history(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<CallQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CallList>, ApiError> {
    admin(&state, &headers)?;
    let axum::extract::Query(query) = query.map_err(|e| invalid(e.body_text()))?;
    let calls = state
        .store
        .calls(query.conversation.as_deref(), query.limit.unwrap_or(0))
        .await
        .map_err(crate::messaging::http::store_api_error)?;
    Ok(Json(CallList {
        calls: calls
            .into_iter()
            .map(|c| CallInfo {
                media: c.media.as_str().to_owned(),
                id: c.id,
                conversation: c.conversation,
                room: c.room,
                invitation: c.invitation,
                started_by: c.started_by,
                started_at: c.started_at_ms,
                ended_at: c.ended_at_ms,
                duration_ms: c.duration_ms,
                participants: c.participants,
            })
            .collect(),
    }))
}
