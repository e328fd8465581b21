//! The encrypted CA key (`init --encrypt`): openssl reads it with the
//! passphrase and not without; commands that sign need the passphrase, the
//! others never ask; a wrong one changes nothing.

use crate::support::common;

use std::path::Path;

use common::{mode, openssl, openssl_public_key, sh, Env};

fn index(env: &Env) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(env.store().join("index.json")).unwrap()).unwrap()
}

/// `openssl pkey` opens `key` with the given `-passin` source
/// (`file:PATH`, `pass:TEXT`); returns whether it could, and what it said.
fn openssl_opens(key: &Path, passin: &str) -> (bool, String) {
    openssl(&[
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-passin",
        passin,
        "-noout",
    ])
}

/// The `-passin` source for the test's passphrase file, as an absolute
/// path: openssl runs in the test's cwd, not in the Env.
fn pass_file(env: &Env) -> String {
    format!("file:{}", env.path("pass.txt").display())
}

#[test]
fn encrypted_ca_key_is_openssl_readable_and_only_signing_needs_the_passphrase() {
    let mut env = Env::new();
    std::fs::write(env.path("pass.txt"), "correct horse\n").unwrap();
    std::fs::write(env.path("wrong.txt"), "battery staple\n").unwrap();
    std::fs::write(env.path("empty.txt"), "\n").unwrap();

    // No passphrase source (stdin is not a terminal), and an empty one: refused, nothing created.
    env.run(&["init", "--encrypt"])
        .code(2)
        .one_line_error(&["needs a passphrase", "--passphrase-file"]);
    env.run(&["init", "--encrypt", "--passphrase-file", "empty.txt"])
        .code(2)
        .one_line_error(&["passphrase is empty"]);
    env.run(&[
        "init",
        "--encrypt",
        "--key-format",
        "pkcs8",
        "--passphrase-file",
        "pass.txt",
    ])
    .code(2);
    assert!(!env.store().exists());

    env.run(&["init", "--encrypt", "--passphrase-file", "pass.txt"])
        .ok();
    let (ca_crt, ca_key) = env.ca_files();
    assert_eq!(mode(&ca_key), 0o600);
    let pem = std::fs::read_to_string(&ca_key).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{pem}"
    );
    assert_eq!(index(&env)["ca"]["encrypted"], true);

    // openssl: scrypt + AES-256-CBC, readable with the passphrase only.
    let (ok, out) = openssl_opens(&ca_key, &pass_file(&env));
    assert!(ok, "{out}");
    let (ok, out) = openssl(&["asn1parse", "-in", ca_key.to_str().unwrap()]);
    assert!(
        ok && out.contains(":scrypt") && out.contains(":aes-256-cbc"),
        "{out}"
    );
    let (ok, _) = openssl_opens(&ca_key, "pass:battery staple");
    assert!(!ok, "openssl read the key with a wrong passphrase");
    let (ok, _) = openssl_opens(&ca_key, "pass:");
    assert!(!ok, "openssl read the key without its passphrase");

    // Signing without a passphrase, or with a wrong one: exit 2, one line, store unchanged.
    let before = env.snapshot(&env.store());
    env.run(&["issue", "bob"])
        .code(2)
        .one_line_error(&["is encrypted", "--passphrase-file"]);
    env.run(&["issue", "bob", "--passphrase-file", "wrong.txt"])
        .code(2)
        .one_line_error(&["wrong passphrase", "wrong.txt"]);
    env.run(&["crl", "--passphrase-file", "wrong.txt"]).code(2);
    env.run(&["export", "marathon", "--user", "bob"]).code(2);
    assert_eq!(
        env.snapshot(&env.store()),
        before,
        "a refused run changed the store"
    );

    // With the passphrase (flag before or after the command, or from the environment).
    env.run(&["--passphrase-file", "pass.txt", "issue", "bob"])
        .ok();
    env.run(&["issue", "carol", "--passphrase-file", "pass.txt"])
        .ok();
    let (bob_crt, _) = env.user_files("bob");
    let (ok, out) = openssl(&[
        "verify",
        "-CAfile",
        ca_crt.to_str().unwrap(),
        bob_crt.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");

    // Commands that do not sign never ask: no passphrase anywhere here.
    env.run(&["list"]).ok();
    env.run(&["show", "bob"]).ok();
    env.run(&["show", "--ca"]).ok();
    env.run(&["export", "files", "--user", "bob", "--out", "out"])
        .ok();
    assert!(std::fs::read_to_string(env.path("out/bob.key"))
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));

    // export marathon decrypts for output, and says on stderr that the env carries it in clear.
    env.var(
        "PKI_PASSPHRASE_FILE",
        env.path("pass.txt").to_str().unwrap(),
    );
    let run = env.run(&["export", "marathon", "--user", "bob"]);
    run.ok();
    assert!(
        run.stderr.contains("warning") && run.stderr.contains("in clear"),
        "{}",
        run.stderr
    );
    let key_pem = run.json()["EPHEMERAL_STORE_ROOT_CA_KEY"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    std::fs::write(env.path("plain.key"), &key_pem).unwrap();
    assert_eq!(
        openssl_public_key(&env.path("plain.key")),
        openssl_public_key(&ca_crt),
        "the exported key is not the CA's"
    );
    env.run(&["export", "k8s", "--user", "bob"]).ok();
    env.run(&["crl"]).ok();
}

#[test]
fn import_encrypt_keeps_an_adopted_ca_encrypted() {
    let env = Env::new();
    sh(
        &env,
        "openssl genrsa -out ca.key 2048 2>/dev/null
         openssl req -x509 -new -nodes -key ca.key -sha256 -days 365 -subj /CN=rootCA -out ca.crt
         echo s3cret > pass.txt",
    );
    env.run(&["import", "--cert", "ca.crt", "--key", "ca.key", "--encrypt"])
        .code(2)
        .one_line_error(&["--passphrase-file"]);
    assert!(!env.store().exists());
    env.run(&[
        "import",
        "--cert",
        "ca.crt",
        "--key",
        "ca.key",
        "--encrypt",
        "--passphrase-file",
        "pass.txt",
    ])
    .ok();
    let (_, key) = env.ca_files();
    let (ok, out) = openssl_opens(&key, &pass_file(&env));
    assert!(ok, "{out}");
    env.run(&["issue", "bob", "--passphrase-file", "pass.txt"])
        .ok();
}

#[test]
fn rotate_ca_keeps_an_encrypted_ca_encrypted_and_audits_it() {
    let env = Env::new();
    std::fs::write(env.path("pass.txt"), "correct horse\n").unwrap();
    env.run(&["init", "--encrypt", "--passphrase-file", "pass.txt"])
        .ok();
    env.run(&[
        "issue",
        "u",
        "--key-type",
        "ecdsa-p256",
        "--passphrase-file",
        "pass.txt",
    ])
    .ok();
    let old = index(&env)["ca"]["serial"].as_str().unwrap().to_string();
    env.run(&["rotate", "--ca", "--force", "--passphrase-file", "pass.txt"])
        .ok();
    let idx = index(&env);
    assert_ne!(idx["ca"]["serial"], old.as_str());
    assert_eq!(idx["ca"]["encrypted"], true);
    let (_, key) = env.ca_files();
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let (ok, out) = openssl_opens(&key, &pass_file(&env));
    assert!(ok, "{out}");
    // The rotation is in the audit trail, and the chain is intact.
    let audit = std::fs::read_to_string(env.store().join("audit.jsonl")).unwrap();
    assert!(
        audit.contains("\"ca-rotated\"") && audit.contains("\"command\":\"rotate\""),
        "{audit}"
    );
    env.run(&["audit", "verify"]).ok();
}

/// `verify` matches the CA key to its certificate, so an encrypted key
/// needs its passphrase there too: by `--passphrase-file` or
/// `PKI_PASSPHRASE_FILE`, as its own failure line says.
#[test]
fn verify_takes_the_passphrase_of_an_encrypted_ca_key() {
    let mut env = Env::new();
    std::fs::write(env.path("pass.txt"), "correct horse\n").unwrap();
    env.run(&["init", "--encrypt", "--passphrase-file", "pass.txt"])
        .ok();
    env.run(&["issue", "alice", "--passphrase-file", "pass.txt"])
        .ok();
    let r = env.run(&["verify"]);
    r.code(3);
    assert!(r.stdout.contains("--passphrase-file"), "{}", r.stdout);
    env.run(&["verify", "--passphrase-file", "pass.txt"]).ok();
    env.var("PKI_PASSPHRASE_FILE", "pass.txt");
    env.run(&["verify"]).ok();
}
