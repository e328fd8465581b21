//! CertInfo::from_pem (and pem_to_der beneath it).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = pki::certinfo::CertInfo::from_pem(text, "fuzz");
    if let Ok(der) = pki::certinfo::pem_to_der(text, "fuzz") {
        assert_eq!(
            pki::certinfo::pem_to_der(&pki::certinfo::der_to_pem(&der), "again").unwrap(),
            der
        );
    }
});
