//! `pki probe`'s engine: log in to a Riak node as the ASP does and say
//! what happened. `RpbStartTls`, the TLS handshake with the user's key and
//! certificate (trusting the store's CA bundle for the node's), then
//! `RpbAuthReq` with the user name and `RpbPingReq`. Bounded: one connect
//! and one exchange, each within the timeout; no retries.
//!
//! A layer beside `deliver/`: it gets its key material as PEM from the
//! command and reads or writes nothing in the store.

pub mod riak;
pub mod tls;

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::x509::cert::CertInfo;

/// Riak's protocol buffers port (the ASP's `"port": 8087`).
pub const DEFAULT_PORT: u16 = 8087;

/// A node to probe: `HOST[:PORT]`, `[V6]:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parse `HOST[:PORT]` (`[V6]` or `[V6]:PORT` for IPv6).
pub fn parse_node(s: &str) -> Result<Node> {
    let bad = |why: &str| {
        Error::usage(
            format!("node {s:?} {why}"),
            "give HOST or HOST:PORT, e.g. riak-1.example.internal:8087 or [::1]:8087",
        )
    };
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("lacks its closing ]"))?;
        match after {
            "" => (h, None),
            p => (
                h,
                Some(p.strip_prefix(':').ok_or_else(|| bad("has junk after ]"))?),
            ),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err(bad("is an IPv6 address without brackets"))
            }
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(bad("has no valid host"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(bad("has a port that is not 1-65535")),
        },
    };
    Ok(Node {
        host: host.to_string(),
        port,
    })
}

/// One user's material: the certificate and key as PEM, and the CA bundle.
pub struct Login<'a> {
    pub user: &'a str,
    pub cert_pem: &'a str,
    pub key_pem: &'a Zeroizing<String>,
    pub trust_pem: &'a str,
}

/// Where a login stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Resolving the name and opening the TCP connection.
    Connect,
    /// `RpbStartTls` and its answer.
    Starttls,
    /// The TLS handshake.
    Tls,
    /// `RpbAuthReq` and its answer.
    Auth,
    /// `RpbPingReq` and its answer.
    Ping,
    /// Logged in and answered a ping.
    Done,
}

impl Stage {
    /// The word of the JSON document and the report.
    pub fn word(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Starttls => "starttls",
            Stage::Tls => "tls",
            Stage::Auth => "auth",
            Stage::Ping => "ping",
            Stage::Done => "done",
        }
    }
}

/// What one login did.
#[derive(Debug)]
pub struct Outcome {
    /// `Done` when logged in, else the stage that failed.
    pub stage: Stage,
    /// Why it failed, one line; None when logged in.
    pub failure: Option<String>,
    /// The TLS alert the node sent (`unknown_ca`), when that was the failure.
    pub alert: Option<&'static str>,
    /// The node's `errmsg` (`Authentication failed`), when it sent one.
    pub riak_error: Option<String>,
    /// `TLSv1.2`, once the handshake was done.
    pub protocol: Option<String>,
    /// OpenSSL's name of the suite (`ECDHE-RSA-AES128-SHA`), once done.
    pub cipher: Option<String>,
    /// The node's certificate as it was presented (even when it did not verify).
    pub node_cert: Option<CertInfo>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn logged_in(&self) -> bool {
        self.stage == Stage::Done
    }
}

/// A stream whose every read and write must end by `deadline`: the whole
/// exchange after connect is bounded, not each read.
struct Deadline {
    sock: TcpStream,
    deadline: Instant,
}

impl Deadline {
    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(io::ErrorKind::TimedOut, "deadline"))
        } else {
            Ok(left)
        }
    }
}

/// A socket timeout shows as WouldBlock on Unix: say TimedOut.
fn timed_out(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(io::ErrorKind::TimedOut, "deadline")
    } else {
        e
    }
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.sock.set_read_timeout(Some(left))?;
        self.sock.read(buf).map_err(timed_out)
    }
}

impl Write for Deadline {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.sock.set_write_timeout(Some(left))?;
        self.sock.write(buf).map_err(timed_out)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

/// An I/O error of the exchange in words.
pub fn io_words(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut => "no answer within the timeout".into(),
        io::ErrorKind::UnexpectedEof => "the node closed the connection".into(),
        io::ErrorKind::ConnectionReset => "the node reset the connection".into(),
        _ => crate::error::one_line(e),
    }
}

/// Log in to `node` as `login.user` within `timeout` for the connect and
/// `timeout` for the rest; never retried.
pub fn probe(node: &Node, login: &Login<'_>, timeout: Duration) -> Result<Outcome> {
    let client = tls::Client::new(login.cert_pem, login.key_pem, login.trust_pem)?;
    let start = Instant::now();
    let mut out = Outcome {
        stage: Stage::Connect,
        failure: None,
        alert: None,
        riak_error: None,
        protocol: None,
        cipher: None,
        node_cert: None,
        elapsed: Duration::ZERO,
    };
    let fail = |mut out: Outcome, stage: Stage, why: String| {
        out.stage = stage;
        out.failure = Some(why);
        out.elapsed = start.elapsed();
        Ok(out)
    };
    let sock = match connect(node, timeout) {
        Ok(s) => s,
        Err(why) => return fail(out, Stage::Connect, why),
    };
    let mut plain = Deadline {
        sock,
        deadline: Instant::now() + timeout,
    };
    // RpbStartTls, answered with the same code.
    let answer = riak::write_frame(&mut plain, riak::START_TLS, &[])
        .and_then(|_| riak::read_frame(&mut plain));
    match answer {
        Ok((riak::START_TLS, _)) => {}
        Ok((riak::ERROR_RESP, body)) => {
            let (msg, _) = riak::error_resp(&body);
            out.riak_error = Some(msg.clone());
            return fail(
                out,
                Stage::Starttls,
                format!("the node refused RpbStartTls: {msg:?} (is security enabled on the node? `riak-admin security enable`)"),
            );
        }
        Ok((code, _)) => {
            return fail(
                out,
                Stage::Starttls,
                format!("the node answered RpbStartTls with message code {code}, not 255: is this Riak's protocol buffers port?"),
            )
        }
        Err(e) => {
            return fail(
                out,
                Stage::Starttls,
                format!("RpbStartTls: {} (is this Riak's protocol buffers port?)", io_words(&e)),
            )
        }
    }
    let mut tls = match client.connect(&node.host, plain) {
        Ok(s) => s,
        Err(h) => {
            out.alert = h.alert;
            return fail(out, Stage::Tls, h.message);
        }
    };
    out.protocol = Some(tls.ssl().version_str().to_string());
    out.cipher = tls.ssl().current_cipher().map(|c| c.name().to_string());
    out.node_cert = tls
        .ssl()
        .peer_certificate()
        .and_then(|c| c.to_der().ok())
        .and_then(|der| CertInfo::from_der(&der, "the node's certificate").ok());
    // RpbAuthReq with the user name and an empty password: the
    // certificate source ignores the password (docs/probe.md).
    let mut step = |stage: Stage, code: u8, body: &[u8]| {
        let sent = riak::write_frame(&mut tls, code, body);
        let answer = sent.and_then(|_| riak::read_frame(&mut tls));
        answer.map_err(|e| (stage, e))
    };
    let auth = step(Stage::Auth, riak::AUTH_REQ, &riak::auth_req(login.user, ""));
    let authed = matches!(auth, Ok((riak::AUTH_RESP, _)));
    let ping = if authed {
        step(Stage::Ping, riak::PING_REQ, &[])
    } else {
        auth
    };
    let stage = if authed { Stage::Ping } else { Stage::Auth };
    match ping {
        // Only a ping after a login counts: an RpbPingResp to RpbAuthReq is no login.
        Ok((riak::PING_RESP, _)) if authed => {
            out.stage = Stage::Done;
            out.elapsed = start.elapsed();
            Ok(out)
        }
        Ok((riak::ERROR_RESP, body)) => {
            let (msg, _) = riak::error_resp(&body);
            out.riak_error = Some(msg.clone());
            let why = if stage == Stage::Auth {
                format!(
                    "the node refused the login: {msg:?} (riak's security: the user {:?} must exist \
                     (`riak-admin security add-user`), have a certificate source for this client's \
                     address (`riak-admin security add-source USER CIDR certificate`), and be the \
                     certificate's CN, lower-cased)",
                    login.user
                )
            } else {
                format!("the node refused the ping: {msg:?}")
            };
            fail(out, stage, why)
        }
        Ok((code, _)) => fail(
            out,
            stage,
            format!("the node answered with unexpected message code {code}"),
        ),
        Err((stage, e)) => {
            // A TLS alert after the handshake (TLS 1.3 checks the client's
            // certificate after the client finished) arrives on this read.
            let why = match e
                .get_ref()
                .and_then(|i| i.downcast_ref::<openssl::ssl::Error>())
            {
                Some(ssl) => {
                    let h = tls::explain(ssl, openssl::x509::X509VerifyResult::OK);
                    out.alert = h.alert;
                    h.message
                }
                None => io_words(&e),
            };
            fail(out, stage, why)
        }
    }
}

/// Resolve and connect, each address within what is left of `timeout`.
fn connect(node: &Node, timeout: Duration) -> std::result::Result<TcpStream, String> {
    let deadline = Instant::now() + timeout;
    let addrs: Vec<_> = (node.host.as_str(), node.port)
        .to_socket_addrs()
        .map_err(|e| {
            format!(
                "cannot resolve {}: {}",
                node.host,
                crate::error::one_line(&e)
            )
        })?
        .collect();
    let mut last = format!("{} resolves to no address", node.host);
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => return Ok(s),
            Err(e) => {
                last = match e.kind() {
                    io::ErrorKind::ConnectionRefused => {
                        format!("connection to {addr} refused: nothing listens there")
                    }
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                        format!("no answer to connect from {addr} within the timeout")
                    }
                    _ => format!("cannot connect to {addr}: {}", crate::error::one_line(&e)),
                }
            }
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_parse_with_the_default_port_and_bad_ones_are_refused() {
        let n = |s: &str| parse_node(s).map(|n| (n.host, n.port));
        assert_eq!(n("riak-1").unwrap(), ("riak-1".into(), 8087));
        assert_eq!(n("10.0.0.5:18087").unwrap(), ("10.0.0.5".into(), 18087));
        assert_eq!(n("[::1]").unwrap(), ("::1".into(), 8087));
        assert_eq!(n("[::1]:9").unwrap(), ("::1".into(), 9));
        for bad in [
            "", ":8087", "h:0", "h:x", "h:70000", "::1", "[::1", "[::1]x", "a b",
        ] {
            assert!(parse_node(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_node("[::1]:9").unwrap().to_string(), "[::1]:9");
    }
}
