//! The store's index.json, read into store::Index; what parses must round-trip.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = serde_json::from_slice::<pki::store::Index>(data) {
        let text = serde_json::to_vec(&index).expect("an index encodes");
        let again: pki::store::Index = serde_json::from_slice(&text).expect("and decodes");
        assert_eq!(serde_json::to_vec(&again).unwrap(), text);
    }
});
