//! Chat over REST, for apps and for the web app's uploads: conversations, members, history
//! with cursor pagination, search, attachment upload and members-only download. Every route
//! takes `Authorization: Bearer <token>` with the `chat` grant; errors are the one JSON shape
//! of [`ApiError`] with the same codes as the WebSocket protocol.

use super::convert::{attachment_info, conversation_info, message_info, store_error, summary_info};
use super::Messaging;
use crate::auth::Claims;
use crate::http::ApiError;
use crate::protocol::chat::{
    AttachmentInfo, ChatMessage, ConversationInfo, MemberChange, NewConversationKind,
};
use crate::protocol::ErrorCode;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Routes whose bodies are small (the server's default limit applies).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/conversations",
            get(list_conversations).post(create_conversation),
        )
        .route("/api/conversations/{id}/members", post(add_member))
        .route(
            "/api/conversations/{id}/members/{identity}",
            delete(remove_member),
        )
        .route("/api/conversations/{id}/messages", get(history))
        .route("/api/search", get(search))
        .route("/api/attachments/{id}", get(download))
}

/// The upload route, with a body limit of its own (the attachment size limit).
pub fn upload_routes() -> Router<AppState> {
    // The handler streams the body and enforces the attachment limit itself.
    Router::new()
        .route("/api/conversations/{id}/attachments", post(upload))
        .layer(DefaultBodyLimit::disable())
}

fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::NotMember | ErrorCode::Forbidden | ErrorCode::Muted | ErrorCode::Banned => {
            StatusCode::FORBIDDEN
        }
        ErrorCode::MessageTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn code_str(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::NotFound => "not_found",
        ErrorCode::NotMember => "not_member",
        ErrorCode::Forbidden => "forbidden",
        ErrorCode::Muted => "muted",
        ErrorCode::Banned => "banned",
        ErrorCode::MessageTooLarge => "too_large",
        ErrorCode::Conflict => "conflict",
        ErrorCode::Unavailable => "unavailable",
        ErrorCode::InvalidMessage => "invalid_request",
        _ => "internal",
    }
}

/// A store outcome as the HTTP APIs' error (shared with the server API).
pub(crate) fn store_api_error(err: chat::StoreError) -> ApiError {
    let content_type = matches!(
        err,
        chat::StoreError::ContentTypeNotAllowed(_) | chat::StoreError::ContentMismatch(_)
    );
    let (code, message) = store_error(err);
    if content_type {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_type",
            message,
        );
    }
    ApiError::new(status_of(code), code_str(code), message)
}

fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// The caller, from its bearer token; it must carry the `chat` grant.
fn caller(state: &AppState, headers: &HeaderMap) -> Result<Claims, ApiError> {
    caller_with(state, headers, false)
}

/// Like [`caller`], also letting a server token (the `admin` grant) through.
fn caller_with(state: &AppState, headers: &HeaderMap, admin_ok: bool) -> Result<Claims, ApiError> {
    use crate::auth::Audience;
    let server = admin_ok
        && crate::http::bearer_token(headers)
            .is_ok_and(|t| state.tokens.verify(t, Audience::Server).is_ok());
    let audience = if server {
        Audience::Server
    } else {
        Audience::Participant
    };
    let claims = crate::http::bearer_claims(state, headers, audience)?;
    if !(claims.grants.chat || admin_ok && claims.grants.admin) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token has no chat grant",
        ));
    }
    Ok(claims)
}

fn messaging(state: &AppState) -> &Messaging {
    &state.messaging
}

#[derive(Serialize)]
struct Conversations {
    conversations: Vec<ConversationInfo>,
}

async fn list_conversations(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Conversations>, ApiError> {
    let me = caller(&state, &headers)?;
    let list = messaging(&state)
        .store
        .conversations_of(&me.sub)
        .await
        .map_err(store_api_error)?;
    Ok(Json(Conversations {
        conversations: list.into_iter().map(summary_info).collect(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewConversation {
    kind: NewConversationKind,
    with: Vec<String>,
    #[serde(default)]
    title: Option<String>,
}

fn json_body<T>(
    body: Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| bad_request("invalid_request", e.body_text()))
}

async fn create_conversation(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<NewConversation>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<ConversationInfo>), ApiError> {
    let me = caller(&state, &headers)?;
    let request = json_body(body)?;
    let chat = messaging(&state);
    let conversation = match request.kind {
        NewConversationKind::Direct => {
            let [other] = request.with.as_slice() else {
                return Err(bad_request(
                    "invalid_request",
                    "a direct conversation has exactly one other person",
                ));
            };
            chat.store.create_direct(&me.sub, other).await
        }
        NewConversationKind::Group => {
            super::check_group_size(request.with.len() + 1).map_err(store_api_error)?;
            let title = request.title.unwrap_or_default();
            chat.store
                .create_group(&me.sub, &title, &request.with)
                .await
        }
    }
    .map_err(store_api_error)?;
    for identity in &request.with {
        chat.tell_members(&conversation.id, identity, MemberChange::Added)
            .await;
    }
    Ok((StatusCode::CREATED, Json(conversation_info(conversation))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMember {
    identity: String,
    #[serde(default)]
    role: Option<String>,
}

async fn add_member(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<NewMember>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let me = caller(&state, &headers)?;
    let request = json_body(body)?;
    let role = match request.role.as_deref() {
        None => chat::Role::Member,
        Some(name) => chat::Role::parse(name)
            .ok_or_else(|| bad_request("invalid_request", "role is owner, moderator or member"))?,
    };
    let chat = messaging(&state);
    let members = chat.store.members(&id).await.map_err(store_api_error)?;
    let is_member = |who: &str| members.iter().any(|m| m.identity == who);
    if is_member(&me.sub) && !is_member(&request.identity) {
        super::check_group_size(members.len() + 1).map_err(store_api_error)?;
    }
    chat.store
        .add_member(&me.sub, &id, &request.identity, role)
        .await
        .map_err(store_api_error)?;
    chat.tell_members(&id, &request.identity, MemberChange::Added)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, identity)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let me = caller(&state, &headers)?;
    let chat = messaging(&state);
    chat.store
        .remove_member(&me.sub, &id, &identity)
        .await
        .map_err(store_api_error)?;
    let change = if identity == me.sub {
        MemberChange::Left
    } else {
        MemberChange::Removed
    };
    chat.tell_members(&id, &identity, change).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A cursor or limit from the query string: a non-negative integer, or a clear error.
fn cursor(params: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|raw| {
            raw.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
                bad_request(
                    "invalid_cursor",
                    format!("{name} must be a non-negative integer (a message seq)"),
                )
            })
        })
        .transpose()
}

#[derive(Serialize)]
struct Page {
    messages: Vec<ChatMessage>,
    /// Pass as `before` for the previous (older) page; absent at the beginning.
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_before: Option<i64>,
    /// Pass as `after` for the next (newer) page; absent when this page reaches the newest.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_after: Option<i64>,
}

async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Page>, ApiError> {
    // Members read their conversations; a server token (an app's backend) reads any.
    let me = caller_with(&state, &headers, true)?;
    let before = cursor(&params, "before")?;
    let after = cursor(&params, "after")?;
    let limit = cursor(&params, "limit")?.unwrap_or(50).clamp(1, 200) as u32;
    let chat = messaging(&state);
    let query = chat::HistoryQuery {
        before_seq: before,
        after_seq: after,
        limit,
    };
    let messages = if me.grants.chat {
        chat.store.history(&me.sub, &id, query).await
    } else {
        chat.store.history_as_server(&id, query).await
    }
    .map_err(store_api_error)?;
    let first = messages.first().map(|m| m.seq);
    let last = messages.last().map(|m| m.seq);
    let newest = chat
        .store
        .conversation(&id)
        .await
        .map_err(store_api_error)?
        .last_seq;
    Ok(Json(Page {
        prev_before: first.filter(|seq| *seq > 1),
        next_after: last.filter(|seq| *seq < newest),
        messages: messages.into_iter().map(message_info).collect(),
    }))
}

#[derive(Serialize)]
struct SearchResults {
    messages: Vec<ChatMessage>,
}

async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<SearchResults>, ApiError> {
    let me = caller(&state, &headers)?;
    let query = params
        .get("q")
        .map(|q| q.trim())
        .filter(|q| !q.is_empty())
        .ok_or_else(|| bad_request("invalid_request", "q is required"))?;
    let limit = cursor(&params, "limit")?.unwrap_or(20).clamp(1, 100) as u32;
    let messages = messaging(&state)
        .store
        .search(
            &me.sub,
            query,
            params.get("conversation").map(String::as_str),
            limit,
        )
        .await
        .map_err(store_api_error)?;
    Ok(Json(SearchResults {
        messages: messages.into_iter().map(message_info).collect(),
    }))
}

/// An attachment upload. Everything that can refuse it is checked before the body is read
/// (token, filename, type, declared length, membership); then the body streams to disk with the
/// size limit and the content check applied chunk by chunk, so nothing waits in memory.
async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<AttachmentInfo>), ApiError> {
    let me = caller(&state, &headers)?;
    let chat = messaging(&state);
    let filename = params
        .get("filename")
        .map(|f| f.trim())
        .filter(|f| !f.is_empty() && f.len() <= 255 && !f.contains(['/', '\\', '\0']))
        .ok_or_else(|| {
            bad_request(
                "invalid_request",
                "filename (1-255 bytes, no slashes) is required in the query",
            )
        })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    chat.files
        .check(content_type, declared.unwrap_or(0))
        .map_err(upload_error)?;
    // Membership first, so a non-member cannot fill the disk.
    match chat.store.membership(&id, &me.sub).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(store_api_error(chat::StoreError::NotMember)),
        Err(err) => return Err(store_api_error(err)),
    }
    let content_type = chat::normalize_content_type(content_type);
    let mut upload = chat
        .files
        .begin_upload(&content_type, declared)
        .await
        .map_err(upload_error)?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        let chunk = chunk.map_err(|err| {
            bad_request(
                "invalid_request",
                format!("the upload body broke off: {err}"),
            )
        })?;
        upload.write(&chunk).await.map_err(upload_error)?;
    }
    let (key, size) = upload.finish().await.map_err(upload_error)?;
    let attachment = chat
        .store
        .create_attachment(&me.sub, &id, filename, &content_type, size, &key)
        .await;
    match attachment {
        Ok(attachment) => Ok((StatusCode::CREATED, Json(attachment_info(attachment)))),
        Err(err) => {
            let _ = chat.files.remove(&key).await;
            Err(store_api_error(err))
        }
    }
}

fn upload_error(err: chat::StoreError) -> ApiError {
    match err {
        chat::StoreError::TooLarge { limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("attachments are at most {limit} bytes"),
        ),
        other => store_api_error(other),
    }
}

async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let me = caller(&state, &headers)?;
    let chat = messaging(&state);
    let attachment = chat
        .store
        .attachment(&me.sub, &id)
        .await
        .map_err(store_api_error)?;
    let bytes = chat
        .files
        .get(&attachment.storage_key)
        .await
        .map_err(store_api_error)?;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        attachment.filename.replace(['"', '\r', '\n'], "_")
    );
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&attachment.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    Ok(response)
}
