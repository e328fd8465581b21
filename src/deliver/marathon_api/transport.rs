//! The one place that touches the network: [`Client::send`] sends a
//! planned [`Request`] over ureq (rustls with aws-lc-rs; the public roots
//! or the `--ca-cert` ones), follows no redirect, and maps every transport
//! failure to a one-line [`Error`] that names the URL and never the body.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use zeroize::Zeroizing;

use super::config::Auth;
use super::request::{Method, Reply, Request};
use crate::error::{one_line, Error, Result};
use crate::x509::secret::Redacted;

/// Transport settings: timeout for the whole exchange and, for https with
/// a private CA, the certificates to trust instead of the public roots.
pub struct Transport {
    pub timeout: Duration,
    /// DER certificates; `None` trusts the Mozilla root set (webpki-roots).
    pub ca_certs: Option<Vec<Vec<u8>>>,
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
}
