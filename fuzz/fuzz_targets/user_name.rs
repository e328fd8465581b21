//! names::validate_user against its specification.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|name: &str| {
    let ok = pki::x509::names::validate_user(name).is_ok();
    let spec = (1..=64).contains(&name.chars().count())
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '@' | '-')
        })
        && !pki::x509::names::RESERVED.contains(&name)
        && !pki::x509::names::PATH_NAMES.contains(&name);
    assert_eq!(ok, spec, "{name:?}");
});
