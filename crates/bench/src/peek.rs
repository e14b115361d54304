//! Reading only what the bench needs from a server frame. Decoding every frame into the SDK's full
//! `ServerMessage` (an untagged enum over internally tagged ones, which serde buffers twice) was most of the
//! load generator's own CPU at 200,000 deliveries a second, CPU that the server on the same machine could
//! not have. A `Peek` borrows from the frame and skips every field it does not name.

use std::borrow::Cow;

use parley_proto::Cursor;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The fields of a frame the scenarios look at; any frame of `docs/protocol.md` reads as one.
#[derive(Debug, Default, Deserialize)]
pub struct Peek<'a> {
    /// The event's or frame's `type`: `message.created`, `ack`, `error`, `ready`, ...
    #[serde(rename = "type", borrow, default)]
    pub kind: Cow<'a, str>,
    /// A durable event's resume point.
    pub cursor: Option<Cursor>,
    /// The message of `message.created` and of `ack`; a string in `error` frames, hence raw until read.
    #[serde(borrow)]
    message: Option<&'a RawValue>,
    /// The code of an `error` frame.
    #[serde(borrow)]
    pub code: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
struct PeekMessage<'a> {
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
}

impl<'a> Peek<'a> {
    /// The frame's fields, or an empty `Peek` (no type) if it is not a JSON object.
    pub fn of(text: &'a str) -> Self {
        serde_json::from_str(text).unwrap_or_default()
    }

    /// The text of a `message.created` event.
    pub fn created_text(&self) -> Option<Cow<'a, str>> {
        if self.kind != "message.created" {
            return None;
        }
        self.message_text()
    }

    /// The text of the message an `ack` answers with (a `send` op's, as stored).
    pub fn acked_text(&self) -> Option<Cow<'a, str>> {
        if self.kind != "ack" {
            return None;
        }
        self.message_text()
    }

    fn message_text(&self) -> Option<Cow<'a, str>> {
        serde_json::from_str::<PeekMessage<'a>>(self.message?.get())
            .ok()?
            .text
    }
}
