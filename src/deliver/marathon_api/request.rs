//! The requests of a deploy as plain values, built by pure functions (no
//! network), so `--dry-run` prints exactly what the real run would send:
//! `GET /v2/apps/{id}`, `PUT /v2/apps/{id}[?force=true]` and `POST /v2/apps`.
//! A body carries private keys, so it is [`Redacted`] from `Debug`, and
//! [`Request::redacted_body`] replaces each key (the root CA's by
//! [`REDACTED`], each user's in `ASP_EPHEMERAL_STORE` by
//! [`asp::redacted_key`]) for printing. [`Reply`] reads Marathon's answer:
//! its deployment, its message, and the error for each status.
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

use serde_json::{Map, Value};

use super::config::Auth;
use crate::deliver::{asp, marathon};
use crate::error::{one_line, Error, Result};
use crate::x509::secret::Redacted;

/// Longest piece of Marathon's own error text we repeat (it stays one line).
const MAX_MESSAGE: usize = 400;
/// What `--dry-run` shows instead of the root CA private key.
pub const REDACTED: &str = "<redacted: root CA private key>";

/// The app id as Marathon reports it: with its leading slash.
pub fn absolute_id(app_id: &str) -> String {
    format!("/{}", app_id.trim_start_matches('/'))
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

    /// `GET /v2/info`: Marathon's version, which `--by-reference` needs.
    pub fn get_info(base: &str) -> Request {
        Request {
            method: Method::Get,
            url: format!("{base}/v2/info"),
            body: None,
        }
    }

    /// The body with every private key replaced, for printing: the root CA
    /// key by [`REDACTED`], each user's key in `ASP_EPHEMERAL_STORE` by
    /// [`asp::redacted_key`]. A secret reference (`{"secret": NAME}`, no
    /// key) is shown as it is.
    pub fn redacted_body(&self) -> Option<Value> {
        let mut body = self.body.as_ref()?.expose().clone();
        if let Some(env) = body.get_mut("env").and_then(Value::as_object_mut) {
            if let Some(key @ Value::String(_)) = env.get_mut(marathon::CA_KEY) {
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
    let (req, kept, ()) = update_request_with(
        base,
        app_id,
        app,
        force,
        &marathon::ENV_KEYS,
        &Map::new(),
        |e| {
            for (k, v) in env {
                e.insert(k, v);
            }
            Ok(())
        },
    )?;
    Ok((req, kept))
}

/// The update for any set of variables pki owns: `set` changes them in
/// the app's env (and returns what the caller wants to report); every
/// other variable is kept and sent back, and their names are returned.
/// `secrets` (`--by-reference`: the secrets the env refers to), when not
/// empty, are set in the app's `secrets`, whose other entries are kept, and
/// that field is sent too (it is replaced whole, like `env`).
/// The answer must be the app asked for: a proxy or a wrong `--url` that
/// answers with another app must not have it overwritten. Pure: no network.
pub fn update_request_with<R>(
    base: &str,
    app_id: &str,
    app: Value,
    force: bool,
    owned: &[&str],
    secrets: &Map<String, Value>,
    set: impl FnOnce(&mut Map<String, Value>) -> Result<R>,
) -> Result<(Request, Vec<String>, R)> {
    let url = format!("{base}/v2/apps{}", absolute_id(app_id));
    let what = format!("the answer to GET {url}");
    // GET answers {"app": {...}}; merge into the app itself, unwrapped once.
    let mut app = marathon::unwrap_app(app);
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
    let secrets = if secrets.is_empty() {
        None
    } else {
        marathon::set_secrets(&mut app, secrets, &what)?;
        app.get_mut("secrets").map(Value::take)
    };
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
    if let Some(s) = secrets {
        body.insert("secrets".into(), s);
    }
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

/// Creation: the full ephemeral-store app definition, POSTed to
/// `/v2/apps`, with `secrets` when there are any (`--by-reference`).
pub fn create_request(
    base: &str,
    app_id: &str,
    image: &str,
    env: Map<String, Value>,
    secrets: Map<String, Value>,
) -> Request {
    let mut app = marathon::app_definition(&absolute_id(app_id), image, env);
    if !secrets.is_empty() {
        app["secrets"] = Value::Object(secrets);
    }
    Request {
        method: Method::Post,
        url: format!("{base}/v2/apps"),
        body: Some(Redacted::new(app)),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Map<String, Value> {
        marathon::env_block("u", "CERT", "KEY")
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
            &Map::new(),
            |e| {
                e.insert("ASP_EPHEMERAL_STORE".into(), "v".into());
                Ok(7)
            },
        )
        .unwrap();
        assert_eq!((kept, n), (vec!["X".to_string()], 7));
        let body = req.body.unwrap().expose().clone();
        assert_eq!(body["env"]["ASP_EPHEMERAL_STORE"], "v");
        assert!(body.get("secrets").is_none(), "{body}");
    }

    #[test]
    fn references_send_the_secrets_block_whole_and_are_shown_unredacted() {
        let app = serde_json::json!({"app": {"id": "/a", "env": {"X": "1"},
            "secrets": {"db": {"source": "/db@pw"}}, "cmd": "x"}});
        let mut secrets = Map::new();
        secrets.insert(
            "pki-root-ca-key".into(),
            serde_json::json!({"source": "/p@root_ca_key"}),
        );
        let (req, _, ()) = update_request_with(
            "http://m",
            "/a",
            app,
            false,
            &marathon::ENV_KEYS,
            &secrets,
            |e| {
                e.insert(
                    marathon::CA_KEY.into(),
                    serde_json::json!({"secret": "pki-root-ca-key"}),
                );
                Ok(())
            },
        )
        .unwrap();
        let body = req.redacted_body().unwrap();
        assert_eq!(
            body,
            serde_json::json!({"id": "/a",
                "env": {"X": "1", marathon::CA_KEY: {"secret": "pki-root-ca-key"}},
                "secrets": {"db": {"source": "/db@pw"}, "pki-root-ca-key": {"source": "/p@root_ca_key"}}})
        );
        let post = create_request("http://m", "/a", "img", Map::new(), secrets);
        assert_eq!(
            post.body.unwrap().expose()["secrets"]["pki-root-ca-key"]["source"],
            "/p@root_ca_key"
        );
    }

    #[test]
    fn debug_output_never_shows_a_key_or_a_token() {
        let mut env = Map::new();
        env.insert(
            marathon::CA_KEY.into(),
            Value::String("-----BEGIN RSA PRIVATE KEY-----SECRETKEY".into()),
        );
        let req = create_request("http://m:8080", "/ephemeral-store", "img", env, Map::new());
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
