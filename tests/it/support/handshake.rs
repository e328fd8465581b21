//! The Erlang/OTP TLS set-up shared by the handshake tests: a node
//! (server) certificate made by openssl from the store's CA key, and a
//! one-shot `ssl` server (tests/tls/erlang_server.escript) configured as a
//! Riak node checks clients, driven with `openssl s_client`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::common::{openssl, Env};

/// A server ("node") certificate signed by the store's CA, as the store
/// mints its own at boot: made with openssl from our CA key, which also
/// proves openssl reads the PKCS#1 key we write.
pub fn node_cert(env: &Env) -> (std::path::PathBuf, std::path::PathBuf) {
    let (ca_crt, ca_key) = env.ca_files();
    node_cert_from(env.root(), "node", &ca_crt, &ca_key)
}

/// A node certificate minted as the store does from its env: `openssl x509
/// -req -CA CA_FILE -CAkey CA_KEY`, which signs with the first certificate
/// of CA_FILE (a bundle during a rollover). Files `<dir>/<name>.*`.
pub fn node_cert_from(
    dir: &Path,
    name: &str,
    ca_crt: &Path,
    ca_key: &Path,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let crt = dir.join(format!("{name}.crt"));
    let ext = dir.join(format!("{name}.ext"));
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
        &s(ca_crt),
        "-CAkey",
        &s(ca_key),
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

/// Whether the Erlang tests can run; on CI (`.ci/run` installs it) they must.
pub fn erlang_or_skip() -> bool {
    crate::support::common::tool_or_skip("escript", "apt-get install erlang-base erlang-ssl")
}

/// Spawn an escript server (stdout piped, stderr dropped) and read its
/// first line, `PORT <n>`: the child, the rest of its stdout, and the port.
pub fn start_escript(
    mut cmd: Command,
) -> (
    std::process::Child,
    BufReader<std::process::ChildStdout>,
    u16,
) {
    let mut srv = cmd
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
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no PORT line: {first:?}"));
    (srv, out, port)
}

/// Start the Erlang server, run `openssl s_client` with the given client pair; returns the server's verdict line.
pub fn erlang_handshake(ca: &Path, server: (&Path, &Path), client: (&Path, &Path)) -> String {
    erlang_handshake_with(ca, server, client, None)
}

/// [`erlang_handshake`] with a client that trusts `client_ca` (its own root
/// CA bundle) instead of the server's CA file.
pub fn erlang_handshake_with(
    ca: &Path,
    server: (&Path, &Path),
    client: (&Path, &Path),
    client_ca: Option<&Path>,
) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls/erlang_server.escript");
    // Riak's R16 stack speaks CBC suites only: hold the server to that.
    let mut cmd = Command::new("escript");
    cmd.arg(&script)
        .args([ca, server.0, server.1])
        .env("ERL_TLS_CBC_ONLY", "1");
    let (mut srv, mut out, port) = start_escript(cmd);
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
        .arg(client_ca.unwrap_or(ca))
        // The client checks the node's certificate too: a failed check ends the handshake.
        .arg("-verify_return_error")
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
