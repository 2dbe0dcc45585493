//! TURN credentials for coturn's shared-secret mode (the "TURN REST API": coturn's
//! `use-auth-secret` with `static-auth-secret`). The username is `<expiry unix seconds>:<id>` and
//! the password base64(HMAC-SHA1(secret, username)); coturn recomputes it from the same secret
//! and refuses it after the expiry, so Parley never talks to coturn and a leaked credential dies
//! on its own. The id is random per credential rather than the person's identity: it ends up in
//! the TURN server's logs, and who is calling is none of its business.

pub use crate::protocol::IceServer;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::distr::{Alphanumeric, SampleString};
use sha1::Sha1;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The TURN servers clients are handed, and the secret they share with Parley.
#[derive(Clone)]
pub struct TurnConfig {
    urls: Vec<String>,
    secret: Vec<u8>,
    lifetime: Duration,
}

impl std::fmt::Debug for TurnConfig {
    // Hand-written so the secret can never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("secret", &"<set>")
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

impl TurnConfig {
    /// Checks the URLs (`turn:` or `turns:` with a host, nothing that could break out of a
    /// `Link` header) and that the secret is set.
    pub fn new(urls: Vec<String>, secret: String, lifetime: Duration) -> Result<Self, String> {
        if urls.is_empty() {
            return Err("no TURN URL".into());
        }
        for url in &urls {
            check_url(url)?;
        }
        if secret.is_empty() {
            return Err(
                "set --turn-secret (PARLEY_TURN_SECRET), coturn's static-auth-secret".into(),
            );
        }
        if lifetime.is_zero() {
            return Err("the TURN credential lifetime must be positive".into());
        }
        Ok(Self {
            urls,
            secret: secret.into_bytes(),
            lifetime,
        })
    }

    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// Fresh credentials valid for the configured lifetime from now.
    pub fn ice_server(&self) -> IceServer {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let id = Alphanumeric.sample_string(&mut rand::rng(), 16);
        self.ice_server_at(now + self.lifetime, &id)
    }

    fn ice_server_at(&self, expiry: Duration, id: &str) -> IceServer {
        let username = format!("{}:{id}", expiry.as_secs());
        let credential = password(&self.secret, &username);
        IceServer {
            urls: self.urls.clone(),
            username,
            credential,
        }
    }
}

/// base64(HMAC-SHA1(secret, username)), as coturn computes it.
pub fn password(secret: &[u8], username: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `Link` header values for a WHIP/WHEP response (RFC 9725 §4.6), one per URL.
pub fn link_headers(server: &IceServer) -> Vec<String> {
    server
        .urls
        .iter()
        .map(|url| {
            format!(
                "<{url}>; rel=\"ice-server\"; username=\"{}\"; credential=\"{}\"; credential-type=\"password\"",
                server.username, server.credential
            )
        })
        .collect()
}

fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("turn:")
        .or_else(|| url.strip_prefix("turns:"))
        .ok_or_else(|| format!("'{url}' is not a turn: or turns: URL"))?;
    let host = rest.split(['?', ':']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(format!("'{url}' names no host"));
    }
    if let Some(bad) = url.chars().find(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ',' | ';' | '\\')
    }) {
        return Err(format!("'{url}' contains {bad:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_coturns_hmac_of_the_username() {
        // Reference values from Python's hmac/hashlib/base64 (coturn's own algorithm).
        #[rustfmt::skip]
        let cases = [
            ("north-secret", "1700000000:a1b2",           "0Le7fAYS/WKSh9fK/nMwqCYR0IU="),
            ("logen",        "1433895918506:my_username", "gxZk9RlbbbDLn7TIwayIqmzYgW8="),
        ];
        for (secret, username, want) in cases {
            assert_eq!(password(secret.as_bytes(), username), want, "{username}");
        }
    }

    #[test]
    fn credentials_expire_after_the_lifetime_and_name_nobody() {
        let turn = TurnConfig::new(
            vec!["turn:turn.example:3478?transport=udp".into()],
            "north-secret".into(),
            Duration::from_secs(3600),
        )
        .unwrap();
        let server = turn.ice_server_at(Duration::from_secs(1_700_000_000), "a1b2");
        assert_eq!(server.username, "1700000000:a1b2");
        assert_eq!(server.credential, "0Le7fAYS/WKSh9fK/nMwqCYR0IU=");
        let fresh = turn.ice_server();
        let (expiry, id) = fresh.username.split_once(':').unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let expiry: u64 = expiry.parse().unwrap();
        assert!(
            (now + 3595..=now + 3600).contains(&expiry),
            "{expiry} vs {now}"
        );
        assert_eq!(id.len(), 16);
        assert_ne!(
            turn.ice_server().username,
            fresh.username,
            "a new id each time"
        );
        assert!(
            !format!("{turn:?}").contains("north-secret"),
            "the secret stays out of logs"
        );
    }

    #[test]
    fn urls_are_checked() {
        #[rustfmt::skip]
        let cases: [(&str, bool); 8] = [
            ("turn:turn.example",                     true),
            ("turns:turn.example:443?transport=tcp",  true),
            ("turn:[2001:db8::1]:3478",               true),
            ("stun:turn.example",                     false),
            ("https://turn.example",                  false),
            ("turn:",                                 false),
            ("turn:a.example>; rel=\"x\"",            false),
            ("turn:a.example, turn:b.example",        false),
        ];
        for (url, ok) in cases {
            assert_eq!(check_url(url).is_ok(), ok, "{url}");
        }
    }

    #[test]
    fn link_headers_carry_the_credentials() {
        let server = IceServer {
            urls: vec![
                "turn:t.example?transport=udp".into(),
                "turns:t.example:443?transport=tcp".into(),
            ],
            username: "1:x".into(),
            credential: "c/+=".into(),
        };
        assert_eq!(
            link_headers(&server),
            vec![
                "<turn:t.example?transport=udp>; rel=\"ice-server\"; username=\"1:x\"; credential=\"c/+=\"; credential-type=\"password\"",
                "<turns:t.example:443?transport=tcp>; rel=\"ice-server\"; username=\"1:x\"; credential=\"c/+=\"; credential-type=\"password\"",
            ]
        );
    }
}
