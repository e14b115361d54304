//! Enums that clients send as one of a few strings.
//!
//! serde's derive would also take `{"variant": null}`, the externally tagged form of a unit variant, which
//! no client is told about; `strict_enum!` derives the rest and deserializes the string form only.

/// Declares an enum spelled as strings on the wire: `Serialize`, `ToSchema`, `as_str`, and a `Deserialize` that takes
/// exactly the listed strings.
macro_rules! strict_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
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
