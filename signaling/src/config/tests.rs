//! Config resolution: precedence, safe defaults, secrets kept out of output.

use super::*;

#[test]
fn flags_beat_file_beat_defaults() {
    let dir = std::env::temp_dir().join(format!("parley-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("parley.toml");
    std::fs::write(
        &path,
        "udp_port = 9000\nhttp_addr = \"0.0.0.0:9090\"\npeer_allowlist = [\"127.0.0.0/8\"]\n",
    )
    .unwrap();
    let config = Config::resolve(ServeArgs {
        config: Some(path.clone()),
        udp_port: Some(9001),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(config.udp_port, 9001, "flag wins over file");
    assert_eq!(
        config.http_addr,
        "0.0.0.0:9090".parse::<SocketAddr>().unwrap(),
        "file wins over default"
    );
    assert_eq!(config.peer_allowlist.len(), 1);
    std::fs::write(&path, "no_such_key = 1\n").unwrap();
    let err = Config::resolve(ServeArgs {
        config: Some(path),
        ..Default::default()
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("no_such_key"), "{err}");
}

#[test]
fn defaults_are_local_and_safe() {
    let config = Config::resolve(ServeArgs::default()).unwrap();
    assert_eq!(
        config.http_addr,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(config.udp_port, 7882);
    assert!(!config.guest_tokens, "guest tokens only when asked for");
    assert!(config.database_url.starts_with("sqlite://data/"));
    assert_eq!(config.public_ips[0], IpAddr::from([127, 0, 0, 1]));
}

#[test]
fn debug_output_hides_secrets() {
    let config = Config::resolve(ServeArgs {
        jwt_secret: Some("hunter2-hunter2-hunter2-hunter2-hunter2".into()),
        database_url: Some("postgres://user:pw@db/parley".into()),
        ..Default::default()
    })
    .unwrap();
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("pw@"),
        "{shown}"
    );
}

#[test]
fn urls_lose_their_credentials() {
    #[rustfmt::skip]
    let rows: &[(&str, &str)] = &[
        ("postgres://user:pw@db/parley",                      "postgres://***@db/parley"),
        ("postgres://db/parley?user=u&password=pw",           "postgres://db/parley?user=u&password=***"),
        ("postgres://db/parley?sslmode=require&sslpassword=x", "postgres://db/parley?sslmode=require&sslpassword=***"),
        ("sqlite://data/parley.db?mode=rwc",                  "sqlite://data/parley.db?mode=rwc"),
        ("https://hooks.example/in?token=abc",                "https://hooks.example/in?token=***"),
    ];
    for (url, shown) in rows {
        assert_eq!(redact_url(url), *shown, "{url}");
    }
}

#[test]
fn webhooks_need_https_and_their_own_secret() {
    let secret = Some("w".repeat(32));
    #[rustfmt::skip]
    let rows: &[(&str, Option<String>, Option<bool>, bool)] = &[
        ("https://hooks.example/in", secret.clone(), None,       true),
        ("http://hooks.example/in",  secret.clone(), None,       false),
        ("http://hooks.example/in",  secret.clone(), Some(true), true),
        ("https://hooks.example/in", None,           None,       false),
        ("https://hooks.example/in", Some("short".into()), None, false),
        ("ftp://hooks.example/in",   secret.clone(), Some(true), false),
    ];
    for (url, secret, allow_http, ok) in rows {
        let resolved = Config::resolve(ServeArgs {
            webhook_url: Some((*url).into()),
            webhook_secret: secret.clone(),
            webhook_allow_http: *allow_http,
            ..Default::default()
        });
        assert_eq!(
            resolved.is_ok(),
            *ok,
            "{url} {allow_http:?}: {:?}",
            resolved.err()
        );
    }
}

#[test]
fn short_secrets_are_refused() {
    let refused = Config::resolve(ServeArgs {
        jwt_secret: Some("hunter2".into()),
        ..Default::default()
    });
    assert!(
        matches!(refused, Err(ConfigError::WeakSecret(7))),
        "{refused:?}"
    );
    let exactly = Config::resolve(ServeArgs {
        jwt_secret: Some("x".repeat(crate::auth::MIN_SECRET_BYTES)),
        ..Default::default()
    });
    assert!(exactly.is_ok());
}
