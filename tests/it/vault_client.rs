//! The Vault store's HTTP client (`pki::store::vault::client`), driven
//! through the library against a real OpenBao (`bao server -dev`, see
//! support/bao.rs): KV v2 reads, check-and-set writes, listings and
//! deletions; the token from the environment, a token file or
//! `~/.vault-token`; AppRole and JWT logins; and each failure (a policy
//! that says no, a sealed server, nothing listening, no answer, TLS) as
//! one line that says what to do, with the documented exit code and
//! never a token, secret id or JWT in it.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pki::error::Error;
use pki::store::vault::client::{Client, Put};
use serde_json::{json, Value};

use crate::support::backend::split;
use crate::support::bao::{jwt, random_word, Bao, BaoCluster};

/// A client configured by `vars` alone (HOME a fresh directory unless given).
fn client(home: &Path, vars: &[(&str, &str)]) -> Result<Client, Error> {
    let mut env: HashMap<String, OsString> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    env.entry("HOME".into())
        .or_insert_with(|| home.as_os_str().to_owned());
    Client::from_lookup(&|k: &str| env.get(k).cloned())
}

/// The root client of `bao`.
fn root(bao: &Bao, home: &Path) -> Client {
    client(
        home,
        &[("VAULT_ADDR", &bao.addr), ("VAULT_TOKEN", &bao.root_token)],
    )
    .unwrap()
}

/// Assert `e` is one line, has exit code `code`, contains each of
/// `parts`, and none of `secrets`.
#[track_caller]
fn assert_error(e: &Error, code: u8, parts: &[&str], secrets: &[&str]) {
    let s = e.to_string();
    assert!(!s.contains('\n'), "not one line: {s}");
    assert_eq!(e.code(), code, "{s}");
    for p in parts {
        assert!(s.contains(p), "{p:?} missing from: {s}");
    }
    for x in secrets {
        assert!(!s.contains(x), "a secret in: {s}");
    }
    assert!(s.contains("; "), "no what-to-do in: {s}");
}

#[test]
fn kv_round_trip_with_versions_and_check_and_set() {
    let Some(bao) = Bao::shared() else { return };
    let home = tempfile::tempdir().unwrap();
    let c = root(bao, home.path());
    let (mount, base) = split(&bao.fresh_prefix());
    let path = format!("{base}/state");
    assert_eq!(c.requests(), 0, "from_lookup with a token makes no request");

    assert_eq!(c.kv_get(&mount, &path).unwrap(), None);
    let v1 = json!({"index": "abc", "audit_seq": 1});
    assert_eq!(
        c.kv_put(&mount, &path, &v1, Some(0)).unwrap(),
        Put::Written { version: 1 }
    );
    // Create-only again: the secret exists.
    assert_eq!(
        c.kv_put(&mount, &path, &json!({"x": 1}), Some(0)).unwrap(),
        Put::CasMismatch
    );
    let got = c.kv_get(&mount, &path).unwrap().unwrap();
    assert_eq!((Value::Object(got.data), got.version), (v1, 1));

    let v2 = json!({"index": "def", "audit_seq": 2});
    assert_eq!(
        c.kv_put(&mount, &path, &v2, Some(1)).unwrap(),
        Put::Written { version: 2 }
    );
    // A writer that read version 1 loses.
    assert_eq!(
        c.kv_put(&mount, &path, &json!({"stale": true}), Some(1))
            .unwrap(),
        Put::CasMismatch
    );
    let got = c.kv_get(&mount, &path).unwrap().unwrap();
    assert_eq!((Value::Object(got.data), got.version), (v2.clone(), 2));
    // Without check-and-set: the next version.
    assert_eq!(
        c.kv_put(&mount, &path, &json!({"n": 3}), None).unwrap(),
        Put::Written { version: 3 }
    );
    // One HTTP request per call, and Vault agrees on what it holds.
    assert_eq!(c.requests(), 8);
    let raw = bao.api_ok("GET", &format!("{mount}/data/{path}"), None);
    assert_eq!(raw["data"]["data"], json!({"n": 3}));

    // A soft-deleted latest version reads as nothing.
    bao.api_ok("DELETE", &format!("{mount}/data/{path}"), None);
    assert_eq!(c.kv_get(&mount, &path).unwrap(), None);
}

#[test]
fn kv_list_and_destroy() {
    let Some(bao) = Bao::shared() else { return };
    let home = tempfile::tempdir().unwrap();
    let c = root(bao, home.path());
    let (mount, base) = split(&bao.fresh_prefix());
    assert_eq!(c.kv_list(&mount, &base).unwrap(), Vec::<String>::new());
    // Names with characters a URL would read otherwise stay names.
    for p in [
        "files/ca/01.crt",
        "files/users/a b/02.key",
        "files/users/c?d#e/03.key",
    ] {
        let r = c.kv_put(&mount, &format!("{base}/{p}"), &json!({"text": p}), Some(0));
        assert_eq!(r.unwrap(), Put::Written { version: 1 }, "{p}");
    }
    assert_eq!(c.kv_list(&mount, &base).unwrap(), vec!["files/"]);
    assert_eq!(
        c.kv_list(&mount, &format!("{base}/files/users")).unwrap(),
        vec!["a b/", "c?d#e/"]
    );
    let odd = format!("{base}/files/users/c?d#e/03.key");
    assert_eq!(
        c.kv_get(&mount, &odd).unwrap().unwrap().data["text"],
        "files/users/c?d#e/03.key"
    );

    c.kv_destroy(&mount, &odd).unwrap();
    assert_eq!(c.kv_get(&mount, &odd).unwrap(), None);
    assert_eq!(
        c.kv_list(&mount, &format!("{base}/files/users")).unwrap(),
        vec!["a b/"]
    );
    // Every version went with it: create-only works again, as version 1.
    assert_eq!(
        c.kv_put(&mount, &odd, &json!({"again": 1}), Some(0))
            .unwrap(),
        Put::Written { version: 1 }
    );
    // Destroying what is not there is not an error.
    c.kv_destroy(&mount, &format!("{base}/never")).unwrap();
}

#[test]
fn the_token_comes_from_the_environment_a_file_or_the_token_helper() {
    let Some(bao) = Bao::shared() else { return };
    let home = tempfile::tempdir().unwrap();
    let (mount, base) = split(&bao.fresh_prefix());
    let path = format!("{base}/x");
    let token = bao.token_with_policy(&format!(
        "path \"{mount}/data/{base}/*\" {{ capabilities = [\"create\", \"read\", \"update\"] }}"
    ));

    // ~/.vault-token, as `bao login` writes it (with a newline).
    std::fs::write(home.path().join(".vault-token"), format!("{token}\n")).unwrap();
    let c = client(home.path(), &[("VAULT_ADDR", &bao.addr)]).unwrap();
    assert_eq!(
        c.kv_put(&mount, &path, &json!({"a": 1}), Some(0)).unwrap(),
        Put::Written { version: 1 }
    );
    // VAULT_TOKEN comes first (here: one Vault does not know).
    let bogus = format!("s.{}", random_word());
    let c = client(
        home.path(),
        &[("VAULT_ADDR", &bao.addr), ("VAULT_TOKEN", &bogus)],
    )
    .unwrap();
    let e = c.kv_get(&mount, &path).unwrap_err();
    assert_error(
        &e,
        2,
        &["does not accept the token", &bao.addr, "log in again"],
        &[&bogus, &token],
    );
    // PKI_VAULT_TOKEN_FILE.
    let file = home.path().join("token");
    std::fs::write(&file, &token).unwrap();
    let c = client(
        home.path(),
        &[
            ("VAULT_ADDR", &bao.addr),
            ("PKI_VAULT_TOKEN_FILE", file.to_str().unwrap()),
        ],
    )
    .unwrap();
    assert_eq!(c.kv_get(&mount, &path).unwrap().unwrap().version, 1);

    // None at all: say where pki looked and how to get one.
    std::fs::remove_file(home.path().join(".vault-token")).unwrap();
    let e = client(home.path(), &[("VAULT_ADDR", &bao.addr)]).unwrap_err();
    assert_error(
        &e,
        2,
        &[
            "no Vault token",
            "VAULT_TOKEN",
            ".vault-token",
            "bao login",
            "PKI_VAULT_AUTH",
        ],
        &[],
    );
    // And no VAULT_ADDR: say to set it.
    let e = client(home.path(), &[("VAULT_TOKEN", &token)]).unwrap_err();
    assert_error(
        &e,
        2,
        &["VAULT_ADDR is not set", "set VAULT_ADDR"],
        &[&token],
    );
}

#[test]
fn a_read_only_token_is_refused_writes_with_the_path_and_the_policy_to_grant() {
    let Some(bao) = Bao::shared() else { return };
    let home = tempfile::tempdir().unwrap();
    let (mount, base) = split(&bao.fresh_prefix());
    let path = format!("{base}/state");
    root(bao, home.path())
        .kv_put(&mount, &path, &json!({"v": 1}), Some(0))
        .unwrap();
    let token = bao.token_with_policy(&format!(
        "path \"{mount}/data/{base}/*\" {{ capabilities = [\"read\"] }}\n\
         path \"{mount}/metadata/{base}/*\" {{ capabilities = [\"list\"] }}"
    ));
    let c = client(
        home.path(),
        &[("VAULT_ADDR", &bao.addr), ("VAULT_TOKEN", &token)],
    )
    .unwrap();
    assert_eq!(c.kv_get(&mount, &path).unwrap().unwrap().version, 1);

    let e = c
        .kv_put(&mount, &path, &json!({"v": 2}), Some(1))
        .unwrap_err();
    assert_error(
        &e,
        2,
        &[
            "denied this token update",
            &format!("{mount}/data/{path}"),
            "nothing was changed",
            "pki vault policy",
        ],
        &[&token],
    );
    let e = c
        .kv_put(&mount, &format!("{base}/new"), &json!({}), Some(0))
        .unwrap_err();
    assert_error(&e, 2, &["denied this token create"], &[&token]);
    let e = c.kv_destroy(&mount, &path).unwrap_err();
    assert_error(
        &e,
        2,
        &[
            "denied this token delete",
            &format!("{mount}/metadata/{path}"),
        ],
        &[&token],
    );
    // Nothing changed: still version 1, nothing new.
    let raw = bao.api_ok("GET", &format!("{mount}/metadata/{path}"), None);
    assert_eq!(raw["data"]["current_version"], 1);
    assert_eq!(
        bao.api("GET", &format!("{mount}/data/{base}/new"), None).0,
        404
    );
}

#[test]
fn approle_login_with_a_secret_id_file() {
    let Some(bao) = Bao::shared() else { return };
    let home = tempfile::tempdir().unwrap();
    let (mount, base) = split(&bao.fresh_prefix());
    let (role_id, secret_id) = bao.approle(&format!(
        "path \"{mount}/data/{base}/*\" {{ capabilities = [\"create\", \"read\", \"update\"] }}"
    ));
    let file = home.path().join("secret-id");
    std::fs::write(&file, format!("{secret_id}\n")).unwrap();
    let vars = |role: &str, f: &Path| {
        vec![
            ("VAULT_ADDR".to_string(), bao.addr.clone()),
            ("PKI_VAULT_AUTH".into(), "approle".into()),
            ("PKI_VAULT_ROLE_ID".into(), role.to_string()),
            ("PKI_VAULT_SECRET_ID_FILE".into(), f.display().to_string()),
        ]
    };
    let c = client(home.path(), &as_refs(&vars(&role_id, &file))).unwrap();
    assert_eq!(c.requests(), 1, "one login");
    let path = format!("{base}/x");
    assert_eq!(
        c.kv_put(&mount, &path, &json!({"by": "approle"}), Some(0))
            .unwrap(),
        Put::Written { version: 1 }
    );

    // A wrong secret id: the login is refused, without the secrets.
    let wrong = home.path().join("wrong");
    let wrong_id = random_word();
    std::fs::write(&wrong, &wrong_id).unwrap();
    let e = client(home.path(), &as_refs(&vars(&role_id, &wrong))).unwrap_err();
    assert_error(
        &e,
        2,
        &[
            "refused the login at auth/approle/login",
            "PKI_VAULT_SECRET_ID_FILE",
        ],
        &[&role_id, &secret_id, &wrong_id],
    );
    // A missing secret id file names the variable.
    let e = client(
        home.path(),
        &as_refs(&vars(&role_id, &home.path().join("none"))),
    )
    .unwrap_err();
    assert_error(
        &e,
        2,
        &["PKI_VAULT_SECRET_ID_FILE: cannot read"],
        &[&role_id],
    );
    // Role id and secret id set but PKI_VAULT_AUTH not: nothing is guessed.
    let mut v = vars(&role_id, &file);
    v.retain(|(k, _)| k != "PKI_VAULT_AUTH");
    let e = client(home.path(), &as_refs(&v)).unwrap_err();
    assert_error(&e, 2, &["no Vault token"], &[&role_id, &secret_id]);
}

fn as_refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

#[test]
fn jwt_login_with_a_token_file() {
    let Some(bao) = Bao::shared() else { return };
    let home = tempfile::tempdir().unwrap();
    let (mount, base) = split(&bao.fresh_prefix());
    let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let pem = String::from_utf8(key.public_key_to_pem().unwrap()).unwrap();
    // A mount of this test's own: the key is the mount's configuration.
    let auth_mount = format!("jwt-{}", random_word());
    let role = bao.jwt_role(
        &auth_mount,
        &pem,
        "pki-test",
        &format!("path \"{mount}/data/{base}/*\" {{ capabilities = [\"create\", \"read\"] }}"),
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |aud: &str, exp: u64| json!({"sub": "ci-job-7", "aud": aud, "iat": now - 5, "nbf": now - 5, "exp": exp});
    let file = home.path().join("token.jwt");
    let login = |token: &str| {
        std::fs::write(&file, token).unwrap();
        client(
            home.path(),
            &[
                ("VAULT_ADDR", &bao.addr),
                ("PKI_VAULT_AUTH", "jwt"),
                ("PKI_VAULT_AUTH_MOUNT", &auth_mount),
                ("PKI_VAULT_JWT_ROLE", &role),
                ("PKI_VAULT_JWT_FILE", file.to_str().unwrap()),
            ],
        )
    };
    let good = jwt(&key, &claims("pki-test", now + 300));
    let c = login(&good).unwrap();
    assert_eq!(
        c.kv_put(&mount, &format!("{base}/x"), &json!({"by": "jwt"}), Some(0))
            .unwrap(),
        Put::Written { version: 1 }
    );
    // Another audience, an expired token, another key: refused, never echoed.
    let other = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    for bad in [
        jwt(&key, &claims("someone-else", now + 300)),
        jwt(&key, &claims("pki-test", now - 120)),
        jwt(&other, &claims("pki-test", now + 300)),
    ] {
        let e = login(&bad).unwrap_err();
        assert_error(
            &e,
            2,
            &[
                &format!("refused the login at auth/{auth_mount}/login"),
                "PKI_VAULT_JWT_FILE",
            ],
            &[&bad, &good],
        );
    }
    let e = login("not a jwt").unwrap_err();
    assert_error(&e, 2, &["PKI_VAULT_JWT_FILE", "does not hold a JWT"], &[]);
}

#[test]
fn a_sealed_vault_says_to_unseal_it() {
    let Some(bao) = Bao::dedicated(false) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let c = root(&bao, home.path());
    c.kv_put("secret", "pki/s/state", &json!({"v": 1}), Some(0))
        .unwrap();
    bao.seal();
    for e in [
        c.kv_get("secret", "pki/s/state").unwrap_err(),
        c.kv_put("secret", "pki/s/state", &json!({"v": 2}), Some(1))
            .unwrap_err(),
    ] {
        assert_error(
            &e,
            1,
            &[&bao.addr, "is sealed", "unseal it"],
            &[&bao.root_token],
        );
    }
}

#[test]
fn nothing_listening_is_connection_refused() {
    let home = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("http://127.0.0.1:{port}");
    let c = client(
        home.path(),
        &[("VAULT_ADDR", &addr), ("VAULT_TOKEN", "s.secret-token")],
    )
    .unwrap();
    let e = c.kv_get("secret", "pki/x").unwrap_err();
    assert_error(
        &e,
        1,
        &[
            "cannot connect",
            &addr,
            "connection refused",
            "VAULT_ADDR",
            "Vault is running",
        ],
        &["s.secret-token"],
    );
}

#[test]
fn a_server_that_never_answers_times_out_within_the_bound() {
    let home = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    // Accept, read, and never answer.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let c = client(
        home.path(),
        &[
            ("VAULT_ADDR", &addr),
            ("VAULT_TOKEN", "s.secret-token"),
            ("PKI_VAULT_TIMEOUT", "1"),
        ],
    )
    .unwrap();
    let start = Instant::now();
    let e = c.kv_get("secret", "pki/x").unwrap_err();
    // Not a timing test: only that the bound holds at all (a client
    // without one would hang here forever).
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    assert_error(
        &e,
        1,
        &[
            "no answer from",
            &addr,
            "within 1 s",
            "VAULT_ADDR",
            "PKI_VAULT_TIMEOUT",
        ],
        &["s.secret-token"],
    );
}

#[test]
fn tls_trusts_vault_cacert_and_names_it_when_the_handshake_fails() {
    let Some(bao) = Bao::dedicated(true) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let ca = bao.ca_cert.as_ref().unwrap().display().to_string();
    let c = client(
        home.path(),
        &[
            ("VAULT_ADDR", &bao.addr),
            ("VAULT_TOKEN", &bao.root_token),
            ("VAULT_CACERT", &ca),
        ],
    )
    .unwrap();
    assert_eq!(
        c.kv_put("secret", "pki/tls", &json!({"a": 1}), Some(0))
            .unwrap(),
        Put::Written { version: 1 }
    );
    // No VAULT_CACERT: the public roots do not know the dev CA.
    let c = client(
        home.path(),
        &[("VAULT_ADDR", &bao.addr), ("VAULT_TOKEN", &bao.root_token)],
    )
    .unwrap();
    let e = c.kv_get("secret", "pki/tls").unwrap_err();
    assert_error(
        &e,
        1,
        &[
            "TLS with",
            &bao.addr,
            "a CA this machine does not trust",
            "set VAULT_CACERT",
        ],
        &[&bao.root_token],
    );
    // Another CA in VAULT_CACERT: named, with its path.
    let (_, wrong) = crate::support::fake_marathon::private_tls(home.path());
    let wrong = wrong.display().to_string();
    let c = client(
        home.path(),
        &[
            ("VAULT_ADDR", &bao.addr),
            ("VAULT_TOKEN", &bao.root_token),
            ("VAULT_CACERT", &wrong),
        ],
    )
    .unwrap();
    let e = c.kv_get("secret", "pki/tls").unwrap_err();
    assert_error(
        &e,
        1,
        &["TLS with", "VAULT_CACERT", &wrong],
        &[&bao.root_token],
    );
    // A VAULT_CACERT that is not there, or holds no certificate.
    let none = home.path().join("none.pem").display().to_string();
    let e = client(
        home.path(),
        &[
            ("VAULT_ADDR", &bao.addr),
            ("VAULT_TOKEN", &bao.root_token),
            ("VAULT_CACERT", &none),
        ],
    )
    .unwrap_err();
    assert_error(
        &e,
        2,
        &["VAULT_CACERT: cannot read", &none],
        &[&bao.root_token],
    );
}

/// An HTTP server on loopback that answers each connection with the next
/// of `answers` (raw bytes), then stops; its address.
fn raw_server(answers: Vec<Vec<u8>>) -> String {
    raw_server_at(|_| answers)
}

/// [`raw_server`] with answers that may name the server's own address.
fn raw_server_at(answers: impl FnOnce(&str) -> Vec<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let answers = answers(&addr);
    std::thread::spawn(move || {
        for (answer, s) in answers.into_iter().zip(listener.incoming()) {
            let mut s = s.unwrap();
            let mut buf = [0u8; 65536];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(&answer);
        }
    });
    addr
}

fn http(status: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn hostile_answers_are_clear_errors() {
    let home = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<u8>, &[&str])> = vec![
        (
            http("200 OK", "", "<html>hello</html>"),
            &["is not JSON", "KV version 2"],
        ),
        (
            http(
                "200 OK",
                "",
                r#"{"data":{"data":{},"metadata":{"version":"7"}}}"#,
            ),
            &["data.metadata.version that is not a positive whole number"],
        ),
        (
            http(
                "200 OK",
                "",
                r#"{"data":{"data":[1],"metadata":{"version":7}}}"#,
            ),
            &["data.data that is not an object"],
        ),
        (
            http(
                "500 Internal Server Error",
                "",
                r#"{"errors":["boom\u001b[2J"]}"#,
            ),
            &["failed on read", "500", "boom", "bao status"],
        ),
        (
            http(
                "503 Service Unavailable",
                "",
                r#"{"errors":["local node not active but active cluster node not found"]}"#,
            ),
            &["standby", "point VAULT_ADDR at the active node"],
        ),
        (
            http(
                "307 Temporary Redirect",
                "Location: https://elsewhere:8200/v1/secret/data/x\r\n",
                "",
            ),
            &[
                "redirect to",
                "https://elsewhere",
                "point VAULT_ADDR at the active node",
            ],
        ),
        // Larger than 64 MiB: refused once the cap is read.
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 70000000\r\nConnection: close\r\n\r\n"
                .iter()
                .copied()
                .chain(std::iter::repeat_n(b' ', 70_000_000))
                .collect(),
            &["larger than 64 MiB"],
        ),
    ];
    for (answer, parts) in cases {
        let addr = raw_server(vec![answer]);
        let c = client(
            home.path(),
            &[("VAULT_ADDR", &addr), ("VAULT_TOKEN", "s.tok")],
        )
        .unwrap();
        let e = c.kv_get("secret", "x").unwrap_err();
        assert_error(&e, 1, parts, &["s.tok"]);
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
    }
}

#[test]
fn a_redirect_to_the_same_scheme_is_followed() {
    let Some(bao) = Bao::shared() else { return };
    let home = tempfile::tempdir().unwrap();
    let (mount, base) = split(&bao.fresh_prefix());
    let path = format!("{base}/r");
    root(bao, home.path())
        .kv_put(&mount, &path, &json!({"here": true}), Some(0))
        .unwrap();
    // A "standby" that sends every request to the active node, Vault's way.
    let location = format!("Location: {}/v1/{mount}/data/{path}\r\n", bao.addr);
    let addr = raw_server(vec![http("307 Temporary Redirect", &location, "")]);
    let c = client(
        home.path(),
        &[("VAULT_ADDR", &addr), ("VAULT_TOKEN", &bao.root_token)],
    )
    .unwrap();
    let got = c.kv_get(&mount, &path).unwrap().unwrap();
    assert_eq!(got.data["here"], true);
    assert_eq!(c.requests(), 2, "the redirect and the request it led to");

    // A loop is cut after a few hops.
    let addr = raw_server_at(|me| {
        let back = format!("Location: {me}/v1/secret/data/x\r\n");
        vec![http("307 Temporary Redirect", &back, ""); 10]
    });
    let c = client(
        home.path(),
        &[("VAULT_ADDR", &addr), ("VAULT_TOKEN", "s.tok")],
    )
    .unwrap();
    let e = c.kv_get("secret", "x").unwrap_err();
    assert_error(
        &e,
        1,
        &["redirected", "more than 3 times", "active node"],
        &["s.tok"],
    );
    assert_eq!(c.requests(), 4);
}

#[test]
fn vault_namespace_selects_the_namespace() {
    let Some(bao) = Bao::shared() else { return };
    let home = tempfile::tempdir().unwrap();
    let ns = format!("ns-{}", random_word());
    bao.api_ok("POST", &format!("sys/namespaces/{ns}"), None);
    bao.api_ok(
        "POST",
        &format!("{ns}/sys/mounts/kv"),
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    );
    let c = client(
        home.path(),
        &[
            ("VAULT_ADDR", &bao.addr),
            ("VAULT_TOKEN", &bao.root_token),
            ("VAULT_NAMESPACE", &ns),
        ],
    )
    .unwrap();
    // A new KV v2 mount takes writes after a moment ("upgrading" until then).
    let mut put = c.kv_put("kv", "pki/s/state", &json!({"in": "ns"}), Some(0));
    for _ in 0..100 {
        match &put {
            Err(e) if e.to_string().contains("upgrading") => {
                std::thread::sleep(Duration::from_millis(100));
                put = c.kv_put("kv", "pki/s/state", &json!({"in": "ns"}), Some(0));
            }
            _ => break,
        }
    }
    assert_eq!(put.unwrap(), Put::Written { version: 1 });
    // There, and only there.
    let (status, v) = bao.api("GET", &format!("{ns}/kv/data/pki/s/state"), None);
    assert_eq!((status, &v["data"]["data"]), (200, &json!({"in": "ns"})));
    assert_eq!(bao.api("GET", "kv/data/pki/s/state", None).0, 404);
}

#[test]
fn a_raft_cluster_elects_a_leader_and_standbys_serve_the_store() {
    let Some(mut cluster) = BaoCluster::start(3) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let leader = cluster.wait_for_leader();
    let standby = (leader + 1) % 3;
    let token = cluster.root_token.clone();
    let addrs = cluster.addrs.clone();
    let at = |i: usize| {
        client(
            home.path(),
            &[("VAULT_ADDR", &addrs[i]), ("VAULT_TOKEN", &token)],
        )
        .unwrap()
    };
    // Written through a standby: it forwards to the active node.
    let c = at(standby);
    assert_eq!(
        c.kv_put("secret", "pki/ha/state", &json!({"v": 1}), Some(0))
            .unwrap(),
        Put::Written { version: 1 }
    );
    // One request: forwarded by the standby, not redirected.
    assert_eq!(c.requests(), 1);
    let killed = cluster.kill_active();
    assert_eq!(killed, leader);
    let new_leader = cluster.wait_for_leader();
    assert_ne!(new_leader, killed);
    // The survivors hold what was written, and take the next version.
    let survivor = (0..3).find(|&i| i != killed).unwrap();
    let c = at(survivor);
    assert_eq!(
        c.kv_get("secret", "pki/ha/state").unwrap().unwrap().version,
        1
    );
    assert_eq!(
        c.kv_put("secret", "pki/ha/state", &json!({"v": 2}), Some(1))
            .unwrap(),
        Put::Written { version: 2 }
    );
}

/// The `-v` trace of a child run: method, path, status and time of each
/// request, never the token. The parent runs this same test binary as
/// the child, with `PKI_TEST_VAULT_TRACE` set, and reads its stderr.
#[test]
fn traces_show_requests_but_never_the_token() {
    if let Some(addr) = std::env::var_os("PKI_TEST_VAULT_TRACE") {
        // The child: verbose, one write and one read.
        pki::ui::set_global(pki::ui::Ui {
            verbose: true,
            ..Default::default()
        });
        let token = std::env::var("PKI_TEST_VAULT_TOKEN").unwrap();
        let home = tempfile::tempdir().unwrap();
        let c = client(
            home.path(),
            &[
                ("VAULT_ADDR", addr.to_str().unwrap()),
                ("VAULT_TOKEN", &token),
            ],
        )
        .unwrap();
        c.kv_put(
            "secret",
            "pki/trace/state",
            &json!({"text": "-----BEGIN PRIVATE KEY-----"}),
            None,
        )
        .unwrap();
        c.kv_get("secret", "pki/trace/state").unwrap();
        let _ = c.kv_get("secret", "pki/trace/missing");
        return;
    }
    let Some(bao) = Bao::shared() else { return };
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "vault_client::traces_show_requests_but_never_the_token",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PKI_TEST_VAULT_TRACE", &bao.addr)
        .env("PKI_TEST_VAULT_TOKEN", &bao.root_token)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let traces: Vec<&str> = stderr.lines().filter(|l| l.contains("vault: ")).collect();
    assert_eq!(traces.len(), 3, "{stderr}");
    assert!(
        traces[0].contains("POST secret/data/pki/trace/state: 200 in "),
        "{stderr}"
    );
    assert!(
        traces[1].contains("GET secret/data/pki/trace/state: 200 in "),
        "{stderr}"
    );
    assert!(
        traces[2].contains("GET secret/data/pki/trace/missing: 404 in "),
        "{stderr}"
    );
    assert!(!stderr.contains(&bao.root_token), "{stderr}");
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
}
