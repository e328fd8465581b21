//! CertInfo::from_pem (and pem_to_der beneath it).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = pki::x509::cert::CertInfo::from_pem(text, "fuzz");
    if let Ok(der) = pki::x509::cert::pem_to_der(text, "fuzz") {
        assert_eq!(
            pki::x509::cert::pem_to_der(&pki::x509::cert::der_to_pem(&der), "again").unwrap(),
            der
        );
    }
});
