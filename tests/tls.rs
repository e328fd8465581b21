//! Real TLS 1.2 handshakes with client authentication, where the server
//! trusts only our CA and reads the user name from the certificate's CN:
//! once with rustls in-process, once with Erlang/OTP's `ssl` (the stack Riak
//! is built on). A certificate from another CA must fail both.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{openssl, Env};
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

/// A server ("node") certificate signed by the store's CA, as the store
/// mints its own at boot: made with openssl from our CA key, which also
/// proves openssl reads the PKCS#1 key we write.
fn node_cert(env: &Env) -> (std::path::PathBuf, std::path::PathBuf) {
    let (ca_crt, ca_key) = env.ca_files();
    let dir = env.root();
    let key = dir.join("node.key");
    let csr = dir.join("node.csr");
    let crt = dir.join("node.crt");
    let ext = dir.join("node.ext");
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n").unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (ok, out) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &s(&key),
        "-subj",
        "/CN=localhost",
        "-out",
        &s(&csr),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = openssl(&[
        "x509",
        "-req",
        "-in",
        &s(&csr),
        "-CA",
        &s(&ca_crt),
        "-CAkey",
        &s(&ca_key),
        "-set_serial",
        "7",
        "-days",
        "2",
        "-sha256",
        "-extfile",
        &s(&ext),
        "-out",
        &s(&crt),
    ]);
    assert!(ok, "{out}");
    (crt, key)
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

fn erlang_available() -> bool {
    Command::new("escript")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Whether the Erlang tests can run; on CI they must.
fn erlang_or_skip() -> bool {
    if erlang_available() {
        return true;
    }
    // .ci/run installs erlang-base and erlang-ssl; a developer machine may lack them.
    assert!(
        std::env::var_os("CI").is_none(),
        "escript missing on CI: .ci/run must install erlang-base erlang-ssl"
    );
    eprintln!("skipped: escript not installed (apt-get install erlang-base erlang-ssl)");
    false
}

/// Start the Erlang server, run `openssl s_client` with the given client pair; returns the server's verdict line.
fn erlang_handshake(ca: &Path, server: (&Path, &Path), client: (&Path, &Path)) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls/erlang_server.escript");
    // Riak's R16 stack speaks CBC suites only: hold the server to that.
    let mut srv = Command::new("escript")
        .arg(&script)
        .args([ca, server.0, server.1])
        .env("ERL_TLS_CBC_ONLY", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start escript");
    let mut out = BufReader::new(srv.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let port = first
        .trim()
        .strip_prefix("PORT ")
        .unwrap_or_else(|| panic!("no PORT line: {first:?}"))
        .to_string();
    let client_out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-tls1_2",
            "-ign_eof",
            "-cert",
        ])
        .arg(client.0)
        .arg("-key")
        .arg(client.1)
        .arg("-CAfile")
        .arg(ca)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let mut verdict = String::new();
    out.read_to_string(&mut verdict).unwrap();
    let status = srv.wait().unwrap();
    let said = String::from_utf8_lossy(&client_out.stdout).to_string();
    if verdict.starts_with("OK") {
        assert!(status.success());
        assert!(
            said.contains(&format!(
                "hello {}",
                verdict.trim().trim_start_matches("OK CN=")
            )),
            "{said}"
        );
        // Riak's R16 stack: TLS 1.2 with a CBC suite.
        assert!(said.contains("TLSv1.2"), "{said}");
        assert!(said.contains("CBC") || said.contains("-SHA"), "{said}");
    }
    verdict.trim().to_string()
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
