//! HTTP over ureq, shared by pki's two network clients (Marathon's API in
//! `deliver::marathon_api`, the Vault store in `store::vault`): the agent
//! (rustls with aws-lc-rs, the public roots or the given ones, no redirect
//! followed, every status an answer to interpret), the certificates of a
//! PEM file to trust, and a transport failure in one line that names the
//! URL and the setting to check, never a header or a body.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{one_line, Error};

/// The server a client talks to, in the words its messages use.
pub struct Peer<'a> {
    /// What the server is: "Marathon", "Vault".
    pub name: &'a str,
    /// Where its URL comes from: "--url", "VAULT_ADDR".
    pub url_setting: &'a str,
    /// Where the time bound comes from: "--timeout", "PKI_VAULT_TIMEOUT".
    pub timeout_setting: &'a str,
    /// What to do about a certificate from an unknown CA:
    /// "pass that CA with --ca-cert".
    pub trust_ca: &'a str,
    /// What to keep doing once the server has a proper certificate:
    /// "keep passing the CA with --ca-cert".
    pub keep_ca: &'a str,
    /// The bound of the whole exchange.
    pub timeout: Duration,
    /// The bound of the connection set-up (TCP and TLS), when shorter.
    pub connect_timeout: Option<Duration>,
}

/// An agent that trusts `ca_certs` (DER; `None`: the Mozilla root set,
/// webpki-roots), bounds a whole exchange by `timeout` and setting up the
/// connection by `connect_timeout`, follows no redirect (a 3xx is an
/// answer: a redirect could carry the request, and the secrets in it, to
/// another host) and returns every HTTP status as an answer.
pub fn agent(
    ca_certs: Option<&[Vec<u8>]>,
    timeout: Duration,
    connect_timeout: Option<Duration>,
) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
    let roots = match ca_certs {
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
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(timeout))
        .timeout_connect(connect_timeout)
        // Statuses are answers to interpret, not transport errors.
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("pki/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// The certificates (DER) of the PEM text `text`; `None` when it holds none.
pub fn pem_certs(text: &str) -> Option<Vec<Vec<u8>>> {
    let certs: Vec<Vec<u8>> = pem::parse_many(text.as_bytes())
        .ok()?
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| b.into_contents())
        .collect();
    (!certs.is_empty()).then_some(certs)
}

/// One line: what failed, for which URL, and what to do. Never a header
/// or a body.
pub fn transport_error(peer: &Peer, method: &str, url: &str, e: ureq::Error) -> Error {
    let io_kind = match &e {
        ureq::Error::Io(io) => Some(io.kind()),
        _ => None,
    };
    // rustls reports a failed handshake through the stream, as an io::Error.
    let tls = match &e {
        ureq::Error::Rustls(r) => Some(tls_words(peer, r)),
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|i| i.downcast_ref::<rustls::Error>())
            .map(|r| tls_words(peer, r)),
        _ => None,
    };
    if let Some((why, hint)) = tls {
        return Error::failed(format!("TLS with {url} failed: {why}"), hint);
    }
    let (name, setting) = (peer.name, peer.url_setting);
    use std::io::ErrorKind as K;
    match (&e, io_kind) {
        (ureq::Error::Timeout(which), _) => {
            let bound = match (which, peer.connect_timeout) {
                (ureq::Timeout::Connect, Some(c)) => c,
                _ => peer.timeout,
            };
            timed_out(peer, url, bound)
        }
        (_, Some(K::TimedOut | K::WouldBlock)) => timed_out(peer, url, peer.timeout),
        (_, Some(K::ConnectionRefused)) => Error::failed(
            format!("cannot connect to {url}: connection refused"),
            format!("check {setting} (host and port) and that {name} is running"),
        ),
        (ureq::Error::HostNotFound, _) => Error::failed(
            format!("cannot resolve the host of {url}"),
            format!("check the host name in {setting} and DNS"),
        ),
        _ => Error::failed(
            format!("{method} {url} failed: {}", one_line(&e)),
            format!("check {setting} and the network path to {name}, then run again"),
        ),
    }
}

fn timed_out(peer: &Peer, url: &str, bound: Duration) -> Error {
    Error::failed(
        format!("no answer from {url} within {} s", bound.as_secs()),
        format!(
            "check {} and the network path to {}, or allow more time with {}",
            peer.url_setting, peer.name, peer.timeout_setting
        ),
    )
}

/// A failed TLS handshake in words, with what to do: rustls prints some
/// certificate errors as Rust's Debug (`Other(OtherError(CaUsedAsEndEntity))`),
/// which no user should have to read.
fn tls_words(peer: &Peer, e: &rustls::Error) -> (String, String) {
    use rustls::CertificateError as C;
    let name = peer.name;
    let private_ca = format!(
        "if {name}'s certificate comes from a private CA, {}",
        peer.trust_ca
    );
    let rustls::Error::InvalidCertificate(c) = e else {
        return (one_line(e), private_ca);
    };
    let other = match c {
        C::Other(o) => o.to_string(),
        _ => String::new(),
    };
    if other.contains("CaUsedAsEndEntity") {
        return (
            format!("{name}'s certificate is a CA certificate used as a server certificate, which TLS clients refuse"),
            format!("give {name} a server certificate issued by that CA, and {}", peer.keep_ca),
        );
    }
    let why = match c {
        C::UnknownIssuer => "certificate is signed by a CA this machine does not trust",
        C::Expired | C::ExpiredContext { .. } => "certificate has expired",
        C::NotValidYet | C::NotValidYetContext { .. } => "certificate is not valid yet",
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            return (
                format!(
                    "{name}'s certificate does not name the host in {}",
                    peer.url_setting
                ),
                format!(
                    "use the host name its certificate names in {}",
                    peer.url_setting
                ),
            )
        }
        C::BadSignature => "certificate has a bad signature",
        C::Revoked => "certificate is revoked",
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "certificate is not for TLS servers (extendedKeyUsage)"
        }
        _ => {
            return (
                format!("{name}'s certificate was refused ({})", one_line(c)),
                private_ca,
            )
        }
    };
    (format!("{name}'s {why}"), private_ca)
}

/// Why a base URL is refused ([`base_url`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadUrl {
    Scheme,
    NoHost,
    QueryOrBlank,
    /// `user:password@` in the URL would end up in messages.
    Credentials,
    Invalid,
}

impl std::fmt::Display for BadUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BadUrl::Scheme => "is not an http:// or https:// URL",
            BadUrl::NoHost => "has no host",
            BadUrl::QueryOrBlank => "carries a query, fragment or blank",
            BadUrl::Credentials => "carries credentials",
            BadUrl::Invalid => "is not a valid URL",
        })
    }
}

/// A server's base URL, `http(s)://host[:port][/prefix]`, without its
/// trailing slash; or why it is not one.
pub fn base_url(url: &str) -> Result<String, BadUrl> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or(BadUrl::Scheme)?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(BadUrl::NoHost);
    }
    if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(BadUrl::QueryOrBlank);
    }
    if rest
        .split('/')
        .next()
        .is_some_and(|host| host.contains('@'))
    {
        return Err(BadUrl::Credentials);
    }
    ureq::http::Uri::try_from(url).map_err(|_| BadUrl::Invalid)?;
    Ok(url.trim_end_matches('/').to_string())
}
