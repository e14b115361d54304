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

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_any(IdVisitor).map($name)
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

fn id_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some("^[0-9]{1,19}$"))
        .description(Some("64-bit id as a decimal string"))
        .examples(["42"])
        .into()
}

/// Accepts the canonical decimal string and, leniently, a JSON integer.
struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an id as a decimal string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        match v.parse::<i64>() {
            Ok(id) if id >= 0 && !v.starts_with('+') => Ok(id),
            _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        if v < 0 {
            return Err(E::invalid_value(de::Unexpected::Signed(v), &self));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_travel_as_strings_and_refuse_garbage() {
        let id = UserId(9_007_199_254_740_993);
        let json = serde_json::to_string(&id).expect("serialize");
        assert_eq!(json, "\"9007199254740993\"");
        let back: UserId = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, id);
        assert_eq!(
            serde_json::from_str::<UserId>("7").expect("number"),
            UserId(7)
        );
        for bad in [
            "\"abc\"",
            "\"-1\"",
            "\"+1\"",
            "-1",
            "1.5",
            "null",
            "\"99999999999999999999\"",
        ] {
            assert!(
                serde_json::from_str::<UserId>(bad).is_err(),
                "{bad} must be refused"
            );
        }
    }
}
