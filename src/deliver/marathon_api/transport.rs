//! The one place that touches the network: [`Client::send`] sends a
//! planned [`Request`] over ureq (rustls with aws-lc-rs; the public roots
//! or the `--ca-cert` ones), follows no redirect, and maps every transport
//! failure to a one-line [`Error`] that names the URL and never the body.

use std::time::Duration;

use serde_json::Value;
use zeroize::Zeroizing;

use super::config::Auth;
use super::request::{Method, Reply, Request};
use crate::error::{Error, Result};
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
        // No redirect is followed: a 3xx could take the request, and the
        // keys in its body, to another host (a login page, a proxy), and a
        // followed PUT would report that host's 200 as Marathon's.
        let agent = crate::net::agent(t.ca_certs.as_deref(), t.timeout, None);
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
        let peer = crate::net::Peer {
            name: "Marathon",
            url_setting: "--url",
            timeout_setting: "--timeout",
            trust_ca: "pass that CA with --ca-cert",
            keep_ca: "keep passing the CA with --ca-cert",
            timeout: self.timeout,
            connect_timeout: None,
        };
        crate::net::transport_error(&peer, req.method.as_str(), &req.url, e)
    }
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
