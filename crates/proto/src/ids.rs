//! Id newtypes. Each is a 64-bit integer on the inside and a decimal string on the wire.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        /// The same rule as on the wire: see [`parse_id`].
        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_id(s).map($name)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(IdVisitor).map($name)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                id_schema()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

id_type!(
    /// An organization (tenant).
    OrgId
);
id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A DM, group or channel.
    ConversationId
);
id_type!(
    /// A message; ids only grow within a conversation, in commit order.
    MessageId
);
id_type!(
    /// A position in the event log: the resume point of a WebSocket client.
    Cursor
);
id_type!(
    /// An invitation to join an organization.
    InviteId
);
id_type!(
    /// An upload, and the file it becomes once complete.
    FileId
);
id_type!(
    /// One of a user's sessions (a logged-in device), as its owner sees it.
    SessionId
);
id_type!(
    /// An entry of an organization's audit log; ids grow in the order entries were written.
    AuditId
);
id_type!(
    /// Where one device is told of what it missed: a Web Push subscription or a webhook.
    SubscriptionId
);

/// The OpenAPI `pattern` of every id: exactly what [`parse_id`] accepts, so a client (or schemathesis) that
/// keeps to the schema is never refused. Zero; or 1 to 18 digits without a leading zero; or 19 digits no
/// greater than 9223372036854775807 (`i64::MAX`). The 19-digit part walks that number's digits: at each
/// level, a smaller digit followed by any digits, or the same digit and on to the next level (its two `0`
/// digits have no smaller one, so `20(` and `80[0-7]` go straight on). `pattern_agrees_with_the_parser`
/// checks both on every boundary.
pub const ID_PATTERN: &str = concat!(
    "^(0|[1-9][0-9]{0,17}|[1-8][0-9]{18}|9([01][0-9]{17}|2([01][0-9]{16}|2([0-2][0-9]{15}|3([0-2][0-9]{14}|",
    "3([0-6][0-9]{13}|7([01][0-9]{12}|20([0-2][0-9]{10}|3([0-5][0-9]{9}|6([0-7][0-9]{8}|8([0-4][0-9]{7}|",
    "5([0-3][0-9]{6}|4([0-6][0-9]{5}|7([0-6][0-9]{4}|7([0-4][0-9]{3}|5([0-7][0-9]{2}|80[0-7]))))))))))))))))$",
);

/// An id that is not in its one accepted spelling (see [`parse_id`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "an id is a decimal string from 0 to 9223372036854775807, with no sign and no leading zero"
)]
pub struct InvalidId;

/// Reads an id in its one accepted spelling: ASCII digits with no sign, no leading zero (but `0` itself) and no
/// whitespace, at most `i64::MAX`. JSON bodies, WebSocket ops, path and query parameters all come here, so
/// every id has one spelling (`"042"` is not another name for 42) and none is negative or out of range.
pub fn parse_id(text: &str) -> Result<i64, InvalidId> {
    let canonical = match text.as_bytes() {
        [] | [b'0', _, ..] => false,
        digits => digits.iter().all(u8::is_ascii_digit),
    };
    if !canonical {
        return Err(InvalidId);
    }
    // Digits only, so this fails only above i64::MAX.
    text.parse().map_err(|_| InvalidId)
}

fn id_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(ID_PATTERN))
        .description(Some(
            "64-bit id as a decimal string: 0 to 9223372036854775807, no sign, no leading zero",
        ))
        .examples(["42"])
        .into()
}

/// Takes a JSON string (or a path or query parameter) and nothing else: a JSON number is refused, as
/// docs/protocol.md says. `deserialize_str` rather than `deserialize_any`, so self-describing formats hand
/// over strings only, and the visitor has no number methods for any other format to call.
struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an id as a decimal string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        parse_id(v).map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}
#[cfg(test)]
mod tests {
    use serde::de::value::{Error as ValueError, StrDeserializer};

    use super::*;

    #[test]
    fn ids_travel_as_strings_and_refuse_garbage() {
        let id = UserId(9_007_199_254_740_993);
        let json = serde_json::to_string(&id).expect("serialize");
        assert_eq!(json, "\"9007199254740993\"");
        let back: UserId = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, id);
        assert_eq!(
            serde_json::from_str::<Cursor>("\"9223372036854775807\"").expect("i64::MAX"),
            Cursor(i64::MAX)
        );
        for bad in [
            "7",
            "0",
            "-1",
            "1.5",
            "1e3",
            "null",
            "true",
            "[\"1\"]",
            "{\"id\":\"1\"}",
            "\"\"",
            "\"abc\"",
            "\"-1\"",
            "\"-0\"",
            "\"+1\"",
            "\"01\"",
            "\"00\"",
            "\" 1\"",
            "\"1 \"",
            "\"9223372036854775808\"",
            "\"99999999999999999999\"",
        ] {
            assert!(
                serde_json::from_str::<UserId>(bad).is_err(),
                "{bad} must be refused"
            );
        }
    }

    /// Path and query parameters reach ids through serde's string deserializers, as axum's `Path` and
    /// `Query` hand them over; `FromStr` keeps the same rule.
    #[test]
    fn parameters_and_from_str_keep_the_wire_rule() {
        let from_parameter =
            |text: &str| ConversationId::deserialize(StrDeserializer::<ValueError>::new(text)).ok();
        assert_eq!(from_parameter("42"), Some(ConversationId(42)));
        assert_eq!("42".parse::<ConversationId>(), Ok(ConversationId(42)));
        for bad in ["042", "-1", "+1", "", " 1", "0x10", "9223372036854775808"] {
            assert_eq!(from_parameter(bad), None, "{bad:?} must be refused");
            assert_eq!(bad.parse::<ConversationId>(), Err(InvalidId), "{bad:?}");
        }
    }

    /// Strings on both sides of every edge of the accepted set: lengths 18, 19 and 20, leading zeros, signs,
    /// and each digit of `i64::MAX` one lower and one higher (with the rest of the number as small and as
    /// large as it goes), which takes every branch of `ID_PATTERN`.
    fn boundary_strings() -> Vec<String> {
        let mut strings: Vec<String> = [
            "",
            "0",
            "1",
            "9",
            "00",
            "01",
            "10",
            "-0",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1.0",
            "1e3",
            "0x10",
            "\u{661}",
            "١٢",
            "999999999999999999",
            "0999999999999999999",
            "1000000000000000000",
            "1999999999999999999",
            "8999999999999999999",
            "9000000000000000000",
            "9223372036854775806",
            "9223372036854775807",
            "9223372036854775808",
            "9223372036854775809",
            "9223372036854775810",
            "9223372036854775900",
            "9300000000000000000",
            "9999999999999999999",
            "09223372036854775807",
            "10000000000000000000",
            "18446744073709551615",
            "18446744073709551616",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let max = i64::MAX.to_string();
        for (position, digit) in max.char_indices() {
            for other in '0'..='9' {
                if other == digit {
                    continue;
                }
                let prefix = format!("{}{other}", &max[..position]);
                let rest = max.len() - position - 1;
                strings.push(format!("{prefix}{}", &max[position + 1..]));
                strings.push(format!("{prefix}{}", "0".repeat(rest)));
                strings.push(format!("{prefix}{}", "9".repeat(rest)));
                strings.push(prefix);
            }
        }
        strings
    }

    #[test]
    fn pattern_agrees_with_the_parser() {
        let pattern = regex::Regex::new(ID_PATTERN).expect("ID_PATTERN compiles");
        let strings = boundary_strings();
        let mut accepted = 0;
        for text in &strings {
            let parsed = parse_id(text);
            assert_eq!(
                pattern.is_match(text),
                parsed.is_ok(),
                "{text:?}: the pattern and parse_id disagree"
            );
            if let Ok(id) = parsed {
                assert_eq!(&id.to_string(), text, "an accepted id has one spelling");
                accepted += 1;
            }
        }
        // Both sides of the edge were tried.
        assert!(
            accepted > 100 && strings.len() - accepted > 100,
            "{accepted} of {}",
            strings.len()
        );
    }
}
