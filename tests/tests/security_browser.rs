//! Attack: another site's page uses a visitor's browser against Parley. By default only pages
//! Parley serves may call its participant APIs or open `/ws`; an operator lists other origins
//! explicitly, and the server API is never open to browsers. Every response carries a CSP
//! (framing only by the listed ancestors), `nosniff` and `Referrer-Policy`.

use parley_e2e::TestServer;
use reqwest::header::{HeaderMap, ACCESS_CONTROL_ALLOW_ORIGIN};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn preflight(server: &TestServer, path: &str, origin: &str) -> HeaderMap {
    reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}{path}", server.base_url),
        )
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap()
        .headers()
        .clone()
}

/// The status of a WebSocket upgrade sent with `origin` (101 when it opens).
async fn ws_status(server: &TestServer, origin: Option<&str>) -> u16 {
    let mut request = server.ws_url.as_str().into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(err) => panic!("upgrade failed: {err}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_origins_are_kept_out_unless_listed() {
    let server = TestServer::start().await;
    let own = format!("http://{}", server.server.http_addr);
    // The default: no CORS for anyone, the WebSocket for this server's own pages only.
    let headers = preflight(&server, "/api/conversations", "https://evil.example").await;
    assert!(
        headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
        "{headers:?}"
    );
    assert_eq!(ws_status(&server, Some("https://evil.example")).await, 403);
    assert_eq!(ws_status(&server, Some(&own)).await, 101);
    assert_eq!(ws_status(&server, None).await, 101, "apps send no Origin");

    let app = reqwest::get(format!("{}/", server.base_url)).await.unwrap();
    let csp = app.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(app.headers()["x-content-type-options"], "nosniff");
    assert_eq!(app.headers()["referrer-policy"], "no-referrer");
    server.stop().await;

    // An operator lists the clinic's site: it may call the participant APIs and open /ws, may
    // frame the app, and still gets no CORS on the server API.
    let server = TestServer::start_with(|args| {
        args.allowed_origins = Some(vec!["https://clinic.example".into()]);
        args.frame_ancestors = Some(vec!["https://clinic.example".into()]);
    })
    .await;
    for path in ["/api/conversations", "/whip/room-1", "/api/guest-token"] {
        let headers = preflight(&server, path, "https://clinic.example").await;
        assert_eq!(
            headers
                .get(ACCESS_CONTROL_ALLOW_ORIGIN)
                .map(|v| v.to_str().unwrap()),
            Some("https://clinic.example"),
            "{path}: {headers:?}"
        );
        let headers = preflight(&server, path, "https://evil.example").await;
        assert!(
            headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
            "{path}: {headers:?}"
        );
    }
    let headers = preflight(&server, "/api/rooms", "https://clinic.example").await;
    assert!(
        headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
        "the server API is for backends: {headers:?}"
    );
    assert_eq!(
        ws_status(&server, Some("https://clinic.example")).await,
        101
    );
    assert_eq!(ws_status(&server, Some("https://evil.example")).await, 403);
    let app = reqwest::get(format!("{}/", server.base_url)).await.unwrap();
    let csp = app.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors https://clinic.example"),
        "{csp}"
    );
    server.stop().await;
}
