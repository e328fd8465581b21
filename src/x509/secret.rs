//! Encrypted private keys, given the bytes and a passphrase: telling an
//! encrypted key from a plain one, decrypting it, encrypting one; and
//! [`Redacted`], which keeps secrets out of `Debug` output. Where the
//! passphrase comes from (a file, the terminal) is `ca::key`'s.
//!
//! Encrypted keys are PKCS#8 `ENCRYPTED PRIVATE KEY` with PBES2: scrypt
//! (N = 2^14, r = 8, p = 1: OpenSSL's own default for `-scrypt`, within its
//! memory limit) and AES-256-CBC, readable by `openssl pkey -passin`.
//! The passphrase lives in a zeroizing buffer and is never printed.

use std::fmt;

use pkcs8::der::Decode;
use pkcs8::pkcs5::{self, pbes2};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::x509::keys::PrivateKey;

/// The PEM label of an encrypted PKCS#8 key.
pub const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// scrypt cost used when encrypting: log2(N) = 14, r = 8, p = 1 (16 MiB).
const SCRYPT_LOG_N: u8 = 14;
/// Refuse to derive keys beyond these costs: a hostile key file must not make
/// pki spend gigabytes or minutes before it says "wrong passphrase". scrypt
/// needs 128·r·(N + p) bytes, bounded here at 256 MiB (OpenSSL itself stops
/// at 32 MiB), and N·r·p block mixes, bounded at 2^22 (32 times our own
/// cost, about a second and a half).
const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
const MAX_SCRYPT_WORK: u64 = 1 << 22;
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// A value that never reaches `Debug` output (so no log line, panic
/// message or `{:?}` can print it): keys, passphrases, tokens and request
/// bodies that carry keys. Read it with [`Redacted::expose`], in the one
/// place that needs it.
#[derive(Clone, Default, PartialEq)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    pub fn new(value: T) -> Self {
        Redacted(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Secret bytes: zeroed when dropped, hidden from `Debug`.
pub type Secret = Redacted<Zeroizing<Vec<u8>>>;

/// `key` as PEM `ENCRYPTED PRIVATE KEY` (PBES2, scrypt, AES-256-CBC) under `pass`.
pub fn encrypt_pem(key: &PrivateKey, pass: &[u8]) -> Result<Zeroizing<String>> {
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|e| Error::crypto("no random numbers", e))?;
    aws_lc_rs::rand::fill(&mut iv).map_err(|e| Error::crypto("no random numbers", e))?;
    let cost = pkcs5::scrypt::Params::new(SCRYPT_LOG_N, 8, 1, 32)
        .map_err(|e| Error::crypto("bad scrypt parameters", e))?;
    let params = pbes2::Parameters::scrypt_aes256cbc(cost, &salt, &iv)
        .map_err(|e| Error::crypto("bad PBES2 parameters", e))?;
    let info = pkcs8::PrivateKeyInfo::from_der(key.pkcs8_der())
        .map_err(|e| Error::crypto("cannot encode the key", e))?;
    let doc = info
        .encrypt_with_params(params, pass)
        .map_err(|e| Error::crypto("cannot encrypt the key", e))?;
    Ok(Zeroizing::new(pem::encode_config(
        &pem::Pem::new(ENCRYPTED_LABEL, doc.as_bytes().to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )))
}

/// Whether PEM text is an encrypted PKCS#8 key (without decoding it).
pub fn is_encrypted(text: &str) -> bool {
    text.trim_start()
        .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
}

/// A private key's PEM text as read: a plain key, or an encrypted one
/// still to be decrypted.
pub enum KeyPem {
    Plain(PrivateKey),
    Encrypted(EncryptedKey),
}

/// An encrypted PKCS#8 key whose key-derivation cost has been checked.
pub struct EncryptedKey {
    der: Zeroizing<Vec<u8>>,
    what: String,
}

/// Read a private key's PEM text: plain (PKCS#8, PKCS#1, SEC1) as
/// [`PrivateKey::from_pem`], or encrypted PKCS#8 (refused when its
/// key-derivation parameters are too costly, or in the legacy OpenSSL
/// form). `what` names the file in errors; no error quotes the content.
pub fn parse_key(text: &str, what: &str) -> Result<KeyPem> {
    let block = pem::parse(text.as_bytes()).map_err(|_| {
        crate::error::bad_pem(
            text,
            what,
            "private key",
            "give a file that starts with -----BEGIN (RSA |EC |ENCRYPTED )PRIVATE KEY-----",
        )
    })?;
    let legacy = block
        .headers()
        .get("Proc-Type")
        .is_some_and(|v| v.contains("ENCRYPTED"));
    let encrypted = block.tag() == ENCRYPTED_LABEL;
    let der = Zeroizing::new(block.into_contents());
    if legacy {
        return Err(Error::input(
            format!("{what} is encrypted in the legacy OpenSSL form (Proc-Type: 4,ENCRYPTED), which pki does not read"),
            format!("convert it to encrypted PKCS#8 first: openssl pkcs8 -topk8 -v2 aes-256-cbc -in {what} -out key.p8.pem, then pass key.p8.pem with --passphrase-file"),
        ));
    }
    if !encrypted {
        return PrivateKey::from_pem(text, what).map(KeyPem::Plain);
    }
    let info = pkcs8::EncryptedPrivateKeyInfo::from_der(&der).map_err(|_| {
        Error::input(
            format!("{what} is not a valid encrypted private key"),
            "check that the file is complete and unmodified",
        )
    })?;
    check_cost(&info.encryption_algorithm, what)?;
    Ok(KeyPem::Encrypted(EncryptedKey {
        der,
        what: what.to_string(),
    }))
}

impl EncryptedKey {
    /// The key, or None when `pass` is not its passphrase.
    pub fn decrypt(&self, pass: &[u8]) -> Result<Option<PrivateKey>> {
        let info = pkcs8::EncryptedPrivateKeyInfo::from_der(&self.der)
            .map_err(|e| Error::crypto("cannot read the encrypted key again", e))?;
        let Ok(doc) = info.decrypt(pass) else {
            return Ok(None);
        };
        PrivateKey::from_pkcs8_der(Zeroizing::new(doc.as_bytes().to_vec()), &self.what).map(Some)
    }
}

/// Refuse key-derivation parameters that would take unreasonable memory or time.
fn check_cost(scheme: &pkcs5::EncryptionScheme<'_>, what: &str) -> Result<()> {
    let too_costly = || {
        Error::input(
            format!("{what} is encrypted with key-derivation parameters too costly to try"),
            "re-encrypt it with openssl pkcs8 -topk8 -scrypt (or -v2 aes-256-cbc)",
        )
    };
    let pkcs5::EncryptionScheme::Pbes2(p) = scheme else {
        return Err(Error::input(
            format!("{what} is encrypted with PBES1, a legacy scheme pki does not read"),
            "re-encrypt it: openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD -out NEW",
        ));
    };
    let scrypt_ok = p.kdf.scrypt().is_none_or(|s| {
        let (n, r, p) = (
            s.cost_parameter,
            u64::from(s.block_size),
            u64::from(s.parallelization),
        );
        let memory = n.saturating_add(p).saturating_mul(128 * r);
        let work = n.saturating_mul(r).saturating_mul(p);
        memory <= MAX_SCRYPT_MEMORY && work <= MAX_SCRYPT_WORK
    });
    let pbkdf2_ok = p
        .kdf
        .pbkdf2()
        .is_none_or(|k| k.iteration_count <= MAX_PBKDF2_ITERATIONS);
    if scrypt_ok && pbkdf2_ok {
        Ok(())
    } else {
        Err(too_costly())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::x509::keys::KeyType;

    #[test]
    fn encrypted_keys_decrypt_only_with_their_passphrase() {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let pem = encrypt_pem(&key, b"s3cret").unwrap();
        assert!(is_encrypted(&pem));
        let Ok(KeyPem::Encrypted(e)) = parse_key(&pem, "k") else {
            panic!("not read as encrypted");
        };
        assert!(e.decrypt(b"wrong").unwrap().is_none());
        let back = e.decrypt(b"s3cret").unwrap().unwrap();
        assert_eq!(
            back.public_key_der().unwrap(),
            key.public_key_der().unwrap()
        );
    }
}
