//! GGUF metadata values and how they are read and written.
//!
//! Arrays are held compactly, one typed vector per element type, so memory never exceeds the
//! bytes the array took in the file: a million-element `u8` array costs a megabyte, not the 32
//! bytes per element a vector of enum values would. Arrays of arrays are checked and skipped (no
//! Llama loader reads them); only their length is kept. Every count and length is checked
//! against the bytes left in the file before anything is allocated from it.

use crate::bytes::Cursor;
use crate::error::{ModelError, Result};

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    /// Type 0.
    U8(u8),
    /// Type 1.
    I8(i8),
    /// Type 2.
    U16(u16),
    /// Type 3.
    I16(i16),
    /// Type 4.
    U32(u32),
    /// Type 5.
    I32(i32),
    /// Type 6.
    F32(f32),
    /// Type 7.
    Bool(bool),
    /// Type 8.
    String(String),
    /// Type 9.
    Array(GgufArray),
    /// Type 10.
    U64(u64),
    /// Type 11.
    I64(i64),
    /// Type 12.
    F64(f64),
}

/// A metadata array, one vector per element type.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufArray {
    /// Elements of type 0.
    U8(Vec<u8>),
    /// Elements of type 1.
    I8(Vec<i8>),
    /// Elements of type 2.
    U16(Vec<u16>),
    /// Elements of type 3.
    I16(Vec<i16>),
    /// Elements of type 4.
    U32(Vec<u32>),
    /// Elements of type 5.
    I32(Vec<i32>),
    /// Elements of type 6.
    F32(Vec<f32>),
    /// Elements of type 7.
    Bool(Vec<bool>),
    /// Elements of type 8.
    String(GgufStrings),
    /// Elements of type 9: checked while parsing but not held; only their number is kept.
    Arrays {
        /// Number of inner arrays.
        len: usize,
    },
    /// Elements of type 10.
    U64(Vec<u64>),
    /// Elements of type 11.
    I64(Vec<i64>),
    /// Elements of type 12.
    F64(Vec<f64>),
}

/// A list of strings stored end to end in one buffer (8 bytes of bookkeeping per string, as in
/// the file), so a vocabulary costs what it took on disk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GgufStrings {
    text: String,
    ends: Vec<usize>,
}

impl GgufStrings {
    /// Number of strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// String `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    /// The strings in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Appends `s`.
    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }
}

impl<'a> FromIterator<&'a str> for GgufStrings {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut s = GgufStrings::default();
        iter.into_iter().for_each(|x| s.push(x));
        s
    }
}

impl GgufArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            GgufArray::U8(v) => v.len(),
            GgufArray::I8(v) => v.len(),
            GgufArray::U16(v) => v.len(),
            GgufArray::I16(v) => v.len(),
            GgufArray::U32(v) => v.len(),
            GgufArray::I32(v) => v.len(),
            GgufArray::F32(v) => v.len(),
            GgufArray::Bool(v) => v.len(),
            GgufArray::String(v) => v.len(),
            GgufArray::Arrays { len } => *len,
            GgufArray::U64(v) => v.len(),
            GgufArray::I64(v) => v.len(),
            GgufArray::F64(v) => v.len(),
        }
    }

    /// Whether the array is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as an unsigned integer, when the array holds integers and that one is
    /// non-negative.
    pub fn u64_at(&self, i: usize) -> Option<u64> {
        match self {
            GgufArray::U8(v) => v.get(i).map(|&x| x.into()),
            GgufArray::U16(v) => v.get(i).map(|&x| x.into()),
            GgufArray::U32(v) => v.get(i).map(|&x| x.into()),
            GgufArray::U64(v) => v.get(i).copied(),
            GgufArray::I8(v) => v.get(i).and_then(|&x| u64::try_from(x).ok()),
            GgufArray::I16(v) => v.get(i).and_then(|&x| u64::try_from(x).ok()),
            GgufArray::I32(v) => v.get(i).and_then(|&x| u64::try_from(x).ok()),
            GgufArray::I64(v) => v.get(i).and_then(|&x| u64::try_from(x).ok()),
            _ => None,
        }
    }

    /// The strings, when this is an array of strings.
    pub fn as_strings(&self) -> Option<&GgufStrings> {
        match self {
            GgufArray::String(s) => Some(s),
            _ => None,
        }
    }

    fn type_code(&self) -> u32 {
        match self {
            GgufArray::U8(_) => 0,
            GgufArray::I8(_) => 1,
            GgufArray::U16(_) => 2,
            GgufArray::I16(_) => 3,
            GgufArray::U32(_) => 4,
            GgufArray::I32(_) => 5,
            GgufArray::F32(_) => 6,
            GgufArray::Bool(_) => 7,
            GgufArray::String(_) => 8,
            GgufArray::Arrays { .. } => 9,
            GgufArray::U64(_) => 10,
            GgufArray::I64(_) => 11,
            GgufArray::F64(_) => 12,
        }
    }
}

impl GgufValue {
    /// The value as an unsigned integer, when it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            GgufValue::U8(x) => Some(x.into()),
            GgufValue::U16(x) => Some(x.into()),
            GgufValue::U32(x) => Some(x.into()),
            GgufValue::U64(x) => Some(x),
            GgufValue::I8(x) => u64::try_from(x).ok(),
            GgufValue::I16(x) => u64::try_from(x).ok(),
            GgufValue::I32(x) => u64::try_from(x).ok(),
            GgufValue::I64(x) => u64::try_from(x).ok(),
            _ => None,
        }
    }

    /// The value as a float, when it is any number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            GgufValue::F32(x) => Some(x.into()),
            GgufValue::F64(x) => Some(x),
            _ => self.as_u64().map(|x| x as f64),
        }
    }

    /// The value as a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an array.
    pub fn as_array(&self) -> Option<&GgufArray> {
        match self {
            GgufValue::Array(a) => Some(a),
            _ => None,
        }
    }

    fn type_code(&self) -> u32 {
        match self {
            GgufValue::U8(_) => 0,
            GgufValue::I8(_) => 1,
            GgufValue::U16(_) => 2,
            GgufValue::I16(_) => 3,
            GgufValue::U32(_) => 4,
            GgufValue::I32(_) => 5,
            GgufValue::F32(_) => 6,
            GgufValue::Bool(_) => 7,
            GgufValue::String(_) => 8,
            GgufValue::Array(_) => 9,
            GgufValue::U64(_) => 10,
            GgufValue::I64(_) => 11,
            GgufValue::F64(_) => 12,
        }
    }
}

/// Deepest nesting of arrays accepted (the format allows any; real files use none).
const MAX_ARRAY_DEPTH: u32 = 2;

/// Smallest encoding of one element of type `ty`: strings take at least their 8-byte length,
/// arrays their 4-byte type and 8-byte count.
fn min_element_bytes(c: &Cursor<'_>, ty: u32, key: &str) -> Result<u64> {
    Ok(match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 | 10..=12 => 8,
        9 => 12,
        _ => {
            return Err(ModelError::malformed(
                c.file,
                format!("`{key}`: unknown array element type {ty}"),
            ))
        }
    })
}

/// A string: its u64 length, checked against the bytes left, then UTF-8 text.
pub(crate) fn read_str<'a>(c: &mut Cursor<'a>, what: &str) -> Result<&'a str> {
    let len = c.u64(what)?;
    let raw = c.take(len, what)?;
    std::str::from_utf8(raw)
        .map_err(|_| ModelError::malformed(c.file, format!("{what} is not UTF-8")))
}

/// The value of type `ty` at the cursor, for metadata key `key`.
pub(crate) fn read_value(c: &mut Cursor<'_>, ty: u32, key: &str) -> Result<GgufValue> {
    Ok(match ty {
        0 => GgufValue::U8(c.array::<1>(key)?[0]),
        1 => GgufValue::I8(i8::from_le_bytes(c.array(key)?)),
        2 => GgufValue::U16(u16::from_le_bytes(c.array(key)?)),
        3 => GgufValue::I16(i16::from_le_bytes(c.array(key)?)),
        4 => GgufValue::U32(c.u32(key)?),
        5 => GgufValue::I32(i32::from_le_bytes(c.array(key)?)),
        6 => GgufValue::F32(f32::from_le_bytes(c.array(key)?)),
        7 => GgufValue::Bool(read_bool(c, key)?),
        8 => GgufValue::String(read_str(c, key)?.to_string()),
        9 => GgufValue::Array(read_array(c, key, 0)?),
        10 => GgufValue::U64(c.u64(key)?),
        11 => GgufValue::I64(i64::from_le_bytes(c.array(key)?)),
        12 => GgufValue::F64(f64::from_le_bytes(c.array(key)?)),
        _ => {
            return Err(ModelError::malformed(
                c.file,
                format!("`{key}`: unknown value type {ty}"),
            ))
        }
    })
}

fn read_bool(c: &mut Cursor<'_>, key: &str) -> Result<bool> {
    match c.array::<1>(key)?[0] {
        0 => Ok(false),
        1 => Ok(true),
        b => Err(ModelError::malformed(
            c.file,
            format!("`{key}`: bool byte {b}"),
        )),
    }
}

/// Element type and count of an array, the count checked against the bytes left.
fn array_header(c: &mut Cursor<'_>, key: &str, depth: u32) -> Result<(u32, usize)> {
    if depth > MAX_ARRAY_DEPTH {
        return Err(ModelError::malformed(
            c.file,
            format!("`{key}`: arrays nested too deep"),
        ));
    }
    let ety = c.u32(key)?;
    let count = c.u64(key)?;
    let min = min_element_bytes(c, ety, key)?;
    match count.checked_mul(min) {
        // Within the bytes left, so within usize too.
        Some(n) if n <= c.remaining() as u64 => Ok((ety, count as usize)),
        _ => Err(ModelError::malformed(
            c.file,
            format!(
                "`{key}`: array of {count} elements is longer than the {} bytes left",
                c.remaining()
            ),
        )),
    }
}

/// `count` fixed-size elements decoded from their little-endian bytes into one vector.
fn fixed<const N: usize, T>(
    c: &mut Cursor<'_>,
    count: usize,
    key: &str,
    decode: fn([u8; N]) -> T,
) -> Result<Vec<T>> {
    // The header check bounded count * N by the bytes left.
    let raw = c.take((count * N) as u64, key)?;
    Ok(raw
        .chunks_exact(N)
        .map(|b| {
            let mut a = [0u8; N];
            a.copy_from_slice(b);
            decode(a)
        })
        .collect())
}

fn read_array(c: &mut Cursor<'_>, key: &str, depth: u32) -> Result<GgufArray> {
    let (ety, count) = array_header(c, key, depth)?;
    Ok(match ety {
        0 => GgufArray::U8(fixed(c, count, key, |[b]| b)?),
        1 => GgufArray::I8(fixed(c, count, key, i8::from_le_bytes)?),
        2 => GgufArray::U16(fixed(c, count, key, u16::from_le_bytes)?),
        3 => GgufArray::I16(fixed(c, count, key, i16::from_le_bytes)?),
        4 => GgufArray::U32(fixed(c, count, key, u32::from_le_bytes)?),
        5 => GgufArray::I32(fixed(c, count, key, i32::from_le_bytes)?),
        6 => GgufArray::F32(fixed(c, count, key, f32::from_le_bytes)?),
        7 => {
            let mut v = Vec::with_capacity(count);
            for _ in 0..count {
                v.push(read_bool(c, key)?);
            }
            GgufArray::Bool(v)
        }
        8 => {
            let mut s = GgufStrings {
                text: String::new(),
                ends: Vec::with_capacity(count),
            };
            for _ in 0..count {
                s.push(read_str(c, key)?);
            }
            GgufArray::String(s)
        }
        9 => {
            for _ in 0..count {
                read_array(c, key, depth + 1)?;
            }
            GgufArray::Arrays { len: count }
        }
        10 => GgufArray::U64(fixed(c, count, key, u64::from_le_bytes)?),
        11 => GgufArray::I64(fixed(c, count, key, i64::from_le_bytes)?),
        12 => GgufArray::F64(fixed(c, count, key, f64::from_le_bytes)?),
        // array_header refused every other type already.
        _ => {
            return Err(ModelError::malformed(
                c.file,
                format!("`{key}`: unknown array element type {ety}"),
            ))
        }
    })
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

/// Appends the type code and encoding of `v` (as in a metadata pair, after the key).
pub(crate) fn put_typed_value(out: &mut Vec<u8>, v: &GgufValue) {
    out.extend(v.type_code().to_le_bytes());
    put_value(out, v);
}

fn put_value(out: &mut Vec<u8>, v: &GgufValue) {
    match v {
        GgufValue::U8(x) => out.push(*x),
        GgufValue::I8(x) => out.extend(x.to_le_bytes()),
        GgufValue::U16(x) => out.extend(x.to_le_bytes()),
        GgufValue::I16(x) => out.extend(x.to_le_bytes()),
        GgufValue::U32(x) => out.extend(x.to_le_bytes()),
        GgufValue::I32(x) => out.extend(x.to_le_bytes()),
        GgufValue::F32(x) => out.extend(x.to_le_bytes()),
        GgufValue::Bool(x) => out.push(u8::from(*x)),
        GgufValue::String(s) => put_str(out, s),
        GgufValue::Array(a) => put_array(out, a),
        GgufValue::U64(x) => out.extend(x.to_le_bytes()),
        GgufValue::I64(x) => out.extend(x.to_le_bytes()),
        GgufValue::F64(x) => out.extend(x.to_le_bytes()),
    }
}

fn put_array(out: &mut Vec<u8>, a: &GgufArray) {
    out.extend(a.type_code().to_le_bytes());
    out.extend((a.len() as u64).to_le_bytes());
    match a {
        GgufArray::U8(v) => out.extend(v),
        GgufArray::I8(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        GgufArray::U16(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        GgufArray::I16(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        GgufArray::U32(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        GgufArray::I32(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        GgufArray::F32(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        GgufArray::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        GgufArray::String(v) => v.iter().for_each(|s| put_str(out, s)),
        // Inner arrays are not held: write them back as empty arrays of u8.
        GgufArray::Arrays { len } => (0..*len).for_each(|_| put_array(out, &GgufArray::U8(vec![]))),
        GgufArray::U64(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        GgufArray::I64(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        GgufArray::F64(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn parse_one(v: &GgufValue) -> Result<GgufValue> {
        let mut b = Vec::new();
        put_typed_value(&mut b, v);
        let file = PathBuf::from("v.gguf");
        let mut c = Cursor::new(&b, &file);
        let ty = c.u32("type")?;
        let out = read_value(&mut c, ty, "k")?;
        assert_eq!(c.remaining(), 0);
        Ok(out)
    }

    #[test]
    fn arrays_round_trip() {
        let strings: GgufStrings = ["", "a", "héllo", ""].into_iter().collect();
        for v in [
            GgufValue::Array(GgufArray::U8(vec![1, 2, 255])),
            GgufValue::Array(GgufArray::I32(vec![-1, 7])),
            GgufValue::Array(GgufArray::F64(vec![0.5])),
            GgufValue::Array(GgufArray::Bool(vec![true, false])),
            GgufValue::Array(GgufArray::String(strings.clone())),
            GgufValue::Array(GgufArray::Arrays { len: 3 }),
            GgufValue::I8(-3),
        ] {
            assert_eq!(parse_one(&v).unwrap(), v);
        }
        assert_eq!(strings.get(2), Some("héllo"));
        assert_eq!(strings.get(4), None);
        assert_eq!(strings.iter().count(), 4);
    }

    #[test]
    fn u8_array_costs_one_byte_per_element() {
        let v = GgufValue::Array(GgufArray::U8(vec![7; 1 << 16]));
        let GgufValue::Array(GgufArray::U8(back)) = parse_one(&v).unwrap() else {
            panic!("not a u8 array")
        };
        assert_eq!(back.capacity(), 1 << 16);
        assert!(std::mem::size_of::<GgufValue>() <= 56);
    }

    #[test]
    fn counts_past_the_end_are_refused_before_allocating() {
        let mut b = 9u32.to_le_bytes().to_vec();
        b.extend(0u32.to_le_bytes());
        b.extend(u64::MAX.to_le_bytes());
        let file = PathBuf::from("v.gguf");
        let mut c = Cursor::new(&b, &file);
        let ty = c.u32("type").unwrap();
        let e = read_value(&mut c, ty, "k").unwrap_err().to_string();
        assert!(e.contains("array of 18446744073709551615 elements"), "{e}");
    }
}
