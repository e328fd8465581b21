//! The Kubernetes side of the ephemeral store: the Secrets and ConfigMap the
//! ephemeral store and the ASP DaemonSet mount, as a `v1` `List` (JSON) or
//! a multi-document YAML stream, both accepted by `kubectl apply -f -`.
//!
//! Objects, by the names the DaemonSet and the store mount (the vendor docs
//! create the user Secret as `ephemeral-store-<name>`, which the DaemonSet
//! does not mount; we use the mounted name):
//! - `ephemeral-store-root`: `kubernetes.io/tls`, CA certificate and key (the
//!   store mints its node certificates from it).
//! - `ephemeral-store-user-<USER>`: `kubernetes.io/tls`, the user's
//!   certificate and key.
//! - `ephemeral-store-user-rootca-cert`: the CA certificate only, type
//!   `Opaque`. A `kubernetes.io/tls` Secret must carry `tls.key` (the API
//!   server refuses one without it), and this Secret must not carry the CA
//!   key. The vendor makes it with `kubectl create secret generic
//!   --from-file=rootCA.crt`, so the file the DaemonSet's mount shows is
//!   `rootCA.crt`; we write that key and the conventional `ca.crt` beside it.
//! - ConfigMap `ephemeral-store-users`: key `user`, the user JSON exactly as
//!   the Marathon env carries it: the vendor's StatefulSet reads its
//!   `EPHEMERAL_STORE_USER` with `configMapKeyRef: {name:
//!   ephemeral-store-users, key: user}`, so nothing else may be there.

use serde_json::{json, Value};

use crate::deliver::marathon;
use crate::error::{Error, Result};

pub const ROOT_SECRET: &str = "ephemeral-store-root";
pub const USER_SECRET_PREFIX: &str = "ephemeral-store-user-";
pub const CA_SECRET: &str = "ephemeral-store-user-rootca-cert";
pub const USERS_CONFIGMAP: &str = "ephemeral-store-users";
/// The ConfigMap key the StatefulSet's `configMapKeyRef` names.
pub const USERS_KEY: &str = "user";
/// Where the ASP runs in the vendor's deployment.
pub const DEFAULT_NAMESPACE: &str = "kube-system";
/// Where the store runs in the vendor's deployment: its commands create the
/// root Secret and the StatefulSet without `-n`, so in the current
/// context's namespace, `default` unless the context names another.
pub const DEFAULT_STORE_NAMESPACE: &str = "default";

/// One client's certificate and key.
pub struct Client<'a> {
    pub user: &'a str,
    pub cert: &'a str,
    pub key: &'a str,
}

/// The store's half: the CA key and the user the store creates.
pub struct StoreHalf<'a> {
    pub user: &'a str,
    pub ca_key: &'a str,
}

/// The PEM material one export carries.
pub struct Material<'a> {
    pub clients: Vec<Client<'a>>,
    /// The CA certificates the clients trust (during a rollover, both).
    pub ca_cert: &'a str,
    /// `None` for the clients' objects only (no CA key, no ConfigMap).
    pub store: Option<StoreHalf<'a>>,
}

/// The user Secret's name, refused when Kubernetes would refuse it: object
/// names are DNS subdomains (`[a-z0-9.-]`, ending alphanumeric), narrower
/// than Riak's user names (which allow `_` and `@`).
pub fn user_secret_name(user: &str) -> Result<String> {
    let name = format!("{USER_SECRET_PREFIX}{user}");
    let ok = user
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("..")
        && name.len() <= 253;
    if ok {
        Ok(name)
    } else {
        Err(Error::input(
            format!("user {user:?} gives the Secret name {name:?}, which Kubernetes refuses"),
            "Kubernetes names allow a-z 0-9 - . and end in a letter or digit: issue a user with such a name",
        ))
    }
}

/// A namespace is a DNS label: `[a-z0-9-]`, 1 to 63, alphanumeric at both ends.
pub fn validate_namespace(ns: &str) -> Result<()> {
    let ok = !ns.is_empty()
        && ns.len() <= 63
        && ns
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !ns.starts_with('-')
        && !ns.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::usage(
            format!("namespace {ns:?} is not a valid Kubernetes namespace"),
            "use a-z 0-9 and -, at most 63 characters, e.g. kube-system",
        ))
    }
}

fn b64(text: &str) -> Value {
    use base64::Engine;
    Value::String(base64::engine::general_purpose::STANDARD.encode(text.as_bytes()))
}

fn meta(name: &str, ns: &str) -> Value {
    json!({
        "name": name,
        "namespace": ns,
        "labels": {
            "app.kubernetes.io/part-of": "ephemeral-store",
            "app.kubernetes.io/managed-by": "pki"
        }
    })
}

fn tls_secret(name: &str, ns: &str, cert: &str, key: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(name, ns),
        "type": "kubernetes.io/tls",
        "data": { "tls.crt": b64(cert), "tls.key": b64(key) }
    })
}

/// The objects, in this order: the root Secret (the store's half only),
/// one user Secret per client, the CA-certificate Secret, the ConfigMap
/// (the store's half only). The store's objects go in `store_ns` (where
/// the store runs), the clients' in `asp_ns` (where the ASP DaemonSet runs).
pub fn manifests(m: &Material, asp_ns: &str, store_ns: &str) -> Result<Vec<Value>> {
    validate_namespace(asp_ns)?;
    validate_namespace(store_ns)?;
    let mut items = Vec::new();
    if let Some(s) = &m.store {
        items.push(tls_secret(ROOT_SECRET, store_ns, m.ca_cert, s.ca_key));
    }
    for c in &m.clients {
        items.push(tls_secret(
            &user_secret_name(c.user)?,
            asp_ns,
            c.cert,
            c.key,
        ));
    }
    items.push(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(CA_SECRET, asp_ns),
        "type": "Opaque",
        "data": { "rootCA.crt": b64(m.ca_cert), "ca.crt": b64(m.ca_cert) }
    }));
    if let Some(s) = &m.store {
        items.push(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta(USERS_CONFIGMAP, store_ns),
            "data": { USERS_KEY: marathon::user_json(s.user) }
        }));
    }
    Ok(items)
}

/// The objects as one `v1` `List`, for `--format json`.
pub fn to_list(items: Vec<Value>) -> Value {
    json!({ "apiVersion": "v1", "kind": "List", "items": items })
}

/// The objects as a YAML stream, one `---` document each, written by a
/// YAML library (serde_norway) that quotes whatever YAML would misread
/// (`yes`, `0x10`, a leading `-`, the `:` and quotes of the user JSON).
pub fn to_yaml(items: &[Value]) -> Result<String> {
    let mut out = String::new();
    for item in items {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(item).map_err(|e| {
            Error::failed(
                format!(
                    "cannot write the Kubernetes objects as YAML: {}",
                    crate::error::one_line(&e)
                ),
                "this is a bug; use --format json meanwhile and please report it",
            )
        })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn material() -> Material<'static> {
        Material {
            clients: vec![Client {
                user: "myuser",
                cert: "UC\n",
                key: "UK\n",
            }],
            ca_cert: "CC\n",
            store: Some(StoreHalf {
                user: "myuser",
                ca_key: "CK\n",
            }),
        }
    }

    #[test]
    fn names_types_and_namespaces() {
        let items = manifests(&material(), "kube-system", "store").unwrap();
        let got: Vec<(&str, &str, &str, &str)> = items
            .iter()
            .map(|i| {
                (
                    i["kind"].as_str().unwrap(),
                    i["metadata"]["name"].as_str().unwrap(),
                    i["metadata"]["namespace"].as_str().unwrap(),
                    i["type"].as_str().unwrap_or("-"),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "Secret",
                    "ephemeral-store-root",
                    "store",
                    "kubernetes.io/tls"
                ),
                (
                    "Secret",
                    "ephemeral-store-user-myuser",
                    "kube-system",
                    "kubernetes.io/tls"
                ),
                (
                    "Secret",
                    "ephemeral-store-user-rootca-cert",
                    "kube-system",
                    "Opaque"
                ),
                ("ConfigMap", "ephemeral-store-users", "store", "-"),
            ]
        );
        assert_eq!(items[1]["data"]["tls.key"], "VUsK");
        assert!(items[2]["data"].get("tls.key").is_none());
        assert_eq!(
            items[3]["data"][USERS_KEY],
            r#"{ "name" : "myuser", "auth_mode" : "certificate" }"#
        );
    }

    #[test]
    fn clients_only_carry_no_ca_key_and_no_configmap() {
        let mut m = material();
        m.store = None;
        m.clients.push(Client {
            user: "bob",
            cert: "BC\n",
            key: "BK\n",
        });
        let items = manifests(&m, "kube-system", "default").unwrap();
        let names: Vec<&str> = items
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "ephemeral-store-user-myuser",
                "ephemeral-store-user-bob",
                "ephemeral-store-user-rootca-cert"
            ]
        );
        assert!(items
            .iter()
            .all(|i| i["metadata"]["namespace"] == "kube-system"));
    }

    #[test]
    fn names_kubernetes_refuses_are_refused() {
        for bad in ["a_b", "a@b", "a.", "a..b"] {
            assert_eq!(user_secret_name(bad).unwrap_err().code(), 2, "{bad}");
        }
        user_secret_name("a.b-c9").unwrap();
        for bad in ["", "-a", "a-", "A", "a.b", &"a".repeat(64)] {
            assert_eq!(validate_namespace(bad).unwrap_err().code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn yaml_reads_back_as_the_same_values_whatever_the_strings() {
        let v = json!({"a": {"yes": "no", "tls.crt": "x: \"y\"\n", "n": 1, "e": {}, "l": [1],
            "0x10": "0x10", "-": "- a", "~": "null", "multi": "a\nb\n"}});
        let y = to_yaml(std::slice::from_ref(&v)).unwrap();
        assert!(y.starts_with("---\n"), "{y}");
        let back: Value = serde_norway::from_str(y.trim_start_matches("---\n")).unwrap();
        assert_eq!(back, v, "{y}");
    }
}
