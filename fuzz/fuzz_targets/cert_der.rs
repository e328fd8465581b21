//! CertInfo::from_der: every field pki reads from a certificate.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|der: &[u8]| {
    let _ = pki::x509::cert::CertInfo::from_der(der, "fuzz");
});
