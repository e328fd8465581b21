//! Reading certificates: the facts `list`, `show` and `verify` report.

use ::time::OffsetDateTime;
use x509_parser::prelude::*;

use crate::error::{Error, Result};
use crate::x509::keys::KeyType;
use crate::x509::serial::{hex, Serial};

/// What we read out of one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// Every Common Name of the subject (Riak wants exactly one).
    pub common_names: Vec<String>,
    pub serial: Serial,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub key_type: Option<KeyType>,
    pub fingerprint_sha256: String,
    pub version: u32,
    pub is_ca: bool,
    pub key_usage: Vec<String>,
    pub extended_key_usage: Vec<String>,
    pub subject_alt_names: Vec<String>,
    pub crl_urls: Vec<String>,
    pub signature_algorithm: String,
    pub spki_der: Vec<u8>,
}

/// Read the first certificate of a PEM text.
pub fn pem_to_der(text: &str, what: &str) -> Result<Vec<u8>> {
    let p = ::pem::parse(text).map_err(|_| {
        crate::error::bad_pem(
            text,
            what,
            "certificate",
            "give a file that starts with -----BEGIN CERTIFICATE-----",
        )
    })?;
    if p.tag() != "CERTIFICATE" {
        return Err(Error::input(
            format!("{what} is PEM of type {:?}, not a certificate", p.tag()),
            "give the certificate file (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(p.into_contents())
}

pub fn der_to_pem(der: &[u8]) -> String {
    ::pem::encode_config(
        &::pem::Pem::new("CERTIFICATE", der.to_vec()),
        ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
    )
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

impl CertInfo {
    pub fn from_der(der: &[u8], what: &str) -> Result<Self> {
        let (rest, x) = X509Certificate::from_der(der).map_err(|_| {
            Error::input(
                format!("{what} is not a valid X.509 certificate"),
                "check that the file is complete and unmodified",
            )
        })?;
        if !rest.is_empty() {
            return Err(Error::input(
                format!("{what} has trailing data after the certificate"),
                "give one certificate per file",
            ));
        }
        let common_names = x.subject().iter_common_name().map(cn_text).collect();
        let mut key_usage = Vec::new();
        let mut extended_key_usage = Vec::new();
        let mut subject_alt_names = Vec::new();
        let mut crl_urls = Vec::new();
        let mut is_ca = false;
        for ext in x.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
                ParsedExtension::KeyUsage(ku) => key_usage = key_usage_names(ku),
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    let names = [
                        (eku.any, "anyExtendedKeyUsage"),
                        (eku.server_auth, "serverAuth"),
                        (eku.client_auth, "clientAuth"),
                        (eku.code_signing, "codeSigning"),
                        (eku.email_protection, "emailProtection"),
                        (eku.time_stamping, "timeStamping"),
                        (eku.ocsp_signing, "OCSPSigning"),
                    ];
                    extended_key_usage = names
                        .iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, n)| n.to_string())
                        .collect();
                    extended_key_usage.extend(eku.other.iter().map(|o| o.to_id_string()));
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    subject_alt_names = san.general_names.iter().map(general_name).collect();
                }
                ParsedExtension::CRLDistributionPoints(points) => {
                    for p in points.iter() {
                        if let Some(DistributionPointName::FullName(names)) = &p.distribution_point
                        {
                            crl_urls.extend(names.iter().filter_map(|n| match n {
                                GeneralName::URI(u) => Some(u.to_string()),
                                _ => None,
                            }));
                        }
                    }
                }
                _ => {}
            }
        }
        let spki = x.public_key();
        Ok(CertInfo {
            subject: x.subject().to_string(),
            issuer: x.issuer().to_string(),
            common_names,
            serial: Serial::from_der(x.raw_serial()),
            not_before: x.validity().not_before.to_datetime(),
            not_after: x.validity().not_after.to_datetime(),
            key_type: key_type_of(spki),
            fingerprint_sha256: sha256_hex(der),
            version: x.version().0 + 1,
            is_ca,
            key_usage,
            extended_key_usage,
            subject_alt_names,
            crl_urls,
            signature_algorithm: signature_name(&x.signature_algorithm.algorithm.to_id_string()),
            spki_der: spki.raw.to_vec(),
        })
    }

    pub fn from_pem(text: &str, what: &str) -> Result<Self> {
        Self::from_der(&pem_to_der(text, what)?, what)
    }
}

/// The names of the usages a keyUsage extension allows, as OpenSSL prints them.
pub fn key_usage_names(ku: &KeyUsage) -> Vec<String> {
    let names = [
        (ku.digital_signature(), "digitalSignature"),
        (ku.non_repudiation(), "nonRepudiation"),
        (ku.key_encipherment(), "keyEncipherment"),
        (ku.data_encipherment(), "dataEncipherment"),
        (ku.key_agreement(), "keyAgreement"),
        (ku.key_cert_sign(), "keyCertSign"),
        (ku.crl_sign(), "cRLSign"),
        (ku.encipher_only(), "encipherOnly"),
        (ku.decipher_only(), "decipherOnly"),
    ];
    names
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| n.to_string())
        .collect()
}

fn general_name(n: &GeneralName<'_>) -> String {
    match n {
        GeneralName::DNSName(d) => format!("DNS:{d}"),
        GeneralName::RFC822Name(e) => format!("email:{e}"),
        GeneralName::URI(u) => format!("URI:{u}"),
        GeneralName::IPAddress(b) => match b.len() {
            4 => format!(
                "IP:{}",
                std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).expect("4 bytes"))
            ),
            16 => format!(
                "IP:{}",
                std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).expect("16 bytes"))
            ),
            _ => "IP:<invalid>".into(),
        },
        // X.400 addresses, EDI party names, directory names, other names:
        // no client of the ephemeral store uses them.
        _ => "(a name form pki does not display)".into(),
    }
}

fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption".into(),
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption".into(),
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption".into(),
        "1.2.840.113549.1.1.10" => "rsassaPss".into(),
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption".into(),
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256".into(),
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384".into(),
        "1.3.101.112" => "ED25519".into(),
        other => other.into(),
    }
}

/// The key type of a public key, or None when pki does not support it.
pub fn key_type_of(spki: &SubjectPublicKeyInfo<'_>) -> Option<KeyType> {
    match spki.parsed().ok()? {
        x509_parser::public_key::PublicKey::RSA(rsa) => match rsa.key_size() {
            2048 => Some(KeyType::Rsa2048),
            3072 => Some(KeyType::Rsa3072),
            4096 => Some(KeyType::Rsa4096),
            _ => None,
        },
        x509_parser::public_key::PublicKey::EC(ec) => match ec.key_size() {
            256 => Some(KeyType::EcdsaP256),
            384 => Some(KeyType::EcdsaP384),
            _ => None,
        },
        _ if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" => Some(KeyType::Ed25519),
        _ => None,
    }
}

/// `t` without its fraction of a second: how X.509 and CRLs carry time.
/// The text of a name attribute (a CN): any string type x509-parser reads,
/// and a BMPString (UTF-16BE, which it does not); `<unreadable>` else.
pub fn cn_text(attr: &AttributeTypeAndValue<'_>) -> String {
    if let Ok(s) = attr.as_str() {
        return s.to_string();
    }
    bmp_string(attr).unwrap_or_else(|| "<unreadable>".into())
}

/// A BMPString attribute's text (UTF-16BE), if the attribute is one.
pub fn bmp_string(attr: &AttributeTypeAndValue<'_>) -> Option<String> {
    let v = attr.attr_value();
    if v.tag() != x509_parser::der_parser::asn1_rs::Tag::BmpString {
        return None;
    }
    let bytes = v.data;
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let units = bytes.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .collect::<std::result::Result<String, _>>()
        .ok()
}

/// Why a certificate's serial number breaks RFC 5280 4.1.2.2 (a positive
/// integer of at most 20 octets), if it is negative or too long. (Zero is
/// refused by the caller, which words it itself.)
pub fn serial_problem(der: &[u8]) -> Option<String> {
    let (_, x) = X509Certificate::from_der(der).ok()?;
    let raw = x.raw_serial();
    if raw.first().is_some_and(|b| b & 0x80 != 0) {
        return Some("has a negative serial number, which RFC 5280 forbids".into());
    }
    (raw.len() > 20).then(|| {
        format!(
            "has a serial number of {} octets; RFC 5280 allows at most 20",
            raw.len()
        )
    })
}

pub fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).expect("0 is a valid nanosecond")
}

/// Whole days from `now` until `t`, rounded down; negative once past.
pub fn days_left(t: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (t - now).whole_seconds().div_euclid(86_400)
}

/// RFC 3339 UTC, the one timestamp form of our output.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(::time::UtcOffset::UTC)
        .format(&::time::format_description::well_known::Rfc3339)
        .expect("a certificate date is formattable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_left_rounds_down_and_goes_negative() {
        let now = ::time::macros::datetime!(2026-01-01 00:00 UTC);
        assert_eq!(days_left(now + ::time::Duration::hours(47), now), 1);
        assert_eq!(days_left(now + ::time::Duration::days(2), now), 2);
        assert_eq!(days_left(now - ::time::Duration::hours(1), now), -1);
    }

    #[test]
    fn serials_drop_leading_zero_octets_only() {
        assert_eq!(Serial::from_der(&[0, 0x80, 1]).to_string(), "8001");
        assert_eq!(Serial::from_der(&[0x10, 0]).to_string(), "1000");
        assert_eq!(Serial::from_der(&[0]).to_string(), "00");
        assert_eq!(Serial::from_der(&[0, 0]).to_string(), "00");
    }

    #[test]
    fn rejects_non_certificates() {
        assert!(pem_to_der("nonsense", "x")
            .unwrap_err()
            .to_string()
            .contains("not a PEM certificate"));
        let key = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(pem_to_der(key, "x")
            .unwrap_err()
            .to_string()
            .contains("not a certificate"));
        assert!(CertInfo::from_der(b"\x30\x03\x02\x01\x01", "x").is_err());
    }
}
