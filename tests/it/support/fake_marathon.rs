//! A fake Marathon on 127.0.0.1 that behaves like `/v2/apps` of Marathon
//! 1.3: it holds apps by id; GET answers `{"app": ...}`; PUT replaces each
//! field it carries as a whole (`env` and `secrets` included) and keeps the
//! others; POST creates; `GET /v2/info` answers its version (1.3.9 unless
//! [`Behaviour::version`] says otherwise). It refuses what Marathon refuses:
//! a body that fails the AppDefinition schema of its version (1.3.9, or
//! 1.5.15 for a 1.5 version), `version` combined with other fields,
//! `ports` with `portDefinitions`, `uris` with `fetch` (422); and it answers
//! 401/403/404/409 and redirects (3xx with a Location) when told to.
//!
//! It serves one request per connection, on its own thread, until the test
//! drops it (or 60 s pass); every wait in it is bounded.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const PUT_DEPLOYMENT: &str = "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43";
pub const PUT_VERSION: &str = "2026-11-24T19:00:00.000Z";
pub const POST_DEPLOYMENT: &str = "0c7f3f6e-2b7d-4bd5-8c54-0d1b7b3a9e11";

/// Answer with a redirect instead of doing the work.
#[derive(Clone, Debug)]
pub struct Redirect {
    pub status: u16,
    pub location: String,
    pub on_get: bool,
    pub on_put: bool,
}

/// How the fake Marathon behaves.
#[derive(Clone, Default)]
pub struct Behaviour {
    /// The apps Marathon holds, by id (`/ephemeral-store`); others answer 404.
    pub apps: BTreeMap<String, Value>,
    /// Answer 401 unless `Authorization: token=<this>` is sent.
    pub token: Option<String>,
    /// Answer 403 to PUT and POST.
    pub forbid: bool,
    /// A deployment is running: PUT answers 409 unless `?force=true`.
    pub busy: bool,
    /// Answer 422 to PUT and POST, as Marathon does for an invalid app.
    pub reject: bool,
    /// Accept the connection and never answer (timeouts).
    pub stall: bool,
    /// The same, for PUT and POST only (GET is answered).
    pub stall_put: bool,
    pub redirect: Option<Redirect>,
    /// Answer GET with an app of this id, whatever was asked for.
    pub report_id: Option<String>,
    /// Answer GET with the app wrapped twice: `{"app": {"app": {...}}}`.
    pub wrap_twice: bool,
    /// Hold requests of one method until the test releases them.
    pub hold: Option<Hold>,
    /// The version `GET /v2/info` reports, and whose AppDefinition schema
    /// bodies are checked against (1.5.15 for a 1.5 version); `None`: 1.3.9.
    pub version: Option<String>,
}

/// A hook that holds every request of `method` before answering it: the
/// test hears of it on the receiver [`Hold::new`] returns, does what it
/// wants done meanwhile, then releases it with the sender (dropping the
/// sender releases it too). No sleeps: the test and the server take turns.
#[derive(Clone)]
pub struct Hold {
    method: &'static str,
    reached: mpsc::Sender<()>,
    release: Arc<Mutex<mpsc::Receiver<()>>>,
}

impl Hold {
    /// The hook, the receiver that hears each held request arrive, and
    /// the sender that releases one.
    pub fn new(method: &'static str) -> (Hold, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (reached, arrived) = mpsc::channel();
        let (go, release) = mpsc::channel();
        let hold = Hold {
            method,
            reached,
            release: Arc::new(Mutex::new(release)),
        };
        (hold, arrived, go)
    }
}

impl Behaviour {
    /// A Marathon holding `apps` (each by its `id`).
    pub fn with_apps(apps: &[Value]) -> Behaviour {
        Behaviour {
            apps: apps
                .iter()
                .map(|a| (a["id"].as_str().expect("app id").to_string(), a.clone()))
                .collect(),
            ..Default::default()
        }
    }
}

#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

struct State {
    b: Behaviour,
    seen: Vec<Seen>,
    schema: jsonschema::Validator,
}

pub struct Fake {
    pub port: u16,
    tls: bool,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Fake {
    pub fn start(b: Behaviour) -> Fake {
        Fake::spawn(b, None)
    }

    pub fn spawn(b: Behaviour, tls: Option<Arc<rustls::ServerConfig>>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let schema = match b.version.as_deref() {
            Some(v) if v.starts_with("1.5") => "1.5.15",
            _ => "1.3.9",
        };
        let state = Arc::new(Mutex::new(State {
            b,
            seen: Vec::new(),
            schema: crate::support::common::marathon_schema(schema),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp, is_tls) = (state.clone(), stop.clone(), tls.is_some());
        let handle = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !sp.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                        match &tls {
                            Some(cfg) => {
                                let conn = rustls::ServerConnection::new(cfg.clone()).unwrap();
                                serve(rustls::StreamOwned::new(conn, s), &st, &sp);
                            }
                            None => serve(s, &st, &sp),
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => break,
                }
            }
        });
        Fake {
            port,
            tls: is_tls,
            state,
            stop,
            handle: Some(handle),
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn methods(&self) -> Vec<String> {
        self.seen().iter().map(|s| s.method.clone()).collect()
    }

    /// The app Marathon now holds under `id`.
    pub fn app(&self, id: &str) -> Option<Value> {
        self.state.lock().unwrap().b.apps.get(id).cloned()
    }

    /// `GET /v2/apps{id}` as a client sends it: the answer's text.
    pub fn get_text(&self, id: &str) -> String {
        ureq::get(&format!("{}/v2/apps{id}", self.url()))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    }

    /// `PUT /v2/apps{id}` of `body` as a client sends it; true when it is taken (2xx).
    pub fn put(&self, id: &str, body: &Value) -> bool {
        ureq::put(&format!("{}/v2/apps{id}", self.url()))
            .content_type("application/json")
            .send(body.to_string())
            .is_ok()
    }

    /// Assert the app `id` is `before` but for its env, now `env` (a null
    /// dropped by a merge is "not set" either way).
    #[track_caller]
    pub fn assert_only_env_changed(&self, id: &str, before: &Value, env: &Value) {
        let mut want = before.clone();
        want["env"] = env.clone();
        assert_eq!(
            crate::support::common::without_nulls(&self.app(id).unwrap()),
            crate::support::common::without_nulls(&want)
        );
    }

    /// Change how it behaves from now on.
    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.state.lock().unwrap().b)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Read one request, answer it like Marathon, close.
fn serve<S: Read + Write>(stream: S, state: &Mutex<State>, stop: &AtomicBool) {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    if r.read_line(&mut line).is_err() || line.is_empty() {
        return; // e.g. a TLS handshake the client refused
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for _ in 0..100 {
        let mut h = String::new();
        if r.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len.min(1 << 20)];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let seen = Seen {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let hold = state.lock().unwrap().b.hold.clone();
    if let Some(h) = hold.filter(|h| h.method == seen.method) {
        let _ = h.reached.send(());
        let _ = h
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30));
    }
    let (status, reply, location) = {
        let mut st = state.lock().unwrap();
        st.seen.push(seen.clone());
        if st.b.stall || (st.b.stall_put && seen.method != "GET") {
            drop(st);
            let until = Instant::now() + Duration::from_secs(10);
            while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
        match st.b.redirect.clone() {
            Some(r)
                if (r.on_get && seen.method == "GET")
                    || (r.on_put && matches!(seen.method.as_str(), "PUT" | "POST")) =>
            {
                (r.status, json!({"message": "moved"}), Some(r.location))
            }
            _ => {
                let State { b, schema, .. } = &mut *st;
                let (s, v) = marathon(b, schema, &seen);
                (s, v, None)
            }
        }
    };
    let reason = match status {
        200 => "OK",
        201 => "Created",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        _ => "Other",
    };
    let text = reply.to_string();
    let location = location
        .map(|l| format!("Location: {l}\r\n"))
        .unwrap_or_default();
    let mut s = r.into_inner();
    let _ = write!(
        s,
        "HTTP/1.1 {status} {reason}\r\n{location}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = s.flush();
}

/// Marathon 1.3's `/v2/apps` as far as `pki` uses it.
fn marathon(b: &mut Behaviour, schema: &jsonschema::Validator, req: &Seen) -> (u16, Value) {
    if let Some(t) = &b.token {
        if req.header("authorization") != Some(&format!("token={t}")) {
            return (401, json!({"message": "Authentication failed"}));
        }
    }
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    if (req.method.as_str(), path) == ("GET", "/v2/deployments") {
        // Deployments finish at once here.
        return (200, json!([]));
    }
    if (req.method.as_str(), path) == ("GET", "/v2/info") {
        let version = b.version.as_deref().unwrap_or("1.3.9");
        return (200, json!({"name": "marathon", "version": version}));
    }
    let id = path.strip_prefix("/v2/apps").unwrap_or("");
    match (req.method.as_str(), id) {
        ("GET", id) if !id.is_empty() => match b.apps.get(id) {
            Some(app) => {
                let mut app = app.clone();
                if let Some(other) = &b.report_id {
                    app["id"] = json!(other);
                }
                if b.wrap_twice {
                    app = json!({ "app": app });
                }
                (200, json!({ "app": app }))
            }
            None => (
                404,
                json!({"message": format!("App '{id}' does not exist")}),
            ),
        },
        ("PUT", id) if b.apps.contains_key(id) => {
            if b.forbid {
                return (403, json!({"message": "Forbidden"}));
            }
            if b.busy && query != "force=true" {
                return (
                    409,
                    json!({"message": "App is locked by one or more deployments. Override with the option '?force=true'.",
                           "deployments": [{"id": "97c136bf-5a28-4821-9d94-480d9fbb01c8"}]}),
                );
            }
            let update = req.json();
            if b.reject {
                return invalid("/env(OTHER)", "error.expected.jsstring");
            }
            if let Some(refusal) = refuse(schema, &update) {
                return refusal;
            }
            let app = b.apps.get_mut(id).expect("checked");
            // PUT replaces each field it carries as a whole: env included.
            for (k, v) in update.as_object().unwrap() {
                app[k] = v.clone();
            }
            (
                200,
                json!({"version": PUT_VERSION, "deploymentId": PUT_DEPLOYMENT}),
            )
        }
        ("POST", "") => {
            if b.forbid {
                return (403, json!({"message": "Forbidden"}));
            }
            if b.reject {
                return invalid("/env(OTHER)", "error.expected.jsstring");
            }
            let mut app = req.json();
            if let Some(refusal) = refuse(schema, &app) {
                return refusal;
            }
            let id = app["id"].as_str().unwrap_or("").to_string();
            b.apps.insert(id, app.clone());
            app["version"] = json!(PUT_VERSION);
            app["deployments"] = json!([{ "id": POST_DEPLOYMENT }]);
            (201, app)
        }
        (_, id) => (
            404,
            json!({"message": format!("App '{id}' does not exist")}),
        ),
    }
}

/// What Marathon refuses in a body, as its 422 answer.
fn refuse(schema: &jsonschema::Validator, body: &Value) -> Option<(u16, Value)> {
    if let Some(e) = schema.iter_errors(body).next() {
        return Some(invalid(&e.instance_path.to_string(), &e.to_string()));
    }
    let has = |k: &str| body.get(k).is_some();
    let fields = body.as_object().map(|o| o.len()).unwrap_or(0);
    if has("version") && fields > if has("id") { 2 } else { 1 } {
        return Some(invalid(
            "/version",
            "The 'version' field may only be combined with the 'id' field.",
        ));
    }
    if has("ports") && has("portDefinitions") {
        return Some(invalid(
            "/",
            "You cannot specify both ports and port definitions",
        ));
    }
    if has("uris") && has("fetch") {
        return Some(invalid(
            "/",
            "You cannot specify both uris and fetch fields",
        ));
    }
    None
}

fn invalid(path: &str, error: &str) -> (u16, Value) {
    (
        422,
        json!({"message": "Object is not valid",
               "details": [{"path": path, "errors": [error]}]}),
    )
}

/// A private CA and a server certificate for 127.0.0.1, made with rcgen;
/// returns the server's TLS config and the CA certificate file.
pub fn private_tls(dir: &std::path::Path) -> (Arc<rustls::ServerConfig>, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "test Marathon CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, &ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let ca_path = dir.join("marathon-ca.crt");
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    (server_config(&leaf, &key), ca_path)
}

/// A TLS server config presenting `cert` with `key`.
pub fn server_config(cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    Arc::new(cfg)
}
