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

    /// What a guest token (`POST /api/guest-token`) carries: a call, never chat (a stranger
    /// must not read or leave words in anyone's conversations), never watching unseen.
    pub fn guest() -> Self {
        Self {
            join: true,
            publish: true,
            subscribe: true,
            ..Self::default()
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

/// Who a token is for: a participant (browser, app, WHIP/WHEP client) or the app's backend
/// calling the server API. The `aud` claim says which; a token works only where its audience
/// is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Participant,
    Server,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Participant => "parley:participant",
            Self::Server => "parley:server",
        }
    }
}

/// The longest a token may live (`exp - iat`) unless configured otherwise.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Shorter HS256 secrets are refused at start (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Identity: stable user id chosen by whoever mints the token.
    pub sub: String,
    pub name: String,
    pub room: String,
    #[serde(default)]
    pub grants: Grants,
    /// `parley:participant` or `parley:server` (see [`Audience`]).
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    /// Not valid before (Unix seconds), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Minted by `POST /api/guest-token` for someone nobody vouched for: only the guest grants,
    /// and only in rooms not created through the server API.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guest: bool,
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
    max_lifetime: Duration,
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
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.set_audience(&[Audience::Participant.as_str(), Audience::Server.as_str()]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            max_lifetime: DEFAULT_MAX_TOKEN_LIFETIME,
        }
    }

    /// Tokens that live longer than this (`exp - iat`) are refused, whoever signed them.
    pub fn with_max_lifetime(mut self, max_lifetime: Duration) -> Self {
        self.max_lifetime = max_lifetime;
        self
    }

    pub fn mint(
        &self,
        identity: &str,
        name: &str,
        room: &str,
        grants: Grants,
        ttl: Duration,
    ) -> Result<String, TokenError> {
        self.sign(identity, name, room, grants, ttl, false)
    }

    /// A guest's token: [`Grants::guest`], marked `guest`.
    pub fn mint_guest(
        &self,
        identity: &str,
        name: &str,
        room: &str,
        ttl: Duration,
    ) -> Result<String, TokenError> {
        self.sign(identity, name, room, Grants::guest(), ttl, true)
    }

    fn sign(
        &self,
        identity: &str,
        name: &str,
        room: &str,
        grants: Grants,
        ttl: Duration,
        guest: bool,
    ) -> Result<String, TokenError> {
        let now = unix_now();
        let audience = if grants.admin {
            Audience::Server
        } else {
            Audience::Participant
        };
        let claims = Claims {
            sub: identity.to_owned(),
            name: name.to_owned(),
            room: room.to_owned(),
            grants,
            aud: audience.as_str().to_owned(),
            iat: now,
            exp: now + ttl.as_secs(),
            nbf: None,
            guest,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// Verifies a token for use where `audience` is expected: signature (HS256 only), `exp`,
    /// `nbf`, `aud`, a lifetime within the maximum, and the `admin` grant only in server tokens.
    pub fn verify(&self, token: &str, audience: Audience) -> Result<Claims, TokenError> {
        let claims = self.decode(token)?;
        if claims.aud != audience.as_str() {
            return Err(TokenError::Invalid(format!(
                "this is a {} token; this endpoint takes {} tokens",
                claims.aud,
                audience.as_str()
            )));
        }
        if claims.grants.admin != (audience == Audience::Server) {
            return Err(TokenError::Invalid(
                "server tokens carry the admin grant and participant tokens never do".into(),
            ));
        }
        if claims.guest && claims.grants != Grants::guest() {
            return Err(TokenError::Invalid(
                "a guest token carries only join, publish and subscribe".into(),
            ));
        }
        let lifetime = claims.exp.saturating_sub(claims.iat);
        if lifetime > self.max_lifetime.as_secs() {
            return Err(TokenError::Invalid(format!(
                "token lifetime (exp - iat) of {lifetime} s exceeds the server's maximum of {} s",
                self.max_lifetime.as_secs()
            )));
        }
        Ok(claims)
    }

    fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => {
                    TokenError::Invalid("token not valid yet (nbf)".into())
                }
                ErrorKind::InvalidAudience => TokenError::Invalid("wrong audience (aud)".into()),
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
        let claims = auth.verify(&token, Audience::Participant).unwrap();
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
                aud: Audience::Participant.as_str().into(),
                iat: 1,
                exp: 2,
                nbf: None,
                guest: false,
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
            let got = auth.verify(token, Audience::Participant).unwrap_err();
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
    #[rustfmt::skip]
    fn audience_lifetime_and_not_before_are_checked() {
        let auth = authority().with_max_lifetime(Duration::from_secs(3600));
        let now = unix_now();
        let sign = |aud: &str, admin: bool, iat: u64, exp: u64, nbf: Option<u64>| {
            let grants = Grants { admin, ..Grants::participant() };
            let claims = Claims { sub: "ana".into(), name: "Ana".into(), room: "r".into(), grants, aud: aud.into(), iat, exp, nbf, guest: false };
            encode(&Header::new(Algorithm::HS256), &claims, &auth.encoding).unwrap()
        };
        let (p, s) = (Audience::Participant, Audience::Server);
        let (pa, sa) = (p.as_str(), s.as_str());
        // (what, token, used as, accepted)
        let rows = [
            ("participant token",                sign(pa, false, now, now + 600, None),          p, true),
            ("participant token at the server API", sign(pa, false, now, now + 600, None),       s, false),
            ("server token",                     sign(sa, true,  now, now + 600, None),          s, true),
            ("server token on a participant door", sign(sa, true, now, now + 600, None),         p, false),
            ("admin grant, participant audience", sign(pa, true, now, now + 600, None),          p, false),
            ("server audience without admin",    sign(sa, false, now, now + 600, None),          s, false),
            ("someone else's audience",          sign("other", false, now, now + 600, None),     p, false),
            ("lifetime at the maximum",          sign(pa, false, now, now + 3600, None),         p, true),
            ("lifetime over the maximum",        sign(pa, false, now, now + 3601, None),         p, false),
            ("a year-long token",                sign(pa, false, now, now + 365 * 86_400, None), p, false),
            ("not valid yet",                    sign(pa, false, now, now + 600, Some(now + 60)), p, false),
            ("valid since a minute",             sign(pa, false, now, now + 600, Some(now - 60)), p, true),
        ];
        for (what, token, used_as, accepted) in rows {
            let got = auth.verify(&token, used_as);
            assert_eq!(got.is_ok(), accepted, "{what}: {got:?}");
        }
        // No audience at all: refused.
        let payload = b64::encode(format!(r#"{{"sub":"ana","name":"Ana","room":"r","exp":{},"iat":{now}}}"#, now + 60).as_bytes());
        assert!(auth.verify(&format!("x.{payload}.y"), p).is_err());
        // Minted tokens carry the audience their grants call for.
        let minted = auth.mint("b", "B", "-", Grants { admin: true, ..Default::default() }, Duration::from_secs(60)).unwrap();
        assert!(auth.verify(&minted, s).is_ok());
    }

    #[test]
    fn guest_tokens_carry_only_the_guest_grants() {
        let auth = authority();
        let token = auth
            .mint_guest("guest-1", "Gus", "hallway", Duration::from_secs(60))
            .unwrap();
        let claims = auth.verify(&token, Audience::Participant).unwrap();
        assert!(claims.guest && claims.grants == Grants::guest());
        assert!(!claims.grants.chat && !claims.grants.watch && !claims.grants.moderate);
        // A guest claim with more grants (signed with the secret, say by a buggy backend) is
        // refused rather than trusted.
        let now = unix_now();
        let forged = Claims {
            grants: Grants {
                chat: true,
                ..Grants::guest()
            },
            iat: now,
            exp: now + 60,
            ..claims
        };
        let forged = encode(&Header::new(Algorithm::HS256), &forged, &auth.encoding).unwrap();
        assert!(matches!(
            auth.verify(&forged, Audience::Participant),
            Err(TokenError::Invalid(_))
        ));
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
