use super::*;

#[test]
fn client_messages_round_trip_with_snake_case_tags() {
    let cases = [
        (
            r#"{"type":"hello","id":"1","version":1,"token":"t"}"#,
            ClientMessage::Hello {
                id: "1".into(),
                version: 1,
                token: "t".into(),
                resume: None,
            },
        ),
        (
            r#"{"type":"subscribe_answer","id":"2","sdp":"v=0"}"#,
            ClientMessage::SubscribeAnswer {
                id: "2".into(),
                sdp: "v=0".into(),
            },
        ),
        (
            r#"{"type":"ice_candidate","id":"3","target":"publisher","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}"#,
            ClientMessage::IceCandidate {
                id: "3".into(),
                target: PeerTarget::Publisher,
                candidate: IceCandidate {
                    candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
                    sdp_mid: Some("0".into()),
                    sdp_mline_index: Some(0),
                    username_fragment: None,
                },
            },
        ),
    ];
    for (json, expected) in cases {
        let parsed: ClientMessage = serde_json::from_str(json).unwrap();
        assert_eq!(parsed, expected);
        let back: ClientMessage =
            serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
        assert_eq!(back, expected);
    }
}

#[test]
fn every_declared_type_parses_and_no_other() {
    for ty in ClientMessage::TYPES {
        let bare = format!(r#"{{"type":"{ty}"}}"#);
        let err = serde_json::from_str::<ClientMessage>(&bare).unwrap_err();
        assert!(err.to_string().contains("missing field"), "{ty}: {err}");
    }
    let err = serde_json::from_str::<ClientMessage>(r#"{"type":"dance","id":"1"}"#);
    assert!(err.is_err());
}

#[test]
fn error_reply_shape_is_stable() {
    let msg = ServerMessage::Error {
        reply_to: Some("7".into()),
        code: ErrorCode::InvalidSdp,
        message: "bad".into(),
    };
    assert_eq!(
        serde_json::to_string(&msg).unwrap(),
        r#"{"type":"error","reply_to":"7","code":"invalid_sdp","message":"bad"}"#
    );
}
