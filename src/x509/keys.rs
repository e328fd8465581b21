//! Private keys: generation, PEM encodings, and reading keys of any common form.
//!
//! In memory a key is PKCS#8 DER in a zeroizing buffer. On disk it is written
//! in the form its consumers read: PKCS#1 (`BEGIN RSA PRIVATE KEY`) for RSA,
//! as the deployment documentation shows and Erlang reads; SEC1
//! (`BEGIN EC PRIVATE KEY`) for EC, the only EC form Erlang reads; PKCS#8 for
//! Ed25519 (it has no other) or on request (`--key-format pkcs8`).

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use pkcs8::der::Decode;
use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Key algorithms `pki` can generate.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    /// RSA 2048: the default, what the store's TLS stack needs.
    #[value(name = "rsa-2048")]
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    #[value(name = "rsa-3072")]
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    #[value(name = "rsa-4096")]
    #[serde(rename = "rsa-4096")]
    Rsa4096,
    #[value(name = "ecdsa-p256")]
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    #[value(name = "ecdsa-p384")]
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    #[value(name = "ed25519")]
    #[serde(rename = "ed25519")]
    Ed25519,
}

impl KeyType {
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Ed25519 => "ed25519",
        }
    }

    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }

    /// The signature algorithm a key of this type signs with. RSA signs
    /// PKCS#1 v1.5 with SHA-256: Riak's Erlang R16 stack cannot read RSA-PSS.
    pub fn signature_algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
            KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyType::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How private keys are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyFormat {
    /// PKCS#1 for RSA, SEC1 for EC, PKCS#8 for Ed25519: what Riak's Erlang reads.
    #[default]
    #[value(alias = "pkcs1", alias = "sec1", alias = "traditional")]
    Native,
    /// PKCS#8 (`BEGIN PRIVATE KEY`) for every key type.
    Pkcs8,
}

/// A private key with its type. The DER is zeroed on drop and never printed.
pub struct PrivateKey {
    key_type: KeyType,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, redacted)", self.key_type)
    }
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";

impl PrivateKey {
    /// Generate a fresh key from the system's secure random source.
    pub fn generate(key_type: KeyType) -> Result<Self> {
        let kp = match key_type {
            KeyType::Rsa2048 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            }
            KeyType::Rsa3072 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072)
            }
            KeyType::Rsa4096 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096)
            }
            other => KeyPair::generate_for(other.signature_algorithm()),
        }
        .map_err(|e| Error::crypto("key generation failed", e))?;
        Ok(PrivateKey {
            key_type,
            pkcs8: Zeroizing::new(kp.serialize_der()),
        })
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The PKCS#8 DER (for encryption by `secret`); never print it.
    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The rcgen key pair, for signing.
    pub fn key_pair(&self) -> Result<KeyPair> {
        let der = rustls_pki_types_der(&self.pkcs8);
        KeyPair::from_der_and_sign_algo(&der, self.key_type.signature_algorithm())
            .map_err(|e| Error::crypto("cannot load the private key", e))
    }

    /// The DER SubjectPublicKeyInfo of this key.
    pub fn public_key_der(&self) -> Result<Vec<u8>> {
        Ok(self.key_pair()?.subject_public_key_info())
    }

    /// PEM text in the requested form; a zeroizing string.
    pub fn to_pem(&self, format: KeyFormat) -> Result<Zeroizing<String>> {
        let (tag, der): (&str, Zeroizing<Vec<u8>>) = match (format, self.key_type) {
            (KeyFormat::Pkcs8, _) | (_, KeyType::Ed25519) => ("PRIVATE KEY", self.pkcs8.clone()),
            (KeyFormat::Native, t) if t.is_rsa() => {
                let info = pkcs8::PrivateKeyInfo::from_der(&self.pkcs8)
                    .map_err(|e| Error::crypto("cannot re-encode the RSA key", e))?;
                ("RSA PRIVATE KEY", Zeroizing::new(info.private_key.to_vec()))
            }
            (KeyFormat::Native, t) => {
                let alg = match t {
                    KeyType::EcdsaP256 => &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    _ => &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                };
                let kp = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(alg, &self.pkcs8)
                    .map_err(|e| Error::crypto("cannot re-encode the EC key", e))?;
                let sec1 = kp
                    .private_key()
                    .as_der()
                    .map_err(|e| Error::crypto("cannot re-encode the EC key", e))?;
                ("EC PRIVATE KEY", Zeroizing::new(sec1.as_ref().to_vec()))
            }
        };
        let p = pem::Pem::new(tag, der.to_vec());
        let text = Zeroizing::new(pem::encode_config(
            &p,
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        ));
        let mut contents = p.into_contents();
        zeroize::Zeroize::zeroize(&mut contents);
        Ok(text)
    }

    /// Read a private key from PEM: PKCS#8, PKCS#1 or SEC1. Encrypted keys
    /// are refused here with a hint; the error never quotes the input.
    pub fn from_pem(text: &str, what: &str) -> Result<Self> {
        let block = pem::parse(text).map_err(|_| {
            crate::error::bad_pem(
                text,
                what,
                "private key",
                "give a file that starts with -----BEGIN (RSA |EC )PRIVATE KEY-----",
            )
        })?;
        let der = Zeroizing::new(block.contents().to_vec());
        match block.tag() {
            "PRIVATE KEY" => Self::from_pkcs8_der(der, what),
            "RSA PRIVATE KEY" => {
                // Wrap the PKCS#1 structure in PKCS#8 so all keys share one form.
                let alg = pkcs8::AlgorithmIdentifierRef {
                    oid: pkcs8::ObjectIdentifier::new_unwrap(OID_RSA),
                    parameters: Some(pkcs8::der::asn1::AnyRef::NULL),
                };
                let info = pkcs8::PrivateKeyInfo::new(alg, &der);
                let wrapped = pkcs8::der::Encode::to_der(&info).map_err(|_| bad_key(what))?;
                Self::from_pkcs8_der(Zeroizing::new(wrapped), what)
            }
            "EC PRIVATE KEY" => {
                // SEC1 carries its curve; try each we support and re-wrap as PKCS#8.
                for alg in [
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                ] {
                    if let Ok(kp) = aws_lc_rs::signature::EcdsaKeyPair::from_private_key_der(alg, &der) {
                        let p8 = kp.to_pkcs8v1().map_err(|_| bad_key(what))?;
                        return Self::from_pkcs8_der(Zeroizing::new(p8.as_ref().to_vec()), what);
                    }
                }
                Err(bad_key(what))
            }
            "ENCRYPTED PRIVATE KEY" => Err(Error::input(
                format!("{what} is encrypted"),
                "decrypt it first (openssl pkey -in KEY -out PLAIN.key) or use --passphrase-file where the command offers it",
            )),
            other => Err(Error::input(
                format!("{what} is PEM of type {other:?}, not a private key"),
                "give the private key file (-----BEGIN (RSA |EC )PRIVATE KEY-----)",
            )),
        }
    }

    /// Read PKCS#8 DER, working out the key type from the algorithm and size.
    pub fn from_pkcs8_der(der: Zeroizing<Vec<u8>>, what: &str) -> Result<Self> {
        let info = pkcs8::PrivateKeyInfo::from_der(&der).map_err(|_| bad_key(what))?;
        let oid = info.algorithm.oid.to_string();
        let key_type = match oid.as_str() {
            OID_RSA => {
                let kp = aws_lc_rs::rsa::KeyPair::from_pkcs8(&der).map_err(|_| bad_key(what))?;
                match kp.public_modulus_len() * 8 {
                    2048 => KeyType::Rsa2048,
                    3072 => KeyType::Rsa3072,
                    4096 => KeyType::Rsa4096,
                    bits => {
                        return Err(Error::input(
                            format!("{what} is a {bits}-bit RSA key"),
                            "use an RSA key of 2048, 3072 or 4096 bits",
                        ))
                    }
                }
            }
            OID_EC => {
                let curve = info
                    .algorithm
                    .parameters_oid()
                    .map(|o| o.to_string())
                    .map_err(|_| bad_key(what))?;
                match curve.as_str() {
                    OID_P256 => KeyType::EcdsaP256,
                    OID_P384 => KeyType::EcdsaP384,
                    _ => {
                        return Err(Error::input(
                            format!("{what} is an EC key on an unsupported curve ({curve})"),
                            "use a P-256 or P-384 key",
                        ))
                    }
                }
            }
            OID_ED25519 => KeyType::Ed25519,
            _ => {
                return Err(Error::input(
                    format!("{what} is a key of an unsupported algorithm ({oid})"),
                    "use an RSA, ECDSA P-256/P-384 or Ed25519 key",
                ))
            }
        };
        let key = PrivateKey {
            key_type,
            pkcs8: der,
        };
        key.key_pair().map_err(|_| bad_key(what))?;
        Ok(key)
    }
}

fn bad_key(what: &str) -> Error {
    Error::input(
        format!("{what} is not a valid private key"),
        "check that the file is complete and unmodified",
    )
}

/// rcgen takes keys as rustls-pki-types values.
fn rustls_pki_types_der(pkcs8: &[u8]) -> rustls_pki_types::PrivateKeyDer<'static> {
    rustls_pki_types::PrivateKeyDer::Pkcs8(pkcs8.to_vec().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_forms_are_the_ones_erlang_reads() {
        let cases = [
            (KeyType::Rsa2048, "-----BEGIN RSA PRIVATE KEY-----"),
            (KeyType::EcdsaP256, "-----BEGIN EC PRIVATE KEY-----"),
            (KeyType::EcdsaP384, "-----BEGIN EC PRIVATE KEY-----"),
            (KeyType::Ed25519, "-----BEGIN PRIVATE KEY-----"),
        ];
        for (t, head) in cases {
            let k = PrivateKey::generate(t).unwrap();
            let native = k.to_pem(KeyFormat::Native).unwrap();
            assert!(native.starts_with(head), "{t}: {}", &native[..40]);
            let p8 = k.to_pem(KeyFormat::Pkcs8).unwrap();
            assert!(p8.starts_with("-----BEGIN PRIVATE KEY-----"));
            // Both forms read back to the same key.
            for text in [&native, &p8] {
                let back = PrivateKey::from_pem(text, "key").unwrap();
                assert_eq!(back.key_type(), t);
                assert_eq!(back.public_key_der().unwrap(), k.public_key_der().unwrap());
            }
        }
    }

    #[test]
    fn rsa_sizes_are_detected() {
        let k = PrivateKey::generate(KeyType::Rsa3072).unwrap();
        let back = PrivateKey::from_pem(&k.to_pem(KeyFormat::Native).unwrap(), "key").unwrap();
        assert_eq!(back.key_type(), KeyType::Rsa3072);
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let k = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        assert_eq!(format!("{k:?}"), "PrivateKey(ecdsa-p256, redacted)");
    }

    #[test]
    fn refuses_what_is_not_a_key() {
        let cases = [
            ("garbage", "not a PEM private key"),
            ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a private key"),
            ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a valid private key"),
            ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"),
        ];
        for (text, want) in cases {
            let e = PrivateKey::from_pem(text, "the key").unwrap_err();
            assert_eq!(e.code(), 2);
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
    }
}
