//! The HTTP client of the Vault (OpenBao) store: KV version 2 reads,
//! check-and-set writes, listings and deletions, over ureq
//! ([`crate::net::agent`]), with the token of [`super::auth`].
//!
//! Settings are Vault's own, as the `vault` and `bao` CLIs read them
//! (`VAULT_ADDR`, `VAULT_CACERT`, `VAULT_NAMESPACE`, `VAULT_TOKEN` or
//! `~/.vault-token`), plus pki's for machine logins and the time bound
//! (`PKI_VAULT_*`, see [`super::auth`] and docs/vault.md).
//!
//! Every answer is treated as hostile: bodies are capped at
//! [`MAX_BODY`], every field is checked for its type, and an answer that
//! is not what Vault sends is a one-line error, never a panic. The token
//! goes into one header and nowhere else: not into `Debug`, a message or
//! a `-v` trace (which gives method, path, status and time only).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::error::{one_line, Error, Result};
use crate::x509::secret::Redacted;

/// The largest answer read from Vault: 64 MiB. A KV entry is at most
/// 1 MiB on integrated storage (its default `max_entry_size`) and a
/// listing of 100,000 keys a few MiB; anything larger is not an answer
/// pki asked for, and reading it would only cost memory.
pub const MAX_BODY: u64 = 64 << 20;
/// The bound of one whole request, unless `PKI_VAULT_TIMEOUT` says
/// otherwise: the `vault` CLI's own default client timeout (60 s) halved,
/// since pki makes a few small requests and a hung one should fail while
/// someone still watches.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The bound of the TCP and TLS set-up: a server on the same network
/// answers in milliseconds, and a dropped SYN should not eat the whole bound.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest `PKI_VAULT_TIMEOUT` accepted: an hour.
const MAX_TIMEOUT_SECS: u64 = 3600;
/// Redirects followed per request (a standby node may answer 307 to the
/// active one); more is a loop.
const MAX_REDIRECTS: usize = 3;

/// The longest `X-Vault-Index` kept (OpenBao's is about 90 bytes).
const MAX_INDEX: usize = 4096;

/// What Vault answers when a check-and-set write finds another version.
const CAS_MISMATCH: &str = "check-and-set parameter did not match the current version";

/// A secret's data: the JSON object KV v2 keeps.
type Data = Map<String, Value>;

/// A KV v2 secret as read: its data and the version that holds it.
#[derive(Clone, PartialEq)]
pub struct Versioned {
    pub data: Map<String, Value>,
    pub version: u64,
}

impl std::fmt::Debug for Versioned {
    // The data may be a key: its field names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Versioned")
            .field("fields", &self.data.keys().collect::<Vec<_>>())
            .field("version", &self.version)
            .finish()
    }
}

/// The outcome of a check-and-set write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Put {
    /// Written as this version.
    Written { version: u64 },
    /// The secret's current version is not the one given (for `cas: 0`:
    /// the secret exists); nothing was written.
    CasMismatch,
}

/// The settings of a client, read from the environment by [`Settings::from_lookup`].
#[derive(Debug)]
pub struct Settings {
    /// `VAULT_ADDR` without its trailing slash.
    pub addr: String,
    /// `VAULT_CACERT`: the PEM file of the CA to trust instead of the public roots.
    pub cacert: Option<PathBuf>,
    /// `VAULT_NAMESPACE`.
    pub namespace: Option<String>,
    /// `PKI_VAULT_TIMEOUT`, or [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// How to get a token.
    pub auth: super::auth::Auth,
}

/// A name → value lookup of the environment (`std::env::var_os`, or a map in tests).
pub trait Env {
    fn get(&self, name: &str) -> Option<OsString>;

    /// The value of `name` as text; unset and empty are the same (as for
    /// the `vault` CLI); not UTF-8 is an error naming the variable.
    fn text(&self, name: &str) -> Result<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) => v.into_string().map(Some).map_err(|_| {
                Error::usage(
                    format!("{name} is not valid UTF-8"),
                    format!("set {name} to plain text"),
                )
            }),
        }
    }
}

impl<F: Fn(&str) -> Option<OsString>> Env for F {
    fn get(&self, name: &str) -> Option<OsString> {
        self(name)
    }
}

impl Settings {
    /// The settings as `env` gives them; nothing is read from disk or the network yet.
    pub fn from_lookup(env: &impl Env) -> Result<Settings> {
        let addr = env.text("VAULT_ADDR")?.ok_or_else(|| {
            Error::usage(
                "VAULT_ADDR is not set, so pki does not know which Vault holds the store",
                "set VAULT_ADDR to the server's address, e.g. export VAULT_ADDR=https://vault.example:8200",
            )
        })?;
        let addr = crate::net::base_url(&addr).map_err(|why| {
            Error::usage(
                format!("VAULT_ADDR {addr:?} {why}"),
                "set VAULT_ADDR to the server's address, e.g. https://vault.example:8200",
            )
        })?;
        let cacert = env.text("VAULT_CACERT")?.map(PathBuf::from);
        if cacert.is_none() && env.text("VAULT_CAPATH")?.is_some() {
            return Err(Error::usage(
                "VAULT_CAPATH (a directory of CA certificates) is not supported by pki",
                "put the CA certificate that signed Vault's in one PEM file and set VAULT_CACERT to it",
            ));
        }
        let namespace = env.text("VAULT_NAMESPACE")?;
        if let Some(ns) = &namespace {
            if ns.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(Error::usage(
                    "VAULT_NAMESPACE holds a blank or control character",
                    "set VAULT_NAMESPACE to the namespace's path, e.g. team-a/",
                ));
            }
        }
        let timeout = match env.text("PKI_VAULT_TIMEOUT")? {
            None => DEFAULT_TIMEOUT,
            Some(t) => match t.trim().parse::<u64>() {
                Ok(s) if (1..=MAX_TIMEOUT_SECS).contains(&s) => Duration::from_secs(s),
                _ => {
                    return Err(Error::usage(
                        format!("PKI_VAULT_TIMEOUT {t:?} is not a number of seconds from 1 to {MAX_TIMEOUT_SECS}"),
                        "set it to whole seconds, e.g. PKI_VAULT_TIMEOUT=60, or unset it for 30 s",
                    ))
                }
            },
        };
        let auth = super::auth::Auth::from_lookup(env)?;
        Ok(Settings {
            addr,
            cacert,
            namespace,
            timeout,
            auth,
        })
    }
}

/// An HTTP method pki sends to Vault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// What a request does, in the words of a Vault policy's capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Read,
    Create,
    Update,
    /// A write without check-and-set: create or update.
    Write,
    List,
    Delete,
    /// An auth method's login: no token yet, nothing to grant.
    Login,
}

impl Op {
    /// The capability a policy must grant, as policies spell it.
    fn capability(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Create => "create",
            Op::Update => "update",
            Op::Write => "create and update",
            Op::List => "list",
            Op::Delete => "delete",
            Op::Login => "login",
        }
    }
}

/// An answer: its status and its body (which may carry keys: zeroed when dropped).
pub(super) struct Answer {
    pub status: u16,
    pub body: Zeroizing<String>,
}

impl Answer {
    /// The body as JSON; `None` when it is not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// Vault's `errors` list, on one line with control characters escaped
    /// and at most 300 characters; "" when there is none.
    pub fn errors(&self) -> String {
        let Some(Value::Array(errs)) = self
            .json()
            .and_then(|mut v| v.get_mut("errors").map(Value::take))
        else {
            return String::new();
        };
        let text = errs
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("; ");
        let text = crate::ui::escape(&one_line(&text), false).into_owned();
        match text.char_indices().nth(300) {
            Some((i, _)) => format!("{}...", &text[..i]),
            None => text,
        }
    }
}

/// The connection to one Vault: the agent, the address and the counters,
/// shared by every clone of a [`Client`].
pub(super) struct Conn {
    agent: ureq::Agent,
    pub(super) addr: String,
    cacert: Option<PathBuf>,
    namespace: Option<String>,
    timeout: Duration,
    requests: AtomicU64,
    /// The `X-Vault-Index` of the last answer that carried one (a write's):
    /// sent back with `X-Vault-Inconsistent: forward-active-node`, so a
    /// standby that answers reads from its own copy (OpenBao's default
    /// with Raft storage) forwards a request whose copy lacks this
    /// client's writes to the active node instead (docs/vault.md).
    index: Mutex<Option<String>>,
}

/// A client of one Vault, logged in. Cheap to clone (one connection pool
/// and one request counter), and usable from several threads at once.
#[derive(Clone)]
pub struct Client {
    conn: Arc<Conn>,
    token: Arc<Redacted<Zeroizing<String>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.conn.addr)
            .field("namespace", &self.conn.namespace)
            .field("token", &self.token)
            .finish()
    }
}

impl Client {
    /// A client as the process environment configures it, logged in.
    pub fn from_env() -> Result<Client> {
        Client::from_lookup(&|name: &str| std::env::var_os(name))
    }

    /// A client as `env` configures it, logged in (tests give a map).
    pub fn from_lookup(env: &impl Env) -> Result<Client> {
        Client::new(Settings::from_lookup(env)?)
    }

    /// A client for `s`: trust set up, then a token from its source or a login.
    pub fn new(s: Settings) -> Result<Client> {
        let ca_certs = match &s.cacert {
            Some(p) => Some(read_cacert(p)?),
            None => None,
        };
        if ca_certs.is_some() && !s.addr.starts_with("https://") {
            return Err(Error::usage(
                "VAULT_CACERT is set, but VAULT_ADDR is http://, which uses no certificate",
                "use the https:// address of Vault, or unset VAULT_CACERT",
            ));
        }
        let connect = CONNECT_TIMEOUT.min(s.timeout);
        let conn = Arc::new(Conn {
            agent: crate::net::agent(ca_certs.as_deref(), s.timeout, Some(connect)),
            addr: s.addr,
            cacert: s.cacert,
            namespace: s.namespace,
            timeout: s.timeout,
            requests: AtomicU64::new(0),
            index: Mutex::new(None),
        });
        let (token, ttl) = super::auth::token(&s.auth, &conn)?;
        let token = Arc::new(token);
        if let Some(ttl) = ttl {
            renew_while_used(Arc::downgrade(&conn), token.clone(), ttl);
        }
        Ok(Client { conn, token })
    }

    /// `VAULT_ADDR`, as messages name the server.
    pub fn addr(&self) -> &str {
        &self.conn.addr
    }

    /// HTTP requests made so far by this client and its clones (logins and
    /// followed redirects included).
    pub fn requests(&self) -> u64 {
        self.conn.requests.load(Ordering::Relaxed)
    }

    /// The secret at `path` of the KV v2 engine at `mount`, with its
    /// version; `None` when there is none or its latest version is deleted.
    pub fn kv_get(&self, mount: &str, path: &str) -> Result<Option<Versioned>> {
        Ok(self
            .kv_latest(mount, path)?
            .and_then(|(version, data)| data.map(|data| Versioned { data, version })))
    }

    /// The version a check-and-set write of `path` is compared with: its
    /// latest, deleted or destroyed ones included (what `vault kv delete`
    /// leaves); 0 when it has none.
    pub fn kv_version(&self, mount: &str, path: &str) -> Result<u64> {
        Ok(self
            .kv_latest(mount, path)?
            .map_or(0, |(version, _)| version))
    }

    /// The latest version of `path` and its data (None when that version
    /// is deleted or destroyed); None when there is no secret at all.
    fn kv_latest(&self, mount: &str, path: &str) -> Result<Option<(u64, Option<Data>)>> {
        let api = format!("{}/data/{}", segments(mount)?, segments(path)?);
        let a = self.send(Method::Get, &api, None)?;
        match a.status {
            200 => {}
            // A deleted or destroyed latest version answers 404 with its metadata.
            404 if a.errors().is_empty() => {
                let v = a.json();
                let meta = v
                    .as_ref()
                    .and_then(|v| v.get("data"))
                    .and_then(|d| d.get("metadata"));
                return Ok(version(meta.and_then(|m| m.get("version"))).map(|n| (n, None)));
            }
            _ => return Err(self.refusal(Op::Read, &api, &a)),
        }
        let bad = |what: &str| self.not_kv2(&api, mount, what);
        let v = a.json().ok_or_else(|| bad("is not JSON"))?;
        let data = v.get("data").ok_or_else(|| bad("has no data"))?;
        let meta = data
            .get("metadata")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("has no data.metadata"))?;
        let deleted = match meta.get("deletion_time") {
            None | Some(Value::Null) => false,
            Some(Value::String(t)) => !t.is_empty(),
            Some(_) => return Err(bad("has a data.metadata.deletion_time that is not text")),
        };
        let destroyed = meta.get("destroyed").and_then(Value::as_bool) == Some(true);
        let version = version(meta.get("version")).ok_or_else(|| {
            bad("has a data.metadata.version that is not a positive whole number")
        })?;
        match data.get("data") {
            _ if deleted || destroyed => Ok(Some((version, None))),
            Some(Value::Null) | None => Ok(Some((version, None))),
            Some(Value::Object(m)) => Ok(Some((version, Some(m.clone())))),
            Some(_) => Err(bad("has a data.data that is not an object")),
        }
    }

    /// Write `data` (a JSON object) as the next version of `path`. With
    /// `cas`, only if the current version is that one (`Some(0)`: only if
    /// there is none); otherwise [`Put::CasMismatch`] and nothing written.
    pub fn kv_put(&self, mount: &str, path: &str, data: &Value, cas: Option<u64>) -> Result<Put> {
        let api = format!("{}/data/{}", segments(mount)?, segments(path)?);
        if !data.is_object() {
            return Err(Error::failed(
                format!("pki tried to write something other than a JSON object to {api}"),
                "this is a bug in pki; please report it",
            ));
        }
        let mut body = Map::new();
        let op = match cas {
            Some(n) => {
                body.insert("options".into(), serde_json::json!({ "cas": n }));
                if n == 0 {
                    Op::Create
                } else {
                    Op::Update
                }
            }
            None => Op::Write,
        };
        body.insert("data".into(), data.clone());
        let body = Value::Object(body);
        let a = self.send(Method::Post, &api, Some(&body))?;
        match a.status {
            200 => {}
            400 if a.errors().contains(CAS_MISMATCH) => return Ok(Put::CasMismatch),
            // A KV version 1 engine stores the body as a plain secret and answers 204.
            204 => return Err(self.not_kv2(&api, mount, "has no version (204)")),
            _ => return Err(self.refusal(op, &api, &a)),
        }
        let bad = |what: &str| self.not_kv2(&api, mount, what);
        let v = a.json().ok_or_else(|| bad("is not JSON"))?;
        let version = version(v.get("data").and_then(|d| d.get("version")))
            .ok_or_else(|| bad("has a data.version that is not a positive whole number"))?;
        Ok(Put::Written { version })
    }

    /// The keys under `path` of the KV v2 engine at `mount` (a sub-folder
    /// ends in `/`); empty when there is nothing there.
    pub fn kv_list(&self, mount: &str, path: &str) -> Result<Vec<String>> {
        let api = format!("{}/metadata/{}", segments(mount)?, segments(path)?);
        let a = self.send(Method::Get, &format!("{api}?list=true"), None)?;
        match a.status {
            200 => {}
            404 if a.errors().is_empty() => return Ok(Vec::new()),
            _ => return Err(self.refusal(Op::List, &api, &a)),
        }
        let bad = |what: &str| self.not_kv2(&api, mount, what);
        let v = a.json().ok_or_else(|| bad("is not JSON"))?;
        let keys = v
            .get("data")
            .and_then(|d| d.get("keys"))
            .and_then(Value::as_array)
            .ok_or_else(|| bad("has no data.keys list"))?;
        keys.iter()
            .map(|k| {
                k.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("has a key that is not text"))
            })
            .collect()
    }

    /// Delete `path` of the KV v2 engine at `mount` with all its versions
    /// and its metadata; nothing there is not an error.
    pub fn kv_destroy(&self, mount: &str, path: &str) -> Result<()> {
        let api = format!("{}/metadata/{}", segments(mount)?, segments(path)?);
        let a = self.send(Method::Delete, &api, None)?;
        match a.status {
            200 | 204 => Ok(()),
            404 if a.errors().is_empty() => Ok(()),
            _ => Err(self.refusal(Op::Delete, &api, &a)),
        }
    }

    /// Send one request with the token; see [`send`].
    pub(super) fn send(&self, method: Method, api: &str, body: Option<&Value>) -> Result<Answer> {
        send(
            &self.conn,
            Some(self.token.expose().as_str()),
            method,
            api,
            body,
        )
    }

    /// The error for an answer that is not a success, with what to do.
    fn refusal(&self, op: Op, api: &str, a: &Answer) -> Error {
        if a.status == 403 || a.status == 401 {
            // Vault answers "permission denied" for a token it does not
            // know as well as for one whose policy says no; its own view
            // of the token tells the two apart.
            let valid = a.status == 403
                && !a.errors().contains("invalid token")
                && self
                    .send(Method::Get, "auth/token/lookup-self", None)
                    .is_ok_and(|l| l.status == 200);
            if !valid {
                return bad_token(&self.conn);
            }
        }
        refusal(&self.conn, op, api, a)
    }

    /// The error for an answer that is not what a KV v2 engine sends.
    fn not_kv2(&self, api: &str, mount: &str, what: &str) -> Error {
        Error::failed(
            format!("Vault's answer about {api} {what}, not what a KV version 2 secrets engine sends"),
            format!(
                "check that VAULT_ADDR ({}) is Vault and that {mount} is a KV version 2 mount (`bao secrets enable -path={mount} kv-v2`)",
                self.conn.addr
            ),
        )
    }
}

/// The CA certificates of `VAULT_CACERT`.
fn read_cacert(path: &std::path::Path) -> Result<Vec<Vec<u8>>> {
    let text = crate::store::fs::read_input_text(path).map_err(|e| match e {
        Error::Read { path, source } => Error::usage(
            format!(
                "VAULT_CACERT: cannot read {}: {}",
                path.display(),
                one_line(&source)
            ),
            "set VAULT_CACERT to the PEM file of the CA that signed Vault's certificate",
        ),
        e => e,
    })?;
    crate::net::pem_certs(&text).ok_or_else(|| {
        Error::usage(
            format!("VAULT_CACERT: {} holds no PEM certificate", path.display()),
            "set VAULT_CACERT to the PEM file of the CA that signed Vault's certificate",
        )
    })
}

/// A version as Vault writes it: a whole number from 1.
fn version(v: Option<&Value>) -> Option<u64> {
    v.and_then(Value::as_u64).filter(|&n| n > 0)
}

/// `path` with each segment percent-encoded (all but letters, digits and
/// `-._~`), so a name cannot change the request's path or add a query.
/// An empty, `.` or `..` segment is refused: Vault would read another path.
pub(super) fn segments(path: &str) -> Result<String> {
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(Error::failed(
                format!(
                    "pki tried to use the Vault path {:?}, which has an empty, . or .. segment",
                    crate::ui::escape(path, false)
                ),
                "this is a bug in pki; please report it",
            ));
        }
        if i > 0 {
            out.push('/');
        }
        for b in seg.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Ok(out)
}

/// Renew the token pki logged in for, in the background, while a client
/// of `conn` lives: halfway through each lease (`auth/token/renew-self`),
/// so a run that outlasts the token's TTL (thousands of RSA keys, a
/// passphrase typed late, a wait for the lock) keeps it; a failed renewal
/// is tried again sooner, and the run's own requests then say what is
/// wrong. The token's max TTL still ends it.
fn renew_while_used(
    conn: std::sync::Weak<Conn>,
    token: Arc<super::auth::SecretText>,
    ttl: Duration,
) {
    let step = Duration::from_millis(200);
    std::thread::spawn(move || {
        let mut wait = ttl / 2;
        let mut since = Instant::now();
        loop {
            std::thread::sleep(step);
            let Some(conn) = conn.upgrade() else { return };
            if since.elapsed() < wait {
                continue;
            }
            since = Instant::now();
            let renewed = send(
                &conn,
                Some(token.expose().as_str()),
                Method::Post,
                "auth/token/renew-self",
                Some(&serde_json::json!({})),
            );
            match renewed {
                Ok(a) if a.status == 200 => match a.json().as_ref().and_then(super::auth::lease) {
                    Some(ttl) => {
                        crate::ui::trace(format!(
                            "renewed the Vault token pki logged in with: valid {} s more",
                            ttl.as_secs()
                        ));
                        wait = ttl / 2;
                    }
                    // Renewed to its end (the max TTL): nothing more to do.
                    None => return,
                },
                _ => {
                    crate::ui::trace(
                        "could not renew the Vault token pki logged in with; trying again",
                    );
                    wait = (wait / 4).max(Duration::from_secs(1));
                }
            }
        }
    });
}

/// Send `method` to `/v1/<api>` with `token` (none for a login), the
/// namespace and `X-Vault-Request`, `body` as JSON; follow at most
/// [`MAX_REDIRECTS`] redirects to the same scheme; read at most
/// [`MAX_BODY`]. Every HTTP request counts in [`Client::requests`] and
/// gets a `-v` trace line: method, path, status, milliseconds.
pub(super) fn send(
    conn: &Conn,
    token: Option<&str>,
    method: Method,
    api: &str,
    body: Option<&Value>,
) -> Result<Answer> {
    let text = body.map(|b| Zeroizing::new(b.to_string()));
    let mut url = format!("{}/v1/{api}", conn.addr);
    let shown = api.split('?').next().unwrap_or(api);
    for hop in 0..=MAX_REDIRECTS {
        conn.requests.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        let result = request(
            conn,
            token,
            method,
            &url,
            text.as_deref().map(String::as_str),
        );
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let mut resp = match result {
            Ok(r) => r,
            Err(e) => {
                crate::ui::trace(format!(
                    "vault: {} {shown}: failed after {ms:.1} ms",
                    method.as_str()
                ));
                let e = transport_error(conn, method, &url, e);
                return Err(if hop == 0 {
                    e
                } else {
                    redirected_away(conn, e)
                });
            }
        };
        if let Some(index) = resp
            .headers()
            .get("X-Vault-Index")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= MAX_INDEX)
        {
            *conn.index.lock().unwrap_or_else(|e| e.into_inner()) = Some(index.to_string());
        }
        let status = resp.status().as_u16();
        crate::ui::trace(format!(
            "vault: {} {shown}: {status} in {ms:.1} ms",
            method.as_str()
        ));
        if (300..400).contains(&status) {
            let location = resp
                .headers()
                .get("Location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            url = follow(conn, method, shown, &url, status, &location)?;
            continue;
        }
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => Error::failed(
                    format!(
                        "Vault's answer to {} {shown} is larger than {} MiB, more than pki ever asks for",
                        method.as_str(),
                        MAX_BODY >> 20
                    ),
                    format!("check that VAULT_ADDR ({}) is Vault", conn.addr),
                ),
                e => transport_error(conn, method, &url, e),
            })?;
        let body = String::from_utf8(bytes).map_err(|_| {
            Error::failed(
                format!("Vault's answer to {} {shown} is not text", method.as_str()),
                format!("check that VAULT_ADDR ({}) is Vault", conn.addr),
            )
        })?;
        return Ok(Answer {
            status,
            body: Zeroizing::new(body),
        });
    }
    Err(Error::failed(
        format!(
            "Vault redirected {} {shown} more than {MAX_REDIRECTS} times",
            method.as_str()
        ),
        "point VAULT_ADDR at the active node of the cluster",
    ))
}

/// One HTTP exchange with the headers every request carries.
fn request(
    conn: &Conn,
    token: Option<&str>,
    method: Method,
    url: &str,
    body: Option<&str>,
) -> std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    let req = ureq::http::Request::builder()
        .method(method.as_str())
        .uri(url)
        .header("Accept", "application/json")
        .header("X-Vault-Request", "true");
    let req = match token {
        Some(t) => req.header("X-Vault-Token", t),
        None => req,
    };
    let req = match &conn.namespace {
        Some(ns) => req.header("X-Vault-Namespace", ns.as_str()),
        None => req,
    };
    let index = conn.index.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let req = match index {
        Some(i) => req
            .header("X-Vault-Index", i)
            .header("X-Vault-Inconsistent", "forward-active-node"),
        None => req,
    };
    match body {
        Some(b) => {
            let req = req
                .header("Content-Type", "application/json")
                .body(b)
                .map_err(ureq::Error::Http)?;
            conn.agent.run(req)
        }
        None => {
            let req = req.body(()).map_err(ureq::Error::Http)?;
            conn.agent.run(req)
        }
    }
}

/// The URL a redirect leads to, when pki follows it: a path on the same
/// server, or an absolute URL with the same scheme (never from https to
/// http, which would send the token in clear).
fn follow(
    conn: &Conn,
    method: Method,
    shown: &str,
    url: &str,
    status: u16,
    location: &str,
) -> Result<String> {
    let scheme = if url.starts_with("https://") {
        "https://"
    } else {
        "http://"
    };
    let origin_end = url[scheme.len()..]
        .find('/')
        .map_or(url.len(), |i| i + scheme.len());
    if location.starts_with('/') && !location.starts_with("//") {
        return Ok(format!("{}{location}", &url[..origin_end]));
    }
    if location.starts_with(scheme) && crate::net::base_url(location).is_ok() {
        return Ok(location.to_string());
    }
    let shown_location = if location.is_empty() {
        "no Location".to_string()
    } else {
        one_line(&format!("{:?}", crate::ui::escape(location, false)))
    };
    Err(Error::failed(
        format!(
            "Vault at {} answered {} {shown} with {status}, a redirect to {shown_location}, which pki does not follow (another scheme)",
            conn.addr,
            method.as_str()
        ),
        "point VAULT_ADDR at the active node of the cluster",
    ))
}

fn transport_error(conn: &Conn, method: Method, url: &str, e: ureq::Error) -> Error {
    let trust_ca = match &conn.cacert {
        Some(p) => format!(
            "set VAULT_CACERT (now {}) to the PEM file of the CA that signed it",
            p.display()
        ),
        None => "set VAULT_CACERT to that CA's PEM file".to_string(),
    };
    let peer = crate::net::Peer {
        name: "Vault",
        url_setting: "VAULT_ADDR",
        timeout_setting: "PKI_VAULT_TIMEOUT (seconds)",
        trust_ca: &trust_ca,
        keep_ca: "keep VAULT_CACERT set to the CA",
        timeout: conn.timeout,
        connect_timeout: Some(CONNECT_TIMEOUT.min(conn.timeout)),
    };
    crate::net::transport_error(&peer, method.as_str(), url, e)
}

/// The node a standby redirected to did not answer (TLS aside): the
/// cluster's active node is down or a new one is being elected, which
/// VAULT_ADDR (a node that answered) cannot fix.
fn redirected_away(conn: &Conn, e: Error) -> Error {
    match e {
        Error::Failed { msg, .. } if !msg.starts_with("TLS ") => Error::failed(
            format!("{msg} (the active node, to which {} redirected)", conn.addr),
            "the cluster's active node is down or a new leader is being elected: run the command again in a few seconds (`bao status` names the leader); if it persists, check the api_addr the active node advertises",
        ),
        e => e,
    }
}

/// Neither the token pki sent nor the login worked.
fn bad_token(conn: &Conn) -> Error {
    Error::input(
        format!("Vault at {} does not accept the token pki used (invalid, expired or revoked)", conn.addr),
        "log in again (`bao login`, or a new VAULT_TOKEN), or check the PKI_VAULT_AUTH login (docs/vault.md)",
    )
}

/// The error for a refused request, with what to do: policy (exit 2),
/// sealed, standby, overloaded or failing server (exit 1).
pub(super) fn refusal(conn: &Conn, op: Op, api: &str, a: &Answer) -> Error {
    let errors = a.errors();
    let said = if errors.is_empty() {
        String::new()
    } else {
        format!(": {errors}")
    };
    let addr = &conn.addr;
    let status = a.status;
    match status {
        403 if op == Op::Login => Error::input(
            format!("Vault at {addr} refused the login at {api} (permission denied{})", if errors.is_empty() { String::new() } else { format!("; {errors}") }),
            "check the login settings (PKI_VAULT_AUTH and its variables, docs/vault.md)",
        ),
        401 | 403 => Error::input(
            format!(
                "Vault at {addr} denied this token {} on {api} (permission denied); nothing was changed there",
                op.capability()
            ),
            format!(
                "grant the token a policy with capabilities [{}] on path \"{api}\" (`pki vault policy` prints the one a store needs)",
                op.capability()
            ),
        ),
        400 if op == Op::Login => Error::input(
            format!("Vault at {addr} refused the login at {api}{said}"),
            "check the login settings (PKI_VAULT_AUTH and its variables, docs/vault.md)",
        ),
        404 if errors.contains("no handler for route") => Error::input(
            format!("Vault at {addr} has nothing mounted at {api}{said}"),
            if op == Op::Login {
                "check PKI_VAULT_AUTH_MOUNT, or enable the auth method there"
            } else {
                "check the mount in the store's address (vault://MOUNT/PATH), or enable a KV version 2 engine there (`bao secrets enable -path=MOUNT kv-v2`)"
            },
        ),
        // A new KV v2 mount, or one moved from version 1, for a moment.
        400 if errors.contains("upgrade") => Error::failed(
            format!("Vault at {addr} is upgrading the KV engine of {api}{said}"),
            "wait a moment and run again",
        ),
        503 if errors.contains("Vault is sealed") => Error::failed(
            format!("Vault at {addr} is sealed"),
            "unseal it (`bao operator unseal`, or `vault operator unseal`) and run again",
        ),
        503 if errors.contains("standby") || errors.contains("not active") => Error::failed(
            format!("Vault at {addr} is a standby node that cannot reach the active one{said}"),
            "point VAULT_ADDR at the active node, or wait until the cluster has elected one and run again",
        ),
        429 => Error::failed(
            format!("Vault at {addr} is limiting the rate of requests (429){said}"),
            "wait a little and run again",
        ),
        500..=599 => Error::failed(
            format!("Vault at {addr} failed on {} {api} ({status}{said})", op.capability()),
            "check Vault's health (`bao status`) and its log, then run again",
        ),
        _ => Error::failed(
            format!("Vault at {addr} answered {status} to {} {api}{said}", op.capability()),
            "check that VAULT_ADDR is Vault and the store's address names a KV version 2 mount, then run again",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_segment_by_segment() {
        assert_eq!(
            segments("pki/s/files/ca/01.crt").unwrap(),
            "pki/s/files/ca/01.crt"
        );
        assert_eq!(segments("a b/c?d#e%").unwrap(), "a%20b/c%3Fd%23e%25");
        for bad in ["", "a//b", "a/", "/a", "a/./b", "a/../b"] {
            assert!(segments(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_are_positive_whole_numbers() {
        use serde_json::json;
        assert_eq!(version(Some(&json!(3))), Some(3));
        for bad in [json!(0), json!(-1), json!("3"), json!(1.5), json!(null)] {
            assert_eq!(version(Some(&bad)), None, "{bad}");
        }
    }

    #[test]
    fn vault_errors_are_one_short_line() {
        let a = Answer {
            status: 500,
            body: Zeroizing::new(
                serde_json::json!({"errors": ["a\nb\u{1b}[2J", "x".repeat(500)]}).to_string(),
            ),
        };
        let e = a.errors();
        assert!(!e.contains('\n') && !e.contains('\u{1b}'), "{e}");
        assert!(e.len() < 320 && e.ends_with("..."), "{e}");
        let not_json = Answer {
            status: 502,
            body: Zeroizing::new("<html>".into()),
        };
        assert_eq!(not_json.errors(), "");
    }

    #[test]
    fn settings_name_what_is_missing_or_wrong() {
        use super::super::auth::tests::env;
        let e = Settings::from_lookup(&env(&[])).unwrap_err();
        assert!(e.to_string().contains("set VAULT_ADDR"), "{e}");
        assert_eq!(e.code(), 2);
        let e = Settings::from_lookup(&env(&[("VAULT_ADDR", "vault:8200")])).unwrap_err();
        assert!(e.to_string().contains("VAULT_ADDR"), "{e}");
        let e = Settings::from_lookup(&env(&[
            ("VAULT_ADDR", "http://v:8200"),
            ("PKI_VAULT_TIMEOUT", "0"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("PKI_VAULT_TIMEOUT"), "{e}");
        let s = Settings::from_lookup(&env(&[
            ("VAULT_ADDR", "http://v:8200/"),
            ("PKI_VAULT_TIMEOUT", "7"),
            ("VAULT_TOKEN", "s.x"),
        ]))
        .unwrap();
        assert_eq!(s.addr, "http://v:8200");
        assert_eq!(s.timeout, Duration::from_secs(7));
    }
}
