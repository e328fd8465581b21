//! Faults after and around the commit point: a
//! failed system call at each instant of every writing and exporting
//! command, and a real full disk. After each: the store verifies, the audit
//! chain is intact, the change is absent or audited (once the next locked
//! run has finished what was pending), a pending `--on-change` hook runs,
//! and the command can be run again (no jam).

use crate::support::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Env, Run, PKI};

/// One command of the sweep: its arguments, and the same command run
/// again without --force.
struct Case {
    name: &'static str,
    args: Vec<String>,
    again: Vec<String>,
    /// The store it starts from.
    from: &'static str,
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The stores the cases start from, made once: `base` (an RSA CA, alice
/// with an RSA key, bob with an EC key, a CRL URL), `rollover` (base after
/// `rollover start`), `exported` (rollover after the exports `advance`
/// wants), and the inputs (a CSR for `sign`, a certificate and key of the
/// store's CA for `import --user`).
struct Stores {
    inputs: tempfile::TempDir,
    base: Env,
    rollover: Env,
    exported: Env,
}

impl Stores {
    fn new() -> Stores {
        Stores::from(Env::new())
    }

    /// The stores, made from `base` (an empty scratch directory with its
    /// variables set).
    fn from(base: Env) -> Stores {
        let inputs = tempfile::tempdir().unwrap();
        base.run(&["init", "--crl-url", "http://crl.example/root.crl"])
            .ok();
        base.run(&["issue", "alice"]).ok();
        base.run(&["issue", "bob", "--key-type", "ecdsa-p256"]).ok();
        let i = inputs.path();
        for (cn, key, csr) in [
            ("dave", "dave.key", "dave.csr"),
            ("svc", "svc.key", "svc.csr"),
        ] {
            let ok = Command::new("openssl")
                .args(["req", "-new", "-newkey", "ec", "-pkeyopt"])
                .args(["ec_paramgen_curve:P-256", "-nodes", "-subj"])
                .arg(format!("/CN={cn}"))
                .arg("-keyout")
                .arg(i.join(key))
                .arg("-out")
                .arg(i.join(csr))
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok, "openssl req");
        }
        // A certificate of the store's CA for svc, made in a copy.
        let copy = base.copy_of();
        let svc = copy.run(&["sign", "--csr", &p(&i.join("svc.csr")), "--user", "svc"]);
        svc.ok();
        std::fs::write(i.join("svc.crt"), &svc.stdout).unwrap();
        let rollover = base.copy_of();
        rollover.run(&["rollover", "start"]).ok();
        let exported = rollover.copy_of();
        exported
            .run(&["export", "marathon", "--user", "alice"])
            .ok();
        let out = exported.path("client");
        exported
            .run(&["export", "files", "--user", "alice", "--out", &p(&out)])
            .ok();
        Stores {
            inputs,
            base,
            rollover,
            exported,
        }
    }

    fn start(&self, case: &Case) -> &Env {
        match case.from {
            "rollover" => &self.rollover,
            "exported" => &self.exported,
            _ => &self.base,
        }
    }

    fn input(&self, name: &str) -> String {
        p(&self.inputs.path().join(name))
    }
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// The hook of the rotate cases appends to this file of the run's scratch dir.
const HOOK_LOG: &str = "hook.log";

fn cases(s: &Stores) -> Vec<Case> {
    let hook = format!("echo ran >> {HOOK_LOG}");
    let c = |name, args: &[&str], again: &[&str], from| Case {
        name,
        args: strs(args),
        again: strs(again),
        from,
    };
    let csr = s.input("dave.csr");
    let (svc_crt, svc_key) = (s.input("svc.crt"), s.input("svc.key"));
    vec![
        c(
            "issue",
            &["issue", "carol", "--key-type", "ecdsa-p256"],
            &["issue", "carol", "--key-type", "ecdsa-p256"],
            "base",
        ),
        c("revoke", &["revoke", "bob"], &["revoke", "bob"], "base"),
        c(
            "sign",
            &["sign", "--csr", &csr, "--user", "dave"],
            &["sign", "--csr", &csr, "--user", "dave"],
            "base",
        ),
        c(
            "import --user",
            &[
                "import", "--user", "svc", "--cert", &svc_crt, "--key", &svc_key,
            ],
            &[
                "import", "--user", "svc", "--cert", &svc_crt, "--key", &svc_key,
            ],
            "base",
        ),
        c("crl", &["crl"], &["crl"], "base"),
        c(
            "config set",
            &["config", "set", "crl-url", "http://crl.example/other.crl"],
            &["config", "set", "crl-url", "http://crl.example/other.crl"],
            "base",
        ),
        c(
            "rotate",
            &["rotate", "--force", "alice", "--on-change", &hook],
            &["rotate", "alice", "--on-change", &hook],
            "base",
        ),
        c(
            "rotate --ca --force",
            &["rotate", "--ca", "--force"],
            &["rotate", "--ca"],
            "base",
        ),
        c(
            "rollover start",
            &["rollover", "start"],
            &["rollover", "start"],
            "base",
        ),
        c(
            "rollover advance",
            &["rollover", "advance"],
            &["rollover", "advance"],
            "exported",
        ),
        c(
            "rollover abort",
            &["rollover", "abort"],
            &["rollover", "abort"],
            "rollover",
        ),
        c(
            "export marathon",
            &["export", "marathon", "--user", "alice"],
            &["export", "marathon", "--user", "alice"],
            "base",
        ),
    ]
}

/// Run `pki ARGS` in `env` under strace, failing the `n`th `syscall` with
/// EIO; also whether the fault was injected (the command made that many).
fn run_faulted(env: &Env, args: &[String], syscall: &str, n: usize) -> (Run, bool) {
    let trace = env.path("strace.out");
    let c = env.command(&[]);
    let mut s = Command::new("strace");
    s.args(["-f", "-qq", "-o"])
        .arg(&trace)
        .arg("-e")
        .arg(format!("trace={syscall}"))
        .arg("-e")
        .arg(format!("inject={syscall}:error=EIO:when={n}"))
        .arg(PKI)
        .args(args)
        .current_dir(env.root())
        .env_clear();
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            s.env(k, v);
        }
    }
    let out = s.stdin(Stdio::null()).output().expect("run strace");
    let injected = std::fs::read_to_string(&trace)
        .unwrap_or_default()
        .contains("INJECTED");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (run, injected)
}

fn audit_lines(env: &Env) -> Vec<serde_json::Value> {
    std::fs::read_to_string(env.store().join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn index_bytes(env: &Env) -> Vec<u8> {
    std::fs::read(env.store().join("index.json")).unwrap()
}

/// What `pki verify` and `pki audit verify` find wrong, one line each.
fn store_problems(env: &Env) -> Vec<String> {
    [&["verify"][..], &["audit", "verify"]]
        .iter()
        .filter_map(|check| {
            let r = env.run(check);
            (r.code != 0).then(|| {
                format!(
                    "`pki {}` exit {}: {}",
                    check.join(" "),
                    r.code,
                    r.stderr.trim()
                )
            })
        })
        .collect()
}

/// Everything that must hold after `run` (the faulted command) in `env`,
/// which started as `start`; failures are collected as one line each.
fn check_after(
    case: &Case,
    start: &Env,
    env: &Env,
    run: &Run,
    label: &str,
    failures: &mut Vec<String>,
) {
    let mut fail = |what: String| failures.push(format!("{label}: {what}"));
    let export = case.args[0] == "export";
    let changed = index_bytes(env) != index_bytes(start);
    let key_out = run.stdout.contains("PRIVATE KEY");
    if export && run.code != 0 && key_out {
        fail(format!("exit {} with key material on stdout", run.code));
    }
    let said = ["the change was made", "the rotation itself is done"];
    if run.code != 0 && changed && !said.iter().any(|w| run.stderr.contains(w)) {
        fail(format!("changed the store but said: {}", run.stderr.trim()));
    }
    for problem in store_problems(env) {
        fail(problem);
    }
    // The next run that takes the lock finishes what is pending (the audit
    // journal, the hook): a plain `rotate` has nothing of its own to do.
    let r = env.run(&["rotate"]);
    if r.code != 0 {
        fail(format!(
            "the next `pki rotate` exit {}: {}",
            r.code,
            r.stderr.trim()
        ));
    }
    let before = audit_lines(start).len();
    let word = case.args[0].as_str();
    let audited = audit_lines(env).iter().skip(before).any(|e| {
        e["command"]
            .as_str()
            .is_some_and(|c| c.split(' ').next() == Some(word))
    });
    if export {
        if key_out && !audited {
            fail("key material left without an audit line".into());
        }
    } else if changed != audited {
        fail(format!("index changed: {changed}, audited: {audited}"));
    }
    if case.name == "rotate" {
        let ran = std::fs::read_to_string(env.path(HOOK_LOG))
            .unwrap_or_default()
            .lines()
            .count();
        let hook_failed = run.stderr.contains("the --on-change command");
        if changed && ran == 0 && !hook_failed {
            fail("the rotation was made but its --on-change hook never ran".into());
        }
        if !changed && ran > 0 {
            fail("the hook ran for a rotation that was not made".into());
        }
    }
    // Run again, without --force: no jam (exit 1 or 3).
    let r = env.run(&case.again.iter().map(String::as_str).collect::<Vec<_>>());
    if r.code == 1 || r.code == 3 || (!changed && r.code != 0) {
        fail(format!("run again: exit {}: {}", r.code, r.stderr.trim()));
    }
    for problem in store_problems(env) {
        fail(format!("after the retry {problem}"));
    }
}

/// Sweep `syscalls` over `cases`: fail the 1st, 2nd, ... call of each in
/// turn until the command makes no more; returns (faults injected, runs
/// that failed, runs that said "the change was made").
fn sweep(stores: &Stores, names: &[&str], syscalls: &[&str]) -> (usize, usize, usize) {
    let mut failures = Vec::new();
    let (mut injected, mut failed, mut late) = (0, 0, 0);
    for case in cases(stores).iter().filter(|c| names.contains(&c.name)) {
        let start = stores.start(case);
        for sc in syscalls {
            for n in 1..=300 {
                let env = start.copy_of();
                let (run, hit) = run_faulted(&env, &case.args, sc, n);
                if !hit {
                    break;
                }
                injected += 1;
                failed += usize::from(run.code != 0);
                late += usize::from(run.stderr.contains("the change was made"));
                let label = format!("{} ({sc} #{n}, exit {})", case.name, run.code);
                check_after(case, start, &env, &run, &label, &mut failures);
            }
        }
    }
    eprintln!("fault sweep: {injected} faults injected, {failed} runs failed, {late} said the change was made, {} problems", failures.len());
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(injected > 0, "no fault was injected: is strace working?");
    (injected, failed, late)
}

/// strace is needed (installed by .ci/run); elsewhere say why the test is skipped.
fn have_strace() -> bool {
    common::tool_or_skip("strace", "apt-get install strace")
}

#[test]
fn a_torn_last_audit_line_is_repaired_by_the_next_locked_run() {
    let env = Env::with_users(&["a", "b"]);
    let path = env.store().join("audit.jsonl");
    let good = std::fs::read_to_string(&path).unwrap();
    // Half a line, as a full disk or a crash mid-append leaves it.
    let torn = format!("{good}{{\"seq\":3,\"time\":\"2026");
    std::fs::write(&path, &torn).unwrap();
    env.run(&["audit", "verify"])
        .code(3)
        .one_line_attention(&["line 4", "incomplete"]);
    // Exports and changes go on; the torn line is removed and recorded.
    let r = env.run(&["export", "marathon", "--user", "a"]);
    r.ok();
    assert!(r.stdout.contains("PRIVATE KEY"));
    env.run(&["issue", "c"]).ok();
    env.run(&["audit", "verify"]).ok();
    let lines = audit_lines(&env);
    let events: Vec<&str> = lines.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        &events[..3],
        ["ca-created", "issued", "issued"],
        "{events:?}"
    );
    assert_eq!(
        &events[3..],
        ["audit-torn-line-removed", "ca-key-exported", "issued"],
        "{events:?}"
    );
    let n = torn.len() - good.len();
    let detail = lines[3]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("a torn line of {n} bytes was removed")),
        "{detail}"
    );
    // A last line that is whole but not an entry (zeros after a crash) too.
    let mut text = std::fs::read(&path).unwrap();
    text.extend_from_slice(&[0u8; 40]);
    text.push(b'\n');
    std::fs::write(&path, &text).unwrap();
    env.run(&["revoke", "c"]).ok();
    env.run(&["audit", "verify"]).ok();
    env.run(&["verify"]).ok();
}

#[test]
fn an_export_that_cannot_be_recorded_prints_no_key() {
    if !have_strace() {
        return;
    }
    let stores = Stores::new();
    let (injected, failed, _) = sweep(&stores, &["export marathon"], &["write", "fsync"]);
    assert!(failed > 0 && injected >= failed, "{injected} {failed}");
}

#[test]
fn a_failure_after_the_commit_point_keeps_the_audit_line_and_the_hook() {
    if !have_strace() {
        return;
    }
    let stores = Stores::new();
    let (_, _, late) = sweep(&stores, &["rotate"], &["fsync"]);
    assert!(late > 0, "no fault fell after the commit point");
    // The hook a committed rotation could not run: check reports it, the
    // next rotate runs it once.
    let hook = format!("echo ran >> {HOOK_LOG}");
    let args = strs(&["rotate", "--force", "alice", "--on-change", &hook]);
    let (env, run) = (1..)
        .find_map(|n| {
            let env = stores.base.copy_of();
            let (run, hit) = run_faulted(&env, &args, "fsync", n);
            assert!(hit, "no fsync fault after the commit point");
            run.stderr
                .contains("the change was made")
                .then_some((env, run))
        })
        .unwrap();
    assert!(
        run.stderr.contains("the next `pki rotate` runs it"),
        "{}",
        run.stderr
    );
    assert!(!env.path(HOOK_LOG).exists());
    assert!(env.store().join("hook.pending").exists());
    let check = env.run(&["check"]);
    check.code(3);
    assert!(
        check.stderr.contains("on-change hook pending"),
        "{}",
        check.stderr
    );
    env.run(&["rotate"]).ok();
    assert_eq!(
        std::fs::read_to_string(env.path(HOOK_LOG)).unwrap(),
        "ran\n"
    );
    env.run(&["rotate"]).ok();
    assert_eq!(
        std::fs::read_to_string(env.path(HOOK_LOG)).unwrap(),
        "ran\n"
    );
    let check = env.run(&["check"]);
    assert!(!check.stderr.contains("hook pending"), "{}", check.stderr);
    assert!(!env.store().join("hook.pending").exists());
}

/// The keys and certificates of a batch are written without a sync each
/// and synced together before the index names them: a failed sync is a
/// failure before the commit point (nothing changed, the rerun succeeds).
#[test]
fn a_failed_sync_of_a_batch_changes_nothing() {
    if !have_strace() {
        return;
    }
    let stores = Stores::new();
    let batches = ["issue", "rotate", "rotate --ca --force", "rollover advance"];
    let (injected, failed, late) = sweep(&stores, &batches, &["syncfs"]);
    assert!(
        injected >= batches.len() && failed == injected && late == 0,
        "{injected} injected, {failed} failed, {late} after the commit"
    );
}

/// The system calls the sweeps fail: every way pki makes a file durable
/// or puts it in place, and every write and open.
const SYSCALLS: &[&str] = &[
    "fsync",
    "syncfs",
    "rename",
    "renameat",
    "renameat2",
    "linkat",
    "write",
    "openat",
];

/// Every writing command, every fault: slow (minutes).
#[test]
#[ignore = "slow fault sweep: run with --ignored"]
fn fault_sweep_of_every_writing_command() {
    if !have_strace() {
        return;
    }
    let stores = Stores::new();
    let names: Vec<&str> = cases(&stores).iter().map(|c| c.name).collect();
    sweep(&stores, &names, SYSCALLS);
}

/// The commands that write in a store whose index is in shards
/// (docs/store.md, format 2), every fault: `issue` and `revoke USER` write
/// one shard and users.intent, `sign` and `import --user` a user's files,
/// `rotate` and `crl` read the whole index. Slow (minutes).
#[test]
#[ignore = "slow fault sweep: run with --ignored"]
fn fault_sweep_on_an_index_in_shards() {
    if !have_strace() {
        return;
    }
    let mut base = Env::new();
    base.var(crate::support::common::SHARDED_VAR, "0");
    let stores = Stores::from(base);
    assert!(stores.base.store().join("index.d").is_dir(), "in shards");
    sweep(
        &stores,
        &["issue", "revoke", "sign", "import --user", "rotate", "crl"],
        SYSCALLS,
    );
}

/// A tmpfs of `size`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// None (with the reason printed) when it cannot be mounted outside CI.
    fn mount(dir: PathBuf, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(&dir).unwrap();
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        let root = rustix::process::geteuid().is_root();
        let ok = root
            && Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
        if !ok {
            let why = if root {
                "mount -t tmpfs failed"
            } else {
                "not root"
            };
            assert!(!ci, "the full-disk test needs a tmpfs under CI: {why}");
            eprintln!("SKIP the full-disk test: {why}");
            return None;
        }
        Some(Tmpfs(dir))
    }

    /// Fill it, leaving `free` bytes (a rough count: tmpfs gives pages).
    fn fill(&self, free: u64) -> PathBuf {
        use std::io::Write;
        let fill = self.0.join("fill");
        let mut f = std::fs::File::create(&fill).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(free)).unwrap();
        fill
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Append one chained entry whose detail pads the log to a whole number of
/// pages, so that the next append needs a fresh page of the disk (with one
/// page free, the lock file takes it and the append finds none).
fn pad_log_to_page(store: &Path) {
    let path = store.join("audit.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let last: pki::store::audit::Entry =
        serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let line = |detail: String| {
        let mut e = pki::store::audit::Entry {
            seq: last.seq + 1,
            time: last.time.clone(),
            actor: last.actor.clone(),
            command: "test".into(),
            event: "padding".into(),
            user: None,
            serial: None,
            detail: Some(detail),
            prev_hash: last.hash.clone(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        serde_json::to_string(&e).unwrap() + "\n"
    };
    let pad = (4096 - (text.len() + line(String::new()).len()) % 4096) % 4096;
    std::fs::write(&path, text + &line("x".repeat(pad))).unwrap();
}

#[test]
fn a_full_disk_neither_jams_the_store_nor_leaves_a_change_unaudited() {
    let stores = Stores::new();
    let scratch = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let (mut runs, mut failed) = (0, 0);
    for case in cases(&stores) {
        let start = stores.start(&case);
        let frees = [0u64, 512, 4096, 8192, 16384, 65536];
        for (free, aligned) in frees.iter().flat_map(|f| [(*f, false), (*f, true)]) {
            let Some(disk) = Tmpfs::mount(scratch.path().join("disk"), "4m") else {
                return;
            };
            // The store on the small disk, the rest of the run beside it.
            let mut env = start.copy_of();
            let store = disk.0.join("pki");
            common::copy_tree(&start.store(), &store);
            env.var("PKI_DIR", &p(&store));
            // `env.store()` must be the one on the disk for the checks.
            let real = env.store();
            std::fs::remove_dir_all(&real).unwrap();
            std::os::unix::fs::symlink(&store, &real).unwrap();
            if aligned {
                pad_log_to_page(&store);
            }
            let fill = disk.fill(free);
            let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
            let run = env.run(&args);
            std::fs::remove_file(fill).unwrap();
            runs += 1;
            failed += usize::from(run.code != 0);
            let label = format!(
                "{} ({free} bytes free, log page-aligned: {aligned}, exit {})",
                case.name, run.code
            );
            check_after(&case, start, &env, &run, &label, &mut failures);
            drop(env);
            drop(disk);
        }
    }
    eprintln!(
        "full disk: {runs} runs, {failed} failed, {} problems",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
