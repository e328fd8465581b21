//! Batch issuance: `pki issue USER...` and `--from FILE|-`.
//!
//! RSA keys are slow to make, so only the first test uses RSA (9 keys in
//! all); the larger batches use ECDSA P-256, which exercises the same
//! parallel generation, signing and single index write.

use crate::support::common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{openssl, openssl_public_key, Env, PKI};

/// The label of the progress bar (src/progress.rs `KEYS_LABEL`).
const BAR_LABEL: &str = "generating keys";

/// Every certificate entry of the index, as JSON.
fn index_entries(env: &Env) -> Vec<serde_json::Value> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.store().join("index.json")).unwrap()).unwrap();
    index["certificates"].as_array().unwrap().clone()
}

/// SHA-256 fingerprint of a PEM certificate file, as openssl computes it, in
/// the index's form (lower-case hex, no colons).
fn openssl_fingerprint(cert: &Path) -> String {
    let (ok, out) = openssl(&[
        "x509",
        "-in",
        cert.to_str().unwrap(),
        "-noout",
        "-fingerprint",
        "-sha256",
    ]);
    assert!(ok, "{out}");
    out.trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_lowercase()
}

/// Check a batch: one active entry per user whose files exist, serials and
/// keys distinct, index fingerprint = file fingerprint, and openssl verifies
/// every certificate against the CA. Returns the certificate paths.
fn check_batch(env: &Env, users: &[String], check_key_pairs: bool) -> Vec<PathBuf> {
    let entries = index_entries(env);
    let mut serials = HashSet::new();
    let mut keys = HashSet::new();
    let mut certs = Vec::new();
    for u in users {
        let mine: Vec<_> = entries.iter().filter(|e| e["user"] == u.as_str()).collect();
        assert_eq!(mine.len(), 1, "{u}: {mine:?}");
        let e = mine[0];
        assert_eq!(e["state"], "active");
        assert!(
            serials.insert(e["serial"].as_str().unwrap().to_string()),
            "serial repeated"
        );
        let (cert, key) = env.user_files(u);
        assert_eq!(
            openssl_fingerprint(&cert),
            e["fingerprint_sha256"].as_str().unwrap(),
            "{u}"
        );
        let (ok, subject) = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-subject"]);
        assert!(ok && subject.contains(&format!("CN = {u}")), "{subject}");
        assert!(
            keys.insert(std::fs::read(&key).unwrap()),
            "{u}: key repeated"
        );
        if check_key_pairs {
            assert_eq!(
                openssl_public_key(&cert),
                openssl_public_key(&key),
                "{u}: key does not match certificate"
            );
        }
        certs.push(cert);
    }
    // Nothing in the index that is not in the batch, and no stray files.
    assert_eq!(entries.len(), users.len());
    let on_disk = walk_files(&env.store().join("users"));
    assert_eq!(on_disk.len(), 2 * users.len(), "{on_disk:?}");
    let (ca, _) = env.ca_files();
    let mut args = vec!["verify", "-CAfile", ca.to_str().unwrap()];
    args.extend(certs.iter().map(|c| c.to_str().unwrap()));
    let (ok, out) = openssl(&args);
    assert!(ok, "{out}");
    assert_eq!(out.matches(": OK").count(), users.len(), "{out}");
    certs
}

fn walk_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk_files(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:02}")).collect()
}

#[test]
fn an_rsa_batch_gives_distinct_keys_and_serials_that_openssl_verifies() {
    let env = Env::new();
    env.run(&["init"]).ok();
    let users = names("rsa", 8);
    let mut args = vec!["issue"];
    args.extend(users.iter().map(String::as_str));
    let run = env.run(&args);
    run.ok();
    for u in &users {
        assert!(
            run.stderr.contains(&format!("issued {u} ")),
            "{}",
            run.stderr
        );
    }
    check_batch(&env, &users, true);
}

#[test]
fn a_large_batch_from_a_file_is_consistent_with_its_index() {
    let env = Env::new();
    env.run(&["init"]).ok();
    let users = names("ec", 60);
    let mut file = String::from("# onboarding batch\n\n");
    for u in &users {
        file.push_str(&format!("  {u}  \n"));
    }
    std::fs::write(env.path("users.txt"), file).unwrap();
    let run = env.run(&[
        "issue",
        "--key-type",
        "ecdsa-p256",
        "--from",
        "users.txt",
        "--json",
    ]);
    run.ok();
    let doc = run.json();
    let issued = doc["issued"].as_array().unwrap();
    let in_order: Vec<&str> = issued.iter().map(|i| i["user"].as_str().unwrap()).collect();
    assert_eq!(
        in_order,
        users.iter().map(String::as_str).collect::<Vec<_>>()
    );
    check_batch(&env, &users, false);
    // Names on the command line and in the file combine into one batch.
    std::fs::write(env.path("more.txt"), "ec90\nec91\n").unwrap();
    env.run(&[
        "issue",
        "--key-type",
        "ecdsa-p256",
        "ec92",
        "--from",
        "more.txt",
    ])
    .ok();
    let mut all = users.clone();
    all.extend(["ec90", "ec91", "ec92"].map(String::from));
    check_batch(&env, &all, false);
}

#[test]
fn from_dash_reads_names_from_stdin() {
    let env = Env::new();
    env.run(&["init"]).ok();
    let run = env.run_stdin(
        &["issue", "--key-type", "ecdsa-p256", "--from", "-"],
        "alice\n# not a user\n\nbob\n",
    );
    run.ok();
    check_batch(&env, &["alice".into(), "bob".into()], true);
}

#[test]
fn a_batch_with_one_bad_name_changes_nothing_and_makes_no_key() {
    let env = Env::new();
    env.run(&["init"]).ok();
    env.run(&["issue", "--key-type", "ecdsa-p256", "existing"])
        .ok();
    let before = env.snapshot(&env.store());

    // One bad name among good ones, on the command line.
    env.run(&[
        "issue",
        "--key-type",
        "ecdsa-p256",
        "good1",
        "Bad Name",
        "good2",
    ])
    .code(2)
    .one_line_error(&["Bad Name"]);
    assert_eq!(env.snapshot(&env.store()), before);

    // A bad line in a --from file.
    std::fs::write(env.path("users.txt"), "good1\ngood2\nnot/ok\ngood3\n").unwrap();
    env.run(&["issue", "--key-type", "ecdsa-p256", "--from", "users.txt"])
        .code(2)
        .one_line_error(&["not/ok"]);
    assert_eq!(env.snapshot(&env.store()), before);

    // The same name twice.
    env.run(&["issue", "--key-type", "ecdsa-p256", "good1", "good1"])
        .code(2)
        .one_line_error(&["good1"]);
    assert_eq!(env.snapshot(&env.store()), before);

    // A user who already has a certificate, without --force: refused (exit 4).
    env.run(&["issue", "--key-type", "ecdsa-p256", "good1", "existing"])
        .code(4)
        .one_line_error(&["existing", "--force"]);
    assert_eq!(env.snapshot(&env.store()), before);

    // A missing --from file.
    env.run(&["issue", "--from", "nope.txt"]).code(2);
    assert_eq!(env.snapshot(&env.store()), before);
}

#[test]
fn a_forced_batch_supersedes_each_user_once() {
    let env = Env::new();
    env.run(&["init"]).ok();
    let users = names("f", 5);
    let mut args = vec!["issue", "--key-type", "ecdsa-p256"];
    args.extend(users.iter().map(String::as_str));
    env.run(&args).ok();
    let first: Vec<_> = index_entries(&env)
        .iter()
        .map(|e| e["serial"].clone())
        .collect();
    args.push("--force");
    args.push("--json");
    let run = env.run(&args);
    run.ok();
    let doc = run.json();
    for (i, issued) in doc["issued"].as_array().unwrap().iter().enumerate() {
        assert_eq!(issued["replaced_serial"], first[i]);
    }
    let entries = index_entries(&env);
    assert_eq!(entries.len(), 10);
    assert!(entries[..5].iter().all(|e| e["state"] == "superseded"));
    assert!(entries[5..].iter().all(|e| e["state"] == "active"));
}

/// Bytes that would betray a progress bar: carriage returns, ANSI escapes,
/// the bar's label or its fill.
fn assert_no_bar(what: &str, stderr: &str) {
    assert!(
        !stderr.contains('\r'),
        "{what}: carriage return on stderr: {stderr:?}"
    );
    assert!(
        !stderr.contains('\x1b'),
        "{what}: escape sequence on stderr: {stderr:?}"
    );
    assert!(
        !stderr.contains(BAR_LABEL),
        "{what}: progress bar on stderr: {stderr:?}"
    );
    assert!(
        !stderr.contains("=>"),
        "{what}: bar fill on stderr: {stderr:?}"
    );
}

#[test]
fn no_progress_bar_when_the_streams_are_not_terminals() {
    let env = Env::new();
    env.run(&["init"]).ok();
    let mut args = vec!["issue", "--key-type", "ecdsa-p256"];
    let users = names("p", 20);
    args.extend(users.iter().map(String::as_str));
    let run = env.run(&args);
    run.ok();
    assert_no_bar("pipes", &run.stderr);
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("issued "))
            .count(),
        20
    );
}

/// Run a shell command line under a pseudo-terminal with `script`; returns
/// everything the terminal received, or None when `script` is absent.
fn under_a_terminal(env: &Env, cmdline: &str) -> Option<String> {
    let found = Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if found.is_err() {
        return None;
    }
    let out = Command::new("script")
        .args(["-qec", cmdline, "/dev/null"])
        .current_dir(env.root())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .expect("run script");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{cmdline}: {}\n{text}", out.status);
    Some(text)
}

#[test]
fn the_progress_bar_shows_on_a_terminal_only() {
    let env = Env::new();
    env.run(&["init"]).ok();
    let users = names("t", 20).join(" ");
    let Some(tty) = under_a_terminal(&env, &format!("{PKI} issue --key-type ecdsa-p256 {users}"))
    else {
        eprintln!("SKIPPED the_progress_bar_shows_on_a_terminal_only: `script` (util-linux/bsdutils) is not installed");
        return;
    };
    assert!(tty.contains(BAR_LABEL), "no bar on a terminal:\n{tty:?}");
    assert!(tty.contains("/20"), "no count on the bar:\n{tty:?}");
    assert!(tty.contains("issued t19 "), "{tty:?}");

    // On a terminal but with --json, --quiet, or stdout into a file: no bar.
    for (prefix, global, redirect) in [
        ("u", "--json", ""),
        ("v", "--quiet", ""),
        ("w", "", "> out.txt"),
    ] {
        let more = names(prefix, 20).join(" ");
        let cmd = format!("{PKI} {global} issue --key-type ecdsa-p256 {more} {redirect}");
        let seen = under_a_terminal(&env, &cmd).unwrap();
        assert!(!seen.contains(BAR_LABEL), "{cmd}: {seen:?}");
    }
    assert_eq!(index_entries(&env).len(), 80);
}
