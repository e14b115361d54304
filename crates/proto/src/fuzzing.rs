//! The properties the fuzz targets in `fuzz/` check, shared with the test that replays their past crashes
//! (`fuzz/regressions/`), so `cargo test` keeps every crash fixed without cargo-fuzz.
//!
//! Each check decodes the input as the server does and, when the input is accepted, asserts more than "it did
//! not panic":
//! - the input is a JSON object (its first byte after whitespace is `{`);
//! - encoding the value and decoding that again gives the same value;
//! - every field the client sent means exactly what it says: encoding the value gives back each field of the
//!   input unchanged (a `null` may stand for an absent optional field), so nothing is accepted in a form
//!   other than the one the schema documents (an id as a number, an enum as an object);
//! - every id is at least 0.
//!
//! Compiled for this crate's tests and with the `fuzzing` feature only; the server never links it.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::decode::decode;
use crate::ids::{FileId, MessageId};
use crate::v1::{
    AvatarFromUpload, ClientOp, CreateConversationRequest, CreateInviteRequest,
    CreateUploadRequest, EditMessageRequest, FileLinksRequest, InviteLookup, InviteRequest,
    LoginRequest, MembershipPatch, Mentions, QuoteRef, ReadRequest, SendMessageRequest,
    SignupRequest, UpdateMeRequest,
};

/// A property an accepted input broke, in words for the fuzzer's crash report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation(String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}

/// What the decoder made of an input that broke no property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Refused,
}

/// Checks one input: its verdict, or the property it broke.
pub type Check = fn(&[u8]) -> Result<Verdict, Violation>;

/// The fuzz targets by name, as `fuzz/Cargo.toml` names their binaries and `fuzz/regressions/` their folders.
pub const TARGETS: [(&str, Check); 2] = [("ws_op", check_ws_op), ("rest_body", check_rest_body)];

/// Every REST request body, in the order the first byte of a `rest_body` input picks them (counted from
/// `'0'`, modulo their number, so `'0'` to `'9'` and on through the ASCII that follows (`':'` is the
/// eleventh) name them in readable corpus files; a new body goes last, so older corpus files keep their
/// meaning).
pub const REST_BODIES: [(&str, Check); 14] = [
    ("SignupRequest", check::<SignupRequest>),
    ("LoginRequest", check::<LoginRequest>),
    ("UpdateMeRequest", check::<UpdateMeRequest>),
    (
        "CreateConversationRequest",
        check::<CreateConversationRequest>,
    ),
    ("InviteRequest", check::<InviteRequest>),
    ("MembershipPatch", check::<MembershipPatch>),
    ("SendMessageRequest", check::<SendMessageRequest>),
    ("ReadRequest", check::<ReadRequest>),
    ("CreateInviteRequest", check::<CreateInviteRequest>),
    ("InviteLookup", check::<InviteLookup>),
    ("EditMessageRequest", check::<EditMessageRequest>),
    ("CreateUploadRequest", check::<CreateUploadRequest>),
    ("FileLinksRequest", check::<FileLinksRequest>),
    ("AvatarFromUpload", check::<AvatarFromUpload>),
];

/// The `ws_op` target: one WebSocket text frame, decoded as a client op.
pub fn check_ws_op(input: &[u8]) -> Result<Verdict, Violation> {
    check::<ClientOp>(input)
}

/// The `rest_body` target: the first byte picks a body type from [`REST_BODIES`], the rest is the body.
pub fn check_rest_body(input: &[u8]) -> Result<Verdict, Violation> {
    let Some((&selector, body)) = input.split_first() else {
        return Ok(Verdict::Refused);
    };
    let (name, check) = REST_BODIES[usize::from(selector.wrapping_sub(b'0')) % REST_BODIES.len()];
    check(body).map_err(|violation| Violation(format!("{name}: {violation}")))
}

/// Decodes `input` as the server does ([`decode`]) and, if that succeeds, checks every property in the
/// module's docs.
pub fn check<T>(input: &[u8]) -> Result<Verdict, Violation>
where
    T: DeserializeOwned + Serialize + PartialEq + fmt::Debug + Ids,
{
    let Ok(value) = decode::<T>(input) else {
        return Ok(Verdict::Refused);
    };
    let first = input
        .iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(Violation(format!(
            "accepted a body that is not a JSON object: {value:?}"
        )));
    }
    let encoded = serde_json::to_vec(&value)
        .map_err(|error| Violation(format!("cannot encode {value:?}: {error}")))?;
    match decode::<T>(&encoded) {
        Ok(again) if again == value => {}
        Ok(again) => {
            return Err(Violation(format!(
                "{value:?} encoded and decoded again is {again:?}"
            )));
        }
        Err(error) => {
            return Err(Violation(format!("{value:?} encoded is refused: {error}")));
        }
    }
    let sent: Value = serde_json::from_slice(input)
        .map_err(|error| Violation(format!("accepted input that is not JSON ({error})")))?;
    let meant = serde_json::to_value(&value)
        .map_err(|error| Violation(format!("cannot encode {value:?}: {error}")))?;
    means_what_it_says(&sent, &meant, "")?;
    let mut negative = None;
    value.for_each_id(&mut |id| {
        if id < 0 {
            negative = Some(id);
        }
    });
    match negative {
        Some(id) => Err(Violation(format!(
            "accepted a negative id {id} in {value:?}"
        ))),
        None => Ok(Verdict::Accepted),
    }
}

/// Whether every field of `sent` has the same value in `meant`, the decoded value encoded again. `meant` may
/// have more fields (defaults for absent ones), and a `null` sent may be absent from `meant` (an optional field
/// left out when it is `None`).
fn means_what_it_says(sent: &Value, meant: &Value, path: &str) -> Result<(), Violation> {
    match (sent, meant) {
        (Value::Object(sent), Value::Object(meant)) => {
            for (key, sent) in sent {
                let path = format!("{path}/{key}");
                match meant.get(key) {
                    Some(meant) => means_what_it_says(sent, meant, &path)?,
                    None if sent.is_null() => {}
                    None => {
                        return Err(Violation(format!("{path}: accepted {sent} and dropped it")));
                    }
                }
            }
            Ok(())
        }
        (Value::Array(sent), Value::Array(meant)) if sent.len() == meant.len() => {
            for (index, (sent, meant)) in sent.iter().zip(meant).enumerate() {
                means_what_it_says(sent, meant, &format!("{path}/{index}"))?;
            }
            Ok(())
        }
        _ if sent == meant => Ok(()),
        _ => Err(Violation(format!("{path}: accepted {sent} as {meant}"))),
    }
}

/// The ids a decoded value holds. Each impl destructures its type whole, so a new field has to be looked at
/// here before this compiles again.
pub trait Ids {
    fn for_each_id(&self, f: &mut dyn FnMut(i64));
}

macro_rules! no_ids {
    ($($name:ident { $($field:ident),* }),* $(,)?) => {
        $(impl Ids for $name {
            fn for_each_id(&self, _: &mut dyn FnMut(i64)) {
                let $name { $($field: _),* } = self;
            }
        })*
    };
}

no_ids!(
    CreateUploadRequest {
        name,
        size,
        content_type
    },
    SignupRequest {
        name,
        email,
        password,
        username,
        org,
        invite
    },
    LoginRequest {
        login,
        password,
        org
    },
    UpdateMeRequest { name },
    MembershipPatch {
        muted,
        notify_always
    },
    CreateInviteRequest {
        max_uses,
        expires_in_hours
    },
    InviteLookup { token },
);

impl Ids for CreateConversationRequest {
    fn for_each_id(&self, f: &mut dyn FnMut(i64)) {
        let CreateConversationRequest {
            kind: _,
            members,
            name: _,
            handle: _,
            topic: _,
            private: _,
        } = self;
        members.iter().for_each(|id| f(id.0));
    }
}

/// The ids a send or an edit may carry besides the conversation's.
fn extras_ids(
    mentions: &Option<Mentions>,
    thread_root_id: &Option<MessageId>,
    quote: &Option<QuoteRef>,
    attachments: &[FileId],
    f: &mut dyn FnMut(i64),
) {
    attachments.iter().for_each(|id| f(id.0));
    if let Some(Mentions {
        user_ids,
        channel: _,
        here: _,
    }) = mentions
    {
        user_ids.iter().for_each(|id| f(id.0));
    }
    thread_root_id.iter().for_each(|id| f(id.0));
    if let Some(QuoteRef {
        conversation_id,
        message_id,
    }) = quote
    {
        f(conversation_id.0);
        f(message_id.0);
    }
}

impl Ids for SendMessageRequest {
    fn for_each_id(&self, f: &mut dyn FnMut(i64)) {
        let SendMessageRequest {
            text: _,
            nonce: _,
            mentions,
            thread_root_id,
            also_to_conversation: _,
            quote,
            attachments,
        } = self;
        extras_ids(mentions, thread_root_id, quote, attachments, f);
    }
}

impl Ids for EditMessageRequest {
    fn for_each_id(&self, f: &mut dyn FnMut(i64)) {
        let EditMessageRequest { text: _, mentions } = self;
        extras_ids(mentions, &None, &None, &[], f);
    }
}

impl Ids for InviteRequest {
    fn for_each_id(&self, f: &mut dyn FnMut(i64)) {
        let InviteRequest { user_ids } = self;
        user_ids.iter().for_each(|id| f(id.0));
    }
}

impl Ids for FileLinksRequest {
    fn for_each_id(&self, f: &mut dyn FnMut(i64)) {
        let FileLinksRequest { ids } = self;
        ids.iter().for_each(|id| f(id.0));
    }
}

impl Ids for AvatarFromUpload {
    fn for_each_id(&self, f: &mut dyn FnMut(i64)) {
        let AvatarFromUpload { upload_id } = self;
        f(upload_id.0);
    }
}

impl Ids for ReadRequest {
    fn for_each_id(&self, f: &mut dyn FnMut(i64)) {
        let ReadRequest { message_id } = self;
        f(message_id.0);
    }
}

impl Ids for ClientOp {
    fn for_each_id(&self, f: &mut dyn FnMut(i64)) {
        match self {
            ClientOp::Hello { token: _, resume } => resume.iter().for_each(|cursor| f(cursor.0)),
            ClientOp::Send {
                reference: _,
                conversation_id,
                text: _,
                nonce: _,
                mentions,
                thread_root_id,
                also_to_conversation: _,
                quote,
                attachments,
            } => {
                f(conversation_id.0);
                extras_ids(mentions, thread_root_id, quote, attachments, f);
            }
            ClientOp::Edit {
                reference: _,
                conversation_id,
                message_id,
                text: _,
                mentions,
            } => {
                f(conversation_id.0);
                f(message_id.0);
                extras_ids(mentions, &None, &None, &[], f);
            }
            ClientOp::Pin {
                reference: _,
                conversation_id,
                message_id,
            }
            | ClientOp::Unpin {
                reference: _,
                conversation_id,
                message_id,
            } => {
                f(conversation_id.0);
                f(message_id.0);
            }
            ClientOp::Read {
                reference: _,
                conversation_id,
                message_id,
            } => {
                f(conversation_id.0);
                f(message_id.0);
            }
            ClientOp::Typing {
                reference: _,
                conversation_id,
            } => f(conversation_id.0),
            ClientOp::PresenceSub {
                reference: _,
                user_ids,
            } => user_ids.iter().for_each(|id| f(id.0)),
            ClientOp::Ping { reference: _ } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn fuzz_folder(kind: &str, target: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz")
            .join(kind)
            .join(target)
    }

    /// The inputs in a folder, with their file names (READMEs aside).
    fn inputs(folder: &Path) -> Vec<(String, Vec<u8>)> {
        let entries = std::fs::read_dir(folder)
            .unwrap_or_else(|error| panic!("{}: {error}", folder.display()));
        let mut inputs: Vec<(String, Vec<u8>)> = entries
            .map(|entry| entry.expect("directory entry").path())
            .filter(|path| path.extension().is_none_or(|extension| extension != "md"))
            .map(|path| {
                let name = path
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (name, std::fs::read(&path).expect("fuzz input"))
            })
            .collect();
        inputs.sort();
        inputs
    }

    /// Every input a fuzz target ever failed on, kept in `fuzz/regressions/<target>/` by `scripts/fuzz`, must
    /// pass its checks now.
    #[test]
    fn fuzz_regressions_stay_fixed() {
        let mut failures = Vec::new();
        for (target, check) in TARGETS {
            for (name, input) in inputs(&fuzz_folder("regressions", target)) {
                if let Err(violation) = check(&input) {
                    failures.push(format!("{target}/{name}: {violation}"));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The seeds in `fuzz/corpus/<target>/` are what their names say: `bad-*` refused, the others accepted,
    /// and none breaks a property. (Inputs a fuzzer added, named by their SHA-1, only have to pass.)
    #[test]
    fn fuzz_seeds_are_what_their_names_say() {
        let mut failures = Vec::new();
        for (target, check) in TARGETS {
            let seeds = inputs(&fuzz_folder("corpus", target));
            assert!(!seeds.is_empty(), "no seeds for {target}");
            for (name, input) in seeds {
                let generated =
                    name.len() == 40 && name.bytes().all(|byte| byte.is_ascii_hexdigit());
                let expected = if name.starts_with("bad-") {
                    Verdict::Refused
                } else {
                    Verdict::Accepted
                };
                match check(&input) {
                    Err(violation) => failures.push(format!("{target}/{name}: {violation}")),
                    Ok(verdict) if verdict != expected && !generated => {
                        failures.push(format!("{target}/{name}: {verdict:?}"));
                    }
                    Ok(_) => {}
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
