//! `pki probe` against a real Erlang/OTP node (tests/tls/riak_node.escript)
//! that logs clients in as riak_api and riak_core's certificate source do:
//! RpbStartTls, TLS 1.2 with verify_peer, RpbAuthReq judged by the CN, the
//! user list and the sources, then ping. Each failure is asserted by its
//! exact words, in the report and in the node's own verdict.

use crate::support::{common, handshake};

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::docs::ProbeDoc;
use common::{Env, Run};
use handshake::{erlang_or_skip, node_cert, node_cert_from, start_escript};

/// A running riak_node.escript; killed when dropped.
struct RiakNode {
    child: Child,
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl RiakNode {
    /// Start a node trusting `ca`, presenting `node` (cert, key), knowing
    /// `users` with a certificate source for 127.0.0.1/32; `extra` options.
    fn start(ca: &Path, node: (&Path, &Path), users: &str, extra: &[&str]) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls/riak_node.escript");
        let mut cmd = Command::new("escript");
        cmd.arg(&script)
            .args([ca, node.0, node.1])
            .args([users, "127.0.0.1/32"])
            .args(extra);
        let (child, out, port) = start_escript(cmd);
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
        RiakNode { child, port, lines }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Wait (up to 5 s) for the node to have said a line starting with `prefix`; return it.
    #[track_caller]
    fn said(&self, prefix: &str) -> String {
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(l) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.starts_with(prefix))
            {
                return l.clone();
            }
            assert!(
                Instant::now() < end,
                "the node never said {prefix:?}: {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RiakNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn doc(r: &Run) -> ProbeDoc {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn ca(env: &Env) -> PathBuf {
    env.ca_files().0
}

/// A store with `users` and a node (certificate from `node_cert`: 2 days)
/// trusting its CA and knowing `known`; None when Erlang is missing.
fn store_and_node(users: &[&str], known: &str, extra: &[&str]) -> Option<(Env, RiakNode)> {
    if !erlang_or_skip() {
        return None;
    }
    let env = Env::with_users(users);
    let (crt, key) = node_cert(&env);
    let node = RiakNode::start(&ca(&env), (&crt, &key), known, extra);
    Some((env, node))
}

#[test]
fn every_user_logs_in_to_a_cbc_only_node_and_to_a_gcm_node() {
    if !erlang_or_skip() {
        return;
    }
    let env = Env::with_users(&["alice", "bob"]);
    let (crt, key) = node_cert(&env);
    let cbc = RiakNode::start(&ca(&env), (&crt, &key), "alice,bob", &["--ciphers", "cbc"]);
    let gcm = RiakNode::start(&ca(&env), (&crt, &key), "alice,bob", &["--ciphers", "gcm"]);

    let r = env.run(&["probe", "--json", &cbc.addr(), &gcm.addr()]);
    r.ok();
    let d = doc(&r);
    assert!(d.ok);
    assert_eq!((d.within.as_str(), d.timeout_seconds), ("33%", 5));
    let got: Vec<(&str, &str)> = d
        .results
        .iter()
        .map(|x| (x.user.as_str(), x.node.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("alice", cbc.addr().as_str()),
            ("alice", gcm.addr().as_str()),
            ("bob", cbc.addr().as_str()),
            ("bob", gcm.addr().as_str())
        ]
    );
    for x in &d.results {
        assert!(x.logged_in, "{x:?}");
        assert_eq!(x.stage, "done");
        assert_eq!(x.failure, None);
        assert_eq!(x.protocol.as_deref(), Some("TLSv1.2"));
        let cipher = x.cipher.as_deref().unwrap();
        if x.node == cbc.addr() {
            assert!(
                !cipher.contains("GCM") && cipher.contains("AES"),
                "{cipher}"
            );
        } else {
            assert!(cipher.contains("GCM"), "{cipher}");
        }
        let c = x.node_certificate.as_ref().unwrap();
        assert_eq!(c.subject, "CN=localhost");
        assert_eq!(c.issuer, "CN=rootCA");
        assert_eq!(c.serial, "07");
        assert_eq!(c.status, "valid");
        assert!((0..=2).contains(&c.days_left), "{}", c.days_left);
    }
    // The node's own verdicts: both users logged in and pinged.
    for node in [&cbc, &gcm] {
        node.said("AUTH OK alice");
        node.said("AUTH OK bob");
        node.said("PING");
        assert!(node.said("TLS OK tlsv1.2 ").contains("TLS_"));
    }

    // The human report, and the metrics file.
    let prom = env.path("probe.prom");
    let r = env.run(&[
        "probe",
        "--user",
        "alice",
        &cbc.addr(),
        "--prometheus",
        prom.to_str().unwrap(),
    ]);
    r.ok();
    assert!(
        r.stdout.starts_with(&format!(
            "ok      alice  {}  logged in (TLSv1.2, ",
            cbc.addr()
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "valid   {}  certificate CN=localhost  issuer CN=rootCA  not after ",
            cbc.addr()
        )),
        "{}",
        r.stdout
    );
    assert_eq!(r.stderr, "1 of 1 logins worked\n");
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains(&format!(
            "pki_probe_login_ok{{user=\"alice\",node=\"{}\",stage=\"done\"}} 1\n",
            cbc.addr()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "pki_probe_node_certificate_due{{node=\"{}\",subject=\"CN=localhost\",serial=\"07\"}} 0\n",
            cbc.addr()
        )),
        "{text}"
    );
    assert_eq!(common::mode(&prom), 0o644);
}

#[test]
fn a_user_the_node_does_not_know_is_refused_at_auth() {
    let Some((env, node)) = store_and_node(&["alice", "bob"], "bob", &[]) else {
        return;
    };
    let r = env.run(&["probe", "--user", "alice", &node.addr()]);
    r.code(3).one_line_attention(&[
        "1 of 1 logins failed (the reasons are listed above; see docs/probe.md)",
    ]);
    assert!(
        r.stdout.starts_with(&format!(
            "FAILED  alice  {}  at auth: the node refused the login: \"Authentication failed\" (riak's security: the user \"alice\" must exist",
            node.addr()
        )),
        "{}",
        r.stdout
    );
    assert_eq!(node.said("AUTH FAIL"), "AUTH FAIL alice unknown_user");

    let d = doc(&env.run(&["probe", "--json", "--user", "alice", &node.addr()]));
    let x = &d.results[0];
    assert!(!d.ok && !x.logged_in);
    assert_eq!(x.stage, "auth");
    assert_eq!(x.riak_error.as_deref(), Some("Authentication failed"));
    assert_eq!(x.tls_alert, None);
    // The handshake itself was fine, and is reported.
    assert_eq!(x.protocol.as_deref(), Some("TLSv1.2"));
}

#[test]
fn a_name_that_is_not_the_certificates_cn_is_refused_at_auth() {
    // The node knows every name: only the CN rule can refuse.
    let Some((env, node)) = store_and_node(&["myuser"], "myuser,myUser,other", &[]) else {
        return;
    };
    for name in ["myUser", "other"] {
        let r = env.run(&[
            "probe",
            "--user",
            "myuser",
            "--login-as",
            name,
            &node.addr(),
        ]);
        r.code(3);
        assert!(
            r.stdout.contains(&format!(
                "at auth: the node refused the login: \"Authentication failed\" (riak's security: the user \"{name}\" must exist"
            )),
            "{}",
            r.stdout
        );
    }
    // The node's verdicts (waited for: its stdout is read by another thread).
    for name in ["myUser", "other"] {
        assert_eq!(
            node.said(&format!("AUTH FAIL {name} ")),
            format!("AUTH FAIL {name} common_name_mismatch")
        );
    }
    // And its own name logs in.
    env.run(&["probe", "--user", "myuser", &node.addr()]).ok();
    // --login-as names one user's certificate.
    env.run(&["probe", "--login-as", "x", &node.addr()])
        .code(2)
        .one_line_error(&["--login-as needs exactly one --user"]);
}

#[test]
fn a_node_that_trusts_another_ca_sends_unknown_ca_and_a_foreign_node_certificate_is_refused() {
    if !erlang_or_skip() {
        return;
    }
    let env = Env::with_users(&["alice"]);
    let other = Env::with_users(&["alice"]);
    let (crt, key) = node_cert(&env);
    // The node's cacertfile is another store's CA: it refuses our user.
    let node = RiakNode::start(&ca(&other), (&crt, &key), "alice", &[]);
    let r = env.run(&["probe", "--json", &node.addr()]);
    r.code(3);
    let x = &doc(&r).results[0];
    assert_eq!(x.stage, "tls");
    assert_eq!(x.tls_alert.as_deref(), Some("unknown_ca"));
    assert_eq!(
        x.failure.as_deref(),
        Some("the node sent the TLS alert unknown_ca: the node does not trust the CA that signed the user's certificate: deploy the store's CA to the store (`pki deploy marathon`)")
    );
    assert!(node.said("TLS FAIL").contains("unknown_ca"));

    // A node whose certificate another CA signed: our side refuses it.
    let (ocrt, okey) = node_cert_from(
        other.root(),
        "foreign-node",
        &other.ca_files().0,
        &other.ca_files().1,
    );
    let foreign = RiakNode::start(&ca(&env), (&ocrt, &okey), "alice", &[]);
    let r = env.run(&["probe", "--json", &foreign.addr()]);
    r.code(3);
    let x = &doc(&r).results[0];
    assert_eq!(x.stage, "tls");
    assert_eq!(x.tls_alert, None);
    let f = x.failure.as_deref().unwrap();
    assert!(
        f.starts_with("the node's certificate does not verify against the store's CA bundle: "),
        "{f}"
    );
    assert_eq!(x.protocol, None);
}

#[test]
fn a_revoked_user_is_refused_by_a_node_that_checks_the_crl() {
    if !erlang_or_skip() {
        return;
    }
    let env = Env::new();
    let url = "http://127.0.0.1:9/rootCA.crl";
    env.run(&["init", "--crl-url", url]).ok();
    env.run(&["issue", "alice", "bob"]).ok();
    env.run(&["revoke", "bob"]).ok();
    let crl = env.path("rootCA.crl");
    env.run(&["crl", "--out", crl.to_str().unwrap()]).ok();
    let (crt, key) = node_cert(&env);
    let node = RiakNode::start(
        &ca(&env),
        (&crt, &key),
        "alice,bob",
        &["--crl", crl.to_str().unwrap(), url],
    );
    let r = env.run(&[
        "probe",
        "--json",
        "--user",
        "alice",
        "--user",
        "bob",
        &node.addr(),
    ]);
    r.code(3);
    let d = doc(&r);
    assert!(d.results[0].logged_in, "{:?}", d.results[0]);
    let bob = &d.results[1];
    assert_eq!((bob.user.as_str(), bob.logged_in), ("bob", false));
    assert_eq!(bob.tls_alert.as_deref(), Some("certificate_revoked"));
    assert_eq!(
        bob.failure.as_deref(),
        Some("the node sent the TLS alert certificate_revoked: the user's certificate is on the CRL the node checked (revoked: issue the user anew)")
    );
    assert!(node.said("TLS FAIL").contains("certificate_revoked"));
    // By default a revoked user is not probed: only alice, who logs in.
    env.run(&["probe", &node.addr()]).ok();
}

#[test]
fn an_expired_user_is_refused_with_certificate_expired() {
    if !erlang_or_skip() {
        return;
    }
    let mut env = Env::new();
    let past = (time::OffsetDateTime::now_utc() - time::Duration::days(10))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    env.var("PKI_NOW", &past);
    env.run(&["init"]).ok();
    env.run(&["issue", "alice", "--days", "1"]).ok();
    env.unset("PKI_NOW");
    let (crt, key) = node_cert(&env);
    let node = RiakNode::start(&ca(&env), (&crt, &key), "alice", &[]);
    let r = env.run(&["probe", &node.addr()]);
    r.code(3);
    assert!(
        r.stdout.starts_with(&format!(
            "FAILED  alice  {}  at tls: the node sent the TLS alert certificate_expired: the user's certificate has expired",
            node.addr()
        )),
        "{}",
        r.stdout
    );
    assert!(node.said("TLS FAIL").contains("certificate_expired"));
}

#[test]
fn a_node_certificate_within_the_window_is_attention() {
    // The node's certificate is valid for 2 days: due within 30 days.
    let Some((env, node)) = store_and_node(&["alice"], "alice", &[]) else {
        return;
    };
    let r = env.run(&["probe", "--within", "30d", &node.addr()]);
    r.code(3).one_line_attention(&[&format!(
        "the certificate of {} is due within 30d or expired: restart the node so the store mints a new one",
        node.addr()
    )]);
    assert!(
        r.stdout.contains(&format!(
            "due     {}  certificate CN=localhost",
            node.addr()
        )),
        "{}",
        r.stdout
    );
    let d = doc(&env.run(&["probe", "--json", "--within", "30d", &node.addr()]));
    assert!(!d.ok && d.results[0].logged_in);
    assert_eq!(
        d.results[0].node_certificate.as_ref().unwrap().status,
        "due"
    );
}

#[test]
fn an_unreachable_node_fails_within_the_timeout_and_a_closed_port_is_refused() {
    let env = Env::with_users(&["alice"]);
    // Listens (the kernel completes the connect) but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let t = Instant::now();
    let r = env.run(&["probe", "--timeout", "1", "--json", &addr]);
    let took = t.elapsed();
    r.code(3);
    assert!(took < Duration::from_millis(2500), "{took:?}");
    let x = &doc(&r).results[0];
    assert_eq!(x.stage, "starttls");
    assert_eq!(
        x.failure.as_deref(),
        Some("RpbStartTls: no answer within the timeout (is this Riak's protocol buffers port?)")
    );
    assert!(
        x.elapsed_ms >= 900 && x.elapsed_ms < 2000,
        "{}",
        x.elapsed_ms
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let r = env.run(&["probe", &closed]);
    r.code(3);
    assert!(
        r.stdout.starts_with(&format!(
            "FAILED  alice  {closed}  at connect: connection to {closed} refused: nothing listens there"
        )),
        "{}",
        r.stdout
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let env = Env::with_users(&["alice"]);
    env.run(&["probe"]).code(2);
    env.run(&["probe", "h:0"])
        .code(2)
        .one_line_error(&["node \"h:0\" has a port that is not 1-65535"]);
    env.run(&["probe", "--user", "carol", "h"])
        .code(2)
        .one_line_error(&["no certificate for user \"carol\""]);
    env.run(&["probe", "--timeout", "0", "h"]).code(2);
}
