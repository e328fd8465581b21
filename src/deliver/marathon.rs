//! The Marathon side of the ephemeral store: its `env` block, the full app
//! definition the seed document shows, and merging into an existing app.
//!
//! The env values are plain strings (Marathon rejects numbers and booleans);
//! PEM keeps its real line breaks and the JSON encoder escapes them.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

pub const ORCHESTRATION: &str = "ORCHESTRATION";
pub const USER: &str = "EPHEMERAL_STORE_USER";
pub const CA_CERT: &str = "EPHEMERAL_STORE_ROOT_CA_CERT";
pub const CA_KEY: &str = "EPHEMERAL_STORE_ROOT_CA_KEY";
/// The keys `pki` owns in an app's env; every other variable is left alone.
pub const ENV_KEYS: [&str; 4] = [ORCHESTRATION, USER, CA_CERT, CA_KEY];

/// The image the seed document deploys.
pub const DEFAULT_IMAGE: &str = "f5networks/ephemeral-store:latest";
pub const DEFAULT_APP_ID: &str = "/ephemeral-store";
/// Five instances: the seed document warns that fewer may lose data.
pub const INSTANCES: u32 = 5;

/// The `EPHEMERAL_STORE_USER` value, character for character as documented:
/// `{ "name" : "myuser", "auth_mode" : "certificate" }`.
pub fn user_json(name: &str) -> String {
    let quoted = Value::String(name.to_string()).to_string();
    format!("{{ \"name\" : {quoted}, \"auth_mode\" : \"certificate\" }}")
}

/// The env object: exactly the four keys, in the documented order.
pub fn env_block(user: &str, ca_cert_pem: &str, ca_key_pem: &str) -> Map<String, Value> {
    let mut env = Map::new();
    env.insert(ORCHESTRATION.into(), "marathon".into());
    env.insert(USER.into(), user_json(user).into());
    env.insert(CA_CERT.into(), ca_cert_pem.into());
    env.insert(CA_KEY.into(), ca_key_pem.into());
    env
}

/// The full ephemeral-store app definition, as the seed document deploys it:
/// five instances of 1 CPU and 1 GiB, Docker with HOST networking, and the
/// Riak ports 8087 (protobuf), 4369 (epmd) and 8099 (handoff).
pub fn app_definition(id: &str, image: &str, env: Map<String, Value>) -> Value {
    serde_json::json!({
        "id": id,
        "instances": INSTANCES,
        "cpus": 1,
        "mem": 1024,
        "env": env,
        "container": {
            "type": "DOCKER",
            "docker": {
                "image": image,
                "network": "HOST",
                "forcePullImage": true
            }
        },
        "portDefinitions": [
            { "port": 8087, "protocol": "tcp", "name": "proto", "labels": { "VIP_0": format!("{}:8087", id.trim_start_matches('/')) } },
            { "port": 4369, "protocol": "tcp", "name": "epmd", "labels": {} },
            { "port": 8099, "protocol": "tcp", "name": "handoff", "labels": {} }
        ],
        "requirePorts": true
    })
}

/// Check a Marathon app id against the schema's rule: slash-separated
/// names of `a-z 0-9 - .`, not starting or ending with a dash.
pub fn validate_app_id(id: &str) -> Result<()> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && !p.starts_with('-')
            && !p.ends_with('-')
    };
    let body = id.strip_prefix('/').unwrap_or(id);
    if body.split('/').all(ok_part) {
        Ok(())
    } else {
        Err(Error::input(
            format!("app id {id:?} is not a valid Marathon app id"),
            "use slash-separated names of a-z 0-9 - . that neither start nor end with a dash, e.g. /ephemeral-store",
        ))
    }
}

/// Parse an app file as JSON. The vendor's controller example writes
/// `ASP_EPHEMERAL_STORE` as a string broken over lines, which JSON does not
/// allow; when the text does not parse as it is, line breaks and tabs
/// inside strings are read as `\n`, `\r` and `\t` and it is tried again.
/// Returns the value and whether that was needed; the error is the strict
/// parse's.
pub fn parse_app_text(text: &str) -> serde_json::Result<(Value, bool)> {
    let strict = match parse_app_json(text) {
        Ok(v) => return Ok((v, false)),
        Err(e) => e,
    };
    let mut relaxed = String::with_capacity(text.len());
    let (mut in_string, mut escaped, mut changed) = (false, false, false);
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' if in_string => {
                relaxed.push_str(match c {
                    '\n' => "\\n",
                    '\r' => "\\r",
                    _ => "\\t",
                });
                changed = true;
                escaped = false;
                continue;
            }
            '"' if !escaped => in_string = !in_string,
            _ => {}
        }
        escaped = in_string && c == '\\' && !escaped;
        relaxed.push(c);
    }
    match changed.then(|| parse_app_json(&relaxed)) {
        Some(Ok(v)) => Ok((v, true)),
        _ => Err(strict),
    }
}

/// Set the four env keys in an app definition, keeping every other field,
/// every other variable and the order of keys. Refuses what is not an app.
pub fn merge(app: &mut Value, env: Map<String, Value>, what: &str) -> Result<()> {
    merge_with(app, what, |target| {
        for (k, v) in env {
            target.insert(k, v);
        }
        Ok(())
    })
}

/// Check that `app` is one Marathon app (already taken out of GET's
/// wrapper by [`unwrap_app`]) and hand its env (made when
/// missing) to `set`, which changes only the variables it owns. Every
/// other field and the order of keys stay as they are.
pub fn merge_with<R>(
    app: &mut Value,
    what: &str,
    set: impl FnOnce(&mut Map<String, Value>) -> Result<R>,
) -> Result<R> {
    let not_app = |why: &str| {
        Error::input(
            format!("{what} is not a Marathon app definition: {why}"),
            "give the JSON of one app, as `GET /v2/apps/ID` returns it or as you POST it",
        )
    };
    // GET's `{"app": {...}}` was taken off once by `unwrap_app`; a second
    // wrapper is no app (merging into it would send an empty env).
    let obj = match app {
        Value::Object(o) => o,
        _ => return Err(not_app("it is not a JSON object")),
    };
    if is_wrapper(obj) {
        return Err(not_app(
            "it wraps the app in \"app\" more than once; give one app or one `GET /v2/apps/ID` answer",
        ));
    }
    match obj.get("id") {
        Some(Value::String(id)) => {
            validate_app_id(id).map_err(|_| not_app("its \"id\" is not a valid app id"))?
        }
        Some(_) => return Err(not_app("its \"id\" is not a string")),
        None => return Err(not_app("it has no \"id\"")),
    }
    if obj.contains_key("apps") || obj.contains_key("groups") {
        return Err(not_app("it is a group; give the app itself"));
    }
    let slot = obj
        .entry("env")
        .or_insert_with(|| Value::Object(Map::new()));
    let target = slot
        .as_object_mut()
        .ok_or_else(|| not_app("its \"env\" is not an object"))?;
    set(target)
}

/// Set `secrets` (name to `{"source": ...}`) in an app's `secrets`, made
/// when missing; every other secret is kept, and the order of keys. The
/// app was checked by [`merge_with`]; a `secrets` that is not an object is
/// refused (`what` names the app).
pub fn set_secrets(app: &mut Value, secrets: &Map<String, Value>, what: &str) -> Result<()> {
    let Some(obj) = app.as_object_mut() else {
        return Err(Error::input(
            format!("{what} is not a Marathon app definition: it is not a JSON object"),
            "give the JSON of one app, as `GET /v2/apps/ID` returns it or as you POST it",
        ));
    };
    let slot = obj
        .entry("secrets")
        .or_insert_with(|| Value::Object(Map::new()));
    let target = slot.as_object_mut().ok_or_else(|| {
        Error::input(
            format!("{what} has a \"secrets\" that is not an object"),
            "fix it to {\"NAME\": {\"source\": \"...\"}, ...}, or remove it",
        )
    })?;
    for (k, v) in secrets {
        target.insert(k.clone(), v.clone());
    }
    Ok(())
}

/// The app of a `GET /v2/apps/ID` answer (`{"app": {...}}`), or `app`
/// itself when it is not wrapped: exactly one level is taken off, here
/// only, for the merge and what is read back from it alike, so an answer
/// wrapped twice stays wrapped and [`merge_with`] refuses it.
pub fn unwrap_app(app: Value) -> Value {
    match app {
        Value::Object(mut o) if is_wrapper(&o) => o.shift_remove("app").expect("checked above"),
        other => other,
    }
}

/// `{"app": {...}}`: an object whose one field is an object named `app`.
fn is_wrapper(o: &Map<String, Value>) -> bool {
    o.len() == 1 && o.get("app").is_some_and(Value::is_object)
}

/// Fields `GET /v2/apps/ID` adds that are Marathon's own record, not part
/// of the definition: Marathon refuses them on PUT (`version` may only be
/// combined with `id`, a rollback; the others are not AppDefinition fields).
pub const READ_ONLY: [&str; 11] = [
    "version",
    "versionInfo",
    "tasksStaged",
    "tasksRunning",
    "tasksHealthy",
    "tasksUnhealthy",
    "deployments",
    "tasks",
    "lastTaskFailure",
    "taskStats",
    "readinessCheckResults",
];

/// An app file's JSON text as a value, refusing an object that names a key
/// twice: serde_json would keep the last silently (a second `"env"` would
/// drop the first, and with it variables the operator meant to keep), and
/// which one Marathon takes is not defined (RFC 8259 4).
pub fn parse_app_json(text: &str) -> std::result::Result<Value, serde_json::Error> {
    use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

    struct Unique(Value);
    impl<'de> Deserialize<'de> for Unique {
        fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            d.deserialize_any(UniqueVisitor).map(Unique)
        }
    }
    struct UniqueVisitor;
    impl<'de> Visitor<'de> for UniqueVisitor {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
            Ok(Value::String(v.to_string()))
        }
        fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> std::result::Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
            let mut out = Vec::new();
            while let Some(Unique(v)) = seq.next_element()? {
                out.push(v);
            }
            Ok(Value::Array(out))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
            let mut out = Map::new();
            while let Some(k) = map.next_key::<String>()? {
                if out.contains_key(&k) {
                    return Err(A::Error::custom(format!("duplicate key {k:?}")));
                }
                let Unique(v) = map.next_value()?;
                out.insert(k, v);
            }
            Ok(Value::Object(out))
        }
    }
    serde_json::from_str::<Unique>(text).map(|u| u.0)
}

/// An app as `GET /v2/apps/ID` answers it, made into one Marathon takes
/// back on PUT: the `{"app": ...}` wrapper taken off, the [`READ_ONLY`]
/// fields and every `null` (GET's way of saying "not set", which the
/// schema refuses) dropped, and `ports` or `uris` dropped where GET
/// reports them beside `portDefinitions` or `fetch`, which Marathon
/// refuses together. Returns what was dropped, for the command to say.
/// Anything else is left as it was; a value that is no app is returned
/// unchanged, for [`merge_with`] to refuse with its reason.
pub fn for_put(app: Value) -> (Value, Vec<String>) {
    let mut app = unwrap_app(app);
    let mut dropped = Vec::new();
    let Some(obj) = app.as_object_mut() else {
        return (app, dropped);
    };
    for f in READ_ONLY {
        if obj.shift_remove(f).is_some() {
            dropped.push(f.to_string());
        }
    }
    for (field, beside) in [("ports", "portDefinitions"), ("uris", "fetch")] {
        if obj.contains_key(beside) && obj.shift_remove(field).is_some() {
            dropped.push(format!("{field} (beside {beside})"));
        }
    }
    drop_nulls(obj, "", &mut dropped);
    (app, dropped)
}

fn drop_nulls(obj: &mut Map<String, Value>, at: &str, dropped: &mut Vec<String>) {
    obj.retain(|k, v| {
        if v.is_null() {
            dropped.push(format!("{at}{k} (null)"));
        }
        !v.is_null()
    });
    for (k, v) in obj.iter_mut() {
        if let Value::Object(inner) = v {
            drop_nulls(inner, &format!("{at}{k}."), dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_inside_strings_are_read_as_escapes() {
        let (v, relaxed) = parse_app_text("{\"a\": \"x\\\"\n\ty\"}").unwrap();
        assert!(relaxed);
        assert_eq!(v["a"], "x\"\n\ty");
        let (v, relaxed) = parse_app_text("{\n\"a\": \"b\"\n}").unwrap();
        assert!(!relaxed);
        assert_eq!(v["a"], "b");
        // What is still no JSON gets the strict parse's error.
        let e = parse_app_text("{\"a\": \"b\n\", // c\n}").unwrap_err();
        assert!(e.to_string().contains("control character"), "{e}");
        assert!(parse_app_text("{\"a\": 1,}").is_err());
    }

    #[test]
    fn app_json_with_a_key_twice_is_refused_at_any_depth() {
        let ok = r#"{"id":"/a","env":{"A":"1"},"n":[1,-2,0.5,null,true]}"#;
        assert_eq!(
            parse_app_json(ok).unwrap(),
            serde_json::from_str::<Value>(ok).unwrap()
        );
        for bad in [
            r#"{"env":{"A":"1"},"env":{"B":"2"}}"#,
            r#"{"app":{"env":{"A":"1","A":"2"}}}"#,
            r#"[{"x":1,"x":1}]"#,
        ] {
            let e = parse_app_json(bad).unwrap_err().to_string();
            assert!(e.starts_with("duplicate key"), "{bad}: {e}");
        }
    }

    #[test]
    fn user_json_is_character_for_character_the_documented_string() {
        assert_eq!(
            user_json("myuser"),
            r#"{ "name" : "myuser", "auth_mode" : "certificate" }"#
        );
        let v: Value = serde_json::from_str(&user_json("a.b@c")).unwrap();
        assert_eq!(v["name"], "a.b@c");
        assert_eq!(v["auth_mode"], "certificate");
    }

    #[test]
    fn env_block_has_exactly_the_four_string_keys() {
        let env = env_block("u", "C\nD\n", "K\nL\n");
        assert_eq!(
            env.keys().collect::<Vec<_>>(),
            ENV_KEYS.iter().collect::<Vec<_>>()
        );
        assert!(env.values().all(Value::is_string));
        let text = serde_json::to_string(&env).unwrap();
        assert!(text.contains(r#""C\nD\n""#), "{text}");
    }

    #[test]
    fn merge_keeps_everything_else_in_order() {
        let mut app: Value = serde_json::from_str(
            r#"{"id":"/x","z":1,"env":{"A":"1","ORCHESTRATION":"old","B":"2"},"a":2}"#,
        )
        .unwrap();
        merge(&mut app, env_block("u", "c", "k"), "app.json").unwrap();
        let keys: Vec<_> = app.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["id", "z", "env", "a"]);
        let env: Vec<_> = app["env"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(env, ["A", "ORCHESTRATION", "B", USER, CA_CERT, CA_KEY]);
        assert_eq!(app["env"]["ORCHESTRATION"], "marathon");
        assert_eq!(app["env"]["A"], "1");
    }

    #[test]
    fn merge_refuses_what_is_not_an_app() {
        for bad in [
            r#"[]"#,
            r#""x""#,
            r#"{"env":{}}"#,
            r#"{"id":5}"#,
            r#"{"id":"/x","env":[]}"#,
            r#"{"id":"/x","apps":[]}"#,
            r#"{"id":"/Bad_Id"}"#,
        ] {
            let mut v: Value = serde_json::from_str(bad).unwrap();
            let e = merge(&mut v, env_block("u", "c", "k"), "f").unwrap_err();
            assert_eq!(e.code(), 2, "{bad}");
            assert!(
                e.to_string().contains("not a Marathon app definition"),
                "{e}"
            );
        }
    }

    #[test]
    fn one_wrapper_is_taken_off_and_a_second_is_refused() {
        let once = serde_json::json!({"app": {"id": "/a", "env": {"OTHER": "1"}}});
        assert_eq!(unwrap_app(once)["env"]["OTHER"], "1");
        let twice = serde_json::json!({"app": {"app": {"id": "/a", "env": {"OTHER": "1"}}}});
        let mut v = unwrap_app(twice);
        let e = merge(&mut v, env_block("u", "c", "k"), "f").unwrap_err();
        assert_eq!(e.code(), 2);
        assert!(e.to_string().contains("more than once"), "{e}");
    }

    #[test]
    fn secrets_are_set_beside_the_others_and_a_bad_block_is_refused() {
        let mut app = serde_json::json!({"id": "/a", "secrets": {"db": {"source": "x"}}});
        let mut ours = Map::new();
        ours.insert("pki".into(), serde_json::json!({"source": "/p@f"}));
        set_secrets(&mut app, &ours, "f").unwrap();
        assert_eq!(
            app["secrets"],
            serde_json::json!({"db": {"source": "x"}, "pki": {"source": "/p@f"}})
        );
        let mut bare = serde_json::json!({"id": "/a"});
        set_secrets(&mut bare, &ours, "f").unwrap();
        assert_eq!(bare["secrets"]["pki"]["source"], "/p@f");
        let mut bad = serde_json::json!({"id": "/a", "secrets": []});
        assert_eq!(set_secrets(&mut bad, &ours, "f").unwrap_err().code(), 2);
    }

    #[test]
    fn app_ids_follow_the_schema_rule() {
        for ok in ["/ephemeral-store", "ephemeral-store", "/a/b.c/d-1"] {
            validate_app_id(ok).unwrap();
        }
        for bad in ["", "/", "/-a", "/a-", "/A", "/a//b", "/a_b"] {
            assert!(validate_app_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_get_answer_is_made_fit_to_put_back() {
        let answer: Value = serde_json::from_str(
            r#"{"app": {"id": "/a", "cmd": null, "env": {"A": "1"}, "ports": [1], "portDefinitions": [],
                "uris": [], "fetch": [], "container": {"docker": {"image": "i", "portMappings": null}},
                "version": "v", "tasksRunning": 1, "labels": {}}}"#,
        )
        .unwrap();
        let (app, dropped) = for_put(answer);
        assert_eq!(
            app,
            serde_json::json!({"id": "/a", "env": {"A": "1"}, "portDefinitions": [], "fetch": [],
                "container": {"docker": {"image": "i"}}, "labels": {}})
        );
        assert_eq!(
            dropped,
            [
                "version",
                "tasksRunning",
                "ports (beside portDefinitions)",
                "uris (beside fetch)",
                "cmd (null)",
                "container.docker.portMappings (null)"
            ]
        );
        let keys: Vec<_> = app.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "id",
                "env",
                "portDefinitions",
                "fetch",
                "container",
                "labels"
            ]
        );
        // What is no app passes through for merge to refuse; a plain app is untouched.
        assert_eq!(for_put(Value::Null), (Value::Null, vec![]));
        let plain = serde_json::json!({"id": "/a", "ports": [1]});
        assert_eq!(for_put(plain.clone()), (plain, vec![]));
    }
}
