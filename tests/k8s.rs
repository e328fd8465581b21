//! `pki export k8s`: Secrets and a ConfigMap that `kubectl apply -f -`
//! accepts, in YAML (parsed back with serde_norway) and JSON, with key
//! pairs that openssl agrees match.

mod common;

use base64::Engine;
use common::{openssl_public_key, Env};
use serde::Deserialize;
use serde_json::Value;

fn yaml_docs(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("not YAML ({e}):\n{text}")))
        .collect()
}

fn decode(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64 string"))
        .expect("valid base64")
}

fn find<'a>(items: &'a [Value], name: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no object {name}"))
}

/// The public key of a certificate and of a private key, by openssl.
fn pubkeys(env: &Env, name: &str, crt: &[u8], key: &[u8]) -> (String, String) {
    let (c, k) = (
        env.path(&format!("{name}.crt")),
        env.path(&format!("{name}.key")),
    );
    std::fs::write(&c, crt).unwrap();
    std::fs::write(&k, key).unwrap();
    (openssl_public_key(&c), openssl_public_key(&k))
}

/// What the API server checks before it stores an object.
#[track_caller]
fn assert_applyable(item: &Value) {
    let o = item.as_object().unwrap();
    assert_eq!(item["apiVersion"], "v1");
    let kind = item["kind"].as_str().unwrap();
    let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
    keys.sort();
    match kind {
        "Secret" => assert_eq!(keys, ["apiVersion", "data", "kind", "metadata", "type"]),
        "ConfigMap" => assert_eq!(keys, ["apiVersion", "data", "kind", "metadata"]),
        k => panic!("unexpected kind {k}"),
    }
    assert!(item["metadata"]["name"].is_string() && item["metadata"]["namespace"].is_string());
    for (k, v) in item["data"].as_object().unwrap() {
        assert!(
            k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)),
            "data key {k}"
        );
        if kind == "Secret" {
            decode(v);
        } else {
            assert!(v.is_string());
        }
    }
    if item["type"] == "kubernetes.io/tls" {
        assert!(item["data"].get("tls.crt").is_some() && item["data"].get("tls.key").is_some());
    }
}

#[test]
fn yaml_and_json_carry_the_same_objects_with_the_mounted_names() {
    let env = Env::with_users(&["myuser", "other"]);
    let yaml = env.run(&["export", "k8s", "--user", "myuser"]);
    yaml.ok();
    assert!(!yaml.stderr.contains("PRIVATE KEY"), "{}", yaml.stderr);
    assert!(yaml.stdout.starts_with("---\n"));
    let docs = yaml_docs(&yaml.stdout);

    let json = env.run(&["export", "k8s", "--user", "myuser", "--format", "json"]);
    json.ok();
    let list = json.json();
    assert_eq!(
        (list["apiVersion"].as_str(), list["kind"].as_str()),
        (Some("v1"), Some("List"))
    );
    let items = list["items"].as_array().unwrap().clone();
    assert_eq!(docs, items, "YAML and JSON describe the same objects");
    // The global --json gives the JSON list too.
    assert_eq!(
        env.run(&["--json", "export", "k8s", "--user", "myuser"])
            .json(),
        list
    );

    let got: Vec<(String, String, String, String)> = items
        .iter()
        .map(|i| {
            assert_applyable(i);
            let s = |v: &Value| v.as_str().unwrap_or("").to_string();
            (
                s(&i["kind"]),
                s(&i["metadata"]["name"]),
                s(&i["metadata"]["namespace"]),
                s(&i["type"]),
            )
        })
        .collect();
    let want = [
        (
            "Secret",
            "ephemeral-store-root",
            "kube-system",
            "kubernetes.io/tls",
        ),
        (
            "Secret",
            "ephemeral-store-user-myuser",
            "kube-system",
            "kubernetes.io/tls",
        ),
        (
            "Secret",
            "ephemeral-store-user-rootca-cert",
            "kube-system",
            "Opaque",
        ),
        ("ConfigMap", "ephemeral-store-users", "kube-system", ""),
    ];
    let want: Vec<(String, String, String, String)> = want
        .iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
        .collect();
    assert_eq!(got, want);

    // Contents: each tls Secret is a matching pair; the CA-only Secret has no key.
    let (ca_crt, _) = env.ca_files();
    let (user_crt, _) = env.user_files("myuser");
    for (name, crt_file) in [
        ("ephemeral-store-root", ca_crt.clone()),
        ("ephemeral-store-user-myuser", user_crt),
    ] {
        let s = find(&items, name);
        let crt = decode(&s["data"]["tls.crt"]);
        let key = decode(&s["data"]["tls.key"]);
        assert_eq!(
            crt,
            std::fs::read(&crt_file).unwrap(),
            "{name}: the store's certificate"
        );
        let (a, b) = pubkeys(&env, name, &crt, &key);
        assert_eq!(a, b, "{name}: tls.crt and tls.key are not a pair");
    }
    let (_, other_key) = env.user_files("other");
    let mismatch = pubkeys(
        &env,
        "mismatch",
        &std::fs::read(&ca_crt).unwrap(),
        &std::fs::read(other_key).unwrap(),
    );
    assert_ne!(mismatch.0, mismatch.1, "the pair check can fail");

    let ca_only = find(&items, "ephemeral-store-user-rootca-cert");
    let ca_pem = std::fs::read(&ca_crt).unwrap();
    let data = ca_only["data"].as_object().unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), ["rootCA.crt", "ca.crt"]);
    for v in data.values() {
        assert_eq!(decode(v), ca_pem);
    }
    let users = find(&items, "ephemeral-store-users");
    let user: Value =
        serde_json::from_str(users["data"]["EPHEMERAL_STORE_USER"].as_str().unwrap()).unwrap();
    assert_eq!(
        user,
        serde_json::json!({"name": "myuser", "auth_mode": "certificate"})
    );
}

#[test]
fn namespaces_and_refusals() {
    let env = Env::with_users(&["a@b", "ok.user"]);
    let run = env.run(&[
        "export",
        "k8s",
        "--user",
        "ok.user",
        "--namespace",
        "asp",
        "--store-namespace",
        "es",
    ]);
    run.ok();
    let docs = yaml_docs(&run.stdout);
    let ns: Vec<&str> = docs
        .iter()
        .map(|d| d["metadata"]["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(ns, ["es", "asp", "asp", "es"]);
    assert_eq!(docs[1]["metadata"]["name"], "ephemeral-store-user-ok.user");

    for (args, want) in [
        (vec!["--user", "a@b"], "Kubernetes refuses"),
        (
            vec!["--user", "ok.user", "--namespace", "Kube_System"],
            "not a valid Kubernetes namespace",
        ),
        (
            vec!["--user", "ok.user", "--store-namespace=ns-"],
            "not a valid Kubernetes namespace",
        ),
        (vec![], "choose one with --user"),
    ] {
        let mut full = vec!["export", "k8s"];
        full.extend_from_slice(&args);
        let r = env.run(&full);
        r.code(2).one_line_error(&[want]);
        assert!(r.stdout.is_empty());
    }
}
