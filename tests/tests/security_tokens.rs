//! Attack: get in with a token the server should not honour. Through the real server: tokens
//! not valid yet, tokens that live too long, and tokens of the other audience (a server token
//! on a participant door, a participant token at the server API) are refused everywhere.

use jsonwebtoken::{encode, EncodingKey, Header};
use loadtest::whip::post_offer;
use parley_e2e::{offer_sdp, RawSocket, TestServer, SECRET};
use signaling::auth::{Audience, Claims, Grants};
use std::time::{SystemTime, UNIX_EPOCH};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token signed with the server's own secret, with whatever claims the attacker chooses.
fn signed(aud: Audience, grants: Grants, iat: u64, exp: u64, nbf: Option<u64>) -> String {
    let claims = Claims {
        sub: "mallory".into(),
        name: "Mallory".into(),
        room: "clinic".into(),
        grants,
        aud: aud.as_str().into(),
        iat,
        exp,
        nbf,
        guest: false,
    };
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_not_yet_valid_too_long_or_for_the_other_audience_are_refused() {
    let server = TestServer::start().await;
    let t = now();
    let participant = Grants::participant();
    let publisher = Grants {
        join: true,
        publish: true,
        ..Default::default()
    };
    let admin = Grants {
        admin: true,
        ..Default::default()
    };
    // (what, token) — each refused at the WebSocket and at WHIP.
    let refused = [
        (
            "not valid for another hour",
            signed(
                Audience::Participant,
                publisher,
                t,
                t + 7200,
                Some(t + 3600),
            ),
        ),
        (
            "lives a year",
            signed(Audience::Participant, publisher, t, t + 365 * 86_400, None),
        ),
        (
            "a server token at a participant door",
            signed(
                Audience::Server,
                Grants {
                    admin: true,
                    ..publisher
                },
                t,
                t + 600,
                None,
            ),
        ),
        (
            "admin grant in a participant token",
            signed(
                Audience::Participant,
                Grants {
                    admin: true,
                    ..publisher
                },
                t,
                t + 600,
                None,
            ),
        ),
    ];
    let offer = offer_sdp(&[("audio", "sendonly", &[(111, "opus/48000/2")], &[])]);
    for (what, token) in &refused {
        let mut socket = RawSocket::connect(&server.ws_url).await;
        let reply = socket.hello(token).await;
        assert_eq!(reply["code"], "invalid_token", "{what}: {reply}");
        let r = post_offer(
            &format!("{}/whip/clinic", server.base_url),
            Some(token),
            "application/sdp",
            offer.clone(),
        )
        .await
        .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{what}");
    }
    // The same claims within the rules pass.
    let fine = signed(
        Audience::Participant,
        participant,
        t,
        t + 3600,
        Some(t - 60),
    );
    let mut socket = RawSocket::connect(&server.ws_url).await;
    assert_eq!(socket.hello(&fine).await["type"], "welcome");
    // A participant token is refused at the server API; a server token is taken.
    let http = reqwest::Client::new();
    let rooms = format!("{}/api/rooms", server.base_url);
    let as_participant = http.get(&rooms).bearer_auth(&fine).send().await.unwrap();
    assert_eq!(as_participant.status().as_u16(), 403);
    let server_token = signed(Audience::Server, admin, t, t + 600, None);
    let as_server = http
        .get(&rooms)
        .bearer_auth(&server_token)
        .send()
        .await
        .unwrap();
    assert_eq!(as_server.status().as_u16(), 200);
    let long_server = signed(Audience::Server, admin, t, t + 2 * 86_400, None);
    let refused = http
        .get(&rooms)
        .bearer_auth(&long_server)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    server.stop().await;
}
