//! How pki gets a Vault token: the one a person or a pipeline already
//! has, or a machine login. Chosen with `PKI_VAULT_AUTH` and never guessed
//! from which variables happen to be set:
//!
//! | `PKI_VAULT_AUTH` | token from | variables |
//! |---|---|---|
//! | `token` (default) | `VAULT_TOKEN`, else the file `PKI_VAULT_TOKEN_FILE`, else `~/.vault-token` (what `bao login` / `vault login` write) | |
//! | `approle` | `POST auth/<mount>/login` with a role id and a secret id | `PKI_VAULT_ROLE_ID`, `PKI_VAULT_SECRET_ID_FILE` (a file holding the secret id; unset for a role without one), `PKI_VAULT_AUTH_MOUNT` (default `approle`) |
//! | `jwt` | `POST auth/<mount>/login` with a JWT from a file: a Kubernetes service-account token, a CI's OIDC token | `PKI_VAULT_JWT_FILE`, `PKI_VAULT_JWT_ROLE` (unset: the mount's default role), `PKI_VAULT_AUTH_MOUNT` (default `jwt`) |
//!
//! Tokens, secret ids and JWTs live in zeroizing buffers behind
//! [`Redacted`], and no message names them: an error from Vault that
//! would repeat one has it replaced by `<redacted>`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::client::{refusal, segments, send, Conn, Env, Method, Op};
use crate::error::{one_line, Error, Result};
use crate::x509::secret::Redacted;

/// A secret string: zeroed when dropped, never in `Debug`.
pub type SecretText = Redacted<Zeroizing<String>>;

/// How to get the token, as the environment says.
#[derive(Debug)]
pub enum Auth {
    /// A token already at hand.
    Token(TokenSource),
    /// AppRole login.
    AppRole {
        mount: String,
        role_id: SecretText,
        secret_id_file: Option<PathBuf>,
    },
    /// JWT login.
    Jwt {
        mount: String,
        role: Option<String>,
        jwt_file: PathBuf,
    },
}

/// Where the token of `PKI_VAULT_AUTH=token` comes from.
#[derive(Debug)]
pub enum TokenSource {
    /// `VAULT_TOKEN`.
    Env(SecretText),
    /// `PKI_VAULT_TOKEN_FILE`.
    File(PathBuf),
    /// `~/.vault-token`, the `vault`/`bao` CLIs' token helper file (`None`: no HOME).
    Helper(Option<PathBuf>),
}

impl Auth {
    /// The method `PKI_VAULT_AUTH` names, with its variables checked.
    pub fn from_lookup(env: &impl Env) -> Result<Auth> {
        let method = env.text("PKI_VAULT_AUTH")?;
        let mount = |default: &str| -> Result<String> {
            let m = env
                .text("PKI_VAULT_AUTH_MOUNT")?
                .unwrap_or_else(|| default.to_string());
            let m = m.trim_matches('/').to_string();
            segments(&m).map_err(|_| {
                Error::usage(
                    format!("PKI_VAULT_AUTH_MOUNT {m:?} is not a mount path"),
                    format!("set it to the path the auth method is enabled at, e.g. {default}"),
                )
            })?;
            Ok(m)
        };
        let required = |name: &str, what: &str| -> Result<String> {
            env.text(name)?.ok_or_else(|| {
                Error::usage(
                    format!(
                        "PKI_VAULT_AUTH={} needs {name}",
                        method.as_deref().unwrap_or("")
                    ),
                    format!("set {name} to {what}"),
                )
            })
        };
        match method.as_deref().map(str::trim) {
            None | Some("token") => {
                let env_token = env.text("VAULT_TOKEN")?;
                let file = env.text("PKI_VAULT_TOKEN_FILE")?.map(PathBuf::from);
                Ok(Auth::Token(match (env_token, file) {
                    (Some(_), Some(_)) => {
                        return Err(Error::usage(
                            "both VAULT_TOKEN and PKI_VAULT_TOKEN_FILE are set",
                            "unset the one that should not be used",
                        ))
                    }
                    (Some(t), None) => TokenSource::Env(token_text(t, "VAULT_TOKEN")?),
                    (None, Some(f)) => TokenSource::File(f),
                    (None, None) => TokenSource::Helper(
                        env.text("HOME")?
                            .map(|h| Path::new(&h).join(".vault-token")),
                    ),
                }))
            }
            Some("approle") => Ok(Auth::AppRole {
                mount: mount("approle")?,
                role_id: Redacted::new(Zeroizing::new(
                    required("PKI_VAULT_ROLE_ID", "the AppRole's role id")?
                        .trim()
                        .to_string(),
                )),
                secret_id_file: env.text("PKI_VAULT_SECRET_ID_FILE")?.map(PathBuf::from),
            }),
            Some("jwt") => Ok(Auth::Jwt {
                mount: mount("jwt")?,
                role: env.text("PKI_VAULT_JWT_ROLE")?,
                jwt_file: required(
                    "PKI_VAULT_JWT_FILE",
                    "the file holding the JWT (a Kubernetes service-account token, a CI's OIDC token)",
                )?
                .into(),
            }),
            Some(other) => Err(Error::usage(
                format!(
                    "PKI_VAULT_AUTH {:?} is not a login method pki knows",
                    crate::ui::escape(other, false)
                ),
                "set PKI_VAULT_AUTH to token (the default), approle or jwt",
            )),
        }
    }
}

/// `text` as a token: one word of printable characters.
fn token_text(text: String, source: &str) -> Result<SecretText> {
    let text = Zeroizing::new(text);
    let t = text.trim();
    if t.is_empty() || t.chars().any(|c| !c.is_ascii_graphic()) {
        return Err(Error::input(
            format!("{source} does not hold a Vault token (one word of printable characters)"),
            "log in again (`bao login` writes ~/.vault-token) or set VAULT_TOKEN to the token",
        ));
    }
    Ok(Redacted::new(Zeroizing::new(t.to_string())))
}

/// The text of a file holding a secret; a file that cannot be read is
/// named with the variable that names it.
fn secret_file(var: &str, path: &Path, what: &str) -> Result<Zeroizing<String>> {
    let bytes = Zeroizing::new(crate::store::fs::read_input(path).map_err(|e| match e {
        Error::Read { path, source } => Error::usage(
            format!(
                "{var}: cannot read {}: {}",
                path.display(),
                one_line(&source)
            ),
            format!("set {var} to the file holding {what}, readable by this user"),
        ),
        e => e,
    })?);
    let text = std::str::from_utf8(&bytes)
        .ok()
        .map(str::trim)
        .unwrap_or("");
    if text.is_empty() || text.chars().any(|c| !c.is_ascii_graphic()) {
        return Err(Error::input(
            format!(
                "{var}: {} does not hold {what} (one word of printable characters)",
                path.display()
            ),
            format!("write {what} alone into that file"),
        ));
    }
    Ok(Zeroizing::new(text.to_string()))
}

/// The token `auth` leads to: read from where it is, or the answer of a
/// login sent over `conn`.
/// The token, and for a token pki logged in for itself that Vault lets
/// it renew, how long it is valid ([`Client`](super::client::Client)
/// renews it while the run lasts). A token a person or pipeline gave is
/// theirs to renew.
pub(super) fn token(auth: &Auth, conn: &Conn) -> Result<(SecretText, Option<Duration>)> {
    match auth {
        Auth::Token(TokenSource::Env(t)) => Ok((t.clone(), None)),
        Auth::Token(TokenSource::File(f)) => {
            let t = secret_file("PKI_VAULT_TOKEN_FILE", f, "a Vault token")?;
            Ok((Redacted::new(t), None))
        }
        Auth::Token(TokenSource::Helper(path)) => {
            let missing = || {
                Error::input(
                    format!(
                        "no Vault token: VAULT_TOKEN is not set and there is no {}",
                        path.as_ref()
                            .map_or("~/.vault-token (HOME is not set)".to_string(), |p| p.display().to_string())
                    ),
                    "set VAULT_TOKEN, log in with `bao login` (or `vault login`), or choose a machine login with PKI_VAULT_AUTH=approle or jwt (docs/vault.md)",
                )
            };
            let path = path.as_ref().ok_or_else(missing)?;
            match std::fs::symlink_metadata(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
                _ => {}
            }
            let t = secret_file("the token helper file", path, "a Vault token")?;
            Ok((Redacted::new(t), None))
        }
        Auth::AppRole {
            mount,
            role_id,
            secret_id_file,
        } => {
            let secret_id = match secret_id_file {
                Some(f) => Some(secret_file(
                    "PKI_VAULT_SECRET_ID_FILE",
                    f,
                    "an AppRole secret id",
                )?),
                None => None,
            };
            let mut body = json!({ "role_id": role_id.expose().as_str() });
            if let Some(s) = &secret_id {
                body["secret_id"] = Value::String(s.to_string());
            }
            let mut secrets = vec![role_id.expose().as_str()];
            secrets.extend(secret_id.as_deref().map(String::as_str));
            login(conn, mount, body, &secrets)
                .map_err(|e| hint(e, "check PKI_VAULT_ROLE_ID and the secret id in PKI_VAULT_SECRET_ID_FILE (a secret id may be used up or expired: ask for a new one)"))
        }
        Auth::Jwt {
            mount,
            role,
            jwt_file,
        } => {
            let jwt = secret_file("PKI_VAULT_JWT_FILE", jwt_file, "a JWT")?;
            let mut body = json!({ "jwt": jwt.as_str() });
            if let Some(r) = role {
                body["role"] = Value::String(r.clone());
            }
            login(conn, mount, body, &[jwt.as_str()]).map_err(|e| {
                hint(e, "check PKI_VAULT_JWT_ROLE and that the token in PKI_VAULT_JWT_FILE is current and meets the role's bound claims and audience")
            })
        }
    }
}

/// `POST auth/<mount>/login` with `body`; the client token of the answer,
/// and how long it is valid when it can be renewed ([`lease`]). `secrets`
/// never appear in an error.
fn login(
    conn: &Conn,
    mount: &str,
    mut body: Value,
    secrets: &[&str],
) -> Result<(SecretText, Option<Duration>)> {
    let api = format!("auth/{}/login", segments(mount)?);
    let a = send(conn, None, Method::Post, &api, Some(&body));
    wipe(&mut body);
    let a = a?;
    if a.status != 200 {
        return Err(redact(refusal(conn, Op::Login, &api, &a), secrets));
    }
    let mut answer = a.json();
    let ttl = answer.as_ref().and_then(lease);
    let token = answer
        .as_mut()
        .and_then(|v| v.pointer_mut("/auth/client_token").map(Value::take))
        .and_then(|t| match t {
            Value::String(s) => Some(Zeroizing::new(s)),
            _ => None,
        });
    match token {
        Some(t) if !t.is_empty() && t.chars().all(|c| c.is_ascii_graphic()) => {
            Ok((Redacted::new(t), ttl))
        }
        _ => Err(Error::failed(
            format!("Vault's answer to the login at {api} holds no auth.client_token"),
            format!("check that VAULT_ADDR ({}) is Vault", conn.addr),
        )),
    }
}

/// How long the token of a login's (or a renewal's) answer is valid, when
/// Vault lets it be renewed: `auth.lease_duration` seconds, if
/// `auth.renewable` (a token without an end, or one that cannot be
/// renewed, has nothing to renew).
pub(super) fn lease(answer: &Value) -> Option<Duration> {
    let auth = answer.get("auth")?;
    let secs = auth.get("lease_duration")?.as_u64()?;
    (auth.get("renewable")?.as_bool()? && secs > 0).then(|| Duration::from_secs(secs))
}

/// Zero the strings of a login's body (the secrets in it) before it is freed.
fn wipe(v: &mut Value) {
    if let Value::Object(m) = v {
        for (_, x) in m.iter_mut() {
            if let Value::String(s) = x {
                drop(Zeroizing::new(std::mem::take(s)));
            }
        }
    }
}

/// `e` with what to do replaced by `what`, for a refused login (exit 2).
fn hint(e: Error, what: &str) -> Error {
    match e {
        Error::Input { msg, .. } => Error::input(msg, what),
        e => e,
    }
}

/// `e` with every occurrence of a secret replaced by `<redacted>`.
fn redact(e: Error, secrets: &[&str]) -> Error {
    let scrub = |s: String| {
        secrets
            .iter()
            .filter(|x| !x.is_empty())
            .fold(s, |s, x| s.replace(x, "<redacted>"))
    };
    match e {
        Error::Input { msg, hint } => Error::input(scrub(msg), scrub(hint)),
        Error::Failed { msg, hint } => Error::failed(scrub(msg), scrub(hint)),
        e => e,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::ffi::OsString;

    /// An environment of these variables alone.
    pub(in crate::store::vault) fn env(
        pairs: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<OsString> {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(*v))
        }
    }

    #[test]
    fn the_method_is_named_never_guessed() {
        // Role id and secret id set, but no PKI_VAULT_AUTH: the token is used.
        let a = Auth::from_lookup(&env(&[
            ("VAULT_TOKEN", "s.abc"),
            ("PKI_VAULT_ROLE_ID", "r"),
            ("PKI_VAULT_SECRET_ID_FILE", "/f"),
        ]))
        .unwrap();
        assert!(matches!(a, Auth::Token(TokenSource::Env(_))), "{a:?}");
        assert!(!format!("{a:?}").contains("s.abc"));
        let a = Auth::from_lookup(&env(&[("HOME", "/h")])).unwrap();
        assert!(
            matches!(&a, Auth::Token(TokenSource::Helper(Some(p))) if p == Path::new("/h/.vault-token")),
            "{a:?}"
        );
        let a = Auth::from_lookup(&env(&[
            ("PKI_VAULT_AUTH", "approle"),
            ("PKI_VAULT_ROLE_ID", "r"),
        ]))
        .unwrap();
        assert!(
            matches!(&a, Auth::AppRole { mount, secret_id_file: None, .. } if mount == "approle"),
            "{a:?}"
        );
        let a = Auth::from_lookup(&env(&[
            ("PKI_VAULT_AUTH", "jwt"),
            ("PKI_VAULT_JWT_FILE", "/t"),
            ("PKI_VAULT_AUTH_MOUNT", "k8s/"),
        ]))
        .unwrap();
        assert!(
            matches!(&a, Auth::Jwt { mount, role: None, .. } if mount == "k8s"),
            "{a:?}"
        );
        for (bad, words) in [
            (
                &[("PKI_VAULT_AUTH", "approle")][..],
                "needs PKI_VAULT_ROLE_ID",
            ),
            (&[("PKI_VAULT_AUTH", "jwt")][..], "needs PKI_VAULT_JWT_FILE"),
            (&[("PKI_VAULT_AUTH", "ldap")][..], "approle or jwt"),
            (
                &[("VAULT_TOKEN", "a"), ("PKI_VAULT_TOKEN_FILE", "/f")][..],
                "both",
            ),
            (&[("VAULT_TOKEN", "a b")][..], "does not hold a Vault token"),
        ] {
            let bad: &'static [(&str, &str)] = Box::leak(bad.to_vec().into_boxed_slice());
            let e = Auth::from_lookup(&env(bad)).unwrap_err();
            assert!(e.to_string().contains(words), "{e}");
            assert_eq!(e.code(), 2, "{e}");
        }
    }

    #[test]
    fn secrets_are_scrubbed_from_errors() {
        let e = redact(
            Error::input("bad jwt eyJ.x.y", "see eyJ.x.y"),
            &["eyJ.x.y", ""],
        );
        assert_eq!(e.to_string(), "bad jwt <redacted>; see <redacted>");
    }
}
