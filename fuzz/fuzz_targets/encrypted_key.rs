//! secret::read_key on encrypted PKCS#8: the PBES2 header (scrypt or PBKDF2
//! costs, cipher, salt, IV) comes from the file, so a hostile one must be
//! refused or fail quickly, never panic or exhaust memory. Input that starts
//! with "-----" is PEM text as a user would give it; anything else is the
//! DER inside an ENCRYPTED PRIVATE KEY block. The passphrase is "pass".
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pki::x509::secret::{read_key, Passphrase, ENCRYPTED_LABEL};

fn passphrase() -> &'static Passphrase {
    static PASS: OnceLock<Passphrase> = OnceLock::new();
    PASS.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("pki-fuzz-pass-{}", std::process::id()));
        std::fs::write(&path, "pass\n").expect("write the passphrase file");
        Passphrase::new(Some(path))
    })
}

fuzz_target!(|data: &[u8]| {
    let text = if data.starts_with(b"-----") {
        match std::str::from_utf8(data) {
            Ok(t) => t.to_string(),
            Err(_) => return,
        }
    } else {
        pem::encode(&pem::Pem::new(ENCRYPTED_LABEL, data.to_vec()))
    };
    if let Ok(key) = read_key(&text, "fuzz", passphrase()) {
        key.public_key_der().expect("a decrypted key is usable");
    }
});
