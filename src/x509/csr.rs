//! Certificate signing requests (PKCS#10): parsed, signature checked, and
//! reduced to what `pki sign` takes from them.

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::*;

use crate::error::{Error, Result};
use crate::x509::cert::key_type_of;
use crate::x509::keys::KeyType;
use crate::x509::profile::{typed_san, SanKind};

/// What we take from a request once its signature is checked.
pub struct Csr {
    /// Every Common Name of the subject.
    pub common_names: Vec<String>,
    /// The Common Name is a BMPString (UTF-16), decoded: the certificate's
    /// CN is a UTF8String, the type Riak reads.
    pub cn_is_bmp: bool,
    /// The subject, for messages.
    pub subject: String,
    pub key_type: KeyType,
    /// The raw subjectPublicKey bits.
    pub public_key: Vec<u8>,
    /// The whole SubjectPublicKeyInfo (DER), to compare with other keys.
    pub spki_der: Vec<u8>,
    /// Requested SANs, in the form `--san` takes.
    pub sans: Vec<String>,
    /// Requested things we do not honour, for the note on stderr.
    pub ignored: Vec<String>,
}

/// Parse a CSR (PEM or DER) and check its signature.
pub fn parse_csr(bytes: &[u8], what: &str) -> Result<Csr> {
    let der = if bytes.starts_with(b"-----BEGIN") {
        let p = ::pem::parse(bytes).map_err(|_| bad_csr(what))?;
        if !p.tag().ends_with("CERTIFICATE REQUEST") {
            return Err(Error::input(
                format!(
                    "{what} is PEM of type {:?}, not a certificate signing request",
                    p.tag()
                ),
                "give a file that starts with -----BEGIN CERTIFICATE REQUEST-----",
            ));
        }
        p.into_contents()
    } else {
        bytes.to_vec()
    };
    let (rest, csr) = X509CertificationRequest::from_der(&der).map_err(|_| bad_csr(what))?;
    if !rest.is_empty() {
        return Err(bad_csr(what));
    }
    // The key first: a key pki cannot sign (RSA-1024, P-521) often fails
    // the signature check too, and the reason to give is the key.
    if let Some(why) = unsupported_key(&csr.certification_request_info.subject_pki) {
        return Err(Error::input(
            format!("{what} is for {why}"),
            "ask its owner for a request for an RSA key of 2048 bits (what the ephemeral store needs), e.g. `openssl req -new -newkey rsa:2048`",
        ));
    }
    csr.verify_signature().map_err(|_| {
        Error::input(
            format!("the signature of {what} does not verify"),
            "the request was altered or made with another key; ask its owner for a fresh one",
        )
    })?;
    let info = &csr.certification_request_info;
    let spki = &info.subject_pki;
    let key_type = key_type_of(spki).ok_or_else(|| {
        Error::input(
            format!(
                "{what} is for a key pki does not support ({})",
                spki.algorithm.algorithm.to_id_string()
            ),
            "ask for an RSA 2048/3072/4096 key (the ephemeral store needs RSA)",
        )
    })?;
    let common_names = info
        .subject
        .iter_common_name()
        .map(crate::x509::cert::cn_text)
        .collect::<Vec<_>>();
    // Nothing of the subject but the CN is used, but all of it is printed:
    // a control character anywhere in it is refused, with the reason.
    for attr in info.subject.iter_attributes() {
        if let Some(c) = attr
            .as_str()
            .ok()
            .and_then(crate::x509::names::control_char)
        {
            return Err(Error::input(
                format!("the subject of {what} contains {c}"),
                "ask its owner for a request whose subject is plain text, e.g. `openssl req -new -subj /CN=USER`",
            ));
        }
    }
    let mut ignored = Vec::new();
    let other_rdns = info
        .subject
        .iter_attributes()
        .filter(|a| a.attr_type() != &x509_parser::oid_registry::OID_X509_COMMON_NAME)
        .count();
    if other_rdns > 0 {
        ignored.push(format!("{other_rdns} subject attribute(s) besides CN"));
    }
    let mut sans = Vec::new();
    for attr in info.iter_attributes() {
        if let ParsedCriAttribute::ExtensionRequest(req) = attr.parsed_attribute() {
            for ext in &req.extensions {
                match ext.parsed_extension() {
                    ParsedExtension::SubjectAlternativeName(san) => {
                        for n in &san.general_names {
                            match n {
                                GeneralName::DNSName(d) => sans.push((SanKind::Dns, d.to_string())),
                                GeneralName::RFC822Name(e) => {
                                    sans.push((SanKind::Email, e.to_string()))
                                }
                                GeneralName::URI(u) => sans.push((SanKind::Uri, u.to_string())),
                                GeneralName::IPAddress(b) => match ip(b) {
                                    Some(a) => sans.push((SanKind::Ip, a)),
                                    None => ignored.push("a malformed IP address SAN".into()),
                                },
                                other => ignored.push(format!("SAN {other:?}")),
                            }
                        }
                    }
                    _ => ignored.push(extension_name(&ext.oid.to_id_string())),
                }
            }
        }
    }
    // Each name keeps the type the request gives it, or the request is
    // refused: the store keeps names as text and reads their type back
    // from it, so a DNS name "10.1.2.3" would come back an IP address.
    let sans = sans
        .into_iter()
        .map(|(kind, v)| match typed_san(kind, &v) {
            Ok(_) => Ok(v),
            Err(why) => Err(Error::input(
                format!("{what} asks for the {} {v:?}, which {why}", kind.name()),
                "ask its owner for a request without it, or with the name under its own type (DNS:, IP:, email:, URI:)",
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    let cn_is_bmp = info
        .subject
        .iter_common_name()
        .any(|cn| crate::x509::cert::bmp_string(cn).is_some());
    Ok(Csr {
        common_names,
        cn_is_bmp,
        subject: info.subject.to_string(),
        key_type,
        public_key: spki.subject_public_key.data.to_vec(),
        spki_der: spki.raw.to_vec(),
        sans,
        ignored,
    })
}

/// Why pki cannot sign for this public key, if it cannot: RSA of 2048,
/// 3072 or 4096 bits with the public exponent 65537 (the one every current
/// tool makes; others, like 3, invite old attacks on padding), ECDSA on
/// P-256 or P-384, and Ed25519.
pub fn unsupported_key(spki: &SubjectPublicKeyInfo<'_>) -> Option<String> {
    use x509_parser::public_key::PublicKey;
    const P256: &str = "1.2.840.10045.3.1.7";
    const P384: &str = "1.3.132.0.34";
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let bits = rsa.key_size();
            if ![2048, 3072, 4096].contains(&bits) {
                return Some(format!(
                    "a {bits}-bit RSA key; pki signs RSA keys of 2048, 3072 or 4096 bits"
                ));
            }
            match rsa.try_exponent() {
                Ok(65537) => None,
                Ok(e) => Some(format!(
                    "an RSA key with public exponent {e}; pki signs only RSA keys with exponent 65537"
                )),
                Err(_) => Some(
                    "an RSA key whose public exponent is out of range; pki signs only RSA keys with exponent 65537".into(),
                ),
            }
        }
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            let name = match curve.as_str() {
                P256 | P384 => return None,
                "1.3.132.0.35" => "P-521".to_string(),
                "1.2.840.10045.3.1.1" => "P-192".to_string(),
                "1.3.132.0.33" => "P-224".to_string(),
                "" => "an unnamed curve".to_string(),
                other => format!("curve {other}"),
            };
            Some(format!(
                "an ECDSA key on {name}; pki signs ECDSA keys on P-256 and P-384 only"
            ))
        }
        _ if key_type_of(spki).is_some() => None,
        _ => Some(format!(
            "a key pki does not support ({})",
            spki.algorithm.algorithm.to_id_string()
        )),
    }
}

fn ip(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?).to_string()),
        _ => None,
    }
}

fn extension_name(oid: &str) -> String {
    match oid {
        "2.5.29.15" => "keyUsage".into(),
        "2.5.29.37" => "extendedKeyUsage".into(),
        "2.5.29.19" => "basicConstraints".into(),
        "2.5.29.14" => "subjectKeyIdentifier".into(),
        "2.5.29.31" => "cRLDistributionPoints".into(),
        other => format!("extension {other}"),
    }
}

fn bad_csr(what: &str) -> Error {
    Error::input(
        format!("{what} is not a certificate signing request"),
        "give a PKCS#10 request, e.g. from `openssl req -new`",
    )
}

/// The CSR's public key, for rcgen to put into the certificate.
pub struct CsrKey<'a> {
    pub raw: &'a [u8],
    pub alg: &'static rcgen::SignatureAlgorithm,
}

impl rcgen::PublicKeyData for CsrKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.raw
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.alg
    }
}
