//! Certificate serial numbers: the one type for making, reading, parsing
//! and printing them.
//!
//! A serial is kept as its minimal big-endian octets (no leading zero
//! octets, at least one octet) and printed as lower-case hex, the form the
//! index, `list`, `show` and the audit log use.

use std::fmt;

use crate::error::{Error, Result};

/// Octets of a fresh serial: RFC 5280 allows up to 20; the CA/B Forum wants
/// at least 64 random bits. We use 20 random octets with the top bit clear.
pub const SERIAL_LEN: usize = 20;

/// A certificate serial number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// A fresh serial: 20 random octets, positive (top bit clear), first
    /// octet non-zero so the DER integer is exactly 20 octets.
    pub fn random() -> Result<Self> {
        let mut b = [0u8; SERIAL_LEN];
        aws_lc_rs::rand::fill(&mut b).map_err(|e| Error::crypto("random source failed", e))?;
        b[0] &= 0x7f;
        if b[0] == 0 {
            b[0] = 1;
        }
        Ok(Serial(b.to_vec()))
    }

    /// A fresh serial that `taken` does not hold yet.
    pub fn random_unused(taken: impl Fn(&Serial) -> bool) -> Result<Self> {
        loop {
            let s = Serial::random()?;
            if !taken(&s) {
                return Ok(s);
            }
        }
    }

    /// The serial of a certificate's DER INTEGER content octets.
    pub fn from_der(raw: &[u8]) -> Self {
        let first = raw
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(raw.len().saturating_sub(1));
        Serial(raw[first..].to_vec())
    }

    /// The hex digits of a serial as people type it: trimmed, without `0x`
    /// and colons, lower case (not yet checked to be hex).
    pub fn typed_digits(s: &str) -> String {
        s.trim()
            .trim_start_matches("0x")
            .chars()
            .filter(|c| *c != ':')
            .collect::<String>()
            .to_ascii_lowercase()
    }

    /// A serial as people type it: any case, optional `0x`, colons, leading zeros.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let t = Serial::typed_digits(s);
        if t.is_empty() || !t.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("{s:?} is not a hexadecimal serial number"));
        }
        let t = if t.len() % 2 == 1 { format!("0{t}") } else { t };
        let octets = (0..t.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&t[i..i + 2], 16).expect("checked hex digits"))
            .collect::<Vec<_>>();
        Ok(Serial::from_der(&octets))
    }

    /// The serial whose canonical form ([`Display`](fmt::Display): minimal
    /// octets, lower-case hex) is exactly `s`; None for any other text. The
    /// index's reader: one pass, one allocation.
    pub fn from_canonical(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        // Minimal octets: no leading zero octet, unless it is the only one.
        if b.is_empty() || b.len() % 2 == 1 || (b.len() > 2 && b.starts_with(b"00")) {
            return None;
        }
        b.chunks(2)
            .map(|d| Some(digit(d[0])? << 4 | digit(d[1])?))
            .collect::<Option<Vec<u8>>>()
            .map(Serial)
    }

    /// A serial as the index records it (exact lower-case hex); a malformed
    /// one means a damaged index.
    pub fn from_index(s: &str) -> Result<Self> {
        match Serial::from_canonical(s) {
            Some(v) => Ok(v),
            None => Err(Error::failed(
                format!("the index holds a malformed serial {s:?}"),
                "restore index.json from a backup",
            )),
        }
    }

    /// The octets, for rcgen.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Serial number 0, which RFC 5280 forbids.
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|b| *b == 0)
    }

    pub fn to_rcgen(&self) -> rcgen::SerialNumber {
        rcgen::SerialNumber::from_slice(&self.0)
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

/// In `index.json` a serial is its lower-case hex string; reading refuses
/// any other form (the error quotes it, and the index reader names the
/// entry), so an entry's serial is always one pki could have written.
impl serde::Serialize for Serial {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Serial {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        Serial::from_canonical(&s).ok_or_else(|| {
            serde::de::Error::custom(format_args!(
                "is {s:?}, which is not the lower-case hex pki writes"
            ))
        })
    }
}

/// Test fixtures name serials in short hex ("3" is serial 03).
#[cfg(test)]
impl From<&str> for Serial {
    fn from(s: &str) -> Self {
        Serial::parse(s).expect("a hex serial")
    }
}

/// Serials compare with their hex form, as people and documents write it.
impl PartialEq<str> for Serial {
    fn eq(&self, other: &str) -> bool {
        other.len() == 2 * self.0.len()
            && self.0.iter().zip(other.as_bytes().chunks(2)).all(|(b, d)| {
                d[0] == DIGITS[usize::from(b >> 4)] && d[1] == DIGITS[usize::from(b & 15)]
            })
    }
}

impl PartialEq<&str> for Serial {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl PartialEq<String> for Serial {
    fn eq(&self, other: &String) -> bool {
        *self == *other.as_str()
    }
}

/// The lower-case hex digits, by value.
const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex, the form serials and fingerprints take everywhere.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_20_positive_octets_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let s = Serial::random().unwrap();
            let b = s.as_bytes();
            assert_eq!(b.len(), 20);
            assert!(b[0] & 0x80 == 0 && b[0] != 0, "{b:?}");
            assert!(seen.insert(s));
        }
    }

    #[test]
    fn der_and_typed_forms_meet() {
        assert_eq!(Serial::from_der(&[0, 0, 0x0b, 0x7f]).to_string(), "0b7f");
        assert_eq!(Serial::from_der(&[0]).to_string(), "00");
        assert!(Serial::from_der(&[0]).is_zero());
        assert!(Serial::from_der(&[0, 0]).is_zero());
        assert!(!Serial::from_der(&[0, 1]).is_zero());
        for typed in ["0B:7F", "0x0b7f", "b7f", "000b7f", " 0b7f "] {
            assert_eq!(Serial::parse(typed).unwrap().to_string(), "0b7f", "{typed}");
        }
        for bad in ["", "0x", "zz", "12 34", "-1"] {
            assert!(Serial::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Serial::from_index("0b7f").unwrap().as_bytes(), [0x0b, 0x7f]);
        // The index's reader takes exactly the canonical form, as parse and
        // Display agree on it.
        for s in ["00", "0b", "7f", "0b7f", "ff00"] {
            assert_eq!(Serial::from_canonical(s).unwrap().to_string(), s);
        }
        for bad in ["", "0", "000b", "0B7F", "zz", "0b7", " 0b", "0x0b"] {
            assert!(Serial::from_canonical(bad).is_none(), "{bad}");
        }
        for bad in ["abc", "zz", "0B7F", "000b"] {
            assert!(Serial::from_index(bad).is_err(), "{bad}");
        }
    }
}
