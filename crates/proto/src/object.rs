//! Nested objects that take only an object. serde's derive also takes an array in place of a struct
//! (`"mentions": []` as every field's default), which no client is told about; `decode` holds the top level
//! to an object, and `object_only!` does the same for a struct inside a body.

/// Implements `Deserialize` for a struct that derives it with `#[serde(remote = "Self")]` (which makes the
/// derived code an inherent `deserialize` instead of the trait's), taking only a JSON object, and
/// `Serialize` from the derived inherent `serialize`.
macro_rules! object_only {
    ($type:ident) => {
        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct ObjectVisitor;

                impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
                    type Value = $type;

                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        write!(f, "a {} object", stringify!($type))
                    }

                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        map: A,
                    ) -> Result<$type, A::Error> {
                        $type::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    }
                }

                deserializer.deserialize_map(ObjectVisitor)
            }
        }

        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $type::serialize(self, serializer)
            }
        }
    };
}

pub(crate) use object_only;
