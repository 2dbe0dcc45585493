//! Webhooks through the real server to a local HTTPS receiver with a test certificate (trusted
//! through `--webhook-ca-file`): signed with the webhook's own secret over the timestamp and
//! body, retried after a 500, in order per room. A plain http:// URL needs its own flag.

use parley_e2e::{TestServer, SECRET};
use serde_json::{json, Value};
use signaling::auth::Grants;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls;

const WEBHOOK_SECRET: &str = "webhook-secret-of-the-receiver-0123456789";

/// One accepted delivery: the timestamp and signature headers and the body.
#[derive(Debug, Clone)]
struct Delivery {
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

type Deliveries = Arc<Mutex<Vec<Delivery>>>;

/// Reads one HTTP/1.1 request and answers `status`; the delivery, if one was read.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    status: &str,
) -> Option<Delivery> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_end, length) = loop {
        let n = stream.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
            let length = header(&head, "content-length")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_lowercase();
    let response = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    Some(Delivery {
        timestamp: header(&head, "x-parley-timestamp").unwrap_or_default(),
        signature: header(&head, "x-parley-signature").unwrap_or_default(),
        body: buffer[head_end..head_end + length].to_vec(),
    })
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_owned())
}

/// An HTTPS receiver on 127.0.0.1 with a fresh self-signed certificate: (URL, the certificate
/// as PEM, deliveries). Answers 500 to the first delivery, 200 after.
async fn https_receiver() -> (String, String, Deliveries) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key.into())
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/hooks", listener.local_addr().unwrap());
    let seen: Deliveries = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let Ok(mut tls) = acceptor.accept(socket).await else {
                continue;
            };
            let status = if first {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            if let Some(delivery) = exchange(&mut tls, status).await {
                if !first {
                    log.lock().unwrap().push(delivery);
                }
                first = false;
            }
        }
    });
    (url, certified.cert.pem(), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_go_over_https_signed_with_their_own_secret_retried_and_in_order() {
    let (url, ca_pem, seen) = https_receiver().await;
    let ca_file =
        std::env::temp_dir().join(format!("parley-webhook-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, ca_pem).unwrap();
    let server = TestServer::start_with(|args| {
        args.webhook_url = Some(url);
        args.webhook_secret = Some(WEBHOOK_SECRET.into());
        args.webhook_ca_file = Some(ca_file.clone());
    })
    .await;
    let admin = server.admin_token();
    let created = reqwest::Client::new()
        .post(format!("{}/api/rooms", server.base_url))
        .bearer_auth(admin)
        .json(&json!({"name": "class", "empty_timeout_secs": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let student = loadtest::SyntheticClient::join(
        &server.ws_url,
        &server.token("student", "class", Grants::participant()),
        "class",
    )
    .await
    .unwrap();
    student.leave().await.unwrap();
    let events = || -> Vec<Value> {
        seen.lock()
            .unwrap()
            .iter()
            .map(|d| serde_json::from_slice(&d.body).unwrap())
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !events().iter().any(|e| e["event"] == "room_finished") {
        assert!(tokio::time::Instant::now() < deadline, "got {:?}", events());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names: Vec<String> = events()
        .iter()
        .filter(|e| e["room"] == "class")
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "room_started",
            "participant_joined",
            "participant_left",
            "room_finished"
        ],
        "the first delivery got a 500 and was retried, and order held"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for delivery in seen.lock().unwrap().iter() {
        let timestamp: u64 = delivery.timestamp.parse().expect("a timestamp header");
        assert!(now.abs_diff(timestamp) < 60, "{delivery:?}");
        assert_eq!(
            delivery.signature,
            signaling::webhooks::sign(WEBHOOK_SECRET.as_bytes(), timestamp, &delivery.body),
            "signed with the webhook secret over timestamp.body"
        );
        assert_ne!(
            delivery.signature,
            signaling::webhooks::sign(SECRET.as_bytes(), timestamp, &delivery.body),
            "never with the token secret"
        );
    }
    server.stop().await;
    let _ = std::fs::remove_file(ca_file);
}

#[test]
fn plain_http_and_a_missing_secret_refuse_to_start() {
    use signaling::config::{Config, ServeArgs};
    let args = |url: &str, secret: Option<&str>, allow_http: Option<bool>| ServeArgs {
        webhook_url: Some(url.into()),
        webhook_secret: secret.map(Into::into),
        webhook_allow_http: allow_http,
        jwt_secret: Some(SECRET.into()),
        ..Default::default()
    };
    let refused = Config::resolve(args("http://hooks.local/in", Some(WEBHOOK_SECRET), None));
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("--webhook-allow-http")),
        "{:?}",
        refused.err()
    );
    assert!(Config::resolve(args(
        "http://hooks.local/in",
        Some(WEBHOOK_SECRET),
        Some(true)
    ))
    .is_ok());
    let refused = Config::resolve(args("https://hooks.local/in", None, None));
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("--webhook-secret")),
        "{:?}",
        refused.err()
    );
}
