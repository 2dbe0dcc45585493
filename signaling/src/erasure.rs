//! `DELETE /api/users/{identity}`: the server API's right-to-deletion route. A telehealth or
//! classroom backend calls it when a person asks for their data to be deleted; it is
//! idempotent, so a retry after a timeout is safe. Part of the server API (`admin.rs`), in a
//! file of its own to keep that one small.

use crate::admin::ErrorBody;
use crate::http::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::delete;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/users/{identity}", delete(erase_user))
}

/// What the erasure removed.
#[derive(Serialize, ToSchema)]
pub struct ErasureInfo {
    /// The person had a user record (they had used chat). `false` on a repeated call.
    user_existed: bool,
    /// Their messages, now anonymous tombstones (sequence numbers stay gapless).
    messages_erased: u64,
    /// Their attachment files, removed from disk.
    attachments_removed: usize,
    /// Call invitations that stopped ringing because of the erasure.
    invitations_ended: usize,
}

#[utoipa::path(delete, path = "/api/users/{identity}", tag = "users",
    params(("identity" = String, Path, description = "the person's identity (the tokens' `sub`)")),
    responses((status = 200, body = ErasureInfo,
            description = "erased: messages become anonymous tombstones; profile, memberships, receipts, reactions, attachments and their part in calls are gone. Bans and the moderation audit log keep the identity."),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub(crate) async fn erase_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(identity): Path<String>,
) -> Result<Json<ErasureInfo>, ApiError> {
    let claims = crate::admin::admin(&state, &headers)?;
    if identity.is_empty() || identity.len() > 256 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "an identity is 1-256 bytes",
        ));
    }
    let erasure = state
        .messaging
        .erase_person(&identity)
        .await
        .map_err(crate::messaging::http::store_api_error)?;
    // The actor is a backend's server token; the person's identity stays out of the log.
    tracing::info!(
        actor = %claims.sub,
        messages = erasure.messages,
        attachments = erasure.storage_keys.len(),
        "erased a person's data"
    );
    Ok(Json(ErasureInfo {
        user_existed: erasure.user_existed,
        messages_erased: erasure.messages,
        attachments_removed: erasure.storage_keys.len(),
        invitations_ended: erasure.invitations_ended.len(),
    }))
}
