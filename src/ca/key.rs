//! The CA's key as the layer that signs uses it: where the passphrase of
//! an encrypted key comes from, reading key files (decrypting them), the
//! signer of a store's CA, and a new CA key's PEM (encrypted or not).
//!
//! A passphrase comes from `--passphrase-file FILE` (or `PKI_PASSPHRASE_FILE`):
//! the file's first line, its line ending stripped. Without a file, and only
//! when stdin is a terminal, it is asked for without echo. It never comes
//! from a command-line argument, where `ps` and shell history would show it.
//! Nothing asks until a key that is actually encrypted must be read, so
//! commands that do not sign (list, show, export files) never do. The
//! passphrase lives in a zeroizing buffer and is never printed.

use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::store::{fs, CaEntry, Index, Store};
use crate::x509::cert::CertInfo;
use crate::x509::keys::{KeyFormat, PrivateKey};
use crate::x509::profile::Signer;
use crate::x509::secret::{self, KeyPem, Redacted, Secret};

/// The one hint for a missing passphrase.
const HOW: &str = "pass --passphrase-file FILE (or set PKI_PASSPHRASE_FILE) holding the passphrase on its first line, or run pki from a terminal to be asked";

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
    let bytes = Zeroizing::new(fs::read_input(path)?);
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

/// Read a private key from PEM text: plain (PKCS#8, PKCS#1, SEC1), or
/// encrypted PKCS#8, asking `pass` only then. `what` names the file in
/// errors; no error quotes the content.
pub fn read_key(text: &str, what: &str, pass: &Passphrase) -> Result<PrivateKey> {
    let encrypted = match secret::parse_key(text, what)? {
        KeyPem::Plain(key) => return Ok(key),
        KeyPem::Encrypted(e) => e,
    };
    let secret = pass.existing(what)?;
    encrypted.decrypt(&secret[..])?.ok_or_else(|| {
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
    })
}

/// Read a private key from a user-given file (`-`: stdin), decrypting it
/// with `pass` when it is encrypted PKCS#8. The error names the file, never
/// its content.
pub fn read_key_file(path: &Path, pass: &Passphrase) -> Result<PrivateKey> {
    let text = Zeroizing::new(fs::read_input_text(path)?);
    read_key(&text, &path.display().to_string(), pass)
}

/// Read a key file of the store; an encrypted one is decrypted with `pass`
/// (asked for only then).
pub fn read_store_key(store: &Store, rel: &Path, pass: &Passphrase) -> Result<PrivateKey> {
    let text = Zeroizing::new(store.read_text(rel)?);
    read_key(&text, &store.path(rel).display().to_string(), pass)
}

/// The current CA, ready to sign.
pub fn signer(store: &Store, index: &Index, pass: &Passphrase) -> Result<Signer> {
    signer_for(store, index.ca(store)?, pass)
}

/// The CA of `ca`, ready to sign: its key checked against its certificate
/// first ([`ca_pair`]), so nothing is signed with a key no verifier would
/// accept.
pub fn signer_for(store: &Store, ca: &CaEntry, pass: &Passphrase) -> Result<Signer> {
    let (der, key) = ca_pair(store, ca, pass)?;
    let signer = Signer::new(der, key)?;
    crate::ui::trace(format!(
        "read {} and {}: the CA, to sign",
        store.path(&ca.cert).display(),
        store.path(&ca.key).display()
    ));
    Ok(signer)
}

/// The certificate (DER) and the key of the CA `ca`, refused (exit 2) when
/// the key's public half is not the certificate's: every act that signs
/// with the CA or ships its key (issue, sign, rotate, crl, rollover
/// advance, export marathon and k8s, deploy marathon) reads the pair here, so a key planted or
/// restored from the wrong backup signs nothing and leaves the store
/// unchanged, as `openssl ca` refuses it.
pub fn ca_pair(store: &Store, ca: &CaEntry, pass: &Passphrase) -> Result<(Vec<u8>, PrivateKey)> {
    let der = store.read_cert_der(&ca.cert)?;
    let key = read_store_key(store, &ca.key, pass)?;
    let info = CertInfo::from_der(&der, &store.path(&ca.cert).display().to_string())?;
    if key.public_key_der()? != info.spki_der {
        return Err(Error::input(
            format!(
                "the CA key in the store does not match the CA certificate (serial {})",
                ca.serial
            ),
            "restore the key that belongs to it from a backup, or make a new CA with `pki rotate --ca --force` and redeploy",
        ));
    }
    Ok((der, key))
}

/// A CA key's PEM as the store keeps it: encrypted PKCS#8 under `pass`
/// when given, else plain in `format`.
pub fn key_pem(
    key: &PrivateKey,
    format: KeyFormat,
    pass: Option<&Zeroizing<Vec<u8>>>,
) -> Result<Zeroizing<String>> {
    match pass {
        Some(p) => secret::encrypt_pem(key, p),
        None => key.to_pem(format),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::x509::keys::KeyType;
    use crate::x509::secret::{encrypt_pem, is_encrypted, ENCRYPTED_LABEL};
    use pkcs8::pkcs5::{self, pbes2};

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
