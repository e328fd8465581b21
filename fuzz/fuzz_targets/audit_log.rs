//! audit::verify on arbitrary logs: never panics; a broken line is within the log.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match pki::store::audit::verify(text) {
        Ok(entries) => assert_eq!(entries.len(), text.lines().count()),
        Err((good, broken)) => {
            assert_eq!(good.len() + 1, broken.line);
            assert!(broken.line <= text.split_inclusive('\n').count());
        }
    }
});
