//! Settings for the services Parley talks to: TURN servers handed to clients, the webhook
//! target.

use super::*;

/// TURN servers handed to clients: none without a URL; with one, the secret is required.
pub(super) fn turn_config(
    args: &ServeArgs,
    file: &FileConfig,
) -> Result<Option<crate::turn::TurnConfig>, ConfigError> {
    let urls: Vec<String> = args
        .turn_url
        .clone()
        .or(file.turn_url.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    if urls.is_empty() {
        return Ok(None);
    }
    let secret = args
        .turn_secret
        .clone()
        .or(file.turn_secret.clone())
        .unwrap_or_default();
    let lifetime = args
        .turn_credential_lifetime_secs
        .or(file.turn_credential_lifetime_secs)
        .unwrap_or(12 * 3600);
    crate::turn::TurnConfig::new(urls, secret, std::time::Duration::from_secs(lifetime))
        .map(Some)
        .map_err(ConfigError::Turn)
}

/// The webhook receiver: HTTPS unless plain HTTP is allowed explicitly, with its own secret.
pub(super) fn webhook_target(
    args: &ServeArgs,
    file: &FileConfig,
) -> Result<Option<crate::webhooks::WebhookTarget>, ConfigError> {
    let Some(url) = args
        .webhook_url
        .clone()
        .or(file.webhook_url.clone())
        .filter(|u| !u.trim().is_empty())
    else {
        return Ok(None);
    };
    let allow_http = args
        .webhook_allow_http
        .or(file.webhook_allow_http)
        .unwrap_or(false);
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("https") => {}
        Some("http") if allow_http => {}
        Some("http") => {
            return Err(ConfigError::Webhook(
                "the URL is plain http://: use https://, or --webhook-allow-http to send events unencrypted".into(),
            ))
        }
        _ => return Err(ConfigError::Webhook(format!("'{}' is not an http(s) URL", redact_url(&url)))),
    }
    let secret = args
        .webhook_secret
        .clone()
        .or(file.webhook_secret.clone())
        .unwrap_or_default();
    if secret.len() < crate::auth::MIN_SECRET_BYTES {
        return Err(ConfigError::Webhook(format!(
            "set --webhook-secret (PARLEY_WEBHOOK_SECRET) to at least {} random bytes, the receiver's own secret",
            crate::auth::MIN_SECRET_BYTES
        )));
    }
    Ok(Some(crate::webhooks::WebhookTarget {
        url,
        secret: secret.into_bytes(),
        extra_roots: args
            .webhook_ca_file
            .clone()
            .or(file.webhook_ca_file.clone()),
    }))
}
