//! Message tagging. Every message the bench sends carries, at the start of its text, the run id, the index of
//! its sender, its sequence number and the time it was scheduled (microseconds after the run's start), so a
//! receiver can tell this run's messages from any other, count each sender's messages for loss and
//! duplicates, and measure latency from the schedule without any shared table.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parley_client::proto::v1::ClientOp;
use parley_proto::ConversationId;

/// A tag in a message's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    pub run_id: u64,
    pub sender: u32,
    pub seq: u64,
    /// When the send was scheduled, after the run's start instant.
    pub scheduled: Duration,
}

impl Tag {
    /// The message text: the tag, then filler up to `size` bytes.
    pub fn text(&self, size: usize) -> String {
        let mut text = format!(
            "pb {:x} {} {} {} ",
            self.run_id,
            self.sender,
            self.seq,
            self.scheduled.as_micros()
        );
        let filler = size.saturating_sub(text.len());
        text.extend(std::iter::repeat_n('x', filler));
        text
    }

    /// The tag at the start of `text`, if it is one of this run's.
    pub fn parse(text: &str, run_id: u64) -> Option<Tag> {
        let mut words = text.split(' ');
        if words.next()? != "pb" || u64::from_str_radix(words.next()?, 16).ok()? != run_id {
            return None;
        }
        Some(Tag {
            run_id,
            sender: words.next()?.parse().ok()?,
            seq: words.next()?.parse().ok()?,
            scheduled: Duration::from_micros(words.next()?.parse().ok()?),
        })
    }

    /// A nonce unique to this message, so a retried send is stored once.
    pub fn nonce(&self) -> String {
        format!("pb{:x}-{}-{}", self.run_id, self.sender, self.seq)
    }

    /// The WebSocket `send` op of this message, its sequence number as its `ref`.
    pub fn send_op(&self, conversation_id: ConversationId, size: usize) -> ClientOp {
        ClientOp::Send {
            reference: Some(self.seq.to_string()),
            conversation_id,
            text: self.text(size),
            nonce: Some(self.nonce()),
            mentions: None,
            thread_root_id: None,
            also_to_conversation: None,
            quote: None,
            attachments: Vec::new(),
        }
    }
}

/// A run id that differs between runs (wall clock and process id).
pub fn new_run_id() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    // Folding the 128-bit nanosecond count keeps every bit that changes between runs.
    (nanos as u64) ^ ((nanos >> 64) as u64) ^ (u64::from(std::process::id()) << 40)
}
