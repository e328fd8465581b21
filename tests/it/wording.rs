//! What pki says and prints (issue 14 items 5, 6, 9 and 10): the wording
//! table, each message exact; import of an encrypted CA key; init into a
//! foreign directory; list's order; one JSON document on every path; a DER
//! CRL into a pipe; --wait naming the holder; revoke by serial prefix.

use crate::support::common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use common::{json_documents, mode, openssl, sh, Env};

/// `pki ARGS` fails with `code` and exactly `line` (and a newline) on stderr.
#[track_caller]
fn says(env: &Env, args: &[&str], code: i32, line: &str) {
    let r = env.run(args);
    r.code(code);
    assert_eq!(r.stderr, format!("{line}\n"), "{args:?}");
}

#[test]
fn the_wording_table_each_message_exact() {
    let env = Env::with_users(&["alice"]);
    let examples = "use e.g. 33% (a third of the lifetime left), 30d (days) or 12h (hours)";
    says(
        &env,
        &["check", "--within", "101%"],
        2,
        &format!("pki: error: --within 101%: a share of the lifetime is at most 100%; {examples}"),
    );
    says(
        &env,
        &["check", "--within", "-5d"],
        2,
        "pki: error: --within -5d: a window cannot be negative; use e.g. 5d (due when that much or less is left)",
    );
    says(
        &env,
        &["rotate", "--within", "3w"],
        2,
        &format!("pki: error: --within \"3w\" is not a duration; {examples}"),
    );
    says(
        &env,
        &["issue", "bob", "--days", "0"],
        2,
        "pki: error: --days 0: a lifetime is from 1 to 36500 days; give a whole number of days, e.g. --days 365",
    );
    says(
        &env,
        &["rotate", "--ca", "--ca-days", "99999"],
        2,
        "pki: error: --ca-days 99999: a lifetime is from 1 to 36500 days; give a whole number of days, e.g. --ca-days 365",
    );
    // The default store reads as a directory.
    let empty = Env::new();
    says(
        &empty,
        &["list"],
        2,
        "pki: error: no pki store at ./pki; run `pki init` to create one there, or point --dir (or PKI_DIR) at an existing store",
    );
    says(
        &empty,
        &["--dir", "/nonexistent/store", "list"],
        2,
        "pki: error: no pki store at /nonexistent/store; run `pki init` to create one there, or point --dir (or PKI_DIR) at an existing store",
    );
    // "an", not "a".
    let r = Env::new().run(&[
        "init",
        "--key-type",
        "ecdsa-p256",
        "--crl-url",
        "http://crl.example/r.crl",
    ]);
    r.ok();
    assert_eq!(
        r.stderr.lines().next().unwrap(),
        "pki: warning: an ecdsa-p256 CA cannot serve the ASP ephemeral store, whose TLS stack needs RSA; export marathon will refuse it"
    );
    // The example is a serial, not the form refused.
    says(
        &env,
        &["revoke", "--serial", "3f9a..."],
        2,
        "pki: error: --serial \"3f9a...\" is not a hexadecimal serial number; give the serial as `pki list --all` shows it, or its first 8 or more hex digits, e.g. --serial 5a3c0e1f",
    );
    // --prometheus into a missing directory: the directory, no temporary name, no "free space".
    let path = env.path("nope/x.prom");
    says(
        &env,
        &["check", "--prometheus", path.to_str().unwrap()],
        1,
        &format!(
            "pki: error: --prometheus {}: the directory {} does not exist; create it (node_exporter's --collector.textfile.directory), or give a path in an existing directory",
            path.display(),
            env.path("nope").display()
        ),
    );
    // An attention result is not an error.
    let mut later = Env::with_users(&["bob"]);
    later.var("PKI_NOW", "2040-01-01T00:00:00Z");
    let r = later.run(&["check"]);
    r.code(3);
    assert!(r.stderr.starts_with("pki: attention: "), "{}", r.stderr);
    assert!(!r.stderr.contains("pki: error"), "{}", r.stderr);
    assert!(
        !r.stdout.contains("days left)") || !r.stdout.contains("(-"),
        "{}",
        r.stdout
    );
    // Nothing of Rust's Debug output: no `Some(`, `Os {`, `kind:` in any message here.
    for args in [
        &["--dir", "/proc/self/nope", "init"][..],
        &["show", "--file", "/nonexistent.pem"],
        &["import", "--cert", "/nonexistent.crt", "--key", "/x"],
    ] {
        let r = env.run(args);
        for debug in ["Some(", "Os {", "kind:", "Error {", "OtherError"] {
            assert!(!r.stderr.contains(debug), "{args:?}: {}", r.stderr);
        }
    }
}

/// `r`'s stderr has `line` as one of its lines.
#[track_caller]
fn said(r: &common::Run, line: &str) {
    assert!(
        r.stderr.lines().any(|l| l == line),
        "{line:?} not in:\n{}",
        r.stderr
    );
}

#[test]
fn import_keeps_an_encrypted_ca_key_encrypted_unless_told_and_says_which() {
    let env = Env::new();
    sh(
        &env,
        "openssl genrsa -out ca.key 2048 2>/dev/null
         openssl req -x509 -new -nodes -key ca.key -sha256 -days 365 -subj /CN=rootCA -out ca.crt
         openssl pkcs8 -topk8 -v2 aes-256-cbc -in ca.key -passout pass:s3cret -out ca.enc.key
         printf 's3cret\\n' > pass.txt",
    );
    let imp = |dir: &str, extra: &[&str]| {
        let mut a = vec![
            "--dir",
            dir,
            "import",
            "--cert",
            "ca.crt",
            "--key",
            "ca.enc.key",
            "--passphrase-file",
            "pass.txt",
        ];
        a.extend_from_slice(extra);
        let r = env.run(&a);
        r.ok();
        r
    };
    let key_of = |dir: &str| {
        let ix: serde_json::Value =
            serde_json::from_slice(&std::fs::read(env.path(dir).join("index.json")).unwrap())
                .unwrap();
        (
            env.path(dir).join(ix["ca"]["key"].as_str().unwrap()),
            ix["ca"]["encrypted"] == true,
        )
    };
    // Default: stays encrypted, under the same passphrase.
    let r = imp("kept", &[]);
    said(
        &r,
        "the CA key stays encrypted, under the passphrase it came with",
    );
    let (key, encrypted) = key_of("kept");
    assert!(encrypted);
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert_eq!(mode(&key), 0o600);
    let (ok, out) = openssl(&[
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-passin",
        &format!("file:{}", env.path("pass.txt").display()),
        "-noout",
    ]);
    assert!(ok, "openssl opens it with the same passphrase: {out}");
    // It signs with that passphrase.
    env.run(&[
        "--dir",
        "kept",
        "issue",
        "alice",
        "--passphrase-file",
        "pass.txt",
    ])
    .ok();
    // --decrypt: stored in clear, and said so.
    let r = imp("clear", &["--decrypt"]);
    said(&r, "the CA key is stored decrypted (--decrypt), mode 0600");
    let (key, encrypted) = key_of("clear");
    assert!(!encrypted);
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let doc = env.run(&[
        "--dir",
        "json",
        "--json",
        "import",
        "--cert",
        "ca.crt",
        "--key",
        "ca.enc.key",
        "--passphrase-file",
        "pass.txt",
    ]);
    doc.ok();
    assert_eq!(doc.json()["key_encrypted"], true);
}

#[test]
fn init_refuses_a_directory_that_is_not_empty_and_not_a_store() {
    let env = Env::new();
    let dir = env.path("mine");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "keep me").unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let before = env.snapshot(env.root());
    says(
        &env,
        &["--dir", "mine", "init"],
        4,
        "pki: error: mine is not empty (it holds \"notes.txt\") and is not a pki store; give --dir (or PKI_DIR) a new or empty directory; pki does not put a CA among other files",
    );
    assert_eq!(env.snapshot(env.root()), before, "nothing changed");
    assert_eq!(mode(&dir), 0o755, "its mode is kept");
    // import of a CA refuses it the same way.
    let r = env.run(&[
        "--dir", "mine", "import", "--cert", "x.crt", "--key", "x.key",
    ]);
    assert_ne!(r.code, 0);
    assert_eq!(env.snapshot(env.root()), before);
    // An empty directory, and one a killed init left, are fine.
    std::fs::create_dir(env.path("empty")).unwrap();
    env.run(&["--dir", "empty", "init"]).ok();
    std::fs::create_dir_all(env.path("killed/ca")).unwrap();
    std::fs::write(env.path("killed/.lock"), "").unwrap();
    std::fs::write(env.path("killed/.tmp-abc"), "").unwrap();
    env.run(&["--dir", "killed", "init"]).ok();
}

#[test]
fn list_is_sorted_by_user_with_each_users_history_after_it() {
    let env = Env::with_users(&["carol", "alice"]);
    env.run(&["issue", "bob"]).ok();
    env.run(&["rotate", "alice", "--force"]).ok();
    env.run(&["rotate", "carol", "--force"]).ok();
    let users = |args: &[&str]| -> Vec<(String, String)> {
        env.run(args).json()["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["user"].as_str().unwrap().to_string(),
                    c["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let cur: Vec<String> = users(&["list", "--json"])
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    assert_eq!(cur, ["alice", "bob", "carol"]);
    let all = users(&["list", "--all", "--json"]);
    let want: Vec<(String, String)> = [
        ("alice", "valid"),
        ("alice", "superseded"),
        ("bob", "valid"),
        ("carol", "valid"),
        ("carol", "superseded"),
    ]
    .iter()
    .map(|(u, s)| (u.to_string(), s.to_string()))
    .collect();
    assert_eq!(all, want);
    let human = env.run(&["list", "--all"]);
    let order: Vec<&str> = human
        .stdout
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(order, ["alice", "alice", "bob", "carol", "carol"]);
}

#[test]
fn json_prints_exactly_one_document_on_every_command_and_path() {
    let env = Env::new();
    sh(
        &env,
        "openssl req -new -newkey rsa:2048 -nodes -keyout c.key -subj /CN=carol -out c.csr 2>/dev/null",
    );
    let one = |args: &[&str], code: i32| {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let r = env.run(&a);
        r.code(code);
        assert_eq!(json_documents(&r.stdout), 1, "{args:?}:\n{}", r.stdout);
        r.json()
    };
    one(&["list"], 2); // no store yet: an error document
    let e = one(&["list"], 2);
    assert_eq!(e["version"], 1);
    assert_eq!(e["error"]["exit_code"], 2);
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("no pki store at ./pki"));
    one(&["init"], 0);
    one(&["init"], 4); // refused: a CA exists
    one(&["issue", "alice"], 0);
    one(&["issue", "alice"], 4);
    one(&["issue", "Bad"], 2);
    one(&["list"], 0);
    one(&["list", "--all"], 0);
    one(&["show", "alice"], 0);
    one(&["show", "--ca"], 0);
    one(&["show", "nobody"], 2);
    one(&["verify"], 0);
    one(&["check"], 0);
    one(&["rotate"], 0);
    one(&["rotate", "--dry-run"], 0);
    one(&["sign", "--csr", "c.csr"], 0);
    one(&["export", "marathon", "--user", "alice"], 0);
    one(&["export", "k8s", "--user", "alice"], 0);
    one(&["export", "files", "--user", "alice", "--out", "tls"], 0);
    one(&["export", "riak-admin", "--cidr", "10.0.0.0/8"], 0);
    one(&["revoke", "carol"], 0);
    one(&["revoke", "carol"], 0); // nothing to do
    one(&["crl"], 0);
    one(&["crl", "--format", "der"], 0);
    one(&["config", "show"], 0);
    one(
        &["config", "set", "crl-url", "http://crl.example/root.crl"],
        0,
    );
    one(&["config", "unset", "crl-url"], 0);
    one(&["audit", "verify"], 0);
    one(&["audit", "show"], 0);
    one(&["completions", "bash"], 0);
    one(&["man"], 0);
    one(&["deploy", "marathon", "--url", "http://127.0.0.1:9"], 1);
    one(&["frobnicate"], 2); // a usage error
                             // import with nothing to do: this very CA again.
    let (ca_crt, ca_key) = env.ca_files();
    one(
        &[
            "import",
            "--cert",
            ca_crt.to_str().unwrap(),
            "--key",
            ca_key.to_str().unwrap(),
        ],
        0,
    );
    // check and verify with findings: their own document, and no second one.
    let mut later = Env::with_users(&["bob"]);
    later.var("PKI_NOW", "2040-01-01T00:00:00Z");
    for args in [&["--json", "check"][..], &["--json", "verify"]] {
        let r = later.run(args);
        r.code(3);
        assert_eq!(json_documents(&r.stdout), 1, "{args:?}:\n{}", r.stdout);
        assert!(r.json().get("error").is_none());
    }
}

#[test]
fn crl_der_goes_to_a_pipe_and_only_a_terminal_is_refused() {
    let env = Env::with_users(&["alice"]);
    env.run(&["revoke", "alice"]).ok();
    let out = env
        .command(&["crl", "--format", "der"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout[0], 0x30, "DER, not PEM");
    std::fs::write(env.path("piped.crl"), &out.stdout).unwrap();
    let (ok, text) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        env.path("piped.crl").to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(ok && text.contains("Revoked Certificates"), "{text}");
    // On a terminal (script(1) gives it one), refused in words.
    let t = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{} crl --format der", common::PKI),
            "/dev/null",
        ])
        .current_dir(env.root())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("script(1) is installed");
    let said = String::from_utf8_lossy(&t.stdout);
    assert_eq!(t.status.code(), Some(2), "{said}");
    assert!(
        said.contains("pki: error: --format der writes binary and stdout is a terminal; add --out FILE, or redirect stdout (pki crl --format der > rootCA.crl)"),
        "{said}"
    );
}

#[test]
fn wait_says_once_whom_it_waits_for() {
    let env = Env::new();
    std::fs::write(env.path("pass.txt"), "s3cret\n").unwrap();
    env.run(&["init", "--encrypt", "--passphrase-file", "pass.txt"])
        .ok();
    // The holder reads its passphrase from a FIFO under the lock, so it holds
    // the lock until this test writes the passphrase: no timing involved.
    sh(&env, "mkfifo pass.fifo");
    let mut holder = env
        .command(&["issue", "bob", "--passphrase-file", "pass.fifo"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Opening the FIFO for writing returns once the holder opened it: it holds the lock.
    let mut fifo = std::fs::OpenOptions::new()
        .write(true)
        .open(env.path("pass.fifo"))
        .unwrap();
    let lock_text = std::fs::read_to_string(env.store().join(".lock")).unwrap();
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        lock_text,
        format!(
            "pid {} on {host} (pki issue bob --passphrase-file pass.fifo)\n",
            holder.id()
        )
    );
    // Without --wait, the refusal names the holder too (issue 20).
    env.run(&["issue", "carol", "--passphrase-file", "pass.txt"])
        .code(4)
        .one_line_error(&[
            "another pki is working on the store pki",
            &format!(
                "held by pid {} on {host} (pki issue bob --passphrase-file pass.fifo)",
                holder.id()
            ),
            "--wait",
        ]);
    let mut waiter = env
        .command(&["issue", "carol", "--wait", "--passphrase-file", "pass.txt"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(waiter.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert_eq!(
        first,
        format!(
            "pki: waiting for the store lock of pki, held by pid {} on {host} (pki issue bob --passphrase-file pass.fifo)\n",
            holder.id()
        )
    );
    // Release the holder; both finish, and the waiter said it only once.
    fifo.write_all(b"s3cret\n").unwrap();
    drop(fifo);
    assert!(holder.wait().unwrap().success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert!(waiter.wait().unwrap().success(), "{rest}");
    assert!(!rest.contains("waiting"), "{rest}");
    // The lock file names no one once nobody holds it.
    assert_eq!(
        std::fs::read_to_string(env.store().join(".lock")).unwrap(),
        ""
    );
    // It is never followed as a link.
    std::fs::remove_file(env.store().join(".lock")).unwrap();
    std::os::unix::fs::symlink(env.path("elsewhere"), env.store().join(".lock")).unwrap();
    let r = env.run(&["issue", "dave", "--passphrase-file", "pass.txt"]);
    r.code(2).one_line_error(&[".lock is a symbolic link"]);
    assert!(!env.path("elsewhere").exists());
}

#[test]
fn revoke_by_a_unique_serial_prefix_says_what_it_matched() {
    let env = Env::with_users(&["alice", "bob"]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.store().join("index.json")).unwrap()).unwrap();
    let alice = index["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["user"] == "alice")
        .unwrap()["serial"]
        .as_str()
        .unwrap()
        .to_string();
    // Fewer than 8 digits is not a prefix.
    let r = env.run(&["revoke", "--serial", &alice[..7]]);
    r.code(2)
        .one_line_error(&["has no certificate with serial"]);
    let r = env.run(&["revoke", "--serial", &alice[..8]]);
    r.ok();
    assert_eq!(
        r.stderr.lines().next().unwrap(),
        format!(
            "--serial {} matches alice's certificate {alice}",
            &alice[..8]
        )
    );
    assert!(
        r.stderr.contains(&format!("revoked alice (serial {alice}")),
        "{}",
        r.stderr
    );

    // Two certificates sharing the prefix: refused, naming both.
    let env = Env::with_users(&[]);
    let (ca_crt, ca_key) = env.ca_files();
    for (user, serial) in [("carol", "0x5a3c0e1f01"), ("dave", "0x5a3c0e1f02")] {
        sh(
            &env,
            &format!(
                "openssl req -new -newkey rsa:2048 -nodes -keyout {user}.key -subj /CN={user} -out {user}.csr 2>/dev/null
                 printf 'extendedKeyUsage=clientAuth\\n' > ext.cnf
                 openssl x509 -req -in {user}.csr -CA {} -CAkey {} -set_serial {serial} -days 30 -extfile ext.cnf -out {user}.crt 2>/dev/null",
                ca_crt.display(),
                ca_key.display()
            ),
        );
        env.run(&["import", "--user", user, "--cert", &format!("{user}.crt")])
            .ok();
    }
    let before = env.snapshot(&env.store());
    says(
        &env,
        &["revoke", "--serial", "5a3c0e1f"],
        2,
        "pki: error: --serial 5a3c0e1f is the start of 2 serials (5a3c0e1f01 of carol, 5a3c0e1f02 of dave); give more digits",
    );
    assert_eq!(env.snapshot(&env.store()), before);
    env.run(&["revoke", "--serial", "5a3c0e1f02"]).ok();
}
