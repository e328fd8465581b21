//! marathon::merge on arbitrary JSON: refuse or set exactly the four keys.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut app) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let env = pki::deliver::marathon::env_block("u", "C", "K");
    if pki::deliver::marathon::merge(&mut app, env.clone(), "fuzz").is_ok() {
        let obj = match app.get("app") {
            Some(inner) if app.as_object().unwrap().len() == 1 && inner.is_object() => inner,
            _ => &app,
        };
        for (k, v) in &env {
            assert_eq!(&obj["env"][k], v);
        }
    }
});
