//! secret::parse_key and EncryptedKey::decrypt on encrypted PKCS#8: the
//! PBES2 header (scrypt or PBKDF2 costs, cipher, salt, IV) comes from the
//! file, so a hostile one must be refused or fail quickly, never panic or
//! exhaust memory. Input that starts with "-----" is PEM text as a user
//! would give it; anything else is the DER inside an ENCRYPTED PRIVATE KEY
//! block. The passphrase is "pass".
#![no_main]
use libfuzzer_sys::fuzz_target;
use pki::x509::secret::{parse_key, KeyPem, ENCRYPTED_LABEL};

fuzz_target!(|data: &[u8]| {
    let text = if data.starts_with(b"-----") {
        match std::str::from_utf8(data) {
            Ok(t) => t.to_string(),
            Err(_) => return,
        }
    } else {
        pem::encode(&pem::Pem::new(ENCRYPTED_LABEL, data.to_vec()))
    };
    let key = match parse_key(&text, "fuzz") {
        Ok(KeyPem::Plain(k)) => k,
        Ok(KeyPem::Encrypted(e)) => match e.decrypt(b"pass") {
            Ok(Some(k)) => k,
            _ => return,
        },
        Err(_) => return,
    };
    key.public_key_der().expect("a decrypted key is usable");
});
