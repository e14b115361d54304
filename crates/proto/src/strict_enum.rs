//! Enums that clients send as one of a few strings.
//!
//! serde's derive would also take `{"variant": null}`, the externally tagged form of a unit variant, which
//! no client is told about; `strict_enum!` derives the rest and deserializes the string form only.

/// Declares an enum spelled as strings on the wire: `Serialize`, `ToSchema`, `as_str`, and a `Deserialize` that takes
/// exactly the listed strings.
macro_rules! strict_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        // `rename_all`, not a `rename` per variant: utoipa does not read a `rename` whose value comes from
        // a macro's literal, and would name the variants in the schema as Rust does. Each `$text` is its
        // variant in snake_case (`strict_enums_are_spelled_alike_everywhere` checks).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &[$name] = &[$($name::$variant),+];

            /// The wire (and storage) spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The variant spelled `text`, if any.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct StrVisitor;

                impl serde::de::Visitor<'_> for StrVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("one of:", $(" \"", $text, "\""),+))
                    }

                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::parse(v).ok_or_else(|| E::unknown_variant(v, &[$($text),+]))
                    }
                }

                deserializer.deserialize_str(StrVisitor)
            }
        }
    };
}

pub(crate) use strict_enum;

#[cfg(test)]
mod tests {
    use crate::v1::{
        Allowed, AuditKind, AuditOutcome, ChannelMentions, ChannelRole, ConversationKind, Role,
        SignupPolicy,
    };

    /// Serialized, parsed, and in the OpenAPI schema, each variant has one spelling: its `as_str`.
    fn spelled_alike<T>(all: &[T], as_str: fn(T) -> &'static str)
    where
        T: Copy + serde::Serialize + for<'de> serde::Deserialize<'de> + PartialEq + std::fmt::Debug,
        T: utoipa::PartialSchema,
    {
        let schema = serde_json::to_value(T::schema()).expect("schema");
        let listed: Vec<String> = schema["enum"]
            .as_array()
            .expect("an enum schema")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let spelled: Vec<String> = all.iter().map(|v| as_str(*v).to_owned()).collect();
        assert_eq!(listed, spelled, "the schema");
        for &variant in all {
            let text = as_str(variant);
            assert_eq!(serde_json::to_value(variant).expect("serialize"), text);
            let back: T = serde_json::from_value(serde_json::json!(text)).expect("deserialize");
            assert_eq!(back, variant);
        }
    }

    #[test]
    fn strict_enums_are_spelled_alike_everywhere() {
        spelled_alike(ConversationKind::ALL, ConversationKind::as_str);
        spelled_alike(Role::ALL, Role::as_str);
        spelled_alike(AuditKind::ALL, AuditKind::as_str);
        spelled_alike(AuditOutcome::ALL, AuditOutcome::as_str);
        spelled_alike(ChannelRole::ALL, ChannelRole::as_str);
        spelled_alike(SignupPolicy::ALL, SignupPolicy::as_str);
        spelled_alike(Allowed::ALL, Allowed::as_str);
        spelled_alike(ChannelMentions::ALL, ChannelMentions::as_str);
    }

    #[test]
    fn strict_enums_take_only_their_strings() {
        for bad in [r#""Dm""#, r#"{"dm":null}"#, r#"["dm"]"#, "1", "null"] {
            assert!(
                serde_json::from_str::<ConversationKind>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
