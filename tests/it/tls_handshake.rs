//! Real TLS 1.2 handshakes with client authentication, where the server
//! trusts only our CA and reads the user name from the certificate's CN:
//! once with rustls in-process, once with Erlang/OTP's `ssl` (the stack Riak
//! is built on). A certificate from another CA must fail both.

use crate::support::common;
use crate::support::handshake;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{openssl, Env};
use handshake::{erlang_handshake, erlang_or_skip, node_cert};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(|c| c.unwrap())
        .collect()
}

fn key(path: &Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(path).unwrap()
}

/// Run one rustls handshake; returns the CN the server read, or the error.
fn rustls_handshake(
    ca: &Path,
    server: (&Path, &Path),
    client: (&Path, &Path),
) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(ca) {
        roots.add(c).unwrap();
    }
    let roots = Arc::new(roots);
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .unwrap();
    let server_cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(server.0), key(server.1))
        .unwrap();
    let client_cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(certs(client.0), key(client.1))
        .unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_thread = std::thread::spawn(move || -> Result<String, String> {
        let (mut sock, _) = listener.accept().map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut conn = rustls::ServerConnection::new(Arc::new(server_cfg)).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
        }
        let peer = conn.peer_certificates().ok_or("no client certificate")?[0].clone();
        let (_, x) = x509_parser::parse_x509_certificate(&peer).unwrap();
        let cns: Vec<String> = x
            .subject()
            .iter_common_name()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        assert_eq!(cns.len(), 1, "exactly one CN");
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        tls.write_all(format!("hello {}\n", cns[0]).as_bytes())
            .map_err(|e| e.to_string())?;
        tls.flush().map_err(|e| e.to_string())?;
        conn.send_close_notify();
        let _ = conn.complete_io(&mut sock);
        Ok(cns[0].clone())
    });
    let client_result = (|| -> Result<String, String> {
        let mut sock = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut conn = rustls::ClientConnection::new(
            Arc::new(client_cfg),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let mut line = String::new();
        tls.read_to_string(&mut line).map_err(|e| e.to_string())?;
        Ok(line)
    })();
    let server_result = server_thread.join().unwrap();
    match (server_result, client_result) {
        (Ok(cn), Ok(line)) => {
            assert_eq!(line, format!("hello {cn}\n"));
            Ok(cn)
        }
        (Err(e), c) => Err(format!("server: {e}; client: {c:?}")),
        (_, Err(e)) => Err(format!("client: {e}")),
    }
}

#[test]
fn rustls_accepts_our_client_certificate_and_reads_the_cn() {
    let env = Env::with_users(&["myuser"]);
    let (ca_crt, _) = env.ca_files();
    let (node_crt, node_key) = node_cert(&env);
    let (crt, key) = env.user_files("myuser");
    let cn = rustls_handshake(&ca_crt, (&node_crt, &node_key), (&crt, &key)).expect("handshake");
    assert_eq!(cn, "myuser");

    // The same client certificate from another CA is refused by the server.
    // Both roots are named CN=rootCA, so webpki takes ours as the issuer by
    // name and the signature check refuses it (BadSignature); a differently
    // named root would be UnknownIssuer. The server's verdict is what counts:
    // what the client sees (the alert, or a reset that beat it) is a race.
    let other = Env::with_users(&["myuser"]);
    let (other_crt, other_key) = other.user_files("myuser");
    let err =
        rustls_handshake(&ca_crt, (&node_crt, &node_key), (&other_crt, &other_key)).unwrap_err();
    assert!(
        err.starts_with("server: invalid peer certificate: BadSignature")
            || err.starts_with("server: invalid peer certificate: UnknownIssuer"),
        "{err}"
    );
}

#[test]
fn erlang_ssl_accepts_our_client_certificate_as_riak_would() {
    if !erlang_or_skip() {
        return;
    }
    let env = Env::with_users(&["myuser"]);
    let (ca_crt, _) = env.ca_files();
    let (node_crt, node_key) = node_cert(&env);
    let (crt, key) = env.user_files("myuser");
    assert_eq!(
        erlang_handshake(&ca_crt, (&node_crt, &node_key), (&crt, &key)),
        "OK CN=myuser"
    );

    let other = Env::with_users(&["myuser"]);
    let (other_crt, other_key) = other.user_files("myuser");
    let verdict = erlang_handshake(&ca_crt, (&node_crt, &node_key), (&other_crt, &other_key));
    assert!(
        verdict.starts_with("FAIL") && verdict.contains("unknown_ca"),
        "{verdict}"
    );
}

/// An X.509 v1 root made by the deployment's documented openssl commands,
/// adopted with `pki import`: Erlang's ssl (Riak's stack) accepts a user
/// that pki issues under it, although that user's certificate carries no
/// authority key identifier (the v1 root has no key id to name).
#[test]
fn erlang_ssl_accepts_users_of_an_imported_v1_ca() {
    if !erlang_or_skip() {
        return;
    }
    let env = Env::new();
    let root = env.root().to_str().unwrap().to_string();
    let (ok, out) = openssl(&["genrsa", "-out", &format!("{root}/rootCA.key"), "2048"]);
    assert!(ok, "{out}");
    let (ok, out) = openssl(&[
        "req",
        "-new",
        "-key",
        &format!("{root}/rootCA.key"),
        "-subj",
        "/CN=rootCA",
        "-out",
        &format!("{root}/rootCA.csr"),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = openssl(&[
        "x509",
        "-req",
        "-in",
        &format!("{root}/rootCA.csr"),
        "-signkey",
        &format!("{root}/rootCA.key"),
        "-sha256",
        "-days",
        "365",
        "-out",
        &format!("{root}/rootCA.crt"),
    ]);
    assert!(ok, "{out}");
    env.run(&["import", "--cert", "rootCA.crt", "--key", "rootCA.key"])
        .ok();
    env.run(&["issue", "myuser"]).ok();
    let (ca_crt, _) = env.ca_files();
    let (node_crt, node_key) = node_cert(&env);
    let (crt, key) = env.user_files("myuser");
    assert_eq!(
        erlang_handshake(&ca_crt, (&node_crt, &node_key), (&crt, &key)),
        "OK CN=myuser"
    );
}
