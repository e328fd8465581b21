//! The client half on Marathon: the `marathon-asp-ctlr` app's
//! `ASP_EPHEMERAL_STORE`, through which every ASP instance gets the address
//! of the store, its users' keys and certificates, and the root CA
//! certificate (`shared/vendor/f5-marathon-asp-ctlr-example.json`,
//! `shared/vendor/asp-install-marathon.rst`).
//!
//! The value is a JSON object serialised into a string (Marathon's env
//! values are strings):
//!
//! ```text
//! {"host": H, "port": N, "users": {USER: {"key": PEM, "cert": PEM}, ...}, "root-ca": PEM}
//! ```
//!
//! `port` is a JSON number; PEM keeps its real line breaks (the JSON
//! encoder escapes them, and again when the string goes into the app's
//! JSON). It carries users' private keys but never the CA key: the
//! controller only logs in, it does not mint.
//!
//! Everything here is pure: [`crate::deliver::material::asp_material`]
//! reads the store, the command layer checks its flags and prints; these
//! functions build, merge and redact values.

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::deliver::Pair;
use crate::error::{Error, Result};

/// The controller's env variable this module owns; nothing else is touched.
pub const ENV_KEY: &str = "ASP_EPHEMERAL_STORE";
/// The DC/OS layer-4 load-balancer name of the store app's `VIP_0` label
/// `ephemeral-store:8087` (`<label name>.marathon.l4lb.thisdcos.directory`).
pub const DEFAULT_HOST: &str = "ephemeral-store.marathon.l4lb.thisdcos.directory";
/// Riak's protocol-buffers port, where the store listens for clients.
pub const DEFAULT_PORT: u16 = 8087;
/// The vendor's controller app.
pub const DEFAULT_APP_ID: &str = "/marathon-asp-ctlr";
pub const DEFAULT_IMAGE: &str = "f5networks/marathon-asp-ctlr:1.1.0";
/// Marathon's address inside a DC/OS cluster (Mesos-DNS); the vendor's
/// example gives an IP address of its own lab instead.
pub const DEFAULT_MARATHON_URL: &str = "http://marathon.mesos:8080";
/// The controller's own env variable for Marathon's address.
pub const MARATHON_URL: &str = "MARATHON_URL";

/// The global ASP settings of the vendor's example, with its values, in its
/// order. `ASP_EPHEMERAL_STORE` follows them. The example's
/// `ASP_DEFAULT_STATS_URL`, `_TOKEN` and `_BACKEND` ("include if sending
/// stats to an external service") are placeholders and left out: give
/// them with `--env`.
pub const VENDOR_ENV: [(&str, &str); 7] = [
    ("ASP_DEFAULT_CONTAINER", "store/f5networks/asp:1.1.0"),
    ("ASP_ENABLE_LABEL", "f5-asp"),
    ("ASP_DEFAULT_URIS", "file:///etc/docker.tar.gz"),
    ("ASP_DEFAULT_CPU", "1"),
    ("ASP_DEFAULT_MEM", "256"),
    ("ASP_DEFAULT_LOG_LEVEL", "debug"),
    ("ASP_DEFAULT_STATS_FLUSH_INTERVAL", "10000"),
];

/// What `--dry-run` shows instead of a user's private key.
pub fn redacted_key(user: &str) -> String {
    format!("<redacted: private key of {user}>")
}

/// One user's material, as the store holds it.
pub struct UserPem<'a> {
    pub name: &'a str,
    pub key: &'a str,
    pub cert: &'a str,
}

/// What one export or deploy sets in the value.
pub struct Update<'a> {
    pub users: Vec<UserPem<'a>>,
    pub root_ca: &'a str,
    /// `--store-host`; `None` keeps the existing host (or the default).
    pub host: Option<&'a str>,
    /// `--store-port`; `None` keeps the existing port (or the default).
    pub port: Option<u16>,
    /// Users a merge drops from the value when it holds them (unless named).
    pub retire: &'a [Retire],
}

/// A user a merge drops: asked for (`--remove`), or one the store no
/// longer has a current certificate for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retire {
    pub name: String,
    /// Why the store dropped it ("it is revoked"); `None`: `--remove`.
    pub why: Option<String>,
}

/// What the store gives for `export asp` / `deploy asp`: each named user's
/// key and certificate, and the CA certificate (never the CA key).
pub struct Material {
    /// (user, serial, key and certificate), in the order named.
    pub users: Vec<(String, String, Pair)>,
    pub root_ca: String,
    /// The users a merge drops ([`Retire`]).
    pub retire: Vec<Retire>,
}

impl Material {
    /// The names, in order.
    pub fn names(&self) -> Vec<String> {
        self.users.iter().map(|(u, _, _)| u.clone()).collect()
    }

    /// The update this material makes, at `host`/`port` when given.
    pub fn update<'a>(&'a self, host: Option<&'a str>, port: Option<u16>) -> Update<'a> {
        Update {
            users: self
                .users
                .iter()
                .map(|(name, _, p)| UserPem {
                    name,
                    key: &p.key,
                    cert: &p.cert,
                })
                .collect(),
            root_ca: &self.root_ca,
            host,
            port,
            retire: &self.retire,
        }
    }
}

/// One warning for each kept user that cannot log in to this store: its
/// `cert` is no certificate, or chains to none of the CAs of `root_ca` (the
/// store's trust bundle: during a rollover, both CAs).
pub fn kept_warnings(kept: &[Kept], root_ca: &str) -> Vec<String> {
    let cas: Vec<Vec<u8>> = ::pem::parse_many(root_ca.as_bytes())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(::pem::Pem::into_contents)
        .collect();
    kept.iter()
        .filter_map(|k| {
            let name = crate::error::one_line(&format!("{:?}", k.name));
            let der = k
                .cert
                .as_deref()
                .and_then(|c| crate::x509::cert::pem_to_der(c, "cert").ok())
                .filter(|d| crate::x509::cert::CertInfo::from_der(d, "cert").is_ok());
            let why = match der {
                None => "its \"cert\" is not a certificate".to_string(),
                Some(d) => {
                    let mut problems = cas
                        .iter()
                        .map(|ca| crate::ca::checks::chain_problem(&d, ca));
                    // Silent when it chains to one of them (or there is no CA to judge by).
                    let first = problems.next()??;
                    if problems.any(|p| p.is_none()) {
                        return None;
                    }
                    format!("its certificate does not chain to the store's CA: it {first}")
                }
            };
            Some(format!(
                "user {name} in {ENV_KEY} was kept as it was, but {why}, so it cannot log in; deploy it from this store with --user, or drop it with --remove {name}"
            ))
        })
        .collect()
}

/// A user entry the merge kept as it was, for the caller to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub name: String,
    /// The entry's `cert`, when it is a string.
    pub cert: Option<String>,
}

/// A store address the controller could misread: not a DNS name or an IP
/// address (the command that took it says which flag gave it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHost;

/// Check a store address: a DNS name or an IP address, nothing the
/// controller could misread.
pub fn validate_host(host: &str) -> Result<(), BadHost> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if ok {
        Ok(())
    } else {
        Err(BadHost)
    }
}

fn user_entry(u: &UserPem) -> Value {
    let mut e = Map::new();
    e.insert("key".into(), Value::String(u.key.to_string()));
    e.insert("cert".into(), Value::String(u.cert.to_string()));
    Value::Object(e)
}

fn encode(v: &Value) -> Zeroizing<String> {
    Zeroizing::new(serde_json::to_string(v).expect("JSON values encode"))
}

/// A fresh value: host, port, the users, root-ca, in that order.
pub fn store_value(u: &Update) -> Zeroizing<String> {
    let mut users = Map::new();
    for user in &u.users {
        users.insert(user.name.to_string(), user_entry(user));
    }
    let mut v = Map::new();
    v.insert("host".into(), u.host.unwrap_or(DEFAULT_HOST).into());
    v.insert("port".into(), u.port.unwrap_or(DEFAULT_PORT).into());
    v.insert("users".into(), Value::Object(users));
    v.insert("root-ca".into(), u.root_ca.into());
    encode(&Value::Object(v))
}

/// The env block `export asp` prints: `{"ASP_EPHEMERAL_STORE": "<string>"}`.
pub fn env_block(u: &Update) -> Map<String, Value> {
    let mut env = Map::new();
    env.insert(ENV_KEY.into(), Value::String(store_value(u).to_string()));
    env
}

/// Parse an existing value; `what` names where it came from.
fn parse(existing: &str, what: &str) -> Result<Map<String, Value>> {
    let refuse = |why: String| {
        Error::input(
            format!("{ENV_KEY} in {what} is not a JSON object in a string: {why}"),
            format!("fix it, or remove {ENV_KEY} from the app to have pki write it afresh"),
        )
    };
    match serde_json::from_str::<Value>(existing) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(refuse("its JSON is not an object".into())),
        Err(e) => Err(refuse(crate::error::one_line(&e))),
    }
}

/// Merge into an existing value: the named users' entries and `root-ca`
/// set, `host`/`port` kept unless `u` gives them (the defaults when
/// missing), the users of `u.retire` it holds dropped, every other user
/// and field kept exactly, in order. Returns the new value, the users kept
/// and the users dropped.
pub fn merge_value(
    existing: &str,
    u: &Update,
    what: &str,
) -> Result<(Zeroizing<String>, Vec<Kept>, Vec<Retire>)> {
    let mut v = parse(existing, what)?;
    let bad_field = |field: &str, want: &str, flag: &str| {
        Error::input(
            format!("{ENV_KEY} in {what} has a \"{field}\" that is not {want}"),
            format!("fix it, or give {flag} to replace it"),
        )
    };
    match (u.host, v.get("host")) {
        (Some(h), _) => {
            v.insert("host".into(), h.into());
        }
        (None, None) => {
            v.insert("host".into(), DEFAULT_HOST.into());
        }
        (None, Some(Value::String(_))) => {}
        (None, Some(_)) => return Err(bad_field("host", "a string", "--store-host")),
    }
    match (u.port, v.get("port")) {
        (Some(p), _) => {
            v.insert("port".into(), p.into());
        }
        (None, None) => {
            v.insert("port".into(), DEFAULT_PORT.into());
        }
        (None, Some(Value::Number(n))) if n.as_u64().is_some_and(|p| (1..=65535).contains(&p)) => {}
        (None, Some(_)) => return Err(bad_field("port", "a port number", "--store-port")),
    }
    let users = v
        .entry("users")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(users) = users else {
        return Err(Error::input(
            format!("{ENV_KEY} in {what} has \"users\" that is not an object"),
            "fix it to {\"NAME\": {\"key\": PEM, \"cert\": PEM}, ...}, or remove the value to start afresh",
        ));
    };
    let named: Vec<&str> = u.users.iter().map(|x| x.name).collect();
    let dropped: Vec<Retire> = u
        .retire
        .iter()
        .filter(|r| !named.contains(&r.name.as_str()) && users.contains_key(&r.name))
        .cloned()
        .collect();
    for r in &dropped {
        // shift_remove: the others keep their order.
        users.shift_remove(&r.name);
    }
    let kept = users
        .iter()
        .filter(|(name, _)| !named.contains(&name.as_str()))
        .map(|(name, entry)| Kept {
            name: name.clone(),
            cert: entry
                .get("cert")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
        .collect();
    for user in &u.users {
        // Insert replaces in place, so a re-deployed user keeps its position.
        users.insert(user.name.to_string(), user_entry(user));
    }
    v.insert("root-ca".into(), u.root_ca.into());
    Ok((encode(&Value::Object(v)), kept, dropped))
}

/// Set `ASP_EPHEMERAL_STORE` in an app's env: merged into the value there,
/// or a fresh one when the app has none. Every other variable is left
/// exactly as it was. Returns the users kept and dropped.
pub fn merge_env(env: &mut Map<String, Value>, u: &Update, what: &str) -> Result<Merged> {
    let (value, kept, dropped) = match env.get(ENV_KEY) {
        None => (store_value(u), Vec::new(), Vec::new()),
        Some(Value::String(s)) => merge_value(s, u, what)?,
        Some(_) => {
            return Err(Error::input(
                format!("{ENV_KEY} in {what} is not a string (a secret reference?)"),
                format!("pki writes {ENV_KEY} as a plain string: remove the reference first"),
            ))
        }
    };
    env.insert(ENV_KEY.into(), Value::String(value.to_string()));
    Ok(Merged { kept, dropped })
}

/// What a merge found in the value beside the users it set.
#[derive(Debug, Default)]
pub struct Merged {
    /// Users kept as they were.
    pub kept: Vec<Kept>,
    /// Users dropped ([`Update::retire`]).
    pub dropped: Vec<Retire>,
}

impl Merged {
    /// The users the value holds after the merge: `set` (the users the
    /// update set), then the kept ones.
    pub fn held(&self, set: &[String]) -> Vec<String> {
        set.iter()
            .cloned()
            .chain(self.kept.iter().map(|k| k.name.clone()))
            .collect()
    }

    /// One warning per user the store dropped (revoked, superseded) and per
    /// `--remove` the value did not hold.
    pub fn warnings(&self, retire: &[Retire]) -> Vec<String> {
        retire
            .iter()
            .filter_map(|r| {
                let name = crate::error::one_line(&format!("{:?}", r.name));
                let dropped = self.dropped.iter().any(|d| d.name == r.name);
                match (&r.why, dropped) {
                    (Some(why), true) => Some(format!(
                        "user {name} was dropped from {ENV_KEY}: {why} in this store, so it cannot log in"
                    )),
                    (None, false) => Some(format!(
                        "--remove {name}: {ENV_KEY} holds no such user; nothing removed"
                    )),
                    _ => None,
                }
            })
            .collect()
    }
}

/// Replace every user's `key` in the env's `ASP_EPHEMERAL_STORE` (ours and
/// the ones kept) by [`redacted_key`], for printing. A value that does not
/// parse is replaced whole: it is printed only after a merge that parsed it.
pub fn redact(env: &mut Map<String, Value>) {
    let Some(Value::String(s)) = env.get(ENV_KEY) else {
        return;
    };
    let redacted = match serde_json::from_str::<Value>(s) {
        Ok(mut v) => {
            if let Some(users) = v.get_mut("users").and_then(Value::as_object_mut) {
                for (name, entry) in users.iter_mut() {
                    if let Some(key) = entry.get_mut("key") {
                        *key = Value::String(redacted_key(name));
                    }
                }
            }
            v.to_string()
        }
        Err(_) => "<redacted>".to_string(),
    };
    env.insert(ENV_KEY.into(), Value::String(redacted));
}

/// What the controller app is made with, beside the value.
pub struct AppOptions<'a> {
    pub id: &'a str,
    pub image: &'a str,
    pub marathon_url: &'a str,
    /// `--env` settings: each replaces the vendor's value or is added.
    pub env: &'a [(String, String)],
}

/// The complete `marathon-asp-ctlr` app, as the vendor's example has it:
/// one instance of 1 CPU and 128 MB, Docker with BRIDGE networking, the
/// global ASP settings and `ASP_EPHEMERAL_STORE` in its env.
pub fn app_definition(o: &AppOptions, store_value: &str) -> Value {
    let mut env = Map::new();
    env.insert(MARATHON_URL.into(), o.marathon_url.into());
    for (k, v) in VENDOR_ENV {
        env.insert(k.into(), v.into());
    }
    env.insert(ENV_KEY.into(), store_value.into());
    for (k, v) in o.env {
        env.insert(k.clone(), v.clone().into());
    }
    serde_json::json!({
        "id": o.id,
        "cpus": 1,
        "mem": 128,
        "instances": 1,
        "container": {
            "type": "DOCKER",
            "docker": {
                "image": o.image,
                "network": "BRIDGE",
                "forcePullImage": true,
                "privileged": false,
                "portMappings": []
            },
            "volumes": []
        },
        "env": env
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update<'a>(users: &[(&'a str, &'a str, &'a str)]) -> Update<'a> {
        Update {
            users: users
                .iter()
                .map(|(name, key, cert)| UserPem { name, key, cert })
                .collect(),
            root_ca: "CA\n",
            host: None,
            port: None,
            retire: &[],
        }
    }

    fn parsed(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn a_fresh_value_has_the_documented_shape_and_order() {
        let v = store_value(&update(&[("alice", "K\n", "C\n")]));
        assert_eq!(
            v.as_str(),
            r#"{"host":"ephemeral-store.marathon.l4lb.thisdcos.directory","port":8087,"users":{"alice":{"key":"K\n","cert":"C\n"}},"root-ca":"CA\n"}"#
        );
        let env = env_block(&update(&[("a", "k", "c")]));
        assert_eq!(env.keys().collect::<Vec<_>>(), [ENV_KEY]);
        assert!(env[ENV_KEY].is_string());
    }

    #[test]
    fn merge_sets_named_users_keeps_others_and_host_port() {
        let old = r#"{"host":"h.example","port":9000,"users":{"bob":{"cert":"B","key":"BK","extra":1},"alice":{"key":"old","cert":"old"}},"root-ca":"old","x":[1]}"#;
        let mut u = update(&[("alice", "K", "C"), ("carol", "K2", "C2")]);
        let (v, kept, _) = merge_value(old, &u, "app.json").unwrap();
        let v = parsed(&v);
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["host", "port", "users", "root-ca", "x"]);
        assert_eq!(
            (v["host"].as_str(), v["port"].as_u64()),
            (Some("h.example"), Some(9000))
        );
        let users: Vec<_> = v["users"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(users, ["bob", "alice", "carol"]);
        assert_eq!(
            v["users"]["bob"],
            parsed(r#"{"cert":"B","key":"BK","extra":1}"#)
        );
        assert_eq!(v["users"]["alice"], parsed(r#"{"key":"K","cert":"C"}"#));
        assert_eq!(v["root-ca"], "CA\n");
        assert_eq!(v["x"], parsed("[1]"));
        assert_eq!(
            kept,
            [Kept {
                name: "bob".into(),
                cert: Some("B".into())
            }]
        );

        u.host = Some("store.local");
        u.port = Some(18087);
        let (v, _, _) = merge_value(old, &u, "app.json").unwrap();
        let v = parsed(&v);
        assert_eq!(
            (v["host"].as_str(), v["port"].as_u64()),
            (Some("store.local"), Some(18087))
        );

        // Missing host, port and users get the defaults.
        let (v, kept, _) = merge_value("{}", &update(&[("a", "k", "c")]), "f").unwrap();
        let v = parsed(&v);
        assert_eq!(v["host"], DEFAULT_HOST);
        assert_eq!(v["port"], 8087);
        assert!(kept.is_empty());
    }

    #[test]
    fn merge_drops_retired_users_it_holds_unless_named() {
        let old = r#"{"users":{"a":{"key":"k","cert":"c"},"rev":{"key":"k","cert":"c"},"b":{"key":"k","cert":"c"},"gone":{}}}"#;
        let retire = [
            Retire {
                name: "rev".into(),
                why: Some("it is revoked".into()),
            },
            Retire {
                name: "gone".into(),
                why: None,
            },
            Retire {
                name: "absent".into(),
                why: None,
            },
            Retire {
                name: "n".into(),
                why: Some("it is revoked".into()),
            },
        ];
        let mut u = update(&[("n", "K", "C")]);
        u.retire = &retire;
        let mut env: Map<String, Value> = Map::new();
        env.insert(ENV_KEY.into(), Value::String(old.into()));
        let m = merge_env(&mut env, &u, "f").unwrap();
        let v = parsed(env[ENV_KEY].as_str().unwrap());
        let users: Vec<_> = v["users"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(users, ["a", "b", "n"]);
        assert_eq!(
            m.dropped
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>(),
            ["rev", "gone"]
        );
        assert_eq!(m.held(&["n".into()]), ["n", "a", "b"]);
        let w = m.warnings(&retire);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("\"rev\" was dropped") && w[0].contains("revoked"));
        assert!(w[1].starts_with("--remove \"absent\""));
    }

    #[test]
    fn merge_refuses_values_it_cannot_read() {
        for bad in [
            "not json",
            "[1]",
            "\"s\"",
            r#"{"users": []}"#,
            r#"{"host": 5}"#,
            r#"{"port": "8087"}"#,
            r#"{"port": 70000}"#,
        ] {
            let e = merge_value(bad, &update(&[]), "app.json").unwrap_err();
            assert_eq!(e.code(), 2, "{bad}");
            assert!(
                e.to_string().contains("ASP_EPHEMERAL_STORE in app.json"),
                "{e}"
            );
        }
        // A wrong host or port is fine when the flag replaces it.
        let mut u = update(&[]);
        u.port = Some(1);
        merge_value(r#"{"port": "x"}"#, &u, "f").unwrap();
    }

    #[test]
    fn merge_env_creates_or_merges_and_leaves_other_variables() {
        let mut env: Map<String, Value> =
            serde_json::from_str(r#"{"A":"1","ASP_EPHEMERAL_STORE":"{\"users\":{\"o\":{\"key\":\"k\",\"cert\":\"c\"}}}","S":{"secret":"s"}}"#).unwrap();
        let kept = merge_env(&mut env, &update(&[("u", "K", "C")]), "f")
            .unwrap()
            .kept;
        assert_eq!(kept.len(), 1);
        assert_eq!(env.keys().collect::<Vec<_>>(), ["A", ENV_KEY, "S"]);
        assert_eq!(env["A"], "1");
        let v = parsed(env[ENV_KEY].as_str().unwrap());
        assert_eq!(v["users"].as_object().unwrap().len(), 2);

        let mut empty = Map::new();
        assert!(merge_env(&mut empty, &update(&[("u", "K", "C")]), "f")
            .unwrap()
            .kept
            .is_empty());
        assert!(empty[ENV_KEY].is_string());

        let mut secret: Map<String, Value> =
            serde_json::from_str(r#"{"ASP_EPHEMERAL_STORE":{"secret":"s"}}"#).unwrap();
        assert_eq!(
            merge_env(&mut secret, &update(&[]), "f")
                .unwrap_err()
                .code(),
            2
        );
    }

    #[test]
    fn redaction_removes_every_users_key() {
        let mut env = env_block(&update(&[("a", "SECRET-A", "C"), ("b", "SECRET-B", "C")]));
        redact(&mut env);
        let s = env[ENV_KEY].as_str().unwrap();
        assert!(!s.contains("SECRET"), "{s}");
        let v = parsed(s);
        assert_eq!(v["users"]["b"]["key"], "<redacted: private key of b>");
        assert_eq!(v["users"]["a"]["cert"], "C");
    }

    #[test]
    fn hosts_are_checked() {
        for ok in [DEFAULT_HOST, "10.0.0.1", "[::1]", "store-1"] {
            validate_host(ok).unwrap();
        }
        for bad in ["", "a b", "a/b", "h\"", "a\n"] {
            assert!(validate_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_app_has_the_vendors_shape() {
        let extra = vec![
            ("ASP_DEFAULT_MEM".to_string(), "512".to_string()),
            ("NEW".to_string(), "x".to_string()),
        ];
        let app = app_definition(
            &AppOptions {
                id: DEFAULT_APP_ID,
                image: DEFAULT_IMAGE,
                marathon_url: DEFAULT_MARATHON_URL,
                env: &extra,
            },
            "{}",
        );
        assert_eq!(app["container"]["docker"]["network"], "BRIDGE");
        let env = app["env"].as_object().unwrap();
        assert_eq!(env.keys().next().unwrap(), MARATHON_URL);
        assert_eq!(env["ASP_DEFAULT_MEM"], "512");
        assert_eq!(env["NEW"], "x");
        assert_eq!(env[ENV_KEY], "{}");
        assert!(env.values().all(Value::is_string));
    }
}
