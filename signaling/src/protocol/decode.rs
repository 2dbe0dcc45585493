//! One text frame into a [`ClientMessage`], or the error reply's code and text: pure, so it is
//! table-tested and fuzzed (`fuzz/fuzz_targets/ws_decode.rs`) apart from any session.

use super::{ClientMessage, ErrorCode, MAX_MESSAGE_BYTES};

/// Why a frame is not a message: the `id` to answer (when one could be read), the code, a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub reply_to: Option<String>,
    pub code: ErrorCode,
    pub message: String,
}

fn refuse(reply_to: Option<String>, code: ErrorCode, message: impl Into<String>) -> DecodeError {
    DecodeError {
        reply_to,
        code,
        message: message.into(),
    }
}

/// Parses one frame: size, JSON, an object with a known string `type`, then the message's
/// own fields.
pub fn decode(text: &str) -> Result<ClientMessage, DecodeError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(refuse(
            None,
            ErrorCode::MessageTooLarge,
            format!(
                "message is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
                text.len()
            ),
        ));
    }
    // Well-formed requests (nearly all of them) are parsed once, straight into their type; the
    // slower look at a generic value below only runs to name what is wrong with the rest.
    if let Ok(message) = serde_json::from_str::<ClientMessage>(text) {
        return Ok(message);
    }
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|err| refuse(None, ErrorCode::BadJson, format!("invalid JSON: {err}")))?;
    let Some(object) = value.as_object() else {
        return Err(refuse(
            None,
            ErrorCode::BadJson,
            "a message must be a JSON object",
        ));
    };
    let reply_to = object.get("id").and_then(|v| v.as_str()).map(str::to_owned);
    match object.get("type").and_then(|t| t.as_str()) {
        Some(ty) if ClientMessage::TYPES.contains(&ty) => {}
        Some(ty) => {
            return Err(refuse(
                reply_to,
                ErrorCode::UnknownType,
                format!("unknown message type '{ty}'"),
            ))
        }
        None => {
            return Err(refuse(
                reply_to,
                ErrorCode::UnknownType,
                "missing string field 'type'",
            ))
        }
    }
    serde_json::from_value(value)
        .map_err(|err| refuse(reply_to, ErrorCode::InvalidMessage, err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes, or the reply's `id` and code.
    type Expected = Result<(), (Option<&'static str>, ErrorCode)>;

    #[test]
    fn frames_decode_or_get_the_right_code() {
        let big = format!(
            "{{\"type\":\"ping\",\"id\":\"{}\"}}",
            "x".repeat(MAX_MESSAGE_BYTES)
        );
        #[rustfmt::skip]
        let rows: &[(&str, Expected)] = &[
            (r#"{"type":"ping","id":"1"}"#,           Ok(())),
            ("not json",                              Err((None, ErrorCode::BadJson))),
            ("[1,2]",                                 Err((None, ErrorCode::BadJson))),
            (r#"{"id":"2"}"#,                         Err((Some("2"), ErrorCode::UnknownType))),
            (r#"{"type":"dance","id":"3"}"#,          Err((Some("3"), ErrorCode::UnknownType))),
            (r#"{"type":7,"id":"4"}"#,                Err((Some("4"), ErrorCode::UnknownType))),
            (r#"{"type":"join","id":"5"}"#,           Err((Some("5"), ErrorCode::InvalidMessage))),
            (r#"{"type":"join","id":"6","room":1}"#,  Err((Some("6"), ErrorCode::InvalidMessage))),
            (&big,                                    Err((None, ErrorCode::MessageTooLarge))),
        ];
        for (text, expected) in rows {
            let got = decode(text).map(|_| ()).map_err(|e| (e.reply_to, e.code));
            let expected = (*expected).map_err(|(id, code)| (id.map(str::to_owned), code));
            assert_eq!(got, expected, "{}", &text[..text.len().min(60)]);
        }
    }
}
