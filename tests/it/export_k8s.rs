//! `pki export k8s`: Secrets and a ConfigMap that `kubectl apply -f -`
//! accepts, in YAML (parsed back with serde_norway) and JSON, with key
//! pairs that openssl agrees match, valid for a Kubernetes schema validator
//! we did not write (PyPI `kubernetes-validate`, strict), under the names
//! the vendor's StatefulSet and DaemonSet read (taken from their manifests
//! in ../shared/vendor at test time).
//!
//! The tests listed in `each_backend!` at the end run once on a directory
//! store and once on a store in OpenBao (support/backend.rs).

use crate::support::common;
use crate::support::vendor;

use base64::Engine;
use common::{openssl_public_key, Backend, Env};
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

/// The items of `pki export k8s ARGS --format json`.
fn json_items(env: &Env, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["export", "k8s"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--format", "json"]);
    let run = env.run(&full);
    run.ok();
    run.json()["items"].as_array().unwrap().clone()
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

fn yaml_and_json_carry_the_same_objects_with_the_mounted_names(backend: Backend) {
    let env = Env::with_users_on(backend, &["myuser", "other"]);
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
            "default",
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
        ("ConfigMap", "ephemeral-store-users", "default", ""),
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
    let user: Value = serde_json::from_str(users["data"]["user"].as_str().unwrap()).unwrap();
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

/// What the vendor's workloads read from the objects pki makes, taken from
/// their manifests: the fixture the output is held to.
#[derive(Debug)]
struct VendorNames {
    /// The StatefulSet's `EPHEMERAL_STORE_USER`: `configMapKeyRef` (name, key).
    users_ref: (String, String),
    /// The vendor's own ConfigMap of that name: its data, for user `myuser`.
    users_data: Value,
    /// The StatefulSet's Secret volumes: (secretName, mountPath).
    store_secrets: Vec<(String, String)>,
    /// The DaemonSet's Secret volumes (for user `myuser`): (secretName, mountPath).
    asp_secrets: Vec<(String, String)>,
    /// The DaemonSet's namespace.
    asp_namespace: String,
    /// The file the vendor's procedure puts in the CA-only Secret (`--from-file=F`).
    ca_only_file: String,
}

/// A workload's Secret volumes with where its first container mounts them.
fn secret_mounts(workload: &Value) -> Vec<(String, String)> {
    let pod = &workload["spec"]["template"]["spec"];
    let mounts = pod["containers"][0]["volumeMounts"].as_array().unwrap();
    pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| {
            let secret = v["secret"]["secretName"].as_str()?;
            let mount = mounts
                .iter()
                .find(|m| m["name"] == v["name"])
                .unwrap_or_else(|| panic!("volume {} is mounted", v["name"]));
            Some((secret.to_string(), mount["mountPath"].as_str()?.to_string()))
        })
        .collect()
}

fn vendor_names() -> VendorNames {
    let store_yaml = "f5-ephemeral-store-k8s-example.yaml";
    let sts = vendor::object(store_yaml, "StatefulSet");
    let env = sts["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    let user_env = env
        .iter()
        .find(|e| e["name"] == "EPHEMERAL_STORE_USER")
        .expect("the StatefulSet reads EPHEMERAL_STORE_USER");
    let r = &user_env["valueFrom"]["configMapKeyRef"];
    let users_ref = (
        r["name"].as_str().unwrap().to_string(),
        r["key"].as_str().unwrap().to_string(),
    );
    let cm = vendor::object(store_yaml, "ConfigMap");
    assert_eq!(cm["metadata"]["name"], users_ref.0.as_str());
    let ds = vendor::object("f5-asp-k8s.yaml", "DaemonSet");
    let page = vendor::text("asp-k-ephemeral-store.rst");
    let ca_only_file = page
        .lines()
        .find(|l| l.contains("kubectl create secret generic ephemeral-store-user-rootca-cert"))
        .and_then(|l| l.split("--from-file=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the vendor's command for the CA-only Secret")
        .to_string();
    VendorNames {
        users_ref,
        users_data: cm["data"].clone(),
        store_secrets: secret_mounts(&sts),
        asp_secrets: secret_mounts(&ds),
        asp_namespace: ds["metadata"]["namespace"].as_str().unwrap().to_string(),
        ca_only_file,
    }
}

#[test]
fn the_names_and_keys_are_the_ones_the_vendors_workloads_read() {
    let v = vendor_names();
    // The fixture itself, as the vendor's manifests and procedure have it.
    assert_eq!(v.users_ref, ("ephemeral-store-users".into(), "user".into()));
    assert_eq!(
        v.store_secrets,
        [(
            "ephemeral-store-root".into(),
            "/riak-bootstrap/ca-certs".into()
        )]
    );
    assert_eq!(
        v.asp_secrets,
        [
            (
                "ephemeral-store-user-myuser".to_string(),
                "/ephemeral-store-certs/myuser".to_string()
            ),
            (
                "ephemeral-store-user-rootca-cert".into(),
                "/ephemeral-store-certs/rootca-cert".into()
            )
        ]
    );
    assert_eq!(v.ca_only_file, "rootCA.crt");

    let env = Env::with_users(&["myuser"]);
    let items = json_items(&env, &["--user", "myuser"]);
    let object = |kind: &str, name: &str| -> &Value {
        items
            .iter()
            .find(|i| i["kind"] == kind && i["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in the output"))
    };

    // The StatefulSet's configMapKeyRef finds its key, holding what the
    // vendor's own ConfigMap holds for myuser, and nothing else is there.
    let cm = object("ConfigMap", &v.users_ref.0);
    assert_eq!(cm["data"], v.users_data);
    assert!(cm["data"].get("EPHEMERAL_STORE_USER").is_none());

    // Every Secret a workload mounts exists; the files it shows at the
    // mount path are the ones the vendor's procedure puts there
    // (`kubectl create secret tls`: tls.crt and tls.key; the CA-only
    // Secret: the --from-file name), and the DaemonSet's are in its namespace.
    let mut files = Vec::new();
    for (secret, mount) in v.store_secrets.iter().chain(&v.asp_secrets) {
        let s = object("Secret", secret);
        for key in s["data"].as_object().unwrap().keys() {
            files.push(format!("{mount}/{key}"));
        }
    }
    for want in [
        "/riak-bootstrap/ca-certs/tls.crt",
        "/riak-bootstrap/ca-certs/tls.key",
        "/ephemeral-store-certs/myuser/tls.crt",
        "/ephemeral-store-certs/myuser/tls.key",
        &format!("/ephemeral-store-certs/rootca-cert/{}", v.ca_only_file),
    ] {
        assert!(files.iter().any(|f| f == want), "{want} not in {files:?}");
    }
    for (secret, _) in &v.asp_secrets {
        assert_eq!(
            object("Secret", secret)["metadata"]["namespace"],
            v.asp_namespace.as_str()
        );
    }
    // The CA-only Secret holds no key.
    let ca_only = object("Secret", &v.asp_secrets[1].0);
    for value in ca_only["data"].as_object().unwrap().values() {
        let text = String::from_utf8(decode(value)).unwrap();
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----") && !text.contains("PRIVATE KEY"));
    }
}

/// `kubernetes-validate --strict` on `file`: (passed, what it said).
fn kubernetes_validate(file: &std::path::Path) -> (bool, String) {
    let out = common::test_tool("kubernetes-validate")
        .arg("--strict")
        .arg(file)
        .output()
        .expect("run kubernetes-validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_output_passes_kubernetes_validate_in_strict_mode() {
    let env = Env::with_users(&["myuser"]);
    // The validator is real: it refuses a field Kubernetes does not know.
    let bad = env.path("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  bogus: 1\ndata:\n  user: a\n",
    )
    .unwrap();
    // .ci/run installs it into a venv (common::test_venv); a developer
    // machine may lack it.
    if !common::tool_or_skip("kubernetes-validate", "bash .ci/run installs it") {
        return;
    }
    let (ok, said) = kubernetes_validate(&bad);
    assert!(!ok && said.contains("bogus"), "{said}");

    let yaml = env.run(&["export", "k8s", "--user", "myuser"]);
    let file = env.path("out.yaml");
    std::fs::write(&file, &yaml.ok().stdout).unwrap();
    let (ok, said) = kubernetes_validate(&file);
    assert!(ok, "{said}");
    assert_eq!(said.matches(" passed for resource ").count(), 4, "{said}");

    // The clients-only stream for several users passes too.
    let env2 = Env::with_users(&["myuser", "bob"]);
    let yaml = env2.run(&["export", "k8s", "--clients-only", "--user", "myuser", "bob"]);
    let file2 = env2.path("clients.yaml");
    std::fs::write(&file2, &yaml.ok().stdout).unwrap();
    let (ok, said) = kubernetes_validate(&file2);
    assert!(ok, "{said}");
    assert_eq!(said.matches(" passed for resource ").count(), 3, "{said}");

    // The JSON List's items, each on its own (the validator has no schema for List).
    let list = env
        .run(&["export", "k8s", "--user", "myuser", "--format", "json"])
        .json();
    for (i, item) in list["items"].as_array().unwrap().iter().enumerate() {
        let file = env.path(&format!("item{i}.json"));
        std::fs::write(&file, item.to_string()).unwrap();
        let (ok, said) = kubernetes_validate(&file);
        assert!(ok && said.contains(" passed for resource "), "{said}");
    }
}

/// The namespace a vendor `kubectl` command line puts its object in: its
/// `-n`/`--namespace`, else the current context's, `default` on a cluster
/// whose context names none.
fn kubectl_namespace(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .find_map(|w| (w[0] == "-n" || w[0] == "--namespace").then(|| w[1].to_string()))
        .or_else(|| {
            words
                .iter()
                .find_map(|w| w.strip_prefix("--namespace=").map(str::to_string))
        })
        .unwrap_or_else(|| "default".into())
}

#[test]
fn the_store_objects_go_where_the_vendors_commands_put_them() {
    // The vendor: the root Secret by `kubectl create secret tls
    // ephemeral-store-root` (no -n), the StatefulSet and its ConfigMap by
    // `kubectl create -f` of a manifest naming no namespace; the ASP's
    // Secrets with -n kube-system, where the DaemonSet runs.
    let page = vendor::text("asp-k-ephemeral-store.rst");
    let line = |needle: &str| -> String {
        page.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("the vendor's command for {needle}"))
            .to_string()
    };
    let root_ns = kubectl_namespace(&line("kubectl create secret tls ephemeral-store-root"));
    let ca_ns = kubectl_namespace(&line(
        "kubectl create secret generic ephemeral-store-user-rootca-cert",
    ));
    assert_eq!(
        (root_ns.as_str(), ca_ns.as_str()),
        ("default", "kube-system")
    );
    let store_yaml = "f5-ephemeral-store-k8s-example.yaml";
    for kind in ["StatefulSet", "ConfigMap"] {
        let o = vendor::object(store_yaml, kind);
        let ns = o["metadata"]["namespace"].as_str().unwrap_or("default");
        assert_eq!(
            ns, root_ns,
            "{kind}: a pod reads Secrets and ConfigMaps of its own namespace"
        );
    }
    let ds = vendor::object("f5-asp-k8s.yaml", "DaemonSet");
    assert_eq!(ds["metadata"]["namespace"], ca_ns.as_str());

    let env = Env::with_users(&["myuser"]);
    let items = json_items(&env, &["--user", "myuser"]);
    let ns = |name: &str| find(&items, name)["metadata"]["namespace"].clone();
    assert_eq!(ns("ephemeral-store-root"), root_ns.as_str());
    assert_eq!(ns("ephemeral-store-users"), root_ns.as_str());
    assert_eq!(ns("ephemeral-store-user-myuser"), ca_ns.as_str());
    assert_eq!(ns("ephemeral-store-user-rootca-cert"), ca_ns.as_str());
}

fn clients_only_exports_several_users_and_leaves_the_store_alone(backend: Backend) {
    let env = Env::with_users_on(backend, &["myuser", "bob", "carl"]);
    let run = env.run(&[
        "export",
        "k8s",
        "--clients-only",
        "--user",
        "bob",
        "carl",
        "--format",
        "json",
    ]);
    run.ok();
    assert!(run.stderr.contains("bob, carl"), "{}", run.stderr);
    let items = run.json()["items"].as_array().unwrap().clone();
    let got: Vec<(&str, &str)> = items
        .iter()
        .map(|i| {
            assert_applyable(i);
            (
                i["metadata"]["name"].as_str().unwrap(),
                i["metadata"]["namespace"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("ephemeral-store-user-bob", "kube-system"),
            ("ephemeral-store-user-carl", "kube-system"),
            ("ephemeral-store-user-rootca-cert", "kube-system"),
        ]
    );
    // Neither the CA key nor the store's user is in it.
    let (_, ca_key) = env.ca_files();
    let ca_key = std::fs::read_to_string(ca_key).unwrap();
    for i in &items {
        for v in i["data"].as_object().unwrap().values() {
            assert_ne!(String::from_utf8(decode(v)).unwrap(), ca_key);
        }
    }
    for (name, user) in [
        ("ephemeral-store-user-bob", "bob"),
        ("ephemeral-store-user-carl", "carl"),
    ] {
        let s = find(&items, name);
        let (crt, _) = env.user_files(user);
        assert_eq!(decode(&s["data"]["tls.crt"]), std::fs::read(crt).unwrap());
        let (a, b) = pubkeys(
            &env,
            name,
            &decode(&s["data"]["tls.crt"]),
            &decode(&s["data"]["tls.key"]),
        );
        assert_eq!(a, b, "{name}");
    }
    let audit = std::fs::read_to_string(env.store().join("audit.jsonl")).unwrap();
    let last: Vec<Value> = audit
        .lines()
        .rev()
        .take(2)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (e, user) in last.iter().rev().zip(["bob", "carl"]) {
        assert_eq!(
            (
                e["command"].as_str(),
                e["event"].as_str(),
                e["user"].as_str()
            ),
            (Some("export k8s"), Some("key-exported"), Some(user))
        );
    }

    // Several users with the store's objects: the store's user is never guessed.
    let r = env.run(&["export", "k8s", "--user", "bob", "carl"]);
    r.code(2)
        .one_line_error(&["--clients-only", "--store-user"]);
    assert!(r.stdout.is_empty());
    let r = env.run(&[
        "export",
        "k8s",
        "--store-user",
        "myuser",
        "--user",
        "bob",
        "carl",
        "--format",
        "json",
    ]);
    r.ok();
    let items = r.json()["items"].as_array().unwrap().clone();
    let names: Vec<&str> = items
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ephemeral-store-root",
            "ephemeral-store-user-bob",
            "ephemeral-store-user-carl",
            "ephemeral-store-user-rootca-cert",
            "ephemeral-store-users"
        ]
    );
    let user: Value = serde_json::from_str(
        find(&items, "ephemeral-store-users")["data"]["user"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(user["name"], "myuser");
    env.run(&["export", "k8s", "--clients-only", "--store-user", "bob"])
        .code(2);
}

crate::each_backend!(
    yaml_and_json_carry_the_same_objects_with_the_mounted_names,
    clients_only_exports_several_users_and_leaves_the_store_alone,
);
