//! High availability (issue #19): the store on a 3-node OpenBao cluster
//! with integrated Raft storage on loopback, pki pointed at a node that
//! stays up (a standby forwards to whichever node is active). The active
//! node is SIGKILLed while `pki rotate --force` re-issues 20 users; pki
//! fails with one line that says what to do; the same command, run again
//! as a user would until it succeeds, succeeds once a new leader is
//! elected; `verify` and `audit verify` pass, every user has a current
//! certificate that `openssl verify` chains to the CA, and nothing is
//! missing from the audit log.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::kill_sweeps::writes::user_state;
use pki::store::vault::client::Put;

use crate::support::bao::BaoCluster;
use crate::support::common::{active_serials, openssl_verify_client, Run};
use crate::support::vault_env::{assert_audit_covers, client, InVault};

/// How long a user would keep running the command again (once a second)
/// before giving up: far past an election on loopback (about a second).
const RETRY_BOUND: Duration = Duration::from_secs(120);

/// The one line pki printed that is not a `-v` trace or a warning.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !is_trace(l) && !l.starts_with("pki: warning: "))
        .collect()
}

/// `pki: 12.3 ms: ...`, what `-v` prints.
fn is_trace(line: &str) -> bool {
    line.strip_prefix("pki: ")
        .and_then(|r| r.split_once(" ms: "))
        .is_some_and(|(ms, _)| ms.parse::<f64>().is_ok())
}

#[test]
fn the_active_node_killed_during_rotate_of_20_users_loses_nothing() {
    let Some(mut cluster) = BaoCluster::start(3) else {
        return;
    };
    let leader = cluster.wait_for_leader();
    // A standby: it stays up, and forwards to whichever node is active.
    let node = (leader + 1) % 3;
    let address = "vault://secret/pki/ha";
    let env = InVault::new(&cluster.env(node), address).env();
    // The test reads through the active node: a standby answers reads
    // from its own copy, which may lag what pki just wrote.
    let at_active = |c: &BaoCluster| InVault::new(&c.env(c.wait_for_leader()), address);
    env.run(&["init", "--key-type", "ecdsa-p256"]).ok();
    let users: Vec<String> = (1..=20).map(|i| format!("u{i:02}")).collect();
    let mut issue = vec!["issue", "--key-type", "ecdsa-p256"];
    issue.extend(users.iter().map(String::as_str));
    env.run(&issue).ok();
    let old = active_serials(&at_active(&cluster).index().unwrap());
    assert_eq!(old.len(), 20);

    // rotate, with -v to see its writes; the active node is killed at
    // the first new object it writes.
    let rotate = ["rotate", "--force"];
    let mut child = env
        .command(&["-v", rotate[0], rotate[1]])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = {
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                all.push_str(&line);
                all.push('\n');
            }
            all
        })
    };
    let first_write = rx
        .iter()
        .find(|l| l.contains(": wrote vault://") && l.contains("/users/"));
    assert!(
        first_write.is_some(),
        "rotate ended before writing anything"
    );
    let killed_at = Instant::now();
    let dead = cluster.kill_active();
    assert_ne!(dead, node, "pki's node was the active one");
    let status = child.wait().unwrap();
    let failed_after = killed_at.elapsed();
    let killed_run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: reader.join().unwrap(),
    };
    let said = error_lines(&killed_run.stderr);
    eprintln!(
        "rotate through node {node} ({}), the active node {dead} ({}) killed at its first write: exit {} {failed_after:?} after the kill: {said:?}",
        cluster.addrs[node], cluster.addrs[dead], killed_run.code
    );
    let mut errors = Vec::new();
    if killed_run.code != 0 {
        assert_eq!(said.len(), 1, "{}", killed_run.stderr);
        errors.push(said[0].to_string());
    }

    // The same command again at once, as a user would, and again each
    // second until it succeeds; meanwhile the survivors elect a leader.
    let (done, (new_leader, elected_after)) = std::thread::scope(|s| {
        let election = s.spawn(|| (cluster.wait_for_leader(), killed_at.elapsed()));
        let done = loop {
            let r = env.run(&rotate);
            if r.code == 0 {
                break killed_at.elapsed();
            }
            r.one_line_error(&[]);
            errors.push(r.stderr.trim_end().to_string());
            assert!(
                killed_at.elapsed() < RETRY_BOUND,
                "rotate still failing {RETRY_BOUND:?} after the kill: {errors:#?}"
            );
            std::thread::sleep(Duration::from_secs(1));
        };
        (done, election.join().unwrap())
    });
    eprintln!(
        "new leader node {new_leader} {elected_after:?} after the kill; rotate succeeded {done:?} after it; {} failed run(s): {errors:#?}",
        errors.len()
    );
    // Each says what to do, and none sends the user to fix VAULT_ADDR:
    // it names a node that stayed up.
    for e in &errors {
        assert!(e.starts_with("pki: error: ") && e.contains("; "), "{e}");
        assert!(!e.contains("check VAULT_ADDR"), "blames VAULT_ADDR: {e}");
    }

    env.run(&["verify"]).ok();
    env.run(&["audit", "verify"]).ok();
    let store = at_active(&cluster);
    let index = store.index().unwrap();
    let audit = store.audit();
    assert_audit_covers(&index, &audit, "after the failover");
    assert!(
        store.lock().is_none(),
        "the lock is left: {:?}",
        store.lock()
    );

    // Each user rotated once by the rerun, and once more if the killed
    // run's commit went through: all or none (one commit).
    let now = active_serials(&index);
    let ca_pem = store
        .text(index["ca"]["cert"].as_str().unwrap())
        .expect("the CA certificate");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, ca_pem).unwrap();
    let mut rotations = Vec::new();
    for u in &users {
        let states = user_state(&index, u);
        assert_eq!(states.last().map(String::as_str), Some("active"), "{u}");
        rotations.push(states.len() - 1);
        assert_ne!(now[u], old[u], "{u} kept its certificate");
        let entry = index["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["serial"] == now[u].as_str())
            .unwrap();
        let cert = dir.path().join(format!("{u}.crt"));
        std::fs::write(&cert, store.text(entry["cert"].as_str().unwrap()).unwrap()).unwrap();
        let (ok, out) = openssl_verify_client(&ca, &cert);
        assert!(ok, "{u}: {out}");
        let logged = audit
            .iter()
            .any(|l| l["event"] == "issued" && l["command"] == "rotate" && l["serial"] == now[u]);
        assert!(logged, "{u}: its rotation is not in the audit log");
    }
    rotations.dedup();
    assert!(
        rotations == [1] || rotations == [2],
        "users rotated unevenly: {rotations:?}"
    );
}

/// A standby answers reads from its own copy of the data, which may lag
/// the active node (OpenBao's standby reads, on by default with Raft
/// storage), and judges a check-and-set write on that copy. pki's client
/// reads its own writes all the same, as the store's lock, commit and
/// read-back need: 50 check-and-set writes, each read back at once,
/// through a standby.
#[test]
fn through_a_standby_the_client_reads_its_own_writes() {
    let Some(cluster) = BaoCluster::start(3) else {
        return;
    };
    let standby = (cluster.wait_for_leader() + 1) % 3;
    let c = client(&cluster.env(standby));
    let mut version = 0;
    for i in 0..50 {
        let data = serde_json::json!({ "i": i });
        match c
            .kv_put("secret", "pki/rw/state", &data, Some(version))
            .unwrap()
        {
            Put::Written { version: v } => version = v,
            Put::CasMismatch => panic!("write {i} judged on a copy without write {}", i - 1),
        }
        let read = c.kv_get("secret", "pki/rw/state").unwrap();
        assert_eq!(read.map(|r| r.version), Some(version), "read {i}");
    }
}
