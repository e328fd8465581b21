//! sign's CSR parser (PEM or DER PKCS#10).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pki::x509::csr::parse_csr(data, "fuzz");
});
