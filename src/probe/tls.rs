//! The TLS client of `pki probe`, on the system's OpenSSL: the user's key
//! and certificate as the client certificate, the store's CA bundle (and
//! nothing else) as the trust for the node's certificate, and what went
//! wrong in words.
//!
//! OpenSSL rather than rustls (the crate's TLS elsewhere): Basho's Riak 2.x
//! runs on Erlang/OTP R16, which offers only CBC suites, and rustls has
//! none. A probe that cannot speak to the store it probes proves nothing.

use std::io::{Read, Write};

use openssl::pkey::PKey;
use openssl::ssl::{
    ErrorCode, HandshakeError, Ssl, SslContext, SslMethod, SslStream, SslVerifyMode, SslVersion,
};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509VerifyResult, X509};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The suites offered, best first: AES-GCM, then the AES-CBC suites Riak
/// 2.x's Erlang R16 negotiates (ECDHE-RSA, then plain RSA key exchange),
/// in OpenSSL's names, the names of riak.conf's `ssl.ciphers`. ECDSA
/// variants too, for a store whose CA was made with --allow-non-rsa.
pub const CIPHERS: &str = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:\
ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:\
AES128-GCM-SHA256:AES256-GCM-SHA384:\
ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:\
ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:\
AES128-SHA256:AES256-SHA256:AES128-SHA:AES256-SHA";

/// A user's client side: certificate and key (PEM, loaded from memory,
/// never written anywhere) and the CA bundle the node must chain to.
pub struct Client {
    ctx: SslContext,
}

impl Client {
    pub fn new(cert_pem: &str, key_pem: &Zeroizing<String>, trust_pem: &str) -> Result<Self> {
        let crypto = |what: &str, e: openssl::error::ErrorStack| Error::crypto(what, e);
        let mut b = SslContext::builder(SslMethod::tls_client())
            .map_err(|e| crypto("OpenSSL context", e))?;
        b.set_min_proto_version(Some(SslVersion::TLS1_2))
            .map_err(|e| crypto("TLS versions", e))?;
        b.set_cipher_list(CIPHERS)
            .map_err(|e| crypto("cipher suites", e))?;
        let cert =
            X509::from_pem(cert_pem.as_bytes()).map_err(|e| crypto("the user's certificate", e))?;
        b.set_certificate(&cert)
            .map_err(|e| crypto("the user's certificate", e))?;
        // The key's error never carries the key (OpenSSL says what failed, not what it read).
        let key = PKey::private_key_from_pem(key_pem.as_bytes())
            .map_err(|e| crypto("the user's key", e))?;
        b.set_private_key(&key)
            .map_err(|e| crypto("the user's key", e))?;
        b.check_private_key()
            .map_err(|e| crypto("the user's key and certificate", e))?;
        // Only the store's CAs: no system roots, no default paths.
        let mut store = X509StoreBuilder::new().map_err(|e| crypto("trust store", e))?;
        for ca in X509::stack_from_pem(trust_pem.as_bytes())
            .map_err(|e| crypto("the store's CA bundle", e))?
        {
            store
                .add_cert(ca)
                .map_err(|e| crypto("the store's CA bundle", e))?;
        }
        b.set_cert_store(store.build());
        // Chain, validity and signature; not the host name: a Riak node's
        // certificate is minted at boot with a CN that names no host the
        // client dials (docs/probe.md).
        b.set_verify(SslVerifyMode::PEER);
        Ok(Client { ctx: b.build() })
    }

    /// The handshake over `stream`; `host` goes out as SNI when it is a name.
    pub fn connect<S: Read + Write>(
        &self,
        host: &str,
        stream: S,
    ) -> std::result::Result<SslStream<S>, Handshake> {
        let mut ssl = match Ssl::new(&self.ctx) {
            Ok(s) => s,
            Err(e) => return Err(Handshake::failed(format!("OpenSSL: {e}"), None)),
        };
        if host.parse::<std::net::IpAddr>().is_err() {
            let _ = ssl.set_hostname(host);
        }
        match ssl.connect(stream) {
            Ok(s) => Ok(s),
            Err(HandshakeError::SetupFailure(e)) => {
                Err(Handshake::failed(format!("OpenSSL: {e}"), None))
            }
            Err(HandshakeError::Failure(mid)) | Err(HandshakeError::WouldBlock(mid)) => {
                let verify = mid.ssl().verify_result();
                Err(explain(mid.error(), verify))
            }
        }
    }
}

/// A failed TLS step: the one-line reason, and the alert the node sent, if any.
#[derive(Debug)]
pub struct Handshake {
    pub message: String,
    pub alert: Option<&'static str>,
}

impl Handshake {
    fn failed(message: String, alert: Option<&'static str>) -> Self {
        Handshake { message, alert }
    }
}

/// Why a TLS read, write or handshake failed, in words: the alert the node
/// sent and what it means, our own check of the node's certificate, a
/// timeout or a closed connection.
pub fn explain(e: &openssl::ssl::Error, verify: X509VerifyResult) -> Handshake {
    if verify != X509VerifyResult::OK {
        return Handshake::failed(
            format!(
                "the node's certificate does not verify against the store's CA bundle: {} \
                 (the node's certificate must be signed by a CA the store trusts: the store \
                 mints it at boot from EPHEMERAL_STORE_ROOT_CA_CERT and _KEY, so deploy the \
                 store's CA to it)",
                verify.error_string()
            ),
            None,
        );
    }
    if let Some(io) = e.io_error() {
        return Handshake::failed(crate::probe::io_words(io), None);
    }
    if e.code() == ErrorCode::ZERO_RETURN
        || e.code() == ErrorCode::SYSCALL && e.ssl_error().is_none()
    {
        return Handshake::failed(
            "the node closed the connection without a TLS alert".into(),
            None,
        );
    }
    let stack = e.ssl_error();
    let alert = stack.and_then(|s| {
        s.errors().iter().find_map(|err| {
            let code = err.reason_code();
            (1000..1256).contains(&code).then(|| (code - 1000) as u8)
        })
    });
    match alert {
        Some(a) => {
            let (name, meaning) = alert_meaning(a);
            Handshake::failed(
                format!("the node sent the TLS alert {name}: {meaning}"),
                Some(name),
            )
        }
        None => {
            let why = stack
                .and_then(|s| s.errors().first().and_then(|x| x.reason()))
                .unwrap_or("unknown TLS error");
            let hint = if why.contains("no cipher") || why.contains("no shared cipher") {
                ": no cipher suite in common with the node"
            } else {
                ""
            };
            Handshake::failed(format!("TLS failed: {why}{hint}"), None)
        }
    }
}

/// A TLS alert's name (RFC 5246 7.2, as Erlang's ssl logs it) and what it
/// means when a Riak node sends it to a client.
pub fn alert_meaning(code: u8) -> (&'static str, &'static str) {
    match code {
        40 => ("handshake_failure", "no cipher suite or protocol in common, or the node refused the client certificate (Riak 2.x offers only CBC suites)"),
        42 => ("bad_certificate", "the node refused the user's certificate: with check_crl on, its CRL could not be fetched or read (publish one: `pki crl`), or its CN cannot be read"),
        43 => ("unsupported_certificate", "the node refused the user's certificate's extensions (an extendedKeyUsage without clientAuth)"),
        44 => ("certificate_revoked", "the user's certificate is on the CRL the node checked (revoked: issue the user anew)"),
        45 => ("certificate_expired", "the user's certificate has expired, or is not valid yet, by the node's clock (`pki rotate`)"),
        46 => ("certificate_unknown", "the node could not check the user's certificate"),
        48 => ("unknown_ca", "the node does not trust the CA that signed the user's certificate: deploy the store's CA to the store (`pki deploy marathon`)"),
        49 => ("access_denied", "the node refused the user"),
        50 => ("decode_error", "the node could not read what was sent"),
        51 => ("decrypt_error", "the node could not verify the handshake signature (a key that does not match its certificate)"),
        70 => ("protocol_version", "no TLS version in common (Riak 2.x speaks TLS 1.2 at most)"),
        71 => ("insufficient_security", "no cipher suite in common: the node wants suites this client does not offer"),
        80 => ("internal_error", "the node failed inside its TLS stack"),
        _ => ("other", "an alert pki does not know"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alert_riak_sends_a_client_has_a_name_and_a_meaning() {
        for (code, name) in [
            (40, "handshake_failure"),
            (42, "bad_certificate"),
            (44, "certificate_revoked"),
            (45, "certificate_expired"),
            (48, "unknown_ca"),
            (71, "insufficient_security"),
        ] {
            let (n, meaning) = alert_meaning(code);
            assert_eq!(n, name);
            assert!(!meaning.is_empty());
        }
        assert_eq!(alert_meaning(99).0, "other");
    }

    #[test]
    fn the_cipher_list_is_one_openssl_accepts_and_holds_riaks_cbc_suites() {
        let mut b = SslContext::builder(SslMethod::tls_client()).unwrap();
        b.set_cipher_list(CIPHERS).unwrap();
        for s in [
            "ECDHE-RSA-AES128-SHA",
            "AES256-SHA",
            "ECDHE-RSA-AES128-GCM-SHA256",
        ] {
            assert!(CIPHERS.split(':').any(|c| c == s), "{s}");
        }
    }
}
