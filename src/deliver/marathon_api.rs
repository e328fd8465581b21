//! Marathon's REST API, as far as `pki deploy marathon` and `pki deploy asp` need it:
//! `GET /v2/apps/{id}`, `PUT /v2/apps/{id}[?force=true]` and `POST /v2/apps`.
//!
//! Requests are plain values ([`Request`]) built by pure functions, so
//! `--dry-run` prints exactly what the real run would send. [`Client::send`]
//! is the one place that touches the network; it maps every transport
//! failure to a one-line [`Error`] that names the URL and never the body.
//!
//! The PUT body is `{"id": ID, "env": {...}}` and nothing else. Marathon 1.3
//! treats a PUT body as a partial update (fields left out keep their
//! values), but `env` is one field: the map sent replaces the app's map, so
//! the body carries the full merged env. `id` is there because the
//! AppDefinition schema lists it as its only `required` property (Marathon
//! takes the id from the path anyway). Sending back the whole app as read
//! would not validate: `GET` returns read-only fields (`version`,
//! `versionInfo`, `tasksRunning`, ...) that the schema's
//! `additionalProperties: false` refuses, and it would overwrite concurrent
//! edits to fields `pki` does not own.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::deliver::{asp, marathon};
use crate::error::{one_line, Error, Result};
use crate::x509::secret::Redacted;

/// Longest piece of Marathon's own error text we repeat (it stays one line).
const MAX_MESSAGE: usize = 400;
/// What `--dry-run` shows instead of the root CA private key.
pub const REDACTED: &str = "<redacted: root CA private key>";

/// A Marathon base URL: `http(s)://host[:port][/prefix]`, no trailing slash.
pub fn base_url(url: &str) -> Result<String> {
    let bad = |why: &str| {
        Error::usage(
            format!("--url {url:?} {why}"),
            "give Marathon's base URL, e.g. --url http://marathon.mesos:8080",
        )
    };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| bad("is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(bad("has no host"));
    }
    if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("carries a query, fragment or blank"));
    }
    // Credentials in the URL would end up in messages; there are flags for them.
    if rest
        .split('/')
        .next()
        .is_some_and(|host| host.contains('@'))
    {
        return Err(bad(
            "carries credentials; use --credentials-file or --token-file",
        ));
    }
    ureq::http::Uri::try_from(url).map_err(|_| bad("is not a valid URL"))?;
    Ok(url.trim_end_matches('/').to_string())
}

/// The app id as Marathon reports it: with its leading slash.
pub fn absolute_id(app_id: &str) -> String {
    format!("/{}", app_id.trim_start_matches('/'))
}

/// How requests authenticate. The secret never reaches `Debug` or messages.
#[derive(Debug)]
pub enum Auth {
    None,
    /// DC/OS: `Authorization: token=<ACS token>`.
    Token(Redacted<Zeroizing<String>>),
    /// HTTP basic: `Authorization: Basic base64(user:password)`.
    Basic(Redacted<Zeroizing<String>>),
}

impl Auth {
    /// A DC/OS ACS token, as read from a file or `DCOS_ACS_TOKEN`.
    pub fn token(text: &str, source: &str) -> Result<Auth> {
        let t = text.trim();
        if t.is_empty() || t.chars().any(|c| !c.is_ascii_graphic()) {
            return Err(Error::input(
                format!("{source} does not hold a token (one line of printable characters)"),
                "put the output of `dcos config show core.dcos_acs_token` there",
            ));
        }
        Ok(Auth::Token(Redacted::new(Zeroizing::new(t.to_string()))))
    }

    /// `user:password` on the first line of a credentials file.
    pub fn basic(text: &str, source: &str) -> Result<Auth> {
        let line = text.lines().next().unwrap_or("");
        match line.split_once(':') {
            Some((user, _)) if !user.is_empty() && !line.chars().any(char::is_control) => {
                use base64::Engine;
                let b64 = base64::engine::general_purpose::STANDARD.encode(line.as_bytes());
                Ok(Auth::Basic(Redacted::new(Zeroizing::new(b64))))
            }
            _ => Err(Error::input(
                format!("{source} does not hold user:password on its first line"),
                "write one line such as marathon-admin:secret",
            )),
        }
    }

    fn header(&self) -> Option<Zeroizing<String>> {
        match self {
            Auth::None => None,
            Auth::Token(t) => Some(Zeroizing::new(format!("token={}", t.expose().as_str()))),
            Auth::Basic(b) => Some(Zeroizing::new(format!("Basic {}", b.expose().as_str()))),
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Auth::None => "no credentials",
            Auth::Token(_) => "a token",
            Auth::Basic(_) => "user and password",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
        }
    }
}

/// One request, planned before it is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    pub url: String,
    /// The app or env being sent: it carries private keys, so `Debug` hides it.
    pub body: Option<Redacted<Value>>,
}

impl Request {
    pub fn get_app(base: &str, app_id: &str) -> Request {
        Request {
            method: Method::Get,
            url: format!("{base}/v2/apps{}", absolute_id(app_id)),
            body: None,
        }
    }

    /// The body with every private key replaced, for printing: the root CA
    /// key by [`REDACTED`], each user's key in `ASP_EPHEMERAL_STORE` by
    /// [`asp::redacted_key`].
    pub fn redacted_body(&self) -> Option<Value> {
        let mut body = self.body.as_ref()?.expose().clone();
        if let Some(env) = body.get_mut("env").and_then(Value::as_object_mut) {
            if let Some(key) = env.get_mut(marathon::CA_KEY) {
                *key = Value::String(REDACTED.into());
            }
            asp::redact(env);
        }
        Some(body)
    }
}

/// The update: the app's env with the four keys set and every other
/// variable kept, sent back whole (see the module doc for the body's shape).
/// `app` is the `GET /v2/apps/{id}` response. Pure: no network.
pub fn update_request(
    base: &str,
    app_id: &str,
    app: Value,
    env: Map<String, Value>,
    force: bool,
) -> Result<(Request, Vec<String>)> {
    let (req, kept, ()) =
        update_request_with(base, app_id, app, force, &marathon::ENV_KEYS, |e| {
            for (k, v) in env {
                e.insert(k, v);
            }
            Ok(())
        })?;
    Ok((req, kept))
}

/// The update for any set of variables pki owns: `set` changes them in
/// the app's env (and returns what the caller wants to report); every
/// other variable is kept and sent back, and their names are returned.
/// The answer must be the app asked for: a proxy or a wrong `--url` that
/// answers with another app must not have it overwritten. Pure: no network.
pub fn update_request_with<R>(
    base: &str,
    app_id: &str,
    mut app: Value,
    force: bool,
    owned: &[&str],
    set: impl FnOnce(&mut Map<String, Value>) -> Result<R>,
) -> Result<(Request, Vec<String>, R)> {
    let url = format!("{base}/v2/apps{}", absolute_id(app_id));
    let what = format!("the answer to GET {url}");
    // GET answers {"app": {...}}; merge into the app itself.
    if let Some(inner) = app
        .get_mut("app")
        .filter(|a| a.is_object())
        .map(Value::take)
    {
        app = inner;
    }
    if let Some(got) = app.get("id").and_then(Value::as_str) {
        if absolute_id(got) != absolute_id(app_id) {
            return Err(Error::failed(
                format!(
                    "GET {url} answered with the app {}, not {}",
                    crate::error::one_line(&format!("{got:?}")),
                    absolute_id(app_id)
                ),
                "check that --url is Marathon itself (not a proxy that rewrites paths); nothing was sent",
            ));
        }
    }
    let out = marathon::merge_with(&mut app, &what, set)?;
    let merged = app
        .get_mut("env")
        .map(Value::take)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let kept = merged
        .as_object()
        .map(|m| {
            m.keys()
                .filter(|k| !owned.contains(&k.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let mut body = Map::new();
    body.insert("id".into(), Value::String(absolute_id(app_id)));
    body.insert("env".into(), merged);
    let mut url = url;
    if force {
        url.push_str("?force=true");
    }
    Ok((
        Request {
            method: Method::Put,
            url,
            body: Some(Redacted::new(Value::Object(body))),
        },
        kept,
        out,
    ))
}

/// Creation: the full ephemeral-store app definition, POSTed to `/v2/apps`.
pub fn create_request(base: &str, app_id: &str, image: &str, env: Map<String, Value>) -> Request {
    Request {
        method: Method::Post,
        url: format!("{base}/v2/apps"),
        body: Some(Redacted::new(marathon::app_definition(
            &absolute_id(app_id),
            image,
            env,
        ))),
    }
}

/// What Marathon answered.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// `Marathon-Deployment-Id` (Marathon 1.4 and later).
    pub deployment_header: Option<String>,
}

impl Reply {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The deployment id and app version of a successful PUT or POST.
    /// PUT answers `{"version", "deploymentId"}`; POST answers the app with
    /// `"deployments": [{"id"}]`; 1.4+ also sends a header.
    pub fn deployment(&self) -> (Option<String>, Option<String>) {
        let v = self.json().unwrap_or(Value::Null);
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let id = text(v.get("deploymentId"))
            .or_else(|| text(v.pointer("/deployments/0/id")))
            .or_else(|| self.deployment_header.clone());
        (id, text(v.get("version")))
    }

    /// Marathon's own words: `message`, then each `details` entry's path and
    /// errors, on one line and cut short.
    pub fn message(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = self.json() {
            if let Some(m) = v.get("message").and_then(Value::as_str) {
                parts.push(m.to_string());
            }
            for d in v
                .get("details")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let path = d.get("path").and_then(Value::as_str).unwrap_or("");
                let errs: Vec<&str> = d
                    .get("errors")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if !errs.is_empty() {
                    parts.push(format!("{path}: {}", errs.join(", ")));
                }
            }
        }
        let mut s = one_line(&parts.join("; "));
        if s.is_empty() {
            s = "no message".into();
        }
        if s.chars().count() > MAX_MESSAGE {
            s = s.chars().take(MAX_MESSAGE).collect::<String>() + "...";
        }
        s
    }

    /// The error for a status that is not a success, for `req` on `app_id`.
    pub fn error(&self, req: &Request, app_id: &str, auth: &Auth) -> Error {
        let id = absolute_id(app_id);
        let what = format!("{} {}", req.method.as_str(), req.url);
        let msg = self.message();
        match self.status {
            401 => Error::failed(
                format!("Marathon refused {what} with 401 Unauthorized ({msg}); pki sent {}", auth.describe()),
                "give a DC/OS token with --token-file or DCOS_ACS_TOKEN, or user:password with --credentials-file",
            ),
            403 => Error::failed(
                format!("Marathon refused {what} with 403 Forbidden ({msg})"),
                format!("the credentials are valid but may not change {id}: use an account with permission on it"),
            ),
            409 => Error::refused(
                format!("a deployment of {id} is in progress: Marathon answered 409 Conflict ({msg})"),
                "wait for it to finish (GET /v2/deployments), or pass --force to supersede it",
            ),
            422 => Error::input(
                format!("Marathon rejected the app definition for {id} with 422: {msg}"),
                "fix what Marathon names and run again; nothing was changed",
            ),
            s => Error::failed(
                format!("Marathon answered {what} with {s} ({msg})"),
                "check Marathon's health and logs, then run again",
            ),
        }
    }
}

/// Transport settings: timeout for the whole exchange and, for https with
/// a private CA, the certificates to trust instead of the public roots.
pub struct Transport {
    pub timeout: Duration,
    /// DER certificates; `None` trusts the Mozilla root set (webpki-roots).
    pub ca_certs: Option<Vec<Vec<u8>>>,
}

/// The certificates in a PEM file given with `--ca-cert`.
pub fn read_ca_certs(path: &std::path::Path) -> Result<Vec<Vec<u8>>> {
    let text = crate::store::fs::read_input_text(path)?;
    let bad = || {
        Error::input(
            format!("{} holds no PEM certificate", path.display()),
            "give the CA certificate that signed Marathon's server certificate, in PEM",
        )
    };
    let blocks = pem::parse_many(text.as_bytes()).map_err(|_| bad())?;
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| b.into_contents())
        .collect();
    if certs.is_empty() {
        return Err(bad());
    }
    Ok(certs)
}

/// The error for a redirect: pki follows none. A redirected GET sent
/// nothing of value (exit 2: give the right URL); a redirected PUT or POST
/// carried its body to the server that answered (exit 1).
fn redirect_error(req: &Request, status: u16, location: &str) -> Error {
    let msg = format!(
        "{} {} was answered with {status}, a redirect to {location}; pki follows no redirects",
        req.method.as_str(),
        req.url
    );
    let hint = "give Marathon's final URL with --url (the one that answers without a redirect, e.g. https://HOST/service/marathon on DC/OS)";
    if req.method == Method::Get {
        Error::input(msg, hint)
    } else {
        Error::failed(msg, hint)
    }
}

pub struct Client {
    agent: ureq::Agent,
    auth: Auth,
    timeout: Duration,
}

impl Client {
    pub fn new(auth: Auth, t: Transport) -> Client {
        use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
        let roots = match &t.ca_certs {
            Some(ders) => RootCerts::Specific(Arc::new(
                ders.iter()
                    .map(|d| Certificate::from_der(d).to_owned())
                    .collect(),
            )),
            None => RootCerts::WebPki,
        };
        // aws-lc-rs is already the crypto of rcgen here; no second library (ring).
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(roots)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(t.timeout))
            // Statuses are answers to interpret, not transport errors.
            .http_status_as_error(false)
            // Follow no redirect: a 3xx could take the request, and the keys
            // in its body, to another host (a login page, a proxy), and a
            // followed PUT would report that host's 200 as Marathon's.
            .max_redirects(0)
            .user_agent(concat!("pki/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            agent,
            auth,
            timeout: t.timeout,
        }
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Send `req`; any HTTP status is a [`Reply`], a transport failure an error.
    pub fn send(&self, req: &Request) -> Result<Reply> {
        let auth = self.auth.header();
        let result = match (req.method, req.body.as_ref().map(Redacted::expose)) {
            (Method::Get, _) => {
                let mut r = self
                    .agent
                    .get(&req.url)
                    .header("Accept", "application/json");
                if let Some(h) = &auth {
                    r = r.header("Authorization", h.as_str());
                }
                r.call()
            }
            (m, body) => {
                let text =
                    Zeroizing::new(body.map(Value::to_string).unwrap_or_else(|| "{}".into()));
                let mut r = if m == Method::Put {
                    self.agent.put(&req.url)
                } else {
                    self.agent.post(&req.url)
                }
                .header("Accept", "application/json")
                .header("Content-Type", "application/json");
                if let Some(h) = &auth {
                    r = r.header("Authorization", h.as_str());
                }
                r.send(text.as_str())
            }
        };
        let mut resp = result.map_err(|e| self.transport_error(req, e))?;
        let status = resp.status().as_u16();
        let deployment_header = resp
            .headers()
            .get("Marathon-Deployment-Id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if (300..400).contains(&status) {
            let location = resp
                .headers()
                .get("Location")
                .and_then(|v| v.to_str().ok())
                .map(|l| crate::error::one_line(&format!("{l:?}")))
                .unwrap_or_else(|| "no Location".into());
            return Err(redirect_error(req, status, &location));
        }
        let body = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| self.transport_error(req, e))?;
        Ok(Reply {
            status,
            body,
            deployment_header,
        })
    }

    /// One line: what failed, for which URL, and what to do. Never the body.
    fn transport_error(&self, req: &Request, e: ureq::Error) -> Error {
        let url = &req.url;
        let io_kind = match &e {
            ureq::Error::Io(io) => Some(io.kind()),
            _ => None,
        };
        // rustls reports a failed handshake through the stream, as an io::Error.
        let tls = match &e {
            ureq::Error::Rustls(r) => Some(tls_words(r)),
            ureq::Error::Io(io) => io
                .get_ref()
                .and_then(|i| i.downcast_ref::<rustls::Error>())
                .map(tls_words),
            _ => None,
        };
        if let Some((why, hint)) = tls {
            return Error::failed(format!("TLS with {url} failed: {why}"), hint);
        }
        use std::io::ErrorKind as K;
        match (&e, io_kind) {
            (ureq::Error::Timeout(_), _) | (_, Some(K::TimedOut | K::WouldBlock)) => Error::failed(
                format!("no answer from {url} within {} s", self.timeout.as_secs()),
                "check --url and the network path to Marathon, or allow more time with --timeout",
            ),
            (_, Some(K::ConnectionRefused)) => Error::failed(
                format!("cannot connect to {url}: connection refused"),
                "check --url (host and port) and that Marathon is running",
            ),
            (ureq::Error::HostNotFound, _) => Error::failed(
                format!("cannot resolve the host of {url}"),
                "check the host name in --url and DNS",
            ),
            _ => Error::failed(
                format!("{} {url} failed: {}", req.method.as_str(), one_line(&e)),
                "check --url and the network path to Marathon, then run again",
            ),
        }
    }
}

/// A failed TLS handshake in words, with what to do: rustls prints some
/// certificate errors as Rust's Debug (`Other(OtherError(CaUsedAsEndEntity))`),
/// which no user should have to read.
fn tls_words(e: &rustls::Error) -> (String, &'static str) {
    use rustls::CertificateError as C;
    const PRIVATE_CA: &str =
        "if Marathon's certificate comes from a private CA, pass that CA with --ca-cert";
    let rustls::Error::InvalidCertificate(c) = e else {
        return (one_line(e), PRIVATE_CA);
    };
    let other = match c {
        C::Other(o) => o.to_string(),
        _ => String::new(),
    };
    if other.contains("CaUsedAsEndEntity") {
        return (
            "Marathon's certificate is a CA certificate used as a server certificate, which TLS clients refuse".into(),
            "give Marathon a server certificate issued by that CA, and keep passing the CA with --ca-cert",
        );
    }
    let why = match c {
        C::UnknownIssuer => "Marathon's certificate is signed by a CA this machine does not trust",
        C::Expired | C::ExpiredContext { .. } => "Marathon's certificate has expired",
        C::NotValidYet | C::NotValidYetContext { .. } => "Marathon's certificate is not valid yet",
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            return (
                "Marathon's certificate does not name the host in --url".into(),
                "use the host name its certificate names in --url",
            )
        }
        C::BadSignature => "Marathon's certificate has a bad signature",
        C::Revoked => "Marathon's certificate is revoked",
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "Marathon's certificate is not for TLS servers (extendedKeyUsage)"
        }
        _ => {
            return (
                format!("Marathon's certificate was refused ({})", one_line(c)),
                PRIVATE_CA,
            )
        }
    };
    (why.into(), PRIVATE_CA)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Map<String, Value> {
        marathon::env_block("u", "CERT", "KEY")
    }

    #[test]
    fn base_urls_are_checked_and_trimmed() {
        assert_eq!(base_url("http://m:8080/").unwrap(), "http://m:8080");
        assert_eq!(
            base_url("https://dcos.example/service/marathon").unwrap(),
            "https://dcos.example/service/marathon"
        );
        for bad in [
            "",
            "m:8080",
            "ftp://m",
            "http://",
            "http:///x",
            "http://m?x=1",
            "http://a:b@m",
            "http://m x",
        ] {
            let e = base_url(bad).unwrap_err();
            assert_eq!(e.code(), 2, "{bad}");
        }
    }

    #[test]
    fn update_sends_id_and_the_whole_merged_env() {
        let app = serde_json::json!({"app": {"id": "/ephemeral-store", "instances": 5,
            "env": {"OTHER": "1", "ORCHESTRATION": "x", "SECRET_REF": {"secret": "s"}}}});
        let (req, kept) = update_request("http://m", "ephemeral-store", app, env(), true).unwrap();
        assert_eq!(req.method, Method::Put);
        assert_eq!(req.url, "http://m/v2/apps/ephemeral-store?force=true");
        let body = req.body.as_ref().unwrap().expose();
        assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
        assert_eq!(body["id"], "/ephemeral-store");
        assert_eq!(body["env"]["OTHER"], "1");
        assert_eq!(body["env"]["SECRET_REF"]["secret"], "s");
        assert_eq!(body["env"]["ORCHESTRATION"], "marathon");
        assert_eq!(body["env"][marathon::CA_KEY], "KEY");
        assert_eq!(kept, ["OTHER", "SECRET_REF"]);
        let red = req.redacted_body().unwrap();
        assert_eq!(red["env"][marathon::CA_KEY], REDACTED);
        assert_eq!(red["env"][marathon::CA_CERT], "CERT");
    }

    #[test]
    fn update_without_force_has_no_query_and_refuses_non_apps() {
        let app = serde_json::json!({"app": {"id": "/a"}});
        let (req, kept) = update_request("http://m", "/a", app, env(), false).unwrap();
        assert_eq!(req.url, "http://m/v2/apps/a");
        assert!(kept.is_empty());
        let e = update_request("http://m", "/a", serde_json::json!([1]), env(), false).unwrap_err();
        assert_eq!(e.code(), 2);
    }

    #[test]
    fn replies_give_marathon_messages_and_deployments() {
        let r = Reply {
            status: 422,
            body: r#"{"message":"Object is not valid","details":[{"path":"/env","errors":["bad\nvalue"]}]}"#.into(),
            deployment_header: None,
        };
        assert_eq!(r.message(), "Object is not valid; /env: bad value");
        let req = Request::get_app("http://m", "/a");
        assert_eq!(r.error(&req, "/a", &Auth::None).code(), 2);
        for (s, code) in [(401, 1), (403, 1), (409, 4), (500, 1)] {
            let r = Reply {
                status: s,
                body: "not json".into(),
                deployment_header: None,
            };
            let e = r.error(&req, "/a", &Auth::None);
            assert_eq!(e.code(), code, "{s}");
            assert!(!e.to_string().contains('\n'));
        }
        let put = Reply {
            status: 200,
            body: r#"{"version":"v1","deploymentId":"d1"}"#.into(),
            deployment_header: None,
        };
        assert_eq!(put.deployment(), (Some("d1".into()), Some("v1".into())));
        let post = Reply {
            status: 201,
            body: r#"{"id":"/a","version":"v2","deployments":[{"id":"d2"}]}"#.into(),
            deployment_header: None,
        };
        assert_eq!(post.deployment(), (Some("d2".into()), Some("v2".into())));
    }

    #[test]
    fn credentials_are_parsed_and_never_shown() {
        let a = Auth::basic("admin:pa:ss\n", "f").unwrap();
        assert_eq!(a.header().unwrap().as_str(), "Basic YWRtaW46cGE6c3M=");
        assert!(!format!("{a:?}").contains("YWRt"));
        assert!(Auth::basic("nocolon", "f").is_err());
        assert!(Auth::basic(":pw", "f").is_err());
        let t = Auth::token(" abc.def \n", "f").unwrap();
        assert_eq!(t.header().unwrap().as_str(), "token=abc.def");
        assert!(Auth::token("", "f").is_err());
        assert!(Auth::token("a b", "f").is_err());
    }

    #[test]
    fn the_answer_must_be_the_app_asked_for_and_owned_keys_are_not_kept() {
        let app = serde_json::json!({"app": {"id": "/other", "env": {}}});
        let e = update_request("http://m", "/a", app, env(), false).unwrap_err();
        assert_eq!(e.code(), 1);
        assert!(
            e.to_string()
                .contains("answered with the app \"/other\", not /a"),
            "{e}"
        );
        let app =
            serde_json::json!({"app": {"id": "a", "env": {"X": "1", "ASP_EPHEMERAL_STORE": "{}"}}});
        let (req, kept, n) = update_request_with(
            "http://m",
            "/a",
            app,
            false,
            &["ASP_EPHEMERAL_STORE"],
            |e| {
                e.insert("ASP_EPHEMERAL_STORE".into(), "v".into());
                Ok(7)
            },
        )
        .unwrap();
        assert_eq!((kept, n), (vec!["X".to_string()], 7));
        assert_eq!(
            req.body.unwrap().expose()["env"]["ASP_EPHEMERAL_STORE"],
            "v"
        );
    }

    #[test]
    fn redirects_name_the_location_and_say_what_to_do() {
        let get = Request::get_app("http://m", "/a");
        let e = redirect_error(&get, 302, "\"https://sso/login\"");
        assert_eq!(e.code(), 2);
        let s = e.to_string();
        assert!(
            s.contains("302") && s.contains("https://sso/login") && s.contains("final URL"),
            "{s}"
        );
        let put = Request {
            method: Method::Put,
            url: "http://m/v2/apps/a".into(),
            body: None,
        };
        assert_eq!(redirect_error(&put, 307, "x").code(), 1);
    }

    #[test]
    fn debug_output_never_shows_a_key_or_a_token() {
        let mut env = Map::new();
        env.insert(
            marathon::CA_KEY.into(),
            Value::String("-----BEGIN RSA PRIVATE KEY-----SECRETKEY".into()),
        );
        let req = create_request("http://m:8080", "/ephemeral-store", "img", env);
        let shown = format!("{req:?}");
        assert!(
            !shown.contains("SECRETKEY") && shown.contains("<redacted>"),
            "{shown}"
        );
        let auth = Auth::token("tok-SECRET", "test").unwrap();
        let shown = format!("{auth:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
