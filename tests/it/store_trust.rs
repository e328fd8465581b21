//! The store as a trust boundary (issue 13), through the real binary:
//!
//! - planted links and foreign owners in the store: each refused (exit 2,
//!   one line naming the path and the fix), nothing written anywhere, no
//!   link target chmodded, and `pki verify` reports the same finding;
//! - a hostile `index.json` (`..`, absolute paths, bad names, duplicate
//!   users): each refused (exit 2) naming the entry, nothing written;
//! - orphans and temporary files of an interrupted run never jam a retry;
//! - a revocation in the same second as the CRL, and a stale CRL, are
//!   attention for `pki check` (exit 3) and show in the Prometheus file;
//! - a rotation whose new certificate would be due at once is refused, and
//!   two runs in a row never rotate the same user twice;
//! - control characters are refused where they enter and escaped where
//!   they are printed;
//! - CSR keys pki cannot sign name the real reason; `show --file` reads
//!   DER; a passphrase file with CRLF line endings, and what openssl makes
//!   of it (docs/security.md).
//!
//! Foreign owners need root (chown to uid 65534, and `setpriv` to run pki
//! as that uid). Without root those rows are skipped with a note on
//! stderr, or fail when the environment variable CI is set.

use crate::support::common;
use crate::support::rotation;

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::docs::{CheckDoc, ShowDoc, VerifyDoc};
use common::{openssl, sh, table_row, Env, Run, PKI};

/// The uid foreign files are given: `nobody`.
const OTHER_UID: u32 = 65534;

fn my_uid() -> u32 {
    std::fs::metadata("/proc/self").unwrap().uid()
}

/// Skip what this machine cannot do, saying why; under CI, fail instead.
fn skip(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{why}; CI is set, so this must not be skipped"
    );
    eprintln!("trust: skipped: {why}");
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), None).unwrap();
}

/// Replace `p` (a file or directory in the store) by a link to a copy of it
/// under `outside`, so that following the link would "work".
fn link_out(p: &Path, outside: &Path) {
    let target = outside.join(p.file_name().unwrap());
    std::fs::rename(p, &target).unwrap();
    symlink(&target, p).unwrap();
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[track_caller]
fn no_raw_control(text: &str) {
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "raw control characters printed: {text:?}"
    );
}

fn verify_doc(r: &Run) -> VerifyDoc {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

// ---- planted links and foreign owners ---------------------------------------

/// What is wrong with a planted path, and so what the refusal must say.
#[derive(Clone, Copy, Debug)]
enum Wrong {
    Link,
    Owner,
    Mode,
}

impl Wrong {
    fn words(self) -> &'static [&'static str] {
        match self {
            Wrong::Link => &["symbolic link"],
            Wrong::Owner => &["uid 65534", "chown"],
            Wrong::Mode => &["chmod go-w"],
        }
    }
}

/// A row: what to break (relative to the store), how, and a command that
/// would read or write through it.
struct Planted {
    name: &'static str,
    /// The path in the store to break; `{ca_key}`, `{alice_key}` and
    /// `{ca_crt}` stand for the current files.
    path: &'static str,
    wrong: Wrong,
    /// For Mode: the mode to set.
    mode: u32,
    args: &'static [&'static str],
}

fn planted_rows() -> Vec<Planted> {
    let row = |name, path, wrong, mode, args| Planted {
        name,
        path,
        wrong,
        mode,
        args,
    };
    use Wrong::*;
    vec![
        // Links: the issue's "writes the CA key through a symlink" and
        // "chmods the targets of symlinked .lock and audit.jsonl".
        row("ca/ is a link", "ca", Link, 0, &["init", "--force"]),
        row("users/ is a link", "users", Link, 0, &["issue", "bob"]),
        row(
            "users/alice is a link",
            "users/alice",
            Link,
            0,
            &["issue", "alice", "--force"],
        ),
        row("crl/ is a link", "crl", Link, 0, &["crl"]),
        row(".lock is a link", ".lock", Link, 0, &["issue", "bob"]),
        row(
            "audit.jsonl is a link",
            "audit.jsonl",
            Link,
            0,
            &["revoke", "alice"],
        ),
        row(
            "index.json is a link",
            "index.json",
            Link,
            0,
            &["issue", "bob"],
        ),
        row(
            "the CA key is a link",
            "{ca_key}",
            Link,
            0,
            &["issue", "bob"],
        ),
        row(
            "the CA certificate is a link",
            "{ca_crt}",
            Link,
            0,
            &["issue", "bob"],
        ),
        row(
            "a user key is a link",
            "{alice_key}",
            Link,
            0,
            &["export", "files", "--user", "alice", "--out", "out"],
        ),
        // Foreign owners.
        row("the store is another user's", "", Owner, 0, &["list"]),
        row("ca/ is another user's", "ca", Owner, 0, &["issue", "bob"]),
        row(
            "users/alice is another user's",
            "users/alice",
            Owner,
            0,
            &["issue", "alice", "--force"],
        ),
        row("crl/ is another user's", "crl", Owner, 0, &["crl"]),
        row(
            "index.json is another user's",
            "index.json",
            Owner,
            0,
            &["list"],
        ),
        row(
            "the CA key is another user's",
            "{ca_key}",
            Owner,
            0,
            &["issue", "bob"],
        ),
        row(
            "audit.jsonl is another user's",
            "audit.jsonl",
            Owner,
            0,
            &["revoke", "alice"],
        ),
        row(
            ".lock is another user's",
            ".lock",
            Owner,
            0,
            &["issue", "bob"],
        ),
        row(
            "a user key is another user's",
            "{alice_key}",
            Owner,
            0,
            &["export", "files", "--user", "alice", "--out", "out"],
        ),
        // Writable by group or others.
        row(
            "the store is world-writable",
            "",
            Mode,
            0o777,
            &["issue", "bob"],
        ),
        row("the store is group-writable", "", Mode, 0o770, &["list"]),
        row(
            "users/ is world-writable",
            "users",
            Mode,
            0o777,
            &["issue", "bob"],
        ),
        row(
            "users/alice is group-writable",
            "users/alice",
            Mode,
            0o730,
            &["issue", "alice", "--force"],
        ),
        row("crl/ is world-writable", "crl", Mode, 0o777, &["crl"]),
        row(
            "index.json is world-writable",
            "index.json",
            Mode,
            0o666,
            &["list"],
        ),
        row(
            "the CA certificate is world-writable",
            "{ca_crt}",
            Mode,
            0o666,
            &["issue", "bob"],
        ),
        row(
            "audit.jsonl is group-writable",
            "audit.jsonl",
            Mode,
            0o620,
            &["revoke", "alice"],
        ),
    ]
}

/// A store with a CA, alice, a CRL and an audit log, made once and copied per row.
fn planted_template() -> Env {
    let env = Env::with_users(&["alice"]);
    env.run(&["crl"]).ok();
    env
}

#[test]
fn planted_links_and_foreign_owners_are_refused_and_nothing_is_touched() {
    let root = my_uid() == 0;
    if !root {
        skip("not root: the foreign-owner rows need chown");
    }
    let template = planted_template();
    let mut failures = Vec::new();
    let mut ran = 0;
    for row in planted_rows() {
        if matches!(row.wrong, Wrong::Owner) && !root {
            continue;
        }
        ran += 1;
        let env = template.copy_of();
        let outside = env.path("outside");
        std::fs::create_dir(&outside).unwrap();
        let (ca_crt, ca_key) = env.ca_files();
        let (_, alice_key) = env.user_files("alice");
        let rel = |p: &Path| s(p.strip_prefix(env.store()).unwrap());
        let path = row
            .path
            .replace("{ca_key}", &rel(&ca_key))
            .replace("{ca_crt}", &rel(&ca_crt))
            .replace("{alice_key}", &rel(&alice_key));
        let target = if path.is_empty() {
            env.store()
        } else {
            env.store().join(&path)
        };
        match row.wrong {
            Wrong::Link => {
                link_out(&target, &outside);
                // A target pki would chmod (0600, 0700) if it followed the link.
                let moved = outside.join(target.file_name().unwrap());
                chmod(&moved, if moved.is_dir() { 0o755 } else { 0o644 });
            }
            Wrong::Owner => chown(&target, OTHER_UID),
            Wrong::Mode => chmod(&target, row.mode),
        }
        let before = env.snapshot(env.root());
        let r = env.run(row.args);
        let shown = if path.is_empty() {
            "pki".to_string()
        } else {
            format!("pki/{path}")
        };
        let label = || format!("{} ({:?})", row.name, row.args);
        table_row(&mut failures, label, || {
            let mut parts = vec![shown.as_str()];
            parts.extend_from_slice(row.wrong.words());
            r.code(2).one_line_error(&parts);
            assert!(
                env.snapshot(env.root()) == before,
                "something changed on disk (in the store or outside it)"
            );
            // pki verify reports the same finding, as a failed check.
            let v = env.run(&["verify", "--json"]);
            assert_eq!(v.code, 3, "verify: {}{}", v.stdout, v.stderr);
            let d = verify_doc(&v);
            assert!(
                d.findings
                    .iter()
                    .any(|f| !f.ok && f.message.contains(&shown)),
                "verify does not name {shown}: {:?}",
                d.findings
            );
            assert!(
                env.snapshot(env.root()) == before,
                "verify changed something"
            );
        });
    }
    assert!(ran >= 15, "only {ran} rows ran");
    assert!(
        failures.is_empty(),
        "{} of {ran} rows failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn a_store_given_as_a_link_is_refused() {
    let env = Env::with_users(&["alice"]);
    let link = env.path("link");
    symlink(env.store(), &link).unwrap();
    let before = env.snapshot(env.root());
    for args in [
        &["--dir", "link", "list"][..],
        &["--dir", "link", "issue", "bob"],
    ] {
        env.run(args)
            .code(2)
            .one_line_error(&["link", "symbolic link"]);
    }
    assert!(env.snapshot(env.root()) == before);
}

#[test]
fn another_uid_cannot_use_the_store() {
    if my_uid() != 0 {
        return skip("not root: cannot run pki as a second uid");
    }
    let probe = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return skip("setpriv cannot switch to uid 65534 here");
    }
    let env = Env::with_users(&["alice"]);
    // Let uid 65534 reach the store's directory entry (not inside it).
    chmod(env.root(), 0o711);
    let before = env.snapshot(env.root());
    let as_other = |args: &[&str]| {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", PKI])
            .arg("--dir")
            .arg(env.store())
            .args(args)
            .current_dir("/")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    for args in [&["list"][..], &["issue", "bob"]] {
        as_other(args)
            .code(2)
            .one_line_error(&["owned by uid 0", "uid 65534"]);
    }
    // verify reports it as a failed check.
    let r = as_other(&["verify"]);
    r.code(3);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("FAIL") && l.contains("owned by uid 0")),
        "{}",
        r.stdout
    );
    assert!(env.snapshot(env.root()) == before);
}

#[test]
fn output_paths_outside_the_store_replace_a_link_rather_than_follow_it() {
    let env = Env::with_users(&["alice"]);
    let outside = env.path("outside");
    std::fs::create_dir(&outside).unwrap();
    let target = outside.join("target");
    std::fs::write(&target, "not yours\n").unwrap();
    chmod(&target, 0o640);
    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    symlink(&target, out.join("alice.key")).unwrap();
    symlink(&target, env.path("pki.prom")).unwrap();
    env.run(&[
        "export", "files", "--user", "alice", "--out", "out", "--force",
    ])
    .ok();
    env.run(&["check", "--prometheus", "pki.prom"]).ok();
    for p in [out.join("alice.key"), env.path("pki.prom")] {
        let m = std::fs::symlink_metadata(&p).unwrap();
        assert!(m.is_file(), "{} is still a link", p.display());
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "not yours\n");
    assert_eq!(common::mode(&target), 0o640);
}

// ---- a hostile index.json ---------------------------------------------------

type Edit = Box<dyn Fn(&mut serde_json::Value, &Env)>;

/// The position of `user`'s active entry.
fn active_of(ix: &serde_json::Value, user: &str) -> usize {
    ix["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .rposition(|c| c["user"] == user && c["state"] == "active")
        .unwrap()
}

/// Rename alice's active entry (and her paths) to `name`.
fn rename_alice(name: &'static str) -> Edit {
    Box::new(move |ix, _| {
        let i = active_of(ix, "alice");
        let c = &mut ix["certificates"][i];
        c["user"] = name.into();
        for k in ["cert", "key"] {
            let p = c[k]
                .as_str()
                .unwrap()
                .replace("users/alice/", &format!("users/{name}/"));
            c[k] = p.into();
        }
    })
}

fn set(f: impl Fn(&mut serde_json::Value, &Env) + 'static) -> Edit {
    Box::new(f)
}

#[test]
fn a_hostile_index_is_refused_before_anything_is_written() {
    // A CA with history, users with history, a CRL.
    let template = Env::with_users(&["alice", "bob"]);
    template.run(&["rotate", "--ca", "--force"]).ok();
    template.run(&["crl"]).ok();
    let abs_outside = |env: &Env, f: &str| s(&env.path("outside").join(f));
    // (name, edit, command, what the one line must contain)
    let rows: Vec<(&str, Edit, &[&str], Vec<&str>)> = vec![
        (
            "user ../../escaped",
            rename_alice("../../escaped"),
            &["rotate", "--force"],
            vec!["index.json", "../../escaped"],
        ),
        (
            "user with a slash",
            rename_alice("bob/../alice"),
            &["issue", "carol"],
            vec!["index.json", "bob/../alice"],
        ),
        (
            "upper-case user",
            rename_alice("Alice"),
            &["issue", "carol"],
            vec!["index.json", "Alice", "upper-case"],
        ),
        (
            "user with an escape",
            rename_alice("a\u{1b}[31mred"),
            &["issue", "carol"],
            vec!["index.json", "U+001B"],
        ),
        (
            "reserved user",
            rename_alice("all"),
            &["crl"],
            vec!["index.json", "\"all\"", "reserved"],
        ),
        (
            "empty user",
            rename_alice(""),
            &["issue", "carol"],
            vec!["index.json", "empty"],
        ),
        (
            "user . ",
            rename_alice("."),
            &["rotate", "--force"],
            vec!["index.json", "\".\""],
        ),
        (
            "absolute certificate path",
            set(|ix, _| {
                let i = active_of(ix, "alice");
                ix["certificates"][i]["cert"] = "/etc/passwd".into();
            }),
            &["export", "files", "--user", "alice", "--out", "out"],
            vec!["index.json", "/etc/passwd"],
        ),
        (
            "absolute key path",
            set(move |ix, env| {
                let i = active_of(ix, "alice");
                ix["certificates"][i]["key"] = abs_outside(env, "alice.key").into();
            }),
            &["rotate", "--force"],
            vec!["index.json", "outside/alice.key"],
        ),
        (
            "certificate path with ..",
            set(|ix, _| {
                let i = active_of(ix, "alice");
                ix["certificates"][i]["cert"] = "users/alice/../../../outside/x.crt".into();
            }),
            &["rotate", "--force"],
            vec!["index.json", "../../../outside/x.crt"],
        ),
        (
            "path with a . segment",
            set(|ix, _| {
                let i = active_of(ix, "bob");
                let p = ix["certificates"][i]["key"]
                    .as_str()
                    .unwrap()
                    .replace("users/bob/", "users/./bob/");
                ix["certificates"][i]["key"] = p.into();
            }),
            &["rotate", "--force"],
            vec!["index.json", "users/./bob/"],
        ),
        (
            "a user's key is the CA key",
            set(|ix, _| {
                let i = active_of(ix, "alice");
                let ca_key = ix["ca"]["key"].clone();
                ix["certificates"][i]["key"] = ca_key;
            }),
            &["export", "files", "--user", "alice", "--out", "out"],
            vec!["index.json", "alice", "ca/"],
        ),
        (
            "CA key path with ..",
            set(|ix, _| {
                ix["ca"]["key"] = "../outside/ca.key".into();
            }),
            &["issue", "carol"],
            vec!["index.json", "../outside/ca.key"],
        ),
        (
            "absolute CA certificate path",
            set(move |ix, env| {
                ix["ca"]["cert"] = abs_outside(env, "ca.crt").into();
            }),
            &["crl"],
            vec!["index.json", "outside/ca.crt"],
        ),
        (
            "old CA key path with ..",
            set(|ix, _| {
                ix["ca_history"][0]["key"] = "ca/../../outside/old.key".into();
            }),
            &["init", "--force"],
            vec!["index.json", "ca/../../outside/old.key"],
        ),
        (
            "CRL path outside",
            set(|ix, _| {
                ix["crl"]["path"] = "../published.crl".into();
            }),
            &["crl"],
            vec!["index.json", "../published.crl"],
        ),
        (
            "a serial that is not hex",
            set(|ix, _| {
                let i = active_of(ix, "bob");
                ix["certificates"][i]["serial"] = "../x".into();
            }),
            &["crl"],
            vec!["index.json", "../x"],
        ),
        (
            "an unknown revocation reason",
            set(|ix, _| {
                let i = active_of(ix, "bob");
                ix["certificates"][i]["state"] = "revoked".into();
                ix["certificates"][i]["revocation_reason"] = "keyCompromise".into();
            }),
            &["crl"],
            vec!["index.json", "revocation reason", "\"keyCompromise\""],
        ),
        (
            "two active certificates for one user",
            set(|ix, _| {
                let i = ix["certificates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .position(|c| c["user"] == "alice" && c["state"] == "superseded")
                    .unwrap();
                ix["certificates"][i]["state"] = "active".into();
            }),
            &["issue", "carol"],
            vec!["index.json", "\"alice\"", "active"],
        ),
    ];
    let mut failures = Vec::new();
    let n = rows.len();
    for (name, edit, args, parts) in rows {
        let env = template.copy_of();
        std::fs::create_dir(env.path("outside")).unwrap();
        let path = env.store().join("index.json");
        let mut ix: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut ix, &env);
        std::fs::write(&path, serde_json::to_vec_pretty(&ix).unwrap()).unwrap();
        let before = env.snapshot(env.root());
        table_row(
            &mut failures,
            || format!("{name} ({args:?})"),
            || {
                let r = env.run(args);
                r.code(2).one_line_error(&parts);
                no_raw_control(&r.stderr);
                // Read-only commands refuse it too.
                env.run(&["list"]).code(2).one_line_error(&["index.json"]);
                assert!(
                    env.snapshot(env.root()) == before,
                    "something changed on disk"
                );
            },
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {n} rows failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// ---- orphans and temporary files of interrupted runs ------------------------

/// Put `index.json` and `audit.jsonl` back as they were: the state a kill
/// leaves between writing a command's new files and committing the index.
struct Rollback {
    index: Vec<u8>,
    audit: Vec<u8>,
}

impl Rollback {
    fn take(store: &Path) -> Self {
        Rollback {
            index: std::fs::read(store.join("index.json")).unwrap(),
            audit: std::fs::read(store.join("audit.jsonl")).unwrap(),
        }
    }
    fn restore(&self, store: &Path) {
        std::fs::write(store.join("index.json"), &self.index).unwrap();
        std::fs::write(store.join("audit.jsonl"), &self.audit).unwrap();
    }
}

#[track_caller]
fn sound(env: &Env, dir: &[&str]) {
    let mut v = dir.to_vec();
    v.push("verify");
    env.run(&v).ok();
    let mut a = dir.to_vec();
    a.extend(["audit", "verify"]);
    env.run(&a).ok();
}

#[test]
fn orphans_of_an_interrupted_run_never_jam_a_retry() {
    // pki crl: killed after writing crl/2.crl, before the index named it.
    let env = Env::with_users(&["alice", "bob"]);
    env.run(&["revoke", "bob"]).ok();
    env.run(&["crl"]).ok();
    let saved = Rollback::take(&env.store());
    env.run(&["crl"]).ok();
    assert!(env.store().join("crl/2.crl").is_file());
    saved.restore(&env.store());
    env.run(&["crl", "--out", "published.crl"]).ok();
    let ix = rotation::index(&env);
    assert_eq!(ix["crl"]["number"], 2);
    let (ok, out) = openssl(&[
        "crl",
        "-in",
        &s(&env.path("published.crl")),
        "-noout",
        "-crlnumber",
    ]);
    let number = out
        .trim()
        .strip_prefix("crlNumber=")
        .map(|v| v.trim_start_matches("0x"));
    assert!(ok && number == Some("02"), "{out}");
    sound(&env, &[]);
    // --force does not matter for it either.
    let saved = Rollback::take(&env.store());
    env.run(&["crl"]).ok();
    saved.restore(&env.store());
    env.run(&["crl", "--force"]).ok();
    sound(&env, &[]);

    // pki import of a CA into a new store: killed after the CA's files.
    let inputs = Env::new();
    sh(
        &inputs,
        "openssl genrsa -out ca.key 2048 2>/dev/null\n\
         openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj /CN=rootCA -out ca.crt",
    );
    let import = [
        "--dir", "new", "import", "--cert", "ca.crt", "--key", "ca.key",
    ];
    inputs.run(&import).ok();
    for f in ["index.json", "audit.jsonl"] {
        std::fs::remove_file(inputs.path("new").join(f)).unwrap();
    }
    inputs.run(&import).ok();
    sound(&inputs, &["--dir", "new"]);

    // pki import --user: killed after the user's files.
    let env = Env::with_users(&[]);
    let (ca_crt, ca_key) = env.ca_files();
    sh(
        &env,
        &format!(
            "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bob \
             -keyout bob.key -out bob.csr 2>/dev/null\n\
             printf 'extendedKeyUsage=clientAuth\\n' > bob.ext\n\
             openssl x509 -req -in bob.csr -CA {} -CAkey {} -set_serial 0x5eed -days 300 \
             -extfile bob.ext -out bob.crt 2>/dev/null",
            ca_crt.display(),
            ca_key.display()
        ),
    );
    let import = [
        "import", "--user", "bob", "--cert", "bob.crt", "--key", "bob.key",
    ];
    let saved = Rollback::take(&env.store());
    env.run(&import).ok();
    saved.restore(&env.store());
    env.run(&import).ok();
    sound(&env, &[]);
}

#[test]
fn stale_temporary_files_are_listed_by_verify_and_removed_under_the_lock() {
    let env = Env::with_users(&["alice", "bob"]);
    env.run(&["crl"]).ok();
    let planted: Vec<PathBuf> = [
        ".tmp-a1b2c3",
        "ca/.tmp-d4e5f6",
        "users/alice/.tmp-778899",
        "crl/.tmp-0a0b0c",
    ]
    .iter()
    .map(|p| env.store().join(p))
    .collect();
    for p in &planted {
        std::fs::write(p, "half a key").unwrap();
        chmod(p, 0o600);
    }
    // verify lists them (and still passes: they are debris, not damage).
    let r = env.run(&["verify", "--json"]);
    let d = verify_doc(r.ok());
    for p in &planted {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            d.findings.iter().any(|f| f.message.contains(&name)),
            "verify does not list {name}: {:?}",
            d.findings
        );
    }
    // A command that does not take the lock leaves them alone ...
    env.run(&["list"]).ok();
    assert!(planted.iter().all(|p| p.exists()));
    // ... the next one holding the lock removes them.
    env.run(&["revoke", "bob"]).ok();
    for p in &planted {
        assert!(!p.exists(), "{} is still there", p.display());
    }
    sound(&env, &[]);
}

// ---- CRL freshness ----------------------------------------------------------

fn check_doc(r: &Run) -> CheckDoc {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

#[test]
fn a_revocation_in_the_same_second_as_the_crl_makes_it_stale() {
    let mut env = Env::new();
    env.var("PKI_NOW", "2026-03-01T10:00:00Z");
    // A store whose certificates name a CRL URL: one nobody fetches is
    // never an alarm (issue 21, item 9).
    env.run(&["init", "--crl-url", "http://crl.example/root.crl"])
        .ok();
    env.run(&["issue", "alice", "bob", "--key-type", "ecdsa-p256"])
        .ok();
    env.run(&["crl"]).ok();
    // The clock stands still: the revocation is at the CRL's very instant.
    env.run(&["revoke", "bob"]).ok();
    let r = env.run(&["check", "--json"]);
    let d = check_doc(r.code(3));
    let w = d.crl_warning.expect("a CRL warning");
    assert!(w.contains("revoked after CRL #1"), "{w}");
    env.var("PKI_NOW", "2026-03-01T10:00:01Z");
    env.run(&["crl"]).ok();
    check_doc(env.run(&["check", "--json"]).ok());

    // Within one second: a CRL, then a revocation a quarter second later ...
    env.var("PKI_NOW", "2026-03-01T10:00:02.250Z");
    env.run(&["crl"]).ok();
    env.var("PKI_NOW", "2026-03-01T10:00:02.500Z");
    env.run(&["revoke", "alice"]).ok();
    let d = check_doc(env.run(&["check", "--json"]).code(3));
    assert!(
        d.crl_warning
            .as_deref()
            .is_some_and(|w| w.contains("alice")),
        "{d:?}"
    );
    // ... and a CRL a quarter second after that, still in the same second,
    // is fresh: times are compared at full precision, not truncated.
    env.var("PKI_NOW", "2026-03-01T10:00:02.750Z");
    env.run(&["crl"]).ok();
    env.var("PKI_NOW", "2026-03-01T10:00:02.900Z");
    let d = check_doc(env.run(&["check", "--json"]).ok());
    assert_eq!(d.crl_warning, None);
}

#[test]
fn a_stale_crl_is_attention_and_the_prometheus_file_carries_its_next_update() {
    let mut env = Env::new();
    env.var("PKI_NOW", "2026-03-01T00:00:00Z");
    // A store whose certificates name a CRL URL: one nobody fetches is
    // never an alarm (issue 21, item 9).
    env.run(&["init", "--crl-url", "http://crl.example/root.crl"])
        .ok();
    env.run(&[
        "issue",
        "alice",
        "--key-type",
        "ecdsa-p256",
        "--days",
        "365",
    ])
    .ok();
    env.run(&["crl", "--days", "30"]).ok();
    let next = time::OffsetDateTime::parse(
        "2026-03-31T00:00:00Z",
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();
    let prom = env.path("pki.prom");
    let sample = |text: &str, name: &str| -> Option<(String, i64)> {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{{")))
            .map(|l| {
                let (head, v) = l.rsplit_once(' ').unwrap();
                (head.to_string(), v.parse().unwrap())
            })
    };
    // Day 1: fresh.
    env.var("PKI_NOW", "2026-03-02T00:00:00Z");
    env.run(&["check", "--prometheus", "pki.prom"]).ok();
    let text = std::fs::read_to_string(&prom).unwrap();
    let (head, v) = sample(&text, "pki_crl_next_update_seconds").expect(&text);
    assert_eq!(v, next, "{text}");
    assert!(head.contains("number=\"1\""), "{head}");
    assert_eq!(sample(&text, "pki_crl_due").expect(&text).1, 0);
    assert!(text.contains("# TYPE pki_crl_next_update_seconds gauge\n"));
    // Day 25 of 30: inside a third of its lifetime; exit 3, and the file says so.
    env.var("PKI_NOW", "2026-03-26T00:00:00Z");
    let r = env.run(&["check", "--prometheus", "pki.prom"]);
    r.code(3);
    assert!(r.stderr.contains("pki crl"), "{}", r.stderr);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(sample(&text, "pki_crl_due").expect(&text).1, 1);
    assert_eq!(
        sample(&text, "pki_crl_next_update_seconds").unwrap().1,
        next
    );
    let d = check_doc(&env.run(&["check", "--json"]));
    assert!(d.due.is_empty() && d.expired.is_empty() && !d.ca_due);
    assert!(d.crl_warning.is_some());
    // Past next-update: Riak refuses every login. Exit 3.
    env.var("PKI_NOW", "2026-04-01T00:00:00Z");
    env.run(&["check"]).code(3);
    // A CRL URL set but no CRL made: the certificates name a URL that
    // serves nothing, an outage for check_crl; exit 3.
    let mut fresh = Env::new();
    fresh.var("PKI_NOW", "2026-03-01T00:00:00Z");
    fresh
        .run(&["init", "--crl-url", "http://crl.example/root.crl"])
        .ok();
    let d = check_doc(fresh.run(&["check", "--json"]).code(3));
    assert!(d.crl_warning.is_some());
}

// ---- renewal loops ----------------------------------------------------------

#[test]
fn a_rotation_due_at_once_is_refused_and_no_user_rotates_twice_in_a_row() {
    let mut env = rotation::store_at("2026-01-01T00:00:00Z", &[], &[("u", "5"), ("v", "90")]);
    env.var("PKI_NOW", "2026-01-02T00:00:00Z");
    let before = env.snapshot(env.store().as_path());
    // u's 5-day certificate under a 30-day window: a new one would be due
    // at once, and every run would re-issue it. Refused; nothing written.
    for args in [
        &["rotate", "--within", "30d"][..],
        &["rotate", "--within", "30d", "--dry-run"],
        &["rotate", "u", "--force", "--within", "30d"],
        &["rotate", "--within", "30d", "--days", "30"],
    ] {
        env.run(args)
            .code(2)
            .one_line_error(&["\"u\"", "days", "30d", "--days"]);
    }
    env.run(&["rotate", "--within", "100%"])
        .code(2)
        .one_line_error(&["100%"]);
    env.run(&[
        "rotate",
        "--ca",
        "--force",
        "--ca-days",
        "20",
        "--within",
        "30d",
        "--days",
        "60",
    ])
    .code(2)
    .one_line_error(&["CA", "20 days", "30d", "--ca-days"]);
    assert!(env.snapshot(&env.store()) == before);
    // With a lifetime longer than the window it rotates, once.
    let r = env.run(&["rotate", "--within", "30d", "--days", "31", "--json"]);
    let d: crate::support::docs::RotateDoc = serde_json::from_str(&r.ok().stdout).unwrap();
    let rotated: Vec<_> = d
        .actions
        .iter()
        .filter(|a| a.action == "rotate")
        .map(|a| a.user.as_str())
        .collect();
    assert_eq!(rotated, ["u"]);
    let before = env.snapshot(&env.store());
    let d: crate::support::docs::RotateDoc = serde_json::from_str(
        &env.run(&["rotate", "--within", "30d", "--json"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert!(d.actions.iter().all(|a| a.action == "keep"), "{d:?}");
    assert!(
        env.snapshot(&env.store()) == before,
        "a second run changed the store"
    );
    // The default window (a third of the lifetime) never loops.
    env.var("PKI_NOW", "2026-01-30T00:00:00Z");
    env.run(&["rotate"]).ok();
    let before = env.snapshot(&env.store());
    env.run(&["rotate"]).ok();
    assert!(env.snapshot(&env.store()) == before);
}

// ---- control characters -----------------------------------------------------

fn openssl_ok(args: &[&str]) {
    let (ok, out) = openssl(args);
    assert!(ok, "openssl {args:?}: {out}");
}

#[test]
fn control_characters_are_refused_where_they_enter_and_escaped_where_printed() {
    let env = Env::with_users(&["alice"]);
    let p = |f: &str| s(&env.path(f));
    let before = env.snapshot(env.root());
    for (san, code) in [
        ("a\u{1b}[2J@example.com", "U+001B"),
        ("http://x.example/\u{7}", "U+0007"),
        ("spiffe://x/\u{7f}", "U+007F"),
    ] {
        let r = env.run(&["issue", "bob", "--san", san]);
        r.code(2)
            .one_line_error(&["--san", "control character", code]);
        no_raw_control(&r.stderr);
    }
    assert!(env.snapshot(env.root()) == before);

    // CSRs: a control character in the subject, or in a requested SAN.
    openssl_ok(&["genrsa", "-out", &p("k.key"), "2048"]);
    openssl_ok(&[
        "req",
        "-new",
        "-key",
        &p("k.key"),
        "-subj",
        "/CN=bob/O=evil\u{1b}[31mred",
        "-out",
        &p("subject.csr"),
    ]);
    openssl_ok(&[
        "req",
        "-new",
        "-key",
        &p("k.key"),
        "-subj",
        "/CN=bob",
        "-addext",
        "subjectAltName=email:bob\u{1b}[2J@example.com",
        "-out",
        &p("san.csr"),
    ]);
    let before = env.snapshot(env.root());
    for csr in ["subject.csr", "san.csr"] {
        let r = env.run(&["sign", "--csr", csr]);
        r.code(2).one_line_error(&[csr, "control character U+001B"]);
        no_raw_control(&r.stderr);
    }
    assert!(env.snapshot(env.root()) == before);

    // An imported CA whose subject carries a control character.
    openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &p("k.key"),
        "-sha256",
        "-days",
        "30",
        "-subj",
        "/CN=root\u{7}CA",
        "-out",
        &p("bell.crt"),
    ]);
    let r = env.run(&[
        "--dir", "new", "import", "--cert", "bell.crt", "--key", "k.key",
    ]);
    r.code(2)
        .one_line_error(&["bell.crt", "control character U+0007"]);
    no_raw_control(&r.stderr);
    assert!(!env.path("new").exists());

    // Printed: show escapes what it shows, errors escape what they name.
    let r = env.run(&["show", "--file", "bell.crt"]);
    r.ok();
    no_raw_control(&r.stdout);
    assert!(r.stdout.contains("root\\u{7}CA"), "{}", r.stdout);
    let doc: ShowDoc = serde_json::from_str(
        &env.run(&["show", "--file", "bell.crt", "--json"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert!(
        doc.certificate.subject.contains("root\u{7}CA"),
        "JSON keeps the real text"
    );
    let r = env.run(&["show", "--file", "no\u{1b}[31mpe.crt"]);
    r.code(2).one_line_error(&["no\\u{1b}[31mpe.crt"]);
    no_raw_control(&r.stderr);
}

// ---- CSR keys, show --file DER, passphrase files ----------------------------

#[test]
fn csr_keys_pki_cannot_sign_are_refused_for_the_real_reason() {
    let env = Env::with_users(&[]);
    let p = |f: &str| s(&env.path(f));
    let keys: [(&str, &[&str]); 3] = [
        (
            "rsa1024",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
        ),
        (
            "p521",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
        ),
        (
            "e3",
            &[
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-pkeyopt",
                "rsa_keygen_pubexp:3",
            ],
        ),
    ];
    for (name, opts) in keys {
        let key = p(&format!("{name}.key"));
        let mut args = vec!["genpkey"];
        args.extend_from_slice(opts);
        args.extend(["-out", &key]);
        openssl_ok(&args);
        openssl_ok(&[
            "req",
            "-new",
            "-key",
            &key,
            "-subj",
            "/CN=bob",
            "-out",
            &p(&format!("{name}.csr")),
        ]);
    }
    let before = env.snapshot(env.root());
    for (csr, parts) in [
        ("rsa1024.csr", &["1024-bit RSA", "2048"][..]),
        ("p521.csr", &["P-521", "P-256"]),
        ("e3.csr", &["public exponent 3", "65537"]),
    ] {
        let r = env.run(&["sign", "--csr", csr]);
        r.code(2).one_line_error(parts);
        assert!(!r.stderr.contains("does not verify"), "{}", r.stderr);
    }
    assert!(env.snapshot(env.root()) == before);
}

#[test]
fn show_file_reads_der_as_well_as_pem() {
    let env = Env::with_users(&["alice"]);
    let (ca, _) = env.ca_files();
    openssl_ok(&[
        "x509",
        "-in",
        &s(&ca),
        "-outform",
        "DER",
        "-out",
        &s(&env.path("ca.der")),
    ]);
    let pem: ShowDoc =
        serde_json::from_str(&env.run(&["show", "--file", &s(&ca), "--json"]).ok().stdout).unwrap();
    let der: ShowDoc =
        serde_json::from_str(&env.run(&["show", "--file", "ca.der", "--json"]).ok().stdout)
            .unwrap();
    assert_eq!(
        pem.certificate.fingerprint_sha256,
        der.certificate.fingerprint_sha256
    );
    assert_eq!(der.certificate.subject, "CN=rootCA");
    std::fs::write(env.path("noise.bin"), [0x30u8, 0x82, 0xff, 0x00, 0x17]).unwrap();
    env.run(&["show", "--file", "noise.bin"])
        .code(2)
        .one_line_error(&["noise.bin", "certificate"]);
}

/// The command line docs/security.md gives for openssl and a CRLF passphrase file.
fn documented_crlf_command() -> String {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/security.md"))
            .unwrap();
    page.lines()
        // An indented (code) line of the page, as printed.
        .find(|l| l.starts_with("    ") && l.trim_start().starts_with("tr -d '\\r'"))
        .map(str::trim_start)
        .expect("docs/security.md shows the tr -d '\\r' command")
        .to_string()
}

#[test]
fn a_crlf_passphrase_file_and_how_openssl_reads_it() {
    let env = Env::new();
    std::fs::write(env.path("pass.txt"), "open sesame\r\n").unwrap();
    std::fs::write(env.path("cr.txt"), "open sesame\r").unwrap();
    env.run(&["init", "--encrypt", "--passphrase-file", "pass.txt"])
        .ok();
    // pki strips the CR: a file ending in a bare CR opens the key too.
    env.run(&["--passphrase-file", "cr.txt", "issue", "bob"])
        .ok();
    let (_, key) = env.ca_files();
    std::fs::copy(&key, env.path("ca.key")).unwrap();
    // The passphrase is "open sesame", without the CR ...
    openssl_ok(&[
        "pkey",
        "-in",
        &s(&env.path("ca.key")),
        "-passin",
        "pass:open sesame",
        "-noout",
    ]);
    // ... and openssl, which keeps the CR, fails on the same file, as the page says ...
    let (ok, _) = openssl(&[
        "pkey",
        "-in",
        &s(&env.path("ca.key")),
        "-passin",
        &format!("file:{}", s(&env.path("pass.txt"))),
        "-noout",
    ]);
    assert!(
        !ok,
        "openssl read the CRLF file as pki does; docs/security.md says it does not"
    );
    // ... and the page's command works.
    sh(&env, &documented_crlf_command());
}
