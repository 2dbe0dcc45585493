//! What browsers may do with Parley's HTTP surface: which other origins may call the participant
//! APIs (CORS) and open `/ws`, which pages may frame the app, and the headers every response
//! carries (CSP, `nosniff`, `Referrer-Policy`). The default is same-origin only: a page served
//! by Parley works; a page elsewhere works only if the operator lists its origin.

use axum::http::{header, HeaderMap, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

/// An origin as browsers send it: `scheme://host[:port]`, lowercase, no path.
pub fn normalize_origin(origin: &str) -> Result<String, String> {
    let trimmed = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = trimmed
        .split_once("://")
        .ok_or_else(|| format!("'{origin}' is not an origin (scheme://host[:port])"))?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains(['/', '?', '#', '@'])
    {
        return Err(format!(
            "'{origin}' is not an origin (http(s)://host[:port], no path)"
        ));
    }
    Ok(trimmed)
}

/// May a WebSocket upgrade with these headers proceed? Clients that send no `Origin` (apps,
/// WHIP tools, tests) may, since their token is what authenticates them; a browser page may if
/// it was served by this host (its origin names the `Host` it connects to) or is listed.
pub fn websocket_origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(origin) = origin.to_str().ok().and_then(|o| normalize_origin(o).ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    let same_origin = host.is_some_and(|host| {
        origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host)
    });
    same_origin || allowed.contains(&origin)
}

/// CORS for the participant APIs: nothing unless origins are listed (browsers then keep other
/// sites' pages out), exactly those origins if they are. The server API never gets CORS: it is
/// for an app's backend, not for browsers.
pub fn cors(allowed: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = allowed
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
            ])
            .expose_headers([header::LOCATION, header::ETAG, header::LINK]),
    )
}

/// The Content-Security-Policy of every response: the app loads only its own scripts and
/// styles, talks only to its own origin, and is framed only by `frame_ancestors` (itself when
/// empty).
pub fn content_security_policy(frame_ancestors: &[String]) -> String {
    let ancestors = if frame_ancestors.is_empty() {
        "'self'".to_owned()
    } else {
        frame_ancestors.join(" ")
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
         media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors {ancestors}"
    )
}

/// The security headers, set on every response that does not set its own.
pub fn header_layers(frame_ancestors: &[String]) -> [SetResponseHeaderLayer<HeaderValue>; 3] {
    let csp = HeaderValue::from_str(&content_security_policy(frame_ancestors))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
    [
        SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, csp),
        SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized_or_refused() {
        #[rustfmt::skip]
        let rows: &[(&str, Result<&str, ()>)] = &[
            ("https://app.example.com",      Ok("https://app.example.com")),
            ("HTTPS://App.Example.com/",     Ok("https://app.example.com")),
            ("http://localhost:3000",        Ok("http://localhost:3000")),
            ("app.example.com",              Err(())),
            ("https://app.example.com/path", Err(())),
            ("ftp://app.example.com",        Err(())),
            ("https://",                     Err(())),
            ("https://user@evil.com",        Err(())),
        ];
        for (input, expected) in rows {
            let got = normalize_origin(input).map_err(|_| ());
            assert_eq!(got.as_deref(), expected.as_ref().map(|s| *s), "{input}");
        }
    }

    #[test]
    fn websocket_origins() {
        let allowed = vec!["https://clinic.example".to_owned()];
        #[rustfmt::skip]
        let rows: &[(Option<&str>, &str, bool)] = &[
            (None,                            "parley.example",  true),  // not a browser
            (Some("https://parley.example"),  "parley.example",  true),  // served here
            (Some("http://127.0.0.1:8080"),   "127.0.0.1:8080",  true),
            (Some("https://clinic.example"),  "parley.example",  true),  // listed
            (Some("https://evil.example"),    "parley.example",  false),
            (Some("http://127.0.0.1:9999"),   "127.0.0.1:8080",  false), // another port
            (Some("null"),                    "parley.example",  false), // sandboxed or file page
        ];
        for (origin, host, expected) in rows {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
            if let Some(origin) = origin {
                headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
            }
            assert_eq!(
                websocket_origin_allowed(&headers, &allowed),
                *expected,
                "{origin:?} → {host}"
            );
        }
    }
}
