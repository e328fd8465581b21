//! Hostile input, as a table: every command fed malformed, mislabelled,
//! mismatched, missing or unreachable input. Each case must exit with its
//! documented code, print ONE line that names the problem and a fix, and
//! leave everything on disk (every store, every input file) byte for byte
//! as it was.
//!
//! Root notes: the tests run as root, where `chmod 000` does not stop a
//! read or a write. "Unreadable" is therefore a path whose parent is a
//! file (ENOTDIR) or a directory given as a file (EISDIR); "read-only" is
//! the store bind-mounted read-only in a private mount namespace
//! (`unshare -m`), which stops root too. Where `unshare -m` is not
//! permitted those cases say so on stderr and are skipped.

use crate::support::common;

use std::process::{Command, Stdio};

use common::{sh, table_row, Env, Run, PKI};

/// One row: arguments, the exit code, and what the one line must contain.
struct Case {
    args: Vec<String>,
    code: i32,
    parts: Vec<&'static str>,
    /// Run with the store `pki` mounted read-only.
    read_only: bool,
}

fn case(args: &[&str], code: i32, parts: &[&'static str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        code,
        parts: parts.to_vec(),
        read_only: false,
    }
}

/// Every input file and store the cases use.
fn fixtures() -> Env {
    let env = Env::new();
    sh(
        &env,
        r#"
        P="$PKI"
        # The main store: an RSA CA and user alice.
        "$P" --dir pki init -q
        "$P" --dir pki issue alice -q
        cp pki/ca/*.crt ca.crt; cp pki/ca/*.key ca.key
        cp pki/users/alice/*.crt alice.crt; cp pki/users/alice/*.key alice.key
        # Mangled copies.
        openssl x509 -in ca.crt -outform DER -out ca.der
        openssl pkey -in ca.key -outform DER -out ca.key.der
        head -c 400 ca.crt > trunc.crt; echo "-----END CERTIFICATE-----" >> trunc.crt
        head -c 400 ca.key > trunc.key; echo "-----END RSA PRIVATE KEY-----" >> trunc.key
        echo "hello, world" > garbage.pem
        # Another CA, an EC CA and CSRs with bad names.
        openssl genrsa -out other.key 2048 2>/dev/null
        openssl req -x509 -new -key other.key -sha256 -days 365 -subj /CN=otherCA -out other-ca.crt
        openssl ecparam -name prime256v1 -genkey -noout -out ec.key
        openssl req -x509 -new -key ec.key -sha256 -days 365 -subj /CN=ecroot -out ec.crt
        openssl req -new -key other.key -subj /CN=Bob -out upper.csr
        openssl req -new -key other.key -subj /CN=.. -out dotdot.csr
        head -c 300 upper.csr > trunc.csr; echo "-----END CERTIFICATE REQUEST-----" >> trunc.csr
        # An EC store (its CA cannot serve the ephemeral store) and an encrypted one.
        "$P" --dir ec import --cert ec.crt --key ec.key -q 2>/dev/null
        "$P" --dir ec issue eve -q
        echo "open sesame" > pass.txt; echo "wrong" > wrong.txt
        "$P" --dir enc init --encrypt --passphrase-file pass.txt -q
        # Broken stores.
        cp -a pki idxdir; rm idxdir/index.json; mkdir idxdir/index.json
        cp -a pki damaged; echo '{"format": 1, "ca": ' > damaged/index.json
        cp -a pki future; sed -i 's/"format": 1/"format": 3/' future/index.json
        cp -a pki badlog; sed -i '2s/"user":"alice"/"user":"mallory"/' badlog/audit.jsonl
        # Apps that are not apps, and odd files.
        echo '[]' > arr.json
        echo '{"env": {}}' > noid.json
        echo '{"id": "/g", "apps": []}' > group.json
        echo '{"id": "/x", "env": ["A=1"]}' > envlist.json
        echo 'id: /x' > yaml.json
        printf '\000\001\377' > binary.json
        echo '{"id": "/ephemeral-store"}' > app.json
        printf 'ok1\nBad Name\n' > names.txt
        echo file > afile; mkdir adir
        echo token > token.txt; echo 'u:p' > creds.txt
        "#,
    );
    env
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let long = "x".repeat(65);
    let long: &'static str = Box::leak(long.into_boxed_str());
    let mut v = vec![
        // --- PEM: garbage, truncated, wrong labels, DER, mismatches (import) ---
        case(&["import", "--dir", "new", "--cert", "garbage.pem", "--key", "ca.key"], 2, &["garbage.pem is not a PEM certificate", "BEGIN CERTIFICATE"]),
        case(&["import", "--dir", "new", "--cert", "trunc.crt", "--key", "ca.key"], 2, &["trunc.crt looks like PEM but is damaged", "complete"]),
        case(&["import", "--dir", "new", "--cert", "ca.key", "--key", "ca.key"], 2, &["ca.key is PEM of type \"RSA PRIVATE KEY\"", "certificate file"]),
        case(&["import", "--dir", "new", "--cert", "ca.crt", "--key", "ca.crt"], 2, &["not a private key", "private key file"]),
        case(&["import", "--dir", "new", "--cert", "ca.der", "--key", "ca.key"], 2, &["ca.der is not text", "not DER"]),
        case(&["import", "--dir", "new", "--cert", "ca.crt", "--key", "ca.key.der"], 2, &["ca.key.der is not text", "not DER"]),
        case(&["import", "--dir", "new", "--cert", "ca.crt", "--key", "trunc.key"], 2, &["trunc.key looks like PEM but is damaged"]),
        case(&["import", "--dir", "new", "--cert", "ca.crt", "--key", "garbage.pem"], 2, &["garbage.pem is not a PEM private key"]),
        case(&["import", "--dir", "new", "--cert", "ca.crt", "--key", "other.key"], 2, &["other.key does not belong to the certificate ca.crt", "openssl"]),
        case(&["import", "--dir", "new", "--cert", "alice.crt", "--key", "alice.key"], 2, &["alice.crt is not a CA certificate", "root CA"]),
        case(&["import", "--user", "alice", "--cert", "ca.crt"], 2, &["CN \"rootCA\", not \"alice\""]),
        case(&["import", "--user", "alice", "--cert", "alice.crt", "--key", "other.key"], 2, &["does not belong"]),
        case(&["import", "--cert", "other-ca.crt", "--key", "other.key"], 4, &["already holds a root CA", "--force"]),
        // --- CSRs (sign) ---
        case(&["sign", "--csr", "garbage.pem"], 2, &["garbage.pem is not a certificate signing request", "openssl req"]),
        case(&["sign", "--csr", "ca.crt"], 2, &["not a certificate signing request", "BEGIN CERTIFICATE REQUEST"]),
        case(&["sign", "--csr", "ca.key"], 2, &["not a certificate signing request"]),
        case(&["sign", "--csr", "trunc.csr"], 2, &["trunc.csr"]),
        case(&["sign", "--csr", "upper.csr"], 2, &["upper-case", "use \"bob\""]),
        case(&["sign", "--csr", "dotdot.csr"], 2, &["names a directory"]),
        // --- certificates given to show ---
        case(&["show", "--file", "ca.key"], 2, &["not a certificate"]),
        // (ca.der itself is a DER certificate, which show --file reads.)
        case(&["show", "--file", "ca.key.der"], 2, &["not text"]),
        case(&["show", "--file", "garbage.pem"], 2, &["not a PEM certificate"]),
        // --- user names, over several commands ---
        case(&["issue", "Bob"], 2, &["upper-case", "use \"bob\""]),
        case(&["issue", "bob smith"], 2, &["a space", "a-z 0-9"]),
        case(&["issue", "a/b"], 2, &["'/'", "a-z 0-9"]),
        case(&["issue", "a\"b"], 2, &["'\"'"]),
        case(&["issue", "a\u{7}b"], 2, &["control character U+0007"]),
        case(&["issue", "a\nb"], 2, &["control character U+000A"]),
        case(&["issue", long], 2, &["65 characters", "at most 64"]),
        case(&["issue", "all"], 2, &["reserved word", "choose another name"]),
        case(&["issue", ".."], 2, &["names a directory"]),
        case(&["issue", "."], 2, &["names a directory"]),
        case(&["issue", ""], 2, &["is empty"]),
        case(&["issue", "ok", "ok"], 2, &["named twice"]),
        case(&["issue", "--from", "names.txt"], 2, &["\"Bad Name\"", "a space"]),
        case(&["show", "Alice"], 2, &["upper-case"]),
        case(&["revoke", "../alice"], 2, &["'/'"]),
        case(&["export", "files", "--user", "..", "--out", "out"], 2, &["names a directory"]),
        case(&["export", "marathon", "--user", "any"], 2, &["reserved word"]),
        case(&["export", "k8s", "--user", "a b"], 2, &["a space"]),
        case(&["import", "--user", "Alice", "--cert", "alice.crt"], 2, &["upper-case"]),
        // --- conflicting and bad flags ---
        case(&["-q", "-v", "list"], 2, &["'--quiet' cannot be used with '--verbose'"]),
        case(&["export", "marathon", "--merge", "app.json", "--format", "app"], 2, &["cannot be used with"]),
        case(&["init", "--dir", "new", "--encrypt", "--key-format", "pkcs8", "--passphrase-file", "pass.txt"], 2, &["'--encrypt' cannot be used with"]),
        case(&["deploy", "marathon", "--url", "http://127.0.0.1:9", "--token-file", "token.txt", "--credentials-file", "creds.txt"], 2, &["cannot be used with"]),
        case(&["show", "alice", "--ca"], 2, &["cannot be used with"]),
        case(&["issue", "--days", "0", "bob"], 2, &["--days 0", "from 1 to 36500 days"]),
        case(&["issue", "--key-type", "rsa-1024", "bob"], 2, &["rsa-1024", "rsa-2048"]),
        case(&["issue", "--san", "not a san!", "bob"], 2, &["--san", "DNS name"]),
        case(&["revoke", "--serial", "xyz"], 2, &["not a hexadecimal serial"]),
        case(&["revoke", "nobody"], 2, &["no certificate for user \"nobody\"", "pki list"]),
        case(&["config", "set", "crl-url", "https://crl.example/x"], 2, &["http:// URL"]),
        case(&["export", "k8s", "--namespace", "BAD_NS"], 2, &["not a valid Kubernetes namespace"]),
        case(&["deploy", "marathon", "--url", "ftp://x"], 2, &["not an http:// or https:// URL"]),
        case(&["deploy", "marathon", "--url", "http://127.0.0.1:9", "--app-id", "/Bad"], 2, &["not a valid Marathon app id"]),
        case(&["lisst"], 2, &["unrecognized subcommand", "list"]),
        // --- missing and unreadable files ---
        case(&["import", "--dir", "new", "--cert", "nope.crt", "--key", "ca.key"], 2, &["cannot read nope.crt", "No such file", "check the path"]),
        case(&["sign", "--csr", "nope.csr"], 2, &["cannot read nope.csr"]),
        case(&["issue", "--from", "nope.txt"], 2, &["cannot read nope.txt"]),
        case(&["import", "--dir", "new", "--cert", "afile/ca.crt", "--key", "ca.key"], 2, &["cannot read afile/ca.crt", "Not a directory"]),
        case(&["export", "marathon", "--user", "alice", "--merge", "adir"], 2, &["cannot read adir", "Is a directory"]),
        case(&["show", "--file", "adir"], 2, &["Is a directory"]),
        case(&["crl", "--out", "adir"], 2, &["adir is a directory", "--out"]),
        case(&["export", "files", "--user", "alice", "--out", "afile"], 2, &["afile is not a directory"]),
        case(&["export", "files", "--user", "alice", "--out", "afile/sub"], 1, &["afile/sub"]),
        // --- the store itself ---
        case(&["--dir", "afile", "list"], 2, &["afile is not a directory", "--dir"]),
        case(&["--dir", "afile", "issue", "bob"], 2, &["afile is not a directory"]),
        case(&["--dir", "afile", "init"], 2, &["afile exists and is not a directory"]),
        case(&["--dir", "afile", "export", "marathon"], 2, &["afile is not a directory"]),
        case(&["--dir", "afile", "audit", "verify"], 2, &["afile is not a directory"]),
        case(&["--dir", "nowhere", "issue", "bob"], 2, &["no pki store at ./nowhere", "pki init"]),
        case(&["--dir", "idxdir", "list"], 2, &["idxdir/index.json", "Is a directory"]),
        case(&["--dir", "idxdir", "issue", "bob"], 2, &["idxdir/index.json"]),
        case(&["--dir", "idxdir", "init", "--force"], 2, &["idxdir/index.json"]),
        case(&["--dir", "damaged", "list"], 1, &["damaged/index.json is damaged", "restore it from a backup"]),
        case(&["--dir", "damaged", "revoke", "alice"], 1, &["is damaged"]),
        case(&["--dir", "future", "list"], 1, &["format 3", "pki version"]),
        case(&["--dir", "badlog", "audit", "verify"], 3, &["line 2 was edited", "off this machine"]),
        case(&["init"], 4, &["already holds a root CA", "--force"]),
        case(&["issue", "alice"], 4, &["already has a certificate", "--force"]),
        // --- apps that are not apps ---
        case(&["export", "marathon", "--user", "alice", "--merge", "arr.json"], 2, &["arr.json is not a Marathon app definition", "not a JSON object"]),
        case(&["export", "marathon", "--user", "alice", "--merge", "noid.json"], 2, &["has no \"id\""]),
        case(&["export", "marathon", "--user", "alice", "--merge", "group.json"], 2, &["it is a group"]),
        case(&["export", "marathon", "--user", "alice", "--merge", "envlist.json"], 2, &["\"env\" is not an object"]),
        case(&["export", "marathon", "--user", "alice", "--merge", "yaml.json"], 2, &["yaml.json is not JSON", "Marathon app definition"]),
        case(&["export", "marathon", "--user", "alice", "--merge", "binary.json"], 2, &["binary.json is not text"]),
        // --- an EC CA where RSA is required ---
        case(&["--dir", "ec", "export", "marathon", "--user", "eve"], 2, &["needs an RSA CA", "--allow-non-rsa"]),
        case(&["--dir", "ec", "export", "k8s", "--user", "eve"], 2, &["needs an RSA CA"]),
        case(&["--dir", "ec", "deploy", "marathon", "--url", "http://127.0.0.1:9", "--user", "eve"], 2, &["needs an RSA CA"]),
        // --- the encrypted CA key ---
        case(&["--dir", "enc", "issue", "bob"], 2, &["is encrypted and no passphrase was given", "--passphrase-file"]),
        case(&["--dir", "enc", "--passphrase-file", "wrong.txt", "issue", "bob"], 2, &["wrong passphrase", "wrong.txt"]),
        case(&["--dir", "enc", "--passphrase-file", "nope.txt", "crl"], 2, &["cannot read nope.txt"]),
        case(&["--dir", "enc", "--passphrase-file", "afile/x", "export", "marathon"], 2, &["has no users"]),
    ];
    // A read-only store stops writers (and exports, which must be recorded) with exit 1.
    for args in [
        &["issue", "bob"][..],
        &["revoke", "alice"],
        &["crl"],
        &["config", "set", "crl-url", "http://crl.example/x"],
        &["init", "--force"],
        &["export", "marathon", "--user", "alice"],
        &["export", "files", "--user", "alice", "--out", "out"],
    ] {
        let mut c = case(args, 1, &["Read-only file system", "permissions"]);
        c.read_only = true;
        v.push(c);
    }
    v
}

/// Whether this machine lets us make a private read-only bind mount.
fn can_mount_read_only(env: &Env) -> bool {
    Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount --bind -o ro \"$0\" \"$0\" && ! touch \"$0/x\" 2>/dev/null",
        ])
        .arg(env.path("adir"))
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run_read_only(env: &Env, args: &[String]) -> Run {
    let mut c = Command::new("unshare");
    c.args([
        "-m",
        "sh",
        "-c",
        "mount --bind -o ro \"$0\" \"$0\" && exec \"$@\"",
    ])
    .arg(env.store())
    .arg(PKI)
    .args(args)
    .current_dir(env.root())
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default())
    .stdin(Stdio::null());
    let out = c.output().expect("run unshare");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn hostile_input_fails_cleanly_and_changes_nothing() {
    let env = fixtures();
    let ro = can_mount_read_only(&env);
    if !ro {
        eprintln!(
            "hostile: unshare -m is not permitted here; the read-only store cases are skipped"
        );
    }
    let cases = cases();
    assert!(cases.len() >= 40);
    let mut failures = Vec::new();
    let mut ran = 0;
    for c in &cases {
        if c.read_only && !ro {
            continue;
        }
        ran += 1;
        let before = env.snapshot(env.root());
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let run = if c.read_only {
            run_read_only(&env, &c.args)
        } else {
            env.run(&args)
        };
        let label = || {
            format!(
                "{}{:?}",
                if c.read_only { "(read-only) " } else { "" },
                c.args
            )
        };
        table_row(&mut failures, label, || {
            // Exit 3 is an attention result, not an error (issue 14).
            if c.code == 3 {
                run.code(c.code).one_line_attention(&c.parts);
            } else {
                run.code(c.code).one_line_error(&c.parts);
            }
            assert!(
                env.snapshot(env.root()) == before,
                "something on disk changed"
            );
        });
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} cases failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
