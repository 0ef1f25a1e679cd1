//! The one codec for values that cross a process boundary: a task's
//! arguments and its result on their way to and from a
//! [`ProcessPoolExecutor`](crate::ProcessPoolExecutor)'s workers, and
//! whatever executor crosses processes or machines next.
//!
//! What pickle promises Python, this promises serde: **every value of
//! serde's data model comes back equal**, floats bit for bit (`-0.0`,
//! infinities and NaN payloads included), `Some(None)` apart from `None`,
//! maps with keys of any type, enums, `u128`/`i128`, at any size memory
//! allows and at any nesting depth the stack allows (a thousand levels
//! and more).
//!
//! The format is [postcard]'s: compact (variable-length integers), with a
//! documented, stable wire format, and as fast as the other candidates
//! measured (bincode, bitcode, MessagePack; JSON changed floats and lost
//! `Some(None)`; MessagePack lost `Some(None)` too; see BENCHMARKS.md).
//! Like every format that does not describe itself, it cannot carry a
//! type that asks the format what comes next (`deserialize_any`: serde's
//! untagged or internally tagged enums, `#[serde(flatten)]`,
//! `serde_json::Value`): such a value fails on its own, with an error
//! saying so, never silently. Encode it as a string (JSON) inside the
//! value if it must cross.
//!
//! [postcard]: https://docs.rs/postcard
//!
//! # Examples
//!
//! ```
//! use std::collections::HashMap;
//!
//! let value: (f64, Option<Option<()>>, HashMap<(u32, u32), i128>) =
//!     (123456789.123456789, Some(None), HashMap::from([((1, 2), -3)]));
//! let bytes = concurrent::codec::encode(&value)?;
//! let back: (f64, Option<Option<()>>, HashMap<(u32, u32), i128>) = concurrent::codec::decode(&bytes)?;
//! assert_eq!(back.0.to_bits(), value.0.to_bits());
//! assert_eq!(back, value);
//! # Ok::<(), concurrent::codec::CodecError>(())
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(#[source] postcard::Error);

/// Appends `value`'s encoding to `out`.
///
/// # Errors
///
/// [`CodecError`] when the value's `Serialize` fails (a custom one that
/// returns an error, or a sequence whose length it does not know).
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let buffer = std::mem::take(out);
    match postcard::to_extend(value, buffer) {
        Ok(buffer) => {
            *out = buffer;
            Ok(())
        }
        Err(error) => Err(CodecError(error)),
    }
}

/// `value`'s encoding.
///
/// # Errors
///
/// As [`encode_into`].
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// The value that `bytes` encode, which must be all of them.
///
/// # Errors
///
/// [`CodecError`] when `bytes` are not a `T`'s encoding (another type's,
/// cut short, with bytes left over), or `T` asks for a self-describing
/// format (`deserialize_any`; see the module's documentation).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(CodecError)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(CodecError(postcard::Error::DeserializeBadEncoding))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;

    fn round_trip<T: Serialize + DeserializeOwned>(value: &T) -> T {
        decode(&encode(value).unwrap()).unwrap()
    }

    #[test]
    fn floats_come_back_bit_for_bit() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut floats: Vec<f64> = (0..3000)
            .map(|_| {
                // xorshift: random bit patterns, so every exponent.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                f64::from_bits(state)
            })
            .collect();
        floats.extend([
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::from_bits(0x7ff8_dead_beef_0001),
            f64::MIN_POSITIVE / 2.0,
            "123456789.123456789".parse().unwrap(),
        ]);
        let back = round_trip(&floats);
        let bits = |values: &[f64]| values.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&floats));
        assert_eq!(round_trip(&f32::NAN).to_bits(), f32::NAN.to_bits());
    }

    #[test]
    fn options_nest_and_units_stay() {
        let values: Vec<Option<Option<()>>> = vec![None, Some(None), Some(Some(()))];
        assert_eq!(round_trip(&values), values);
        let deep: Option<Option<Option<u8>>> = Some(Some(None));
        assert_eq!(round_trip(&deep), deep);
    }

    #[test]
    fn maps_with_any_keys_enums_and_wide_integers() {
        #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
        enum Shape {
            Unit,
            Tuple(i8, String),
            Struct { bytes: Vec<u8>, wide: u128 },
        }
        let map: HashMap<(u32, u32), Shape> = HashMap::from([
            ((1, 2), Shape::Unit),
            ((3, 4), Shape::Tuple(-1, "x".into())),
            (
                (5, 6),
                Shape::Struct {
                    bytes: vec![0, 255],
                    wide: u128::MAX,
                },
            ),
        ]);
        assert_eq!(round_trip(&map), map);
        let ordered: BTreeMap<Vec<i128>, char> = BTreeMap::from([(vec![i128::MIN], 'é')]);
        assert_eq!(round_trip(&ordered), ordered);
    }

    #[test]
    fn a_thousand_levels_of_nesting_come_back() {
        #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
        struct Level(Option<Box<Level>>);
        let mut value = Level(None);
        for _ in 0..1000 {
            value = Level(Some(Box::new(value)));
        }
        // On a thread of the default size, as a pool's threads are.
        let back = std::thread::spawn(move || {
            let back = round_trip(&value);
            assert_eq!(back, value);
        });
        back.join().unwrap();
    }

    #[test]
    fn bytes_that_are_not_the_type_are_an_error() {
        let bytes = encode(&(1u8, "two")).unwrap();
        assert!(decode::<(u8, String, u8)>(&bytes).is_err(), "cut short");
        assert!(decode::<u8>(&bytes).is_err(), "bytes left over");
        let error = decode::<serde_json::Value>(&bytes).unwrap_err();
        assert!(!error.to_string().is_empty());
    }
}
