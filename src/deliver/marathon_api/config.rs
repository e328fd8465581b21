//! Where Marathon is and how to log in: the base URL (`--url`), the
//! credentials (a token file, a `user:password` file, or `DCOS_ACS_TOKEN`),
//! the CA certificates for https, and the timeout, checked before the store
//! is read or a byte is sent ([`config`]). Secrets stay in [`Redacted`].

use std::path::Path;
use std::time::Duration;

use zeroize::Zeroizing;

use super::request::absolute_id;
use super::transport::Transport;
use crate::error::{Error, Result};
use crate::x509::secret::Redacted;

/// The environment variable DC/OS's CLI and docs use for an ACS token.
pub const TOKEN_ENV: &str = "DCOS_ACS_TOKEN";

/// How to reach Marathon, as the deploy flags give it.
pub struct Settings<'a> {
    pub url: &'a str,
    pub token_file: Option<&'a Path>,
    pub credentials_file: Option<&'a Path>,
    pub ca_cert: Option<&'a Path>,
    pub timeout: Duration,
}

/// Everything checked before the store is read or a byte is sent.
pub struct Config {
    /// [`base_url`]'s form of `--url`.
    pub base: String,
    /// The app id with its leading slash ([`absolute_id`]).
    pub app_id: String,
    pub auth: Auth,
    pub transport: Transport,
}

/// Check the settings and the app id, and read the credentials and CA
/// certificates they name; a token comes from [`TOKEN_ENV`] when no file is given.
pub fn config(s: &Settings, app_id: &str) -> Result<Config> {
    let base = base_url(s.url)?;
    crate::deliver::marathon::validate_app_id(app_id)?;
    let auth = if let Some(f) = s.token_file {
        Auth::token(&flag_file("--token-file", f)?, &f.display().to_string())?
    } else if let Some(f) = s.credentials_file {
        Auth::basic(
            &flag_file("--credentials-file", f)?,
            &f.display().to_string(),
        )?
    } else {
        match std::env::var(TOKEN_ENV) {
            Ok(t) if !t.trim().is_empty() => Auth::token(&t, TOKEN_ENV)?,
            _ => Auth::None,
        }
    };
    let ca_certs = match s.ca_cert {
        Some(p) => {
            if !base.starts_with("https://") {
                return Err(Error::usage(
                    "--ca-cert is for https, but --url is http",
                    "use an https:// URL, or leave --ca-cert out",
                ));
            }
            Some(read_ca_certs(p)?)
        }
        None => None,
    };
    Ok(Config {
        base,
        app_id: absolute_id(app_id),
        auth,
        transport: Transport {
            timeout: s.timeout,
            ca_certs,
        },
    })
}

/// A Marathon base URL: `http(s)://host[:port][/prefix]`, no trailing slash.
pub fn base_url(url: &str) -> Result<String> {
    crate::net::base_url(url).map_err(|why| {
        // Credentials in the URL would end up in messages; there are flags for them.
        let why = match why {
            crate::net::BadUrl::Credentials => {
                format!("{why}; use --credentials-file or --token-file")
            }
            _ => why.to_string(),
        };
        Error::usage(
            format!("--url {url:?} {why}"),
            "give Marathon's base URL, e.g. --url http://marathon.mesos:8080",
        )
    })
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

    pub(super) fn header(&self) -> Option<Zeroizing<String>> {
        match self {
            Auth::None => None,
            Auth::Token(t) => Some(Zeroizing::new(format!("token={}", t.expose().as_str()))),
            Auth::Basic(b) => Some(Zeroizing::new(format!("Basic {}", b.expose().as_str()))),
        }
    }

    pub(super) fn describe(&self) -> &'static str {
        match self {
            Auth::None => "no credentials",
            Auth::Token(_) => "a token",
            Auth::Basic(_) => "user and password",
        }
    }
}

/// The text of a file a flag names; a file that cannot be read is named
/// with its flag (`--token-file: cannot read /x: ...`).
fn flag_file(flag: &str, path: &Path) -> Result<String> {
    crate::store::fs::read_input_text(path).map_err(|e| match e {
        Error::Read { path, source } => Error::input(
            format!(
                "{flag}: cannot read {}: {}",
                path.display(),
                crate::error::one_line(&source)
            ),
            format!("check the path given to {flag} and its permissions"),
        ),
        e => e,
    })
}

/// The certificates in a PEM file given with `--ca-cert`.
pub fn read_ca_certs(path: &Path) -> Result<Vec<Vec<u8>>> {
    let text = flag_file("--ca-cert", path)?;
    let bad = || {
        Error::input(
            format!("{} holds no PEM certificate", path.display()),
            "give the CA certificate that signed Marathon's server certificate, in PEM",
        )
    };
    crate::net::pem_certs(&text).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_is_checked_before_any_file_is_read() {
        let settings = |url| Settings {
            url,
            token_file: Some(Path::new("/nonexistent/token")),
            credentials_file: None,
            ca_cert: Some(Path::new("/nonexistent/ca.crt")),
            timeout: Duration::from_secs(1),
        };
        let refused = |s: &Settings, id| match config(s, id) {
            Err(e) => e,
            Ok(_) => panic!("{} {id} was accepted", s.url),
        };
        // A bad URL, then a bad app id, fail before the token file is read.
        assert!(refused(&settings("ftp://m"), "/a")
            .to_string()
            .contains("--url"));
        assert_eq!(refused(&settings("http://m"), "a b").code(), 2);
        let mut s = settings("http://m");
        s.token_file = None;
        // --ca-cert with http is refused before the CA file is read.
        let e = refused(&s, "/a");
        assert!(e.to_string().contains("--ca-cert is for https"), "{e}");
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
}
