//! Every limit on what a client sends, in one list: the use cases enforce them, and the server's OpenAPI
//! document states them from here, so the two cannot drift apart.

pub use crate::service::{
    MAX_ADDED_AT_ONCE, MAX_INVITE_HOURS, MAX_INVITE_USES, MAX_MENTIONS, MAX_PAGE, MAX_PINS,
    MAX_QUERY_CHARS, MAX_SEARCH_CHARS,
};
pub use crate::validate::{
    EMAIL_PATTERN, EMOJI_PATTERN, HANDLE_PATTERN, MAX_EMAIL_CHARS, MAX_EMOJI_CHARS,
    MAX_HANDLE_CHARS, MAX_NAME_CHARS, MAX_NONCE_CHARS, MAX_PASSWORD_CHARS, MAX_TEXT_CHARS,
    MAX_TOPIC_CHARS, MIN_HANDLE_CHARS, MIN_PASSWORD_CHARS, NAME_PATTERN, NO_CONTROLS_PATTERN,
    TEXT_PATTERN, TOPIC_PATTERN,
};
