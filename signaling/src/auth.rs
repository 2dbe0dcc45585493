//! Participant tokens: HS256 JWTs naming an identity, a room and what it may do there.
//! Only HS256 is accepted, so `alg: none` and algorithm-confusion tokens fail verification.

use jsonwebtoken::{
    decode, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Grants {
    pub join: bool,
    pub publish: bool,
    pub subscribe: bool,
    pub chat: bool,
    pub moderate: bool,
    /// Watch the room through WHEP (a hidden viewer). Not in the participant grants: a viewer
    /// is seen only by operators and moderators, so an app grants it on purpose.
    pub watch: bool,
    /// The server API for apps (`/api/rooms`, `/api/tokens`, `/api/calls`): a server token, never
    /// given to a browser.
    pub admin: bool,
}

impl Grants {
    /// What a participant of a call normally gets.
    pub fn participant() -> Self {
        Self {
            join: true,
            publish: true,
            subscribe: true,
            chat: true,
            moderate: false,
            watch: false,
            admin: false,
        }
    }

    /// Parses `join,publish,...`; unknown names are an error so typos do not silently deny.
    pub fn parse_list(list: &str) -> Result<Self, String> {
        let mut grants = Self::default();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name {
                "join" => grants.join = true,
                "publish" => grants.publish = true,
                "subscribe" => grants.subscribe = true,
                "chat" => grants.chat = true,
                "moderate" => grants.moderate = true,
                "watch" => grants.watch = true,
                "admin" => grants.admin = true,
                other => return Err(format!("unknown grant '{other}'")),
            }
        }
        Ok(grants)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Identity: stable user id chosen by whoever mints the token.
    pub sub: String,
    pub name: String,
    pub room: String,
    #[serde(default)]
    pub grants: Grants,
    pub exp: u64,
    pub iat: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token has expired")]
    Expired,
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Signs and verifies tokens with one secret. `Debug` never shows the secret.
#[derive(Clone)]
pub struct TokenAuthority {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenAuthority(<secret>)")
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl TokenAuthority {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn mint(
        &self,
        identity: &str,
        name: &str,
        room: &str,
        grants: Grants,
        ttl: Duration,
    ) -> Result<String, TokenError> {
        let now = unix_now();
        let claims = Claims {
            sub: identity.to_owned(),
            name: name.to_owned(),
            room: room.to_owned(),
            grants,
            iat: now,
            exp: now + ttl.as_secs(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::Invalid("bad signature".into()),
                ErrorKind::InvalidAlgorithm => {
                    TokenError::Invalid("algorithm must be HS256".into())
                }
                ErrorKind::MissingRequiredClaim(claim) => {
                    TokenError::Invalid(format!("missing claim '{claim}'"))
                }
                ErrorKind::Json(e) => TokenError::Invalid(format!("bad claims: {e}")),
                _ => TokenError::Invalid("malformed token".into()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64_url as b64;

    mod base64_url {
        // Small local encoder so tests can forge tokens byte by byte.
        pub fn encode(input: &[u8]) -> String {
            const TABLE: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut out = String::new();
            for chunk in input.chunks(3) {
                let b = [
                    chunk[0],
                    *chunk.get(1).unwrap_or(&0),
                    *chunk.get(2).unwrap_or(&0),
                ];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                for i in 0..=chunk.len() {
                    out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            out
        }
    }

    fn authority() -> TokenAuthority {
        TokenAuthority::new(b"test-secret-test-secret-test-secret")
    }

    #[test]
    fn minted_tokens_verify_with_their_claims() {
        let auth = authority();
        let token = auth
            .mint(
                "ana",
                "Ana",
                "room-1",
                Grants::participant(),
                Duration::from_secs(60),
            )
            .unwrap();
        let claims = auth.verify(&token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.room.as_str()),
            ("ana", "room-1")
        );
        assert_eq!(claims.grants, Grants::participant());
    }

    #[test]
    fn bad_tokens_are_refused_with_a_reason() {
        let auth = authority();
        let other = TokenAuthority::new(b"another-secret-another-secret-xx");
        let forged = other
            .mint(
                "ana",
                "Ana",
                "r",
                Grants::participant(),
                Duration::from_secs(60),
            )
            .unwrap();
        let payload = b64::encode(
            br#"{"sub":"ana","name":"Ana","room":"r","grants":{"join":true},"exp":99999999999,"iat":0}"#,
        );
        let alg_none = format!(
            "{}.{}.",
            b64::encode(br#"{"alg":"none","typ":"JWT"}"#),
            payload
        );
        let expired = {
            let claims = Claims {
                sub: "ana".into(),
                name: "Ana".into(),
                room: "r".into(),
                grants: Grants::participant(),
                iat: 1,
                exp: 2,
            };
            encode(&Header::new(Algorithm::HS256), &claims, &auth.encoding).unwrap()
        };
        let cases = [
            (forged.as_str(), TokenError::Invalid("bad signature".into())),
            (
                alg_none.as_str(),
                TokenError::Invalid("malformed token".into()),
            ),
            (expired.as_str(), TokenError::Expired),
            ("not.a.jwt", TokenError::Invalid("malformed token".into())),
            ("", TokenError::Invalid("malformed token".into())),
        ];
        for (token, expected) in cases {
            let got = auth.verify(token).unwrap_err();
            assert!(
                matches!(
                    (&got, &expected),
                    (TokenError::Expired, TokenError::Expired)
                ) || matches!(
                    (&got, &expected),
                    (TokenError::Invalid(_), TokenError::Invalid(_))
                ),
                "{token}: got {got:?}, expected {expected:?}"
            );
        }
    }

    #[test]
    fn grant_lists_parse_strictly() {
        assert_eq!(
            Grants::parse_list("join, publish").unwrap(),
            Grants {
                join: true,
                publish: true,
                ..Default::default()
            }
        );
        assert!(Grants::parse_list("join,pubish").is_err());
    }
}
