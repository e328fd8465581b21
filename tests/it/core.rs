//! init, issue, list, show, export: the main job end to end, through the
//! real binary, with what it prints, what it writes and the modes it sets.
//!
//! The tests listed in `each_backend!` at the end run once on a directory
//! store and once on a store in OpenBao (support/backend.rs).

use crate::support::common;

use crate::support::docs::{ExportFilesDoc, InitDoc, IssueDoc, ListDoc, ShowDoc};
use common::{mode, openssl, openssl_public_key, Backend, Env};

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn init_issue_export_under_umask_000() {
    let mut env = Env::new();
    env.umask = Some(0o000);
    let r = env.run(&["init"]);
    r.ok();
    assert!(r.stdout.is_empty(), "init prints no data without --json");
    assert!(
        r.stderr.contains("created root CA \"rootCA\""),
        "{}",
        r.stderr
    );
    env.run(&["issue", "myuser"]).ok();

    let store = env.store();
    assert_eq!(mode(&store), 0o700);
    assert_eq!(mode(&store.join("index.json")), 0o600);
    assert_eq!(mode(&store.join(".lock")), 0o600);
    assert_eq!(mode(&store.join("ca")), 0o700);
    assert_eq!(mode(&store.join("users")), 0o700);
    assert_eq!(mode(&store.join("users/myuser")), 0o700);
    let (ca_crt, ca_key) = env.ca_files();
    let (crt, key) = env.user_files("myuser");
    assert_eq!(mode(&ca_key), 0o600);
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&ca_crt), 0o644);
    assert_eq!(mode(&crt), 0o644);
    // No temporary files left behind anywhere.
    for (path, _) in env.snapshot(&store) {
        assert!(!path.to_string_lossy().contains(".tmp-"), "{path:?}");
    }

    let r = env.run(&["export", "marathon"]);
    r.ok();
    let env_block = r.json();
    let obj = env_block.as_object().unwrap();
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        [
            "ORCHESTRATION",
            "EPHEMERAL_STORE_USER",
            "EPHEMERAL_STORE_ROOT_CA_CERT",
            "EPHEMERAL_STORE_ROOT_CA_KEY"
        ]
    );
    assert_eq!(obj["ORCHESTRATION"], "marathon");
    assert_eq!(
        obj["EPHEMERAL_STORE_USER"],
        r#"{ "name" : "myuser", "auth_mode" : "certificate" }"#
    );
    assert_eq!(
        obj["EPHEMERAL_STORE_ROOT_CA_CERT"].as_str().unwrap(),
        std::fs::read_to_string(&ca_crt).unwrap()
    );
    let key_pem = obj["EPHEMERAL_STORE_ROOT_CA_KEY"].as_str().unwrap();
    assert!(
        key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
            && key_pem.ends_with("-----END RSA PRIVATE KEY-----\n")
    );
    assert_eq!(key_pem, std::fs::read_to_string(&ca_key).unwrap());
    // Real line breaks, escaped by the JSON encoder, never literal.
    assert!(r.stdout.contains(r"-----BEGIN CERTIFICATE-----\n"));
    // The key never reaches stderr.
    assert!(!r.stderr.contains("PRIVATE KEY") && !r.stderr.contains(&key_pem[40..80]));
}

fn certificates_are_exactly_the_documented_profile_and_pass_openssl_verify(backend: Backend) {
    let env = Env::with_users_on(backend, &["myuser"]);
    let (ca_crt, ca_key) = env.ca_files();
    let (crt, key) = env.user_files("myuser");

    let (ok, out) = openssl(&[
        "verify",
        "-purpose",
        "sslclient",
        "-x509_strict",
        "-CAfile",
        s(&ca_crt),
        s(&crt),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = openssl(&["verify", "-x509_strict", "-CAfile", s(&ca_crt), s(&ca_crt)]);
    assert!(ok, "{out}");

    let (_, ca_text) = openssl(&["x509", "-in", s(&ca_crt), "-noout", "-text"]);
    for want in [
        "Version: 3 (0x2)",
        "Signature Algorithm: sha256WithRSAEncryption",
        "Issuer: CN = rootCA",
        "Subject: CN = rootCA",
        "Public-Key: (2048 bit)",
        "X509v3 Basic Constraints: critical\n                CA:TRUE",
        "X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign",
        "X509v3 Subject Key Identifier",
    ] {
        assert!(ca_text.contains(want), "CA lacks {want:?}:\n{ca_text}");
    }
    let (_, text) = openssl(&["x509", "-in", s(&crt), "-noout", "-text"]);
    for want in [
        "Version: 3 (0x2)",
        "Signature Algorithm: sha256WithRSAEncryption",
        "Subject: CN = myuser",
        "Public-Key: (2048 bit)",
        "CA:FALSE",
        "X509v3 Key Usage: critical\n                Digital Signature, Key Encipherment",
        "X509v3 Extended Key Usage: \n                TLS Web Client Authentication",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
    ] {
        assert!(
            text.contains(want),
            "user certificate lacks {want:?}:\n{text}"
        );
    }
    assert!(!text.contains("RSASSA-PSS"));

    // 20-byte positive serials.
    for c in [&ca_crt, &crt] {
        let (_, serial) = openssl(&["x509", "-in", s(c), "-noout", "-serial"]);
        let hex = serial.trim().trim_start_matches("serial=");
        assert_eq!(hex.len(), 40, "{hex}");
        assert!(u8::from_str_radix(&hex[..2], 16).unwrap() < 0x80);
    }

    // Keys are PKCS#1 and match their certificates.
    for (c, k) in [(&ca_crt, &ca_key), (&crt, &key)] {
        assert!(std::fs::read_to_string(k)
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert_eq!(openssl_public_key(c), openssl_public_key(k));
    }

    // Lifetimes: CA 3650 days, user 365 days, user never past the CA.
    let doc: ListDoc = serde_json::from_str(&env.run(&["list", "--json"]).stdout).unwrap();
    assert!(
        (3648..=3650).contains(&doc.ca.days_left),
        "{}",
        doc.ca.days_left
    );
    assert!((363..=365).contains(&doc.certificates[0].days_left));
}

fn key_types_and_formats(backend: Backend) {
    let env = Env::on(backend);
    env.run(&["init", "--key-format", "pkcs8"]).ok();
    let (_, ca_key) = env.ca_files();
    assert!(std::fs::read_to_string(&ca_key)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    // The env block still carries the documented PKCS#1 form, converted on output.
    let v = env.run(&["issue", "u1"]);
    v.ok();
    let e = env.run(&["export", "marathon"]).json();
    assert!(e["EPHEMERAL_STORE_ROOT_CA_KEY"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let e = env
        .run(&["export", "marathon", "--key-format", "pkcs8"])
        .json();
    assert!(e["EPHEMERAL_STORE_ROOT_CA_KEY"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));

    let r = env.run(&["issue", "ec", "--key-type", "ecdsa-p256"]);
    r.ok();
    assert!(r.stderr.contains("needs RSA"), "{}", r.stderr);
    let (crt, key) = env.user_files("ec");
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .starts_with("-----BEGIN EC PRIVATE KEY-----"));
    let (ca_crt, _) = env.ca_files();
    let (ok, out) = openssl(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        s(&ca_crt),
        s(&crt),
    ]);
    assert!(ok, "{out}");
    env.run(&["issue", "ed", "--key-type", "ed25519"]).ok();
    let (crt, key) = env.user_files("ed");
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    let (ok, out) = openssl(&["verify", "-CAfile", s(&ca_crt), s(&crt)]);
    assert!(ok, "{out}");
}

fn json_documents_have_the_documented_shapes(backend: Backend) {
    let env = Env::on(backend);
    let init: InitDoc = serde_json::from_str(&env.run(&["init", "--json"]).stdout).unwrap();
    assert_eq!(init.version, 1);
    assert_eq!(init.ca.subject, "CN=rootCA");
    assert_eq!(init.ca.key_type, "rsa-2048");
    let r = env.run(&["issue", "alice", "bob", "--days", "30", "--json"]);
    r.ok();
    let issued: IssueDoc = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        issued
            .issued
            .iter()
            .map(|i| i.user.as_str())
            .collect::<Vec<_>>(),
        ["alice", "bob"]
    );
    assert!(issued
        .issued
        .iter()
        .all(|i| i.replaced_serial.is_none() && i.serial.len() == 40));

    let list: ListDoc = serde_json::from_str(&env.run(&["list", "--json"]).stdout).unwrap();
    assert_eq!(list.version, 1);
    assert_eq!(list.ca.serial, init.ca.serial);
    assert_eq!(list.certificates.len(), 2);
    for (row, i) in list.certificates.iter().zip(&issued.issued) {
        assert_eq!(
            (row.user.as_str(), row.serial.as_str(), row.status.as_str()),
            (i.user.as_str(), i.serial.as_str(), "valid")
        );
        assert_eq!(row.fingerprint_sha256.len(), 64);
        assert!(row.not_after.ends_with('Z'));
        assert!((29..=30).contains(&row.days_left));
    }
    // The fingerprint is SHA-256 over the DER, as openssl computes it.
    let (crt, _) = env.user_files("alice");
    let (_, fp) = openssl(&["x509", "-in", s(&crt), "-noout", "-fingerprint", "-sha256"]);
    assert_eq!(
        fp.trim()
            .rsplit('=')
            .next()
            .unwrap()
            .replace(':', "")
            .to_lowercase(),
        list.certificates[0].fingerprint_sha256
    );

    let show: ShowDoc =
        serde_json::from_str(&env.run(&["show", "alice", "--json"]).stdout).unwrap();
    assert_eq!(show.user.as_deref(), Some("alice"));
    assert_eq!(show.certificate.common_names, ["alice"]);
    assert_eq!(show.certificate.extended_key_usage, ["clientAuth"]);
    assert_eq!(
        show.certificate.key_usage,
        ["digitalSignature", "keyEncipherment"]
    );
    assert_eq!(show.certificate.x509_version, 3);
    let ca: ShowDoc = serde_json::from_str(&env.run(&["show", "--ca", "--json"]).stdout).unwrap();
    assert!(ca.certificate.is_ca);
    assert_eq!(ca.certificate.key_usage, ["keyCertSign", "cRLSign"]);
    let file: ShowDoc =
        serde_json::from_str(&env.run(&["show", "--file", s(&crt), "--json"]).stdout).unwrap();
    assert_eq!(file.certificate.serial, show.certificate.serial);
    assert!(file.user.is_none() && file.status.is_none());
}

fn reissue_needs_force_and_keeps_history(backend: Backend) {
    let env = Env::with_users_on(backend, &["myuser"]);
    let (old_crt, old_key) = env.user_files("myuser");
    let before = env.snapshot(&env.store());
    env.run(&["issue", "myuser"])
        .code(4)
        .one_line_error(&["already has a certificate", "--force"]);
    assert_eq!(env.snapshot(&env.store()), before);

    let r = env.run(&["issue", "myuser", "--force", "--json"]);
    r.ok();
    let doc: IssueDoc = serde_json::from_str(&r.stdout).unwrap();
    assert!(doc.issued[0].replaced_serial.is_some());
    let (new_crt, _) = env.user_files("myuser");
    assert_ne!(new_crt, old_crt);
    assert!(old_crt.exists() && old_key.exists(), "history is kept");
    let all: ListDoc = serde_json::from_str(&env.run(&["list", "--all", "--json"]).stdout).unwrap();
    let states: Vec<_> = all.certificates.iter().map(|c| c.status.as_str()).collect();
    // By user, the current certificate first, then its history (issue 14).
    assert_eq!(states, ["valid", "superseded"]);
    let cur: ListDoc = serde_json::from_str(&env.run(&["list", "--json"]).stdout).unwrap();
    assert_eq!(cur.certificates.len(), 1);
}

fn init_refuses_to_replace_a_ca_without_force(backend: Backend) {
    let env = Env::with_users_on(backend, &["myuser"]);
    let before = env.snapshot(&env.store());
    env.run(&["init"])
        .code(4)
        .one_line_error(&["already holds a root CA", "--force"]);
    assert_eq!(env.snapshot(&env.store()), before);
    let r = env.run(&["init", "--force"]);
    r.ok();
    assert!(r.stderr.contains("kept in history"), "{}", r.stderr);
    let list: ListDoc = serde_json::from_str(&env.run(&["list", "--json"]).stdout).unwrap();
    assert!(
        list.certificates.is_empty(),
        "users of the old CA are history"
    );
}

fn user_lifetime_is_clamped_to_the_ca(backend: Backend) {
    let env = Env::on(backend);
    env.run(&["init", "--days", "10"]).ok();
    let r = env.run(&["issue", "u", "--days", "365", "--json"]);
    r.ok();
    assert!(r.stderr.contains("would outlive the CA"), "{}", r.stderr);
    let doc: IssueDoc = serde_json::from_str(&r.stdout).unwrap();
    let list: ListDoc = serde_json::from_str(&env.run(&["list", "--json"]).stdout).unwrap();
    assert_eq!(doc.issued[0].not_after, list.ca.not_after);
}

fn refusals_change_nothing_and_say_what_to_do(backend: Backend) {
    let env = Env::with_users_on(backend, &["myuser"]);
    let store = env.store();
    std::fs::write(env.path("notapp.json"), r#"{"apps": []}"#).unwrap();
    std::fs::write(env.path("garbage.json"), "{not json").unwrap();
    let cases: Vec<(Vec<&str>, i32, Vec<&str>)> = vec![
        (vec!["issue", "myUser"], 2, vec!["upper-case", "\"myuser\""]),
        (vec!["issue", "my user"], 2, vec!["a space"]),
        (vec!["issue", "a/b"], 2, vec!["'/'"]),
        (vec!["issue", "all"], 2, vec!["reserved"]),
        (vec!["issue", "ok1", "Bad"], 2, vec!["upper-case"]),
        (vec!["issue", "dup", "dup"], 2, vec!["named twice"]),
        (vec!["issue", "u", "--san", "not a name"], 2, vec!["--san"]),
        (
            vec!["issue", "u", "--from", "missing.txt"],
            2,
            vec!["cannot read", "missing.txt"],
        ),
        (vec!["issue", "myuser"], 4, vec!["--force"]),
        (
            vec!["export", "marathon", "--user", "nobody"],
            2,
            vec!["no certificate for user \"nobody\"", "pki list"],
        ),
        (
            vec!["export", "marathon", "--merge", "notapp.json"],
            2,
            vec!["not a Marathon app definition"],
        ),
        (
            vec!["export", "marathon", "--merge", "garbage.json"],
            2,
            vec!["is not JSON"],
        ),
        (
            vec!["export", "marathon", "--merge", "nope.json"],
            2,
            vec!["cannot read"],
        ),
        (
            vec![
                "export", "marathon", "--format", "app", "--app-id", "/Bad_Id",
            ],
            2,
            vec!["app id"],
        ),
        (vec!["show", "nobody"], 2, vec!["no certificate"]),
        (vec!["show", "--file", "nope.crt"], 2, vec!["cannot read"]),
        (vec!["init", "--cn", ""], 2, vec!["common name"]),
    ];
    for (args, code, parts) in cases {
        let before = env.snapshot(&store);
        let r = env.run(&args);
        assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
        r.one_line_error(&parts);
        assert!(r.stdout.is_empty(), "{args:?} printed data on refusal");
        assert_eq!(env.snapshot(&store), before, "{args:?} changed the store");
    }
    // clap's own usage errors are exit 2 too.
    assert_eq!(env.run(&["issue", "--days", "0", "x"]).code, 2);
    assert_eq!(env.run(&["show", "myuser", "--ca"]).code, 2);
    assert_eq!(
        env.run(&["export", "marathon", "--format", "env", "--merge", "x.json"])
            .code,
        2
    );
    assert_eq!(env.run(&["frobnicate"]).code, 2);
}

fn refusals_on_a_missing_or_odd_store(backend: Backend) {
    let env = Env::on(backend);
    for args in [
        vec!["list"],
        vec!["issue", "u"],
        vec!["export", "marathon"],
        vec!["show", "--ca"],
    ] {
        env.run(&args)
            .code(2)
            .one_line_error(&["no pki store", "pki init"]);
    }
    assert!(!env.store().exists(), "nothing was created");
    std::fs::write(env.path("afile"), b"").unwrap();
    env.run(&["--dir", "afile", "init"])
        .code(2)
        .one_line_error(&["not a directory"]);
    assert_eq!(std::fs::read(env.path("afile")).unwrap(), b"");
}

fn export_refuses_a_non_rsa_ca_unless_insisted(backend: Backend) {
    let env = Env::on(backend);
    let r = env.run(&["init", "--key-type", "ecdsa-p256"]);
    r.ok();
    assert!(r.stderr.contains("needs RSA"));
    env.run(&["issue", "u"]).ok();
    env.run(&["export", "marathon"])
        .code(2)
        .one_line_error(&["needs an RSA CA", "--allow-non-rsa"]);
    let v = env.run(&["export", "marathon", "--allow-non-rsa"]);
    v.ok();
    assert!(v.json()["EPHEMERAL_STORE_ROOT_CA_KEY"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN EC PRIVATE KEY-----"));
}

fn export_picks_the_only_user_or_asks(backend: Backend) {
    let env = Env::on(backend);
    env.run(&["init"]).ok();
    env.run(&["export", "marathon"])
        .code(2)
        .one_line_error(&["has no users", "pki issue"]);
    env.run(&["issue", "a", "b", "--key-type", "ecdsa-p256"])
        .ok();
    env.run(&["export", "marathon"])
        .code(2)
        .one_line_error(&["2 users", "--user"]);
    let v = env.run(&["export", "marathon", "--user", "b"]).json();
    assert_eq!(
        v["EPHEMERAL_STORE_USER"],
        r#"{ "name" : "b", "auth_mode" : "certificate" }"#
    );
}

fn export_files_writes_a_usable_pair(backend: Backend) {
    let env = Env::with_users_on(backend, &["myuser"]);
    let out = env.path("out");
    let r = env.run(&[
        "export", "files", "--user", "myuser", "--out", "out", "--json",
    ]);
    r.ok();
    let doc: ExportFilesDoc = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc.version, 1);
    assert_eq!(mode(&out), 0o700);
    assert_eq!(mode(&out.join("myuser.key")), 0o600);
    let (ok, o) = openssl(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        s(&out.join("ca.crt")),
        s(&out.join("myuser.crt")),
    ]);
    assert!(ok, "{o}");
    let before = env.snapshot(&out);
    env.run(&["export", "files", "--user", "myuser", "--out", "out"])
        .code(4)
        .one_line_error(&["already exists", "--force"]);
    assert_eq!(env.snapshot(&out), before);
    env.run(&[
        "export",
        "files",
        "--user",
        "myuser",
        "--out",
        "out",
        "--force",
        "--key-format",
        "pkcs8",
    ])
    .ok();
    assert!(std::fs::read_to_string(out.join("myuser.key"))
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[test]
fn a_held_lock_is_exit_4_and_wait_waits() {
    let env = Env::with_users(&[]);
    let lock = env.hold_lock();
    let before = env.snapshot(&env.store());
    env.run(&["issue", "u"])
        .code(4)
        .one_line_error(&["another pki", "--wait"]);
    assert_eq!(env.snapshot(&env.store()), before);
    // Reading needs no lock.
    env.run(&["list"]).ok();
    // Release the lock once pki says it is waiting for it (a signal, not a sleep).
    let (mut child, mut stderr, said) = waiting_issue(&env);
    drop(lock);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{said}{rest}");
}

#[test]
fn help_documents_exit_codes_and_data_goes_to_stdout() {
    let env = Env::new();
    let r = env.run(&["--help"]);
    r.ok();
    for c in [
        "0  success",
        "1  failure",
        "2  usage",
        "3  attention",
        "4  refused",
    ] {
        assert!(r.stdout.contains(c), "{c}");
    }
    let r = env.run(&["completions", "bash"]);
    r.ok();
    assert!(r.stdout.contains("_clap_complete_pki()"));
    // Quiet silences messages, not data.
    let env = Env::with_users(&["u"]);
    let r = env.run(&["-q", "export", "marathon"]);
    r.ok();
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert!(r.json().is_object());
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let env = Env::with_users(&["u"]);
    let mut child = env
        .command(&["completions", "zsh"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
}

/// No core file can hold the decrypted CA key or the passphrase: a running
/// pki has a core size limit of 0, soft and hard (so nothing it starts can
/// raise it), whatever the shell's `ulimit -c` was. Read from
/// /proc/PID/limits while pki waits for the store lock.
#[test]
fn a_running_pki_can_dump_no_core() {
    // Let children dump as much as the hard limit allows (`ulimit -c
    // unlimited` where that is allowed), so the soft limit tells too.
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut core = getrlimit(Resource::Core);
    core.current = core.maximum;
    setrlimit(Resource::Core, core).unwrap();
    let env = Env::with_users(&[]);
    let lock = env.hold_lock();
    let (mut child, _stderr, said) = waiting_issue(&env);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    drop(lock);
    assert!(child.wait().unwrap().success(), "{said}");
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap_or_else(|| panic!("no core line in {limits}"));
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{core}");
}

/// `pki --wait issue u` started while the test holds the store lock, read
/// up to its "waiting for the store lock": the child, the rest of its
/// stderr, and what it said so far.
fn waiting_issue(
    env: &Env,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStderr>,
    String,
) {
    use std::io::BufRead;
    let mut child = env
        .command(&["--wait", "issue", "u", "--key-type", "ecdsa-p256"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("waiting for the store lock") {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "pki ended: {said}"
        );
        said.push_str(&line);
    }
    (child, stderr, said)
}

crate::each_backend!(
    certificates_are_exactly_the_documented_profile_and_pass_openssl_verify,
    key_types_and_formats,
    json_documents_have_the_documented_shapes,
    reissue_needs_force_and_keeps_history,
    init_refuses_to_replace_a_ca_without_force,
    user_lifetime_is_clamped_to_the_ca,
    refusals_change_nothing_and_say_what_to_do,
    refusals_on_a_missing_or_odd_store,
    export_refuses_a_non_rsa_ca_unless_insisted,
    export_picks_the_only_user_or_asks,
    export_files_writes_a_usable_pair,
);
