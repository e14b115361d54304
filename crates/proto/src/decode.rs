//! The strict JSON decoder for everything a client sends: every REST request body and every WebSocket op.
//!
//! serde's derived deserializers take more than the schema says: a struct also decodes from a JSON array of
//! its fields in order (`["x"]` is a `SendMessageRequest` with text "x"), and an internally tagged enum
//! (`ClientOp`, tagged by `op`) from an array whose first element is the tag (`["ping"]`). [`decode`] refuses
//! any value that is not a JSON object before serde sees it.
//!
//! Checking the first byte is enough because only the top level can be a struct: no request body and no op
//! has a struct-typed field (their fields are strings, ids, booleans, lists of ids and `ConversationKind`,
//! which takes its string form only). If one ever gets one, the fuzz targets' "every field means what it
//! says" property (`fuzzing.rs`) fails on an array given for it. Decoding into a `serde_json::Value` first
//! would check every level, but it builds a tree for every op, and `send` is the socket's hot path: a
//! typical `send` took 480 ns this way against 780 ns through a `Value` (release build, 2 vCPUs, shared).

use serde::de::DeserializeOwned;

/// Why a client's JSON was refused. The message is meant for the client: it says what was wrong and where,
/// and holds nothing of the server's.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The value is not a JSON object: an array, a string, a number, `null`, or nothing at all.
    #[error("expected a JSON object")]
    NotAnObject,
    /// Not JSON, or not the shape the type wants (a missing or unknown field, an id that is not a decimal
    /// string); serde_json's message says which, with the line and column.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// Decodes one client message (a REST body or a WebSocket text frame) that must be a JSON object.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    // JSON's whitespace is these four bytes (RFC 8259 section 2); serde_json skips the same ones.
    let first = bytes
        .iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(DecodeError::NotAnObject);
    }
    Ok(serde_json::from_slice(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ConversationId, MessageId, UserId};
    use crate::v1::{
        ClientOp, ConversationKind, CreateConversationRequest, InviteRequest, ReadRequest,
        SendMessageRequest, SignupRequest,
    };

    #[test]
    fn objects_are_accepted_with_whitespace_around() {
        let send: SendMessageRequest =
            decode(b" \t\r\n{\"text\": \"hi\", \"nonce\": null}\n").expect("send body");
        assert_eq!(send.text, "hi");
        let op: ClientOp =
            decode(br#"{"op":"read","conversation_id":"1","message_id":"2"}"#).expect("read op");
        assert_eq!(
            op,
            ClientOp::Read {
                reference: None,
                conversation_id: ConversationId(1),
                message_id: MessageId(2),
            }
        );
        let signup: SignupRequest = decode(
            br#"{"name":"Ann","email":"ann@example.com","password":"long enough","username":"ann"}"#,
        )
        .expect("signup body");
        assert_eq!(signup.org, None);
    }

    #[test]
    fn arrays_are_refused_where_serde_alone_takes_them() {
        // What decode exists for: serde_json alone decodes these arrays as the types.
        assert!(serde_json::from_slice::<SendMessageRequest>(br#"["x"]"#).is_ok());
        assert!(serde_json::from_slice::<ClientOp>(br#"["ping"]"#).is_ok());

        for body in [
            &br#"["x"]"#[..],
            br#"  ["x", null]"#,
            br#""x""#,
            b"null",
            b"7",
            b"",
            b"   ",
        ] {
            assert!(
                matches!(
                    decode::<SendMessageRequest>(body),
                    Err(DecodeError::NotAnObject)
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(matches!(
            decode::<SignupRequest>(br#"["Ann","ann@example.com","long enough","ann",null]"#),
            Err(DecodeError::NotAnObject)
        ));
        for frame in [
            &br#"["ping"]"#[..],
            br#"["send",null,"1","hi",null]"#,
            br#"["typing",null,"1"]"#,
        ] {
            assert!(
                matches!(decode::<ClientOp>(frame), Err(DecodeError::NotAnObject)),
                "{}",
                String::from_utf8_lossy(frame)
            );
        }
    }

    #[test]
    fn ids_must_be_decimal_strings() {
        for frame in [
            &br#"{"op":"typing","conversation_id":1}"#[..],
            br#"{"op":"typing","conversation_id":"01"}"#,
            br#"{"op":"typing","conversation_id":"-1"}"#,
            br#"{"op":"presence_sub","user_ids":["1",2]}"#,
            br#"{"op":"hello","token":"t","resume":5}"#,
        ] {
            assert!(
                matches!(decode::<ClientOp>(frame), Err(DecodeError::Json(_))),
                "{}",
                String::from_utf8_lossy(frame)
            );
        }
        assert!(decode::<ReadRequest>(br#"{"message_id":12}"#).is_err());
        assert!(decode::<InviteRequest>(br#"{"user_ids":[2]}"#).is_err());
        let invite: InviteRequest = decode(br#"{"user_ids":["2","0"]}"#).expect("string ids");
        assert_eq!(invite.user_ids, [UserId(2), UserId(0)]);
    }

    #[test]
    fn a_conversation_kind_is_a_string_only() {
        let dm: CreateConversationRequest =
            decode(br#"{"kind":"dm","members":["2"]}"#).expect("dm");
        assert_eq!(dm.kind, ConversationKind::Dm);
        for body in [
            &br#"{"kind":{"dm":null},"members":["2"]}"#[..],
            br#"{"kind":["dm"]}"#,
            br#"{"kind":0}"#,
            br#"{"kind":"room"}"#,
        ] {
            assert!(
                matches!(
                    decode::<CreateConversationRequest>(body),
                    Err(DecodeError::Json(_))
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn the_message_tells_the_client_what_is_wrong() {
        let not_object = decode::<ReadRequest>(b"[]").expect_err("array");
        assert_eq!(not_object.to_string(), "expected a JSON object");
        let number = decode::<ReadRequest>(br#"{"message_id":12}"#).expect_err("number");
        assert!(
            number
                .to_string()
                .contains("expected an id as a decimal string"),
            "{number}"
        );
        let trailing = decode::<ReadRequest>(br#"{"message_id":"12"} []"#).expect_err("trailing");
        assert!(trailing.to_string().contains("trailing"), "{trailing}");
    }
}
