//! Deleting a person's data through the server API (`DELETE /api/users/{identity}`), the way a
//! telehealth backend honours a patient's request: their messages become anonymous tombstones
//! others still see in order, their files leave the disk, a call they were placing stops
//! ringing, and a repeat is harmless. Only a server token may do it.

use loadtest::chatter::Chatter;
use parley_e2e::TestServer;
use serde_json::Value;
use signaling::auth::Grants;
use signaling::protocol::chat::{CallMedia, NewConversationKind};
use signaling::protocol::{ClientMessage, ServerMessage};
use std::time::Duration;

/// A 2x2 PNG.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x02\0\0\0\x02\x08\x02\0\0\0\xfd\xd4\x9as";

async fn erase(server: &TestServer, token: Option<&str>, identity: &str) -> (u16, Value) {
    let mut request =
        reqwest::Client::new().delete(format!("{}/api/users/{identity}", server.base_url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn files_on_disk(server: &TestServer) -> usize {
    std::fs::read_dir(server.data_dir().join("attachments"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_is_erased_and_others_keep_a_gapless_history() {
    let server = TestServer::start().await;
    let admin = server.token(
        "clinic-backend",
        "-",
        Grants {
            admin: true,
            ..Default::default()
        },
    );
    let patient_token = server.token("patient", "lobby", Grants::participant());
    let doctor_token = server.token("doctor", "lobby", Grants::participant());
    let patient = Chatter::connect(&server.ws_url, &patient_token)
        .await
        .unwrap();
    let doctor = Chatter::connect(&server.ws_url, &doctor_token)
        .await
        .unwrap();

    let reply = patient
        .request(|id| ClientMessage::ChatCreate {
            id,
            kind: NewConversationKind::Direct,
            with: vec!["doctor".into()],
            title: None,
        })
        .await
        .unwrap();
    let ServerMessage::ChatConversation { conversation, .. } = reply else {
        panic!("{reply:?}")
    };
    let conversation = conversation.id;
    patient
        .send(&conversation, "my symptoms are…")
        .await
        .unwrap();
    let answer = doctor
        .send(&conversation, "take this twice a day")
        .await
        .unwrap();
    patient.send(&conversation, "thank you").await.unwrap();
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/conversations/{conversation}/attachments?filename=rash.png",
            server.base_url
        ))
        .bearer_auth(&patient_token)
        .header("content-type", "image/png")
        .body(PNG)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let upload: Value = response.json().await.unwrap();
    let photo = patient
        .send_attachments(&conversation, "", &[upload["id"].as_str().unwrap().into()])
        .await
        .unwrap();
    patient
        .request(|id| ClientMessage::ChatReact {
            id,
            message: answer.id.clone(),
            emoji: "👍".into(),
            on: true,
        })
        .await
        .unwrap();
    assert_eq!(files_on_disk(&server), 1);
    // The patient is calling the doctor when the erasure comes.
    let reply = patient
        .request(|id| ClientMessage::CallInvite {
            id,
            conversation: conversation.clone(),
            media: CallMedia::Video,
            invitees: Vec::new(),
        })
        .await
        .unwrap();
    let ServerMessage::CallInvitation { invitation, .. } = reply else {
        panic!("{reply:?}")
    };
    doctor
        .wait_for("ringing", Duration::from_secs(10), |events| {
            events.iter().any(|e| matches!(e, ServerMessage::CallRinging { invitation: i } if i.id == invitation.id))
        })
        .await
        .unwrap();

    // Only a server token may erase.
    for (token, status) in [(None, 401), (Some(doctor_token.as_str()), 403)] {
        assert_eq!(erase(&server, token, "patient").await.0, status);
    }
    assert_eq!(files_on_disk(&server), 1);

    let (status, erased) = erase(&server, Some(&admin), "patient").await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["user_existed"], true);
    assert_eq!(erased["messages_erased"], 3);
    assert_eq!(erased["attachments_removed"], 1);
    assert_eq!(erased["invitations_ended"], 1);
    assert_eq!(files_on_disk(&server), 0);
    doctor
        .wait_for("the ringing stops", Duration::from_secs(10), |events| {
            events.iter().any(|e| {
                matches!(e, ServerMessage::CallUpdate { invitation: i }
                    if i.id == invitation.id && i.state == "cancelled")
            })
        })
        .await
        .unwrap();

    // The doctor's history: the patient's messages are anonymous tombstones in their places,
    // the doctor's answer stands without the patient's reaction, the photo is gone.
    let response = reqwest::Client::new()
        .get(format!(
            "{}/api/conversations/{conversation}/messages",
            server.base_url
        ))
        .bearer_auth(&doctor_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let history: Value = response.json().await.unwrap();
    let messages = history["messages"].as_array().unwrap();
    let seqs: Vec<i64> = messages
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4], "{history}");
    for (message, survives) in messages.iter().zip([false, true, false, false]) {
        if survives {
            assert_eq!(message["sender"], "doctor");
            assert_eq!(message["text"], "take this twice a day");
            assert_eq!(message["reactions"], serde_json::json!({}));
        } else {
            assert!(message["sender"].is_null(), "{message}");
            assert!(message["text"].is_null(), "{message}");
            assert!(message["client_msg_id"].is_null(), "{message}");
            assert_eq!(message["attachments"], serde_json::json!([]));
        }
    }
    let url = format!(
        "{}/api/attachments/{}",
        server.base_url, photo.attachments[0].id
    );
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(&doctor_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let text = serde_json::to_string(&history).unwrap();
    assert!(
        !text.contains("symptoms") && !text.contains("\"patient\""),
        "{text}"
    );

    // A repeat (a retry after a timeout) finds nothing more.
    let (status, again) = erase(&server, Some(&admin), "patient").await;
    assert_eq!(status, 200);
    assert_eq!(
        again,
        serde_json::json!({"user_existed": false, "messages_erased": 0,
            "attachments_removed": 0, "invitations_ended": 0})
    );
    server.stop().await;
}
