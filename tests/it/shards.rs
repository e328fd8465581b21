//! A directory store's index in shards (docs/store.md, format 2): when a
//! store moves to it, what `issue` and `revoke` read, readers racing a
//! writer, and shard files that are not what pki wrote.
//! `PKI_INDEX_INLINE_MAX` lowers the 1,000-certificate threshold so that
//! a handful of users is enough.

use crate::support::common::{Env, SHARDED_VAR};

fn header(env: &Env) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(env.store().join("index.json")).unwrap()).unwrap()
}

fn shard_files(env: &Env) -> Vec<String> {
    Env::shard_files_at(&env.store())
}

fn issue(env: &Env, users: &[&str]) {
    let mut args = vec!["issue", "--key-type", "ecdsa-p256"];
    args.extend_from_slice(users);
    env.run(&args).ok();
}

#[test]
fn past_the_threshold_the_index_moves_to_shards_and_nothing_else_changes() {
    let mut env = Env::new();
    env.var(SHARDED_VAR, "3");
    env.run(&["init", "--key-type", "ecdsa-p256"]).ok();
    issue(&env, &["carol", "alice", "bob"]);
    assert_eq!(header(&env)["format"], 1, "3 certificates: format 1");
    assert!(shard_files(&env).is_empty());
    let order = |env: &Env| -> Vec<String> {
        env.index()
            .certificates
            .iter()
            .map(|c| c.user.clone())
            .collect()
    };
    let list = env.run(&["list", "--json"]).ok().json();
    assert_eq!(order(&env), ["carol", "alice", "bob"]);
    issue(&env, &["dave"]);
    let h = header(&env);
    assert_eq!(h["format"], 2);
    assert_eq!(h["certificates"], serde_json::json!([]));
    assert_eq!(h["shards"]["certificates"], 4);
    let files = h["shards"]["files"].as_object().unwrap();
    let named: Vec<String> = files
        .iter()
        .map(|(s, g)| format!("{s}.{g}.jsonl"))
        .collect();
    assert_eq!(shard_files(&env), named);
    // The order of the entries is the order of issue, as in format 1,
    // and what commands say of them is what they said.
    assert_eq!(order(&env), ["carol", "alice", "bob", "dave"]);
    let after = env.run(&["list", "--json"]).ok().json();
    let rows = |doc: &serde_json::Value| doc["certificates"].as_array().unwrap().clone();
    assert_eq!(rows(&after)[..3], rows(&list)[..]);
    env.run(&["verify"]).ok();
    env.run(&["audit", "verify"]).ok();
    // A copy holds the same entries, laid out anew.
    env.run(&["store", "copy", "--to", "copy"]).ok();
    let copied = Env::index_at(&env.path("copy"));
    assert_eq!(copied.certificates, env.index().certificates);
    env.run(&["--store", "copy", "verify"]).ok();
    env.run(&["--store", "copy", "audit", "verify"]).ok();
    // Every mode as the rest of the store's.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(env.store().join("index.d")), 0o700);
    for f in shard_files(&env) {
        assert_eq!(mode(env.store().join("index.d").join(&f)), 0o600, "{f}");
    }
}

#[test]
fn issue_and_revoke_read_only_the_shards_of_their_users() {
    let mut env = Env::new();
    env.var(SHARDED_VAR, "0");
    env.run(&["init", "--key-type", "ecdsa-p256"]).ok();
    issue(&env, &["alice", "bob", "carol", "dave", "erin"]);
    let before = shard_files(&env);
    let r = env.run(&["-v", "issue", "--key-type", "ecdsa-p256", "fred"]);
    r.ok();
    assert!(
        r.stderr.contains("from the shards of the users named"),
        "{}",
        r.stderr
    );
    // One shard written anew, the one it replaced removed, the rest as they were.
    let after = shard_files(&env);
    let gone: Vec<_> = before.iter().filter(|f| !after.contains(f)).collect();
    let new: Vec<_> = after.iter().filter(|f| !before.contains(f)).collect();
    assert!(gone.len() <= 1 && new.len() == 1, "{before:?} -> {after:?}");
    let r = env.run(&["-v", "revoke", "alice"]);
    r.ok();
    assert!(r.stderr.contains("from the shards of the users named"));
    // Everything else reads the whole index.
    let r = env.run(&["-v", "list"]);
    r.ok();
    assert!(
        r.stderr.contains("(6 certificate(s)): the store's state"),
        "{}",
        r.stderr
    );
    let r = env.run(&[
        "-v",
        "revoke",
        "--serial",
        &env.index().active("bob").unwrap().serial.to_string(),
    ]);
    r.ok();
    assert!(
        !r.stderr.contains("from the shards"),
        "a serial may be anyone's"
    );
    env.run(&["verify"]).ok();
    env.run(&["audit", "verify"]).ok();
}

#[test]
fn readers_racing_a_writer_never_see_a_shard_go_missing() {
    let mut env = Env::new();
    env.var(SHARDED_VAR, "0");
    env.run(&["init", "--key-type", "ecdsa-p256"]).ok();
    // Enough users for every one of the 256 shard files: a reader then
    // spends a while between index.json and the last of them.
    let many: Vec<String> = (0..400).map(|i| format!("user{i}")).collect();
    issue(&env, &many.iter().map(String::as_str).collect::<Vec<_>>());
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            // Each issue replaces (and removes) the shard file of its user.
            for i in 0..25 {
                issue(&env, &[&format!("u{i}")]);
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut reads = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            env.run(&["list"]).ok();
            reads += 1;
        }
        assert!(reads > 3, "the reads overlapped the writes: {reads}");
    });
    assert_eq!(env.index().certificates.len(), 425);
}

#[test]
fn shard_files_that_are_not_what_pki_wrote_are_refused_and_nothing_changes() {
    let mut env = Env::new();
    env.var(SHARDED_VAR, "0");
    env.run(&["init", "--key-type", "ecdsa-p256"]).ok();
    issue(&env, &["alice", "bob"]);
    let dir = env.store().join("index.d");
    let name = shard_files(&env)[0].clone();
    let first = dir.join(&name);
    let shown = format!("index.d/{name}");
    let text = std::fs::read(&first).unwrap();
    let snapshot = |env: &Env| {
        (
            std::fs::read(env.store().join("index.json")).unwrap(),
            shard_files(env),
        )
    };
    // A shard file replaced by a link to a copy of itself.
    let copy = env.path("copy.jsonl");
    std::fs::write(&copy, &text).unwrap();
    std::fs::remove_file(&first).unwrap();
    std::os::unix::fs::symlink(&copy, &first).unwrap();
    // Whose entries it holds: a command that reads them refuses; `issue`
    // and `revoke` of other users read only their own shards.
    let line: serde_json::Value =
        serde_json::from_slice(text.split(|b| *b == b'\n').next().unwrap()).unwrap();
    let owner = line[1]["user"].as_str().unwrap().to_string();
    let before = snapshot(&env);
    for args in [
        &["list"][..],
        &["issue", "--force", &owner],
        &["revoke", &owner],
        &["rotate", "--force"],
    ] {
        env.run(args).code(2).one_line_error(&[&shown, "link"]);
    }
    let v = env.run(&["verify"]);
    v.code(3);
    assert!(
        v.stdout.contains(&format!(
            "FAIL  (store)       store           pki/{shown} is a symbolic link"
        )),
        "{}",
        v.stdout
    );
    assert_eq!(snapshot(&env), before, "nothing changed");
    // Back in place, but world-writable.
    std::fs::remove_file(&first).unwrap();
    std::fs::write(&first, &text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&first, std::fs::Permissions::from_mode(0o666)).unwrap();
    env.run(&["list"]).code(2).one_line_error(&[&shown]);
    std::fs::set_permissions(&first, std::fs::Permissions::from_mode(0o600)).unwrap();
    // A line that is not an entry.
    let mut garbled = text.clone();
    garbled.extend_from_slice(b"[0, {\"user\": 1}]\n");
    std::fs::write(&first, &garbled).unwrap();
    env.run(&["list"])
        .code(1)
        .one_line_error(&[&shown, "is damaged", "restore"]);
    std::fs::write(&first, &text).unwrap();
    // index.d itself a link.
    let moved = env.path("elsewhere");
    std::fs::rename(&dir, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &dir).unwrap();
    env.run(&["issue", "carol"])
        .code(2)
        .one_line_error(&["pki/index.d", "link"]);
    std::fs::remove_file(&dir).unwrap();
    std::fs::rename(&moved, &dir).unwrap();
    env.run(&["verify"]).ok();
    issue(&env, &["carol"]);
}
