//! HTTP routes: the WebSocket, health, metrics, guest tokens and the bundled web app.

use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_embed::RustEmbed;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;

/// The browser app and SDK, compiled into the binary (read from disk in debug builds).
#[derive(RustEmbed)]
#[folder = "../web-client/"]
struct WebClient;

const GUEST_TOKEN_TTL: Duration = Duration::from_secs(6 * 3600);

/// A request (head to response) that takes longer gets `408` and its connection closes.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// An upload may take this long in all...
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);
/// ...as long as no pause between its bytes is longer than this.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

fn request_timeout(timeout: Duration) -> TimeoutLayer {
    TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout)
}

pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    // The participant APIs, the only ones a listed other origin may call from a browser.
    let mut participant = Router::new()
        .route("/api/guest-token", post(guest_token))
        .merge(crate::whip::routes())
        .merge(crate::messaging::http::routes())
        .layer(RequestBodyLimitLayer::new(64 * 1024))
        .layer(request_timeout(REQUEST_TIMEOUT))
        // After the 64 KiB limit and the short deadline: uploads stream up to the attachment
        // limit, as long as bytes keep coming.
        .merge(
            crate::messaging::http::upload_routes()
                .layer(RequestBodyTimeoutLayer::new(BODY_IDLE_TIMEOUT))
                .layer(request_timeout(UPLOAD_TIMEOUT)),
        );
    if let Some(cors) = crate::browser_policy::cors(&config.allowed_origins) {
        participant = participant.layer(cors);
    }
    let [csp, nosniff, referrer] = crate::browser_policy::header_layers(&config.frame_ancestors);
    Router::new()
        .route("/ws", get(crate::ws::upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        // The server API: for an app's backend, never CORS.
        .merge(
            crate::admin::routes().layer(axum::middleware::from_fn_with_state(
                state.clone(),
                crate::cluster::api::route_to_room_node,
            )),
        )
        .merge(crate::erasure::routes())
        .route("/", get(index))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/{*path}", get(asset))
        .layer(RequestBodyLimitLayer::new(64 * 1024))
        .layer(request_timeout(REQUEST_TIMEOUT))
        .merge(participant)
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(
            crate::whip::advertise_accept_post,
        ))
        .layer(csp)
        .layer(nosniff)
        .layer(referrer)
        .with_state(state)
}

/// The one error shape of the REST API.
#[derive(Debug, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    /// Adds `WWW-Authenticate: Bearer` (401 replies to token-authenticated endpoints).
    #[serde(skip)]
    bearer_challenge: bool,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            bearer_challenge: false,
            code,
            message: message.into(),
        }
    }

    pub fn with_bearer_challenge(mut self) -> Self {
        self.bearer_challenge = true;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, Json(serde_json::json!({ "error": self }))).into_response();
        if self.bearer_challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The claims of the request's `Authorization: Bearer <token>`: every HTTP API authenticates
/// here, for the audience it serves. Missing (`not_authenticated`) or invalid, including a
/// token of the other audience (`invalid_token`): 401 with a challenge.
pub fn bearer_claims(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    audience: crate::auth::Audience,
) -> Result<crate::auth::Claims, ApiError> {
    let token = bearer_token(headers)?;
    state.tokens.verify(token, audience).map_err(|err| {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", err.to_string())
            .with_bearer_challenge()
    })
}

/// The request's bearer token, or 401 `not_authenticated` with a challenge.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "not_authenticated",
                "send Authorization: Bearer <token>",
            )
            .with_bearer_challenge()
        })
        .map(str::trim)
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        state.metrics.render(),
    )
}

#[derive(Debug, Deserialize)]
struct GuestTokenRequest {
    name: String,
    room: String,
}

#[derive(Debug, Serialize)]
struct GuestTokenResponse {
    token: String,
    identity: String,
    room: String,
}

pub fn valid_room(room: &str) -> bool {
    (1..=64).contains(&room.len())
        && room
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

async fn guest_token(
    State(state): State<AppState>,
    body: Result<Json<GuestTokenRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<GuestTokenResponse>, ApiError> {
    if !state.config.guest_tokens {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "guest_tokens_disabled",
            "guest tokens are turned off on this server",
        ));
    }
    let Json(request) =
        body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_name",
            "name must be 1-64 characters",
        ));
    }
    if !valid_room(&request.room) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_room",
            "room must be 1-64 characters of letters, digits, '-', '_' or '.'",
        ));
    }
    let identity = format!("guest-{}", uuid::Uuid::new_v4().simple());
    let token = state
        .tokens
        .mint_guest(&identity, name, &request.room, GUEST_TOKEN_TTL)
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "cannot mint token",
            )
        })?;
    Ok(Json(GuestTokenResponse {
        token,
        identity,
        room: request.room,
    }))
}

async fn index() -> Response {
    serve_asset("app/index.html")
}

async fn asset(Path(path): Path<String>) -> Response {
    // A folder (`/examples/telehealth/`) serves its index page.
    if path.ends_with('/') {
        return serve_asset(&format!("{path}index.html"));
    }
    serve_asset(&path)
}

fn serve_asset(path: &str) -> Response {
    match WebClient::get(path) {
        Some(file) => {
            let mime = file.metadata.mimetype().to_owned();
            (
                [
                    (header::CONTENT_TYPE, mime),
                    (header::CACHE_CONTROL, "no-cache".to_owned()),
                ],
                file.data,
            )
                .into_response()
        }
        None => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such file").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::valid_room;

    #[test]
    fn room_names_are_restricted() {
        for ok in ["a", "room-1", "Team_Standup.2"] {
            assert!(valid_room(ok), "{ok}");
        }
        for bad in ["", "a b", "../x", "ü", &"x".repeat(65)] {
            assert!(!valid_room(bad), "{bad}");
        }
    }
}
