//! policy::Within::from_str (the --within flag: 30d, 12h, 33%).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    let _ = s.parse::<pki::ca::policy::Within>();
});
