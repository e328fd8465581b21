//! Writers of one store in Vault on several "hosts" (`Env::on_host`: a
//! HOME and working directory of their own and, where user namespaces
//! allow, a host name of their own), through the real binary against the
//! shared OpenBao dev server: two hosts writing at once lose nothing and
//! keep one audit chain; the lock's lease names its holder, is waited
//! for, taken over at once from a killed holder of the same host and only
//! after its lease from another host's; a paused writer whose lease ran
//! out cannot commit.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};

use serde_json::json;

use crate::support::common::{self, sh, Backend, Env, Run};
use crate::support::docs::{AuditShowDoc, CrlDoc, IssueDoc, RevokeDoc, RotateDoc};

/// A store in the shared dev server, or None when `bao` is not installed.
fn vault_env() -> Option<Env> {
    Backend::Vault.available().then(|| Env::on(Backend::Vault))
}

/// The host name runs of `env` see (`Env::on_host`'s, or this machine's).
fn host_name(env: &Env) -> String {
    env.host.clone().unwrap_or_else(|| {
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned()
    })
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The commands one host runs, in order: its own six users issued,
/// rotated, revoked, one re-issued; a rotation of everyone (the other
/// host's users too) and a CRL.
fn host_script(h: &str) -> Vec<Vec<String>> {
    let u = |i: u32| format!("{h}{i}");
    let ec = ["--key-type", "ecdsa-p256"];
    let mut script: Vec<Vec<String>> = (0..6)
        .map(|i| [vec!["issue".into(), u(i)], ec.map(String::from).to_vec()].concat())
        .collect();
    let more: Vec<Vec<String>> = vec![
        vec!["rotate".into(), "--force".into(), u(0)],
        vec!["rotate".into(), "--force".into()],
        vec!["rotate".into(), "--force".into(), u(1)],
        vec!["revoke".into(), u(2)],
        vec![
            "revoke".into(),
            u(3),
            "--reason".into(),
            "key-compromise".into(),
        ],
        [vec!["issue".into(), u(2)], ec.map(String::from).to_vec()].concat(),
        vec!["rotate".into(), "--force".into(), u(4)],
        vec!["crl".into()],
        vec!["rotate".into(), "--force".into(), u(5)],
    ];
    script.extend(more);
    for c in &mut script {
        c.extend(["--wait".into(), "--json".into()]);
    }
    script
}

/// What the runs reported: new serials, revoked serials, CRL numbers.
#[derive(Default)]
struct Reported {
    issued: Vec<String>,
    revoked: Vec<String>,
    crls: Vec<u64>,
}

impl Reported {
    fn add(&mut self, args: &[String], r: &Run) {
        match args[0].as_str() {
            "issue" => {
                let d: IssueDoc = serde_json::from_str(&r.stdout).unwrap();
                self.issued.extend(d.issued.into_iter().map(|i| i.serial));
            }
            "rotate" => {
                let d: RotateDoc = serde_json::from_str(&r.stdout).unwrap();
                self.issued
                    .extend(d.actions.into_iter().filter_map(|a| a.new_serial));
            }
            "revoke" => {
                let d: RevokeDoc = serde_json::from_str(&r.stdout).unwrap();
                self.revoked.push(d.revoked.expect("revoked now").serial);
            }
            "crl" => {
                let d: CrlDoc = serde_json::from_str(&r.stdout).unwrap();
                self.crls.push(d.crl_number);
            }
            other => panic!("{other}"),
        }
    }
}

#[test]
fn two_hosts_writing_at_once_lose_nothing_and_keep_one_audit_chain() {
    let Some(env) = vault_env() else { return };
    env.run(&["init", "--key-type", "ecdsa-p256"]).ok();
    let hosts = [env.on_host("host-a"), env.on_host("host-b")];
    // Each host runs its 15 commands in order, both hosts at once.
    let runs: Vec<(Vec<String>, Run)> = std::thread::scope(|s| {
        let each: Vec<_> = hosts
            .iter()
            .zip(["a", "b"])
            .map(|(host, h)| {
                s.spawn(move || {
                    host_script(h)
                        .into_iter()
                        .map(|args| {
                            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                            let r = host.run(&refs);
                            (args, r)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        each.into_iter().flat_map(|j| j.join().unwrap()).collect()
    });
    assert_eq!(runs.len(), 30);
    let mut reported = Reported::default();
    for (args, r) in &runs {
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        reported.add(args, r);
    }

    // No duplicate serial, no certificate lost: the index holds exactly
    // the certificates the runs reported, and every user is there.
    let certs: Vec<String> = env
        .index()
        .certificates
        .iter()
        .map(|c| c.serial.to_string())
        .collect();
    let unique: BTreeSet<&String> = certs.iter().collect();
    assert_eq!(unique.len(), certs.len(), "duplicate serials: {certs:?}");
    let issued: BTreeSet<&String> = reported.issued.iter().collect();
    assert_eq!(
        issued.len(),
        reported.issued.len(),
        "a serial reported twice"
    );
    assert_eq!(unique, issued, "the index holds what the runs reported");
    let active: BTreeSet<String> = env
        .index()
        .certificates
        .iter()
        .filter(|c| c.state == pki::store::CertState::Active)
        .map(|c| c.user.to_string())
        .collect();
    let want: BTreeSet<String> = ["a", "b"]
        .iter()
        .flat_map(|h| [0, 1, 2, 4, 5].map(|i| format!("{h}{i}")))
        .collect();
    assert_eq!(active, want, "every user current but the two revoked");
    let (ca, _) = env.ca_files();
    for u in &want {
        let (cert, _) = env.user_files(u);
        let (ok, out) = common::openssl_verify_client(&ca, &cert);
        assert!(ok, "{u}: {out}");
    }

    // One unbroken audit chain with each run's lines exactly once.
    env.run(&["audit", "verify"]).ok();
    env.run(&["verify"]).ok();
    let log: AuditShowDoc =
        serde_json::from_str(&env.run(&["audit", "show", "--json"]).ok().stdout).unwrap();
    let count = |event: &str| {
        let mut n: BTreeMap<String, usize> = BTreeMap::new();
        for e in log.entries.iter().filter(|e| e.event == event) {
            *n.entry(e.serial.clone().unwrap_or_default()).or_default() += 1;
        }
        n
    };
    let once = |serials: &[String]| -> BTreeMap<String, usize> {
        serials.iter().map(|s| (s.clone(), 1)).collect()
    };
    assert_eq!(count("issued"), once(&reported.issued));
    assert_eq!(count("revoked"), once(&reported.revoked));
    let mut numbers: Vec<String> = log
        .entries
        .iter()
        .filter(|e| e.event == "crl-signed")
        .map(|e| e.detail.clone().unwrap())
        .collect();
    numbers.sort();
    reported.crls.sort();
    assert_eq!(reported.crls, [1, 2], "two CRLs, numbered once each");
    assert!(
        numbers[0].starts_with("CRL number 1,") && numbers[1].starts_with("CRL number 2,"),
        "{numbers:?}"
    );
    let seqs: Vec<u64> = log.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert!(env.vault.as_ref().unwrap().object("lock").is_none());
}

/// `pki issue USER --passphrase-file pass.fifo` on `env` (the CA key is
/// encrypted): it reads its passphrase from a FIFO under the lock, so it
/// holds the lock until the test writes the passphrase. Returns once it
/// holds it: the child and the FIFO's writing end.
fn holder(env: &Env, user: &str) -> (Child, std::fs::File) {
    sh(env, "mkfifo pass.fifo");
    let child = env
        .command(&["issue", user, "--passphrase-file", "pass.fifo"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Opening the FIFO for writing returns once the holder opened it.
    let fifo = std::fs::OpenOptions::new()
        .write(true)
        .open(env.path("pass.fifo"))
        .unwrap();
    (child, fifo)
}

/// A store whose CA key is encrypted, and `hosts` using it, each with
/// the passphrase in `pass.txt` (the store's own env reads it from there
/// for `verify`).
fn encrypted_store(hosts: &[&str]) -> Option<(Env, Vec<Env>)> {
    let mut env = vault_env()?;
    std::fs::write(env.path("pass.txt"), "s3cret\n").unwrap();
    env.run(&[
        "init",
        "--encrypt",
        "--passphrase-file",
        "pass.txt",
        "--key-type",
        "ecdsa-p256",
    ])
    .ok();
    let hosts: Vec<Env> = hosts
        .iter()
        .map(|h| {
            let e = env.on_host(h);
            std::fs::write(e.path("pass.txt"), "s3cret\n").unwrap();
            e
        })
        .collect();
    let pass = env.path("pass.txt").display().to_string();
    env.var("PKI_PASSPHRASE_FILE", &pass);
    Some((env, hosts))
}

/// The users with a current certificate, each checked by openssl to
/// chain to the CA. (`pki verify` cannot check a store whose CA key is
/// encrypted: it takes no passphrase.)
fn current_users(env: &Env) -> Vec<String> {
    let users: Vec<String> = common::active_serials(&serde_json::to_value(env.index()).unwrap())
        .into_keys()
        .collect();
    let (ca, _) = env.ca_files();
    for u in &users {
        let (ok, out) = common::openssl_verify_client(&ca, &env.user_files(u).0);
        assert!(ok, "{u}: {out}");
    }
    users
}

#[test]
fn a_held_lock_names_its_holder_and_host_and_wait_waits_for_it() {
    let Some((env, hosts)) = encrypted_store(&["host-a", "host-b"]) else {
        return;
    };
    let (a, b) = (&hosts[0], &hosts[1]);
    let vault = env.vault.as_ref().unwrap();
    let (mut held, fifo) = holder(a, "bob");
    let holder_is = format!(
        "pid {} on {} (pki issue bob --passphrase-file)",
        held.id(),
        host_name(a)
    );
    let (lock, _) = vault.object("lock").expect("the holder's lock");
    assert_eq!(lock["pid"], held.id());
    assert_eq!(lock["host"], host_name(a).as_str());
    assert_eq!(lock["command"], "pki issue bob --passphrase-file");
    assert!(lock["expires"].as_i64().unwrap() > unix_now(), "{lock}");
    let before = (vault.state_version(), vault.objects());

    // Without --wait: exit 4, naming the store, the holder and its host.
    let add = ["issue", "carol", "--passphrase-file", "pass.txt"];
    b.run(&add).code(4).one_line_error(&[
        &format!("another pki is working on the store {}", vault.address),
        &holder_is,
        "--wait",
    ]);
    assert_eq!((vault.state_version(), vault.objects()), before);
    // Reading needs no lock.
    b.run(&["list"]).ok();

    // With --wait: says once for whom it waits, and goes on once released.
    let mut waiter = b
        .command(&[&add[..], &["--wait"]].concat())
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
            "pki: waiting for the store lock of {}, held by {holder_is}\n",
            vault.address
        )
    );
    let mut fifo = fifo;
    fifo.write_all(b"s3cret\n").unwrap();
    drop(fifo);
    assert!(held.wait().unwrap().success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert!(waiter.wait().unwrap().success(), "{rest}");
    assert!(!rest.contains("waiting"), "{rest}");
    assert!(vault.object("lock").is_none(), "released");
    assert_eq!(current_users(&env), ["bob", "carol"]);
}

#[test]
fn a_killed_holder_is_taken_over_at_once_on_its_host_and_a_foreign_one_after_its_lease() {
    let Some((env, hosts)) = encrypted_store(&["host-a", "host-b"]) else {
        return;
    };
    let (a, b) = (&hosts[0], &hosts[1]);
    let vault = env.vault.as_ref().unwrap();
    let (mut held, fifo) = holder(a, "bob");
    let pid = held.id();
    let before = vault.state_version();
    held.kill().unwrap(); // SIGKILL while it holds the lock
    held.wait().unwrap();
    drop(fifo);
    assert_eq!(vault.object("lock").unwrap().0["pid"], pid, "left behind");
    assert_eq!(vault.state_version(), before, "killed before its commit");

    // On another host that pid means nothing: its lease (60 s) holds.
    if common::hosts_can_differ() {
        b.run(&["issue", "carol", "--passphrase-file", "pass.txt"])
            .code(4)
            .one_line_error(&[&format!("pid {pid} on {}", host_name(a))]);
    }
    // On its own host the pid is gone: taken over at once, without --wait,
    // and the killed command, run again, succeeds.
    a.run(&["issue", "carol", "--passphrase-file", "pass.txt"])
        .ok();
    a.run(&["issue", "bob", "--passphrase-file", "pass.txt"])
        .ok();
    assert_eq!(current_users(&env), ["bob", "carol"]);
    env.run(&["audit", "verify"]).ok();

    // A holder on a host that is not this one, written by hand: its pid
    // (of a process that is gone here) is not judged, only its lease.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let foreign = |expires: i64| json!({"pid": gone.id(), "host": "ci-runner-7", "command": "pki rotate", "expires": expires});
    vault.put_object("lock", foreign(unix_now() + 3600));
    let before = vault.state_version();
    a.run(&["issue", "dave", "--passphrase-file", "pass.txt"])
        .code(4)
        .one_line_error(&[
            &format!("pid {} on ci-runner-7 (pki rotate)", gone.id()),
            "--wait",
        ]);
    assert_eq!(vault.state_version(), before);
    // Its lease ran out: taken over at once.
    vault.put_object("lock", foreign(unix_now() - 1));
    a.run(&["issue", "dave", "--passphrase-file", "pass.txt"])
        .ok();
    // A lock pki cannot read is taken over too.
    vault.put_object("lock", json!({"held": "by whom?"}));
    a.run(&["issue", "erin", "--passphrase-file", "pass.txt"])
        .ok();
    assert!(vault.object("lock").is_none());
    // And one an operator deleted by hand (`bao kv delete`: the latest
    // version deleted, the key kept), which a create cannot replace.
    vault.put_object("lock", foreign(unix_now() + 3600));
    vault.delete_object("lock");
    a.run(&["issue", "fred", "--passphrase-file", "pass.txt"])
        .ok();
    assert!(vault.object("lock").is_none());
    assert_eq!(
        current_users(&env),
        ["bob", "carol", "dave", "erin", "fred"]
    );
    env.run(&["audit", "verify"]).ok();

    // A `rotate` with nothing due (cron's usual run) takes no lock: it
    // neither waits for a live holder nor takes its lock over...
    vault.put_object("lock", foreign(unix_now() + 3600));
    let before = vault.state_version();
    a.run(&["rotate"]).ok();
    assert_eq!(vault.object("lock").unwrap().0["host"], "ci-runner-7");
    // ...but a lock whose holder is gone it releases, which would otherwise
    // keep the next writer of another host waiting out the lease.
    vault.put_object("lock", foreign(unix_now() - 1));
    a.run(&["rotate"]).ok();
    assert!(vault.object("lock").is_none(), "the lock left was released");
    assert_eq!(vault.state_version(), before, "nothing was due");
    env.run(&["audit", "verify"]).ok();
}

#[test]
fn a_paused_writer_whose_lease_ran_out_commits_nothing() {
    let Some((env, mut hosts)) = encrypted_store(&["host-a", "host-b"]) else {
        return;
    };
    // B's lease is 3 s (the shortest); paused, it renews nothing.
    hosts[1].var("PKI_VAULT_LEASE", "3");
    let (a, b) = (&hosts[0], &hosts[1]);
    let (mut paused, mut fifo) = holder(b, "bob");
    let signal = |sig: &str, pid: u32| {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    };
    signal("-STOP", paused.id());
    // A waits for the lease to run out, takes over and commits.
    a.run(&["issue", "carol", "--passphrase-file", "pass.txt", "--wait"])
        .ok();
    // B goes on: its commit finds `state` changed and makes no change.
    fifo.write_all(b"s3cret\n").unwrap();
    drop(fifo);
    signal("-CONT", paused.id());
    let mut stderr = String::new();
    std::io::Read::read_to_string(paused.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let status = paused.wait().unwrap();
    let r = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr,
    };
    r.code(1).one_line_error(&[
        "changed while this run held the store lock",
        "nothing was changed",
        "run the command again",
    ]);
    assert_eq!(current_users(&env), ["carol"]);
    env.run(&["audit", "verify"]).ok();
    b.run(&["issue", "bob", "--passphrase-file", "pass.txt"])
        .ok();
    assert_eq!(current_users(&env), ["bob", "carol"]);
}

/// A token pki logged in for (AppRole, TTL 2 s) is renewed while the run
/// lasts: a writer that waits 5 s for its passphrase under the lock, then
/// signs and commits, succeeds (without the renewal it fails: the token
/// has expired).
#[test]
fn a_login_token_is_renewed_while_the_run_outlasts_its_ttl() {
    let Some(bao) = crate::support::bao::Bao::shared() else {
        return;
    };
    let Some((mut env, _)) = encrypted_store(&[]) else {
        return;
    };
    let policy = env.run(&["vault", "policy"]).ok().stdout.clone();
    let (role_id, secret_id) = bao.approle_for(&policy, "2s");
    std::fs::write(env.path("secret-id"), format!("{secret_id}\n")).unwrap();
    let file = env.path("secret-id").display().to_string();
    env.unset("VAULT_TOKEN")
        .var("PKI_VAULT_AUTH", "approle")
        .var("PKI_VAULT_ROLE_ID", &role_id)
        .var("PKI_VAULT_SECRET_ID_FILE", &file);
    let (held, mut fifo) = holder(&env, "bob");
    std::thread::sleep(std::time::Duration::from_secs(5));
    fifo.write_all(b"s3cret\n").unwrap();
    drop(fifo);
    let out = held.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(current_users(&env), ["bob"]);
    let r = env.run(&["-v", "issue", "carol", "--passphrase-file", "pass.txt"]);
    r.ok();
    assert!(!r.stderr.contains(&secret_id) && !r.stderr.contains(&role_id));
    env.run(&["audit", "verify"]).ok();
}
