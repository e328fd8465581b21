//! PrivateKey::from_pem: PKCS#8, PKCS#1, SEC1 and anything else.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(k) = pki::x509::keys::PrivateKey::from_pem(text, "fuzz") {
        // A key that parses must re-encode and parse again.
        for f in [
            pki::x509::keys::KeyFormat::Native,
            pki::x509::keys::KeyFormat::Pkcs8,
        ] {
            let pem = k.to_pem(f).expect("a parsed key re-encodes");
            pki::x509::keys::PrivateKey::from_pem(&pem, "again").expect("and parses again");
        }
    }
});
