//! Passphrases and the encrypted CA key.
//!
//! A passphrase comes from `--passphrase-file FILE` (or `PKI_PASSPHRASE_FILE`):
//! the file's first line, its line ending stripped. Without a file, and only
//! when stdin is a terminal, it is asked for without echo. It never comes
//! from a command-line argument, where `ps` and shell history would show it.
//! Nothing asks until a key that is actually encrypted must be read, so
//! commands that do not sign (list, show, export files) never do.
//!
//! Encrypted keys are PKCS#8 `ENCRYPTED PRIVATE KEY` with PBES2: scrypt
//! (N = 2^14, r = 8, p = 1: OpenSSL's own default for `-scrypt`, within its
//! memory limit) and AES-256-CBC, readable by `openssl pkey -passin`.
//! The passphrase lives in a zeroizing buffer and is never printed.

use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// The one hint for a missing passphrase.
const HOW: &str = "pass --passphrase-file FILE (or set PKI_PASSPHRASE_FILE) holding the passphrase on its first line, or run pki from a terminal to be asked";

/// Secret bytes: zeroed when dropped, hidden from `Debug`.
pub type Secret = Redacted<Zeroizing<Vec<u8>>>;

/// Where the passphrase comes from, and the passphrase once read (asked once per run).
#[derive(Clone, Default)]
pub struct Passphrase {
    file: Option<PathBuf>,
    cache: Arc<Mutex<Option<Secret>>>,
}

/// Says where the passphrase comes from, never what it is.
impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Passphrase(file: {:?}, redacted)", self.file)
    }
}

impl Passphrase {
    pub fn new(file: Option<PathBuf>) -> Self {
        Passphrase {
            file,
            cache: Arc::default(),
        }
    }

    /// The passphrase that unlocks an existing key, read (or asked) once.
    pub fn existing(&self, what: &str) -> Result<Zeroizing<Vec<u8>>> {
        let mut slot = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = slot.as_ref() {
            return Ok(p.expose().clone());
        }
        let pass = match &self.file {
            Some(f) => read_file(f)?,
            None if std::io::stdin().is_terminal() => prompt(&format!("Passphrase for {what}: "))?,
            None => {
                return Err(Error::usage(
                    format!("{what} is encrypted and no passphrase was given"),
                    HOW,
                ))
            }
        };
        *slot = Some(Redacted::new(pass.clone()));
        Ok(pass)
    }

    /// [`Passphrase::new_passphrase`] when `encrypt` (the `--encrypt` flag), else none.
    pub fn for_new_key(&self, encrypt: bool) -> Result<Option<Zeroizing<Vec<u8>>>> {
        encrypt.then(|| self.new_passphrase()).transpose()
    }

    /// A new passphrase to encrypt a key with: from the file, or asked twice.
    /// Empty passphrases are refused.
    pub fn new_passphrase(&self) -> Result<Zeroizing<Vec<u8>>> {
        let pass = match &self.file {
            Some(f) => read_file(f)?,
            None if std::io::stdin().is_terminal() => {
                let one = prompt("New passphrase for the CA key: ")?;
                let two = prompt("Repeat the passphrase: ")?;
                if one != two {
                    return Err(Error::usage(
                        "the two passphrases differ",
                        "run the command again and type the same passphrase twice",
                    ));
                }
                one
            }
            None => {
                return Err(Error::usage(
                    "--encrypt needs a passphrase and none was given",
                    HOW,
                ))
            }
        };
        if pass.is_empty() {
            return Err(Error::usage(
                "the passphrase is empty",
                "put a passphrase on the first line of the --passphrase-file, or type one",
            ));
        }
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some(Redacted::new(pass.clone()));
        Ok(pass)
    }
}

/// The first line of `path`, without its line ending.
fn read_file(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let bytes = Zeroizing::new(crate::store::fs::read_input(path)?);
    Ok(Zeroizing::new(first_line(&bytes).to_vec()))
}

/// Everything before the first `\n` or `\r`: what `echo secret > FILE` writes, or a CRLF file.
pub fn first_line(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .position(|b| *b == b'\n' || *b == b'\r')
        .unwrap_or(bytes.len());
    &bytes[..end]
}

fn prompt(text: &str) -> Result<Zeroizing<Vec<u8>>> {
    let s = rpassword::prompt_password(text).map_err(|source| Error::Read {
        path: "the terminal".into(),
        source,
    })?;
    Ok(Zeroizing::new(s.into_bytes()))
}

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

/// Read a private key from PEM text: plain (PKCS#8, PKCS#1, SEC1) as
/// [`PrivateKey::from_pem`], or encrypted PKCS#8, asking `pass` only then.
/// `what` names the file in errors; no error quotes the content.
pub fn read_key(text: &str, what: &str, pass: &Passphrase) -> Result<PrivateKey> {
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
        return PrivateKey::from_pem(text, what);
    }
    let info = pkcs8::EncryptedPrivateKeyInfo::from_der(&der).map_err(|_| {
        Error::input(
            format!("{what} is not a valid encrypted private key"),
            "check that the file is complete and unmodified",
        )
    })?;
    check_cost(&info.encryption_algorithm, what)?;
    let secret = pass.existing(what)?;
    let doc = info.decrypt(&secret[..]).map_err(|_| {
        Error::input(
            format!("cannot decrypt {what}: wrong passphrase"),
            match &pass.file {
                Some(f) => format!(
                    "check the first line of {} (--passphrase-file or PKI_PASSPHRASE_FILE)",
                    f.display()
                ),
                None => "run the command again and type the passphrase the key was encrypted with"
                    .to_string(),
            },
        )
    })?;
    PrivateKey::from_pkcs8_der(Zeroizing::new(doc.as_bytes().to_vec()), what)
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
    use crate::x509::keys::{KeyFormat, KeyType};

    fn file_pass(dir: &Path, text: &str) -> Passphrase {
        let p = dir.join("pass");
        std::fs::write(&p, text).unwrap();
        Passphrase::new(Some(p))
    }

    #[test]
    fn encrypts_and_decrypts_with_the_first_line_only() {
        let d = tempfile::tempdir().unwrap();
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let pem = encrypt_pem(&key, b"s3cret").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        assert!(is_encrypted(&pem));
        let back = read_key(&pem, "k", &file_pass(d.path(), "s3cret\r\nignored\n")).unwrap();
        assert_eq!(
            back.public_key_der().unwrap(),
            key.public_key_der().unwrap()
        );
        let e = read_key(&pem, "k", &file_pass(d.path(), "wrong\n")).unwrap_err();
        assert_eq!(e.code(), 2);
        assert!(e.to_string().contains("wrong passphrase"), "{e}");
    }

    #[test]
    fn plain_keys_never_ask() {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let pem = key.to_pem(KeyFormat::Native).unwrap();
        // A passphrase file that does not exist: reading it would fail.
        let pass = Passphrase::new(Some("/nonexistent/pass".into()));
        read_key(&pem, "k", &pass).unwrap();
    }

    /// An encrypted key whose header asks for the given scrypt cost, with
    /// ciphertext that was never made (deriving the key is the costly part).
    fn scrypt_key(log_n: u8, r: u32, p: u32) -> String {
        let cost = pkcs5::scrypt::Params::new(log_n, r, p, 32).unwrap();
        let params = pbes2::Parameters::scrypt_aes256cbc(cost, &[7; 16], &[9; 16]).unwrap();
        let info = pkcs8::EncryptedPrivateKeyInfo {
            encryption_algorithm: pkcs5::EncryptionScheme::Pbes2(params),
            encrypted_data: &[0; 48],
        };
        let der = pkcs8::der::Encode::to_der(&info).unwrap();
        pem::encode(&pem::Pem::new(ENCRYPTED_LABEL, der))
    }

    #[test]
    fn hostile_scrypt_costs_are_refused_before_any_derivation() {
        let d = tempfile::tempdir().unwrap();
        let pass = file_pass(d.path(), "s3cret");
        // 4 GiB (N = 2^20, r = 32); 2^20 · 8 · 16 block mixes; N = 2^40.
        for (log_n, r, p) in [(20, 32, 1), (20, 8, 16), (40, 8, 1)] {
            let e = read_key(&scrypt_key(log_n, r, p), "k", &pass).unwrap_err();
            assert_eq!(e.code(), 2);
            assert!(e.to_string().contains("too costly"), "{log_n} {r} {p}: {e}");
        }
        // OpenSSL's own default (N = 2^14, r = 8, p = 1) is derived and
        // fails only on the passphrase check of the never-made ciphertext.
        let e = read_key(&scrypt_key(14, 8, 1), "k", &pass).unwrap_err();
        assert!(e.to_string().contains("wrong passphrase"), "{e}");
    }

    #[test]
    fn empty_passphrases_are_refused_for_new_keys() {
        let d = tempfile::tempdir().unwrap();
        let e = file_pass(d.path(), "\nsecond")
            .new_passphrase()
            .unwrap_err();
        assert_eq!(e.code(), 2);
        assert!(format!("{:?}", file_pass(d.path(), "x")).contains("redacted"));
    }

    #[test]
    fn a_cached_passphrase_never_reaches_debug_output() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("pass");
        std::fs::write(&f, "hunter2-SECRET\n").unwrap();
        let p = Passphrase::new(Some(f));
        assert_eq!(&p.existing("the CA key").unwrap()[..], b"hunter2-SECRET");
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("SECRET") && shown.contains("redacted"),
            "{shown}"
        );
    }
}
