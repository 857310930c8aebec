//! Proto3 JSON (tiles-checkpoints-v2.md §7.1) for the types `build.rs` generates: the value
//! wrappers and traits their `Serialize`/`Deserialize` impls call. Reads what Go's protojson
//! reads for these types; writes what it writes.

use std::fmt;
use std::marker::PhantomData;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde::de::{self, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserializer, Serialize, Serializer};

/// A generated message: writes its fields into a JSON object.
pub trait Message {
    /// Writes the fields in declaration order. With `emit_unpopulated`, fields holding their
    /// default value are written too (unset messages as `null`), as grpc-gateway does;
    /// without, they are left out, as protojson does by default.
    ///
    /// # Errors
    ///
    /// The serializer's.
    fn write_fields<M: SerializeMap>(
        &self,
        m: &mut M,
        emit_unpopulated: bool,
    ) -> Result<(), M::Error>;
}

/// A message with the choice of [`Message::write_fields`]: `Json(&msg, true)` serializes with
/// unpopulated fields; the message's own `Serialize` is `Json(&msg, false)`.
pub struct Json<'a, M>(pub &'a M, pub bool);

impl<M: Message> Serialize for Json<'_, M> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        self.0.write_fields(&mut m, self.1)?;
        m.end()
    }
}

/// A `bytes` value to write: standard base64 with padding.
pub struct Bytes<'a>(pub &'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(self.0))
    }
}

/// A `bytes` value read: standard or URL-safe base64, padded or not, and (as Go's decoder)
/// non-zero trailing bits tolerated.
pub struct BytesBuf(pub Vec<u8>);

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

impl<'de> de::Deserialize<'de> for BytesBuf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = BytesBuf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<BytesBuf, E> {
                let engine = if s.contains(['-', '_']) {
                    URL_SAFE_LENIENT
                } else {
                    STANDARD_LENIENT
                };
                engine
                    .decode(s)
                    .map(BytesBuf)
                    .map_err(|e| E::custom(format!("invalid base64: {e}")))
            }
        }
        d.deserialize_str(V)
    }
}

/// An `int64` value: written as a decimal string; read from a string or a JSON integer.
pub struct Int64(pub i64);

impl Serialize for Int64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> de::Deserialize<'de> for Int64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an int64 as a decimal string or an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int64, E> {
                Ok(Int64(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int64, E> {
                i64::try_from(v)
                    .map(Int64)
                    .map_err(|_| E::custom(format!("{v} is out of the int64 range")))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Int64, E> {
                s.parse()
                    .map(Int64)
                    .map_err(|_| E::custom(format!("{s:?} is not an int64")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A generated enum.
pub trait Enum: Sized + Copy {
    /// The enum's fully qualified protobuf name.
    const NAME: &'static str;
    fn as_str_name(self) -> &'static str;
    fn from_str_name(name: &str) -> Option<Self>;
    fn from_i32(number: i32) -> Option<Self>;
}

/// Writes an enum value by name.
///
/// # Errors
///
/// The serializer's.
pub fn serialize_enum<E: Enum, S: Serializer>(v: E, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str_name())
}

/// Reads an enum value by name or number; unknown ones are refused.
///
/// # Errors
///
/// A value that is neither a known name nor a known number.
pub fn deserialize_enum<'de, E: Enum, D: Deserializer<'de>>(d: D) -> Result<E, D::Error> {
    struct V<E>(PhantomData<E>);
    impl<E: Enum> Visitor<'_> for V<E> {
        type Value = E;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a {} value name", E::NAME)
        }
        fn visit_str<Er: de::Error>(self, s: &str) -> Result<E, Er> {
            E::from_str_name(s).ok_or_else(|| Er::custom(format!("unknown {} {s:?}", E::NAME)))
        }
        fn visit_i64<Er: de::Error>(self, n: i64) -> Result<E, Er> {
            i32::try_from(n)
                .ok()
                .and_then(E::from_i32)
                .ok_or_else(|| Er::custom(format!("unknown {} number {n}", E::NAME)))
        }
        fn visit_u64<Er: de::Error>(self, n: u64) -> Result<E, Er> {
            i64::try_from(n).map_or_else(
                |_| Err(Er::custom(format!("unknown {} number {n}", E::NAME))),
                |n| self.visit_i64(n),
            )
        }
    }
    d.deserialize_any(V(PhantomData))
}

/// Records that the field numbered `bit` (in generation order) was read; a second time is an
/// error, whether under its JSON name or its proto name (protojson refuses duplicates).
///
/// # Errors
///
/// The field was already read.
pub fn mark_seen<E: de::Error>(seen: &mut u64, bit: u32, json_name: &str) -> Result<(), E> {
    let mask = 1u64 << bit;
    if *seen & mask != 0 {
        return Err(E::custom(format!("duplicate field {json_name:?}")));
    }
    *seen |= mask;
    Ok(())
}

/// The error for a second member of the same oneof.
pub fn oneof_twice<E: de::Error>(oneof: &str) -> E {
    E::custom(format!("more than one field of oneof {oneof:?} is set"))
}

/// The proto3 JSON of a message with unpopulated fields emitted (tiles-checkpoints-v2.md §6.1).
pub fn to_vec_emit_unpopulated<M: Message>(msg: &M) -> Vec<u8> {
    serde_json::to_vec(&Json(msg, true)).expect("generated messages always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(json: &str) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::from_str::<BytesBuf>(json).map(|b| b.0)
    }

    #[test]
    fn bytes_read_like_protojson() {
        for ok in [
            r#""+/8=""#,
            r#""+/8""#,
            r#""-_8=""#,
            r#""-_8""#,
            r#""+/9=""#,
        ] {
            assert_eq!(bytes(ok).unwrap()[..2], [0xfb, 0xff], "{ok}");
        }
        assert!(bytes(r#""+/8=x""#).is_err());
        assert!(bytes("12").is_err());
        assert_eq!(
            serde_json::to_string(&Bytes(&[0xfb, 0xff])).unwrap(),
            r#""+/8=""#
        );
    }

    #[test]
    fn int64_reads_strings_and_numbers_and_writes_strings() {
        for (json, v) in [
            (r#""-5""#, -5),
            ("7", 7),
            (r#""9223372036854775807""#, i64::MAX),
        ] {
            assert_eq!(serde_json::from_str::<Int64>(json).unwrap().0, v);
        }
        for bad in [
            r#""1.5""#,
            "1.5",
            r#""x""#,
            "9223372036854775808",
            "true",
            r#"" 1""#,
        ] {
            assert!(serde_json::from_str::<Int64>(bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&Int64(-3)).unwrap(), r#""-3""#);
    }
}
