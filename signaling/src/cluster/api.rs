//! The server API for the whole cluster: any node answers. A request about one room goes to
//! the node holding it (`<cluster>.api.<node>`, NATS request/reply: the request's method,
//! path, bearer token and body; the answer's status and body), a new room is created on the
//! node placement picks, and the room list gathers every live node's rooms. Everything else
//! (tokens, call history, erasure) is the shared store's and answered where it is asked.
//! The node answering a relayed request runs it through its own server API, authentication
//! included; a relayed request is never relayed again.

use super::{frame, unframe, Relay};
use crate::http::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Request and response bodies relayed at most (the API's own limit is 64 KiB).
const MAX_BODY: usize = 1024 * 1024;

/// Marks a request relayed from another node: it is answered here.
#[derive(Clone, Copy)]
struct Relayed;

#[derive(Serialize, Deserialize)]
struct ApiRequest {
    method: String,
    /// Path and query.
    uri: String,
    authorization: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct ApiResponse {
    status: u16,
}

/// Where a server-API request is answered.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// About this room: at its node.
    Room(String),
    /// Creates a room: at the node placement picks.
    Create,
    /// Every room: gathered from every node.
    List,
    /// Anything else: here.
    Here,
}

fn target(method: &Method, path: &str) -> Target {
    let Some(rest) = path.strip_prefix("/api/rooms") else {
        return Target::Here;
    };
    match rest {
        "" | "/" if method == Method::GET => Target::List,
        "" | "/" if method == Method::POST => Target::Create,
        _ => match rest.strip_prefix('/').and_then(|r| r.split('/').next()) {
            Some(room) if !room.is_empty() => {
                let room = percent_encoding::percent_decode_str(room).decode_utf8_lossy();
                Target::Room(room.into_owned())
            }
            _ => Target::Here,
        },
    }
}

fn subject(cluster: &str, node: &str) -> String {
    format!("{cluster}.api.{node}")
}

fn unavailable(why: impl std::fmt::Display) -> Response {
    let message = format!("the room's node cannot be reached now ({why}); try again");
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message).into_response()
}

/// The server API's routes pass through this: a request about a room held by another node is
/// answered there.
pub async fn route_to_room_node(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(relay) = state.relay.clone() else {
        return next.run(request).await;
    };
    let target = target(request.method(), request.uri().path());
    if request.extensions().get::<Relayed>().is_some() || target == Target::Here {
        return next.run(request).await;
    }
    // Refused here, before anything crosses.
    if let Err(refusal) = crate::admin::admin(&state, request.headers()) {
        return refusal.into_response();
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "body too large",
        )
        .into_response();
    };
    let asked = ApiRequest {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let holder = match &target {
        Target::Room(room) => relay.placement.holder(room).await,
        Target::Create => match serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["name"].as_str().map(str::to_owned))
        {
            Some(name) => relay.placement.place(&name).await.map(Some),
            // Refused by the handler here.
            None => Ok(None),
        },
        Target::List | Target::Here => Ok(None),
    };
    let here = Request::from_parts(parts, Body::from(body.clone()));
    match holder {
        Err(err) => unavailable(err),
        Ok(Some(node)) if node != relay.me() => ask(&relay, &node, &asked, &body)
            .await
            .unwrap_or_else(unavailable),
        Ok(_) if target == Target::List => gather(&relay, next.run(here).await, &asked).await,
        Ok(_) => next.run(here).await,
    }
}

/// Asks `node` to answer the request.
async fn ask(
    relay: &Relay,
    node: &str,
    asked: &ApiRequest,
    body: &[u8],
) -> Result<Response, String> {
    let body = std::str::from_utf8(body).map_err(|_| "the body is not text".to_owned())?;
    let payload = frame(asked, body).ok_or("encoding")?;
    let subject = subject(relay.cluster(), node);
    let answer = relay
        .ask(subject, payload)
        .await
        .map_err(|e| e.to_string())?;
    let (head, body) = unframe::<ApiResponse>(&answer).ok_or("a malformed answer")?;
    let status = StatusCode::from_u16(head.status).map_err(|e| e.to_string())?;
    let mut response = Response::new(Body::from(body.to_owned()));
    *response.status_mut() = status;
    if !body.is_empty() {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
    }
    Ok(response)
}

/// This node's room list joined with every other live node's (a node that does not answer in
/// time is left out and counted as a relay failure).
async fn gather(relay: &Relay, here: Response, asked: &ApiRequest) -> Response {
    if !here.status().is_success() {
        return here;
    }
    let Ok(body) = axum::body::to_bytes(here.into_body(), MAX_BODY).await else {
        return unavailable("this node's list");
    };
    let Ok(mut list) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return unavailable("this node's list");
    };
    let others = relay.placement.other_nodes();
    let answers =
        futures_util::future::join_all(others.iter().map(|node| ask(relay, node, asked, b"")))
            .await;
    let mut rooms = list["rooms"].as_array().cloned().unwrap_or_default();
    for answer in answers.into_iter().flatten() {
        if !answer.status().is_success() {
            continue;
        }
        let Ok(body) = axum::body::to_bytes(answer.into_body(), MAX_BODY).await else {
            continue;
        };
        if let Ok(theirs) = serde_json::from_slice::<serde_json::Value>(&body) {
            rooms.extend(theirs["rooms"].as_array().cloned().unwrap_or_default());
        }
    }
    rooms.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    rooms.dedup_by(|a, b| a["name"] == b["name"]);
    list["rooms"] = serde_json::Value::Array(rooms);
    axum::Json(list).into_response()
}

/// Answers other nodes' server-API requests through this node's own, until shutdown.
pub async fn serve(relay: Arc<Relay>, state: AppState) -> Result<(), super::ClusterError> {
    let mut asked = relay
        .client()
        .subscribe(subject(relay.cluster(), relay.me()))
        .await
        .map_err(|e| super::ClusterError::Nats(e.to_string()))?;
    let api = crate::admin::routes().with_state(state.clone());
    let mut shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                message = asked.next() => message,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            let Some(message) = message else { return };
            let (relay, api) = (relay.clone(), api.clone());
            tokio::spawn(async move {
                let Some(reply) = message.reply else { return };
                let answer = answer(api, &message.payload).await;
                let _ = relay.client().publish(reply, answer).await;
            });
        }
    });
    Ok(())
}

async fn answer(api: axum::Router, payload: &[u8]) -> bytes::Bytes {
    use tower::ServiceExt;
    let respond = |status: StatusCode, body: &str| {
        frame(
            &ApiResponse {
                status: status.as_u16(),
            },
            body,
        )
        .unwrap_or_default()
    };
    let Some((asked, body)) = unframe::<ApiRequest>(payload) else {
        return respond(StatusCode::BAD_REQUEST, "");
    };
    let mut request = Request::builder()
        .method(asked.method.as_str())
        .uri(asked.uri.as_str());
    if let Some(auth) = &asked.authorization {
        request = request.header(header::AUTHORIZATION, auth);
    }
    if !body.is_empty() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let Ok(mut request) = request.body(Body::from(body.to_owned())) else {
        return respond(StatusCode::BAD_REQUEST, "");
    };
    request.extensions_mut().insert(Relayed);
    let Ok(response) = api.oneshot(request).await;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), MAX_BODY)
        .await
        .unwrap_or_default();
    respond(status, std::str::from_utf8(&body).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[rustfmt::skip]
    fn a_request_is_answered_where_its_room_is() {
        let rows: &[(Method, &str, Target)] = &[
            (Method::GET,    "/api/rooms",                          Target::List),
            (Method::POST,   "/api/rooms",                          Target::Create),
            (Method::GET,    "/api/rooms/clinic",                   Target::Room("clinic".into())),
            (Method::DELETE, "/api/rooms/clinic",                   Target::Room("clinic".into())),
            (Method::GET,    "/api/rooms/dr%20smith/participants",  Target::Room("dr smith".into())),
            (Method::POST,   "/api/rooms/clinic/participants/ana/mute", Target::Room("clinic".into())),
            (Method::POST,   "/api/tokens",                         Target::Here),
            (Method::GET,    "/api/calls",                          Target::Here),
            (Method::GET,    "/api/roomsx",                         Target::Here),
        ];
        for (method, path, want) in rows {
            assert_eq!(&target(method, path), want, "{method} {path}");
        }
    }
}
