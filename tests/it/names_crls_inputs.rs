//! `sign` keeps the type of every requested
//! name, one CRL per CA (each at a URL of its own) through every phase of a
//! rollover, and the smaller refusals (a bad stored CRL, CA serials out of
//! RFC 5280's range, capped input files, duplicate JSON keys, man page
//! modes, weak CAs named for what they are, BMPString names).

use crate::support::common;

use common::*;

/// Make a CSR for `cn` with openssl, asking for `san` (openssl's syntax).
fn csr(env: &Env, name: &str, cn: &str, san: &str) {
    sh(
        env,
        &format!(
            "openssl req -new -newkey rsa:2048 -nodes -keyout {name}.key -subj /CN={cn} \
             -addext 'subjectAltName={san}' -out {name}.csr 2>/dev/null"
        ),
    );
}

/// What openssl prints for extension `ext` of a certificate.
fn openssl_ext(cert: &std::path::Path, ext: &str) -> String {
    let (ok, out) = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-ext", ext]);
    assert!(ok, "{out}");
    out
}

/// The subjectAltName line of a certificate, as openssl prints it.
fn sans(path: &std::path::Path) -> String {
    let out = openssl_ext(path, "subjectAltName");
    out.lines().nth(1).unwrap_or("").trim().to_string()
}

#[test]
fn sign_keeps_the_type_of_every_requested_name_or_refuses_it() {
    let env = Env::with_users(&[]);
    // Names whose text reads as their own type are signed, types intact.
    csr(
        &env,
        "good",
        "good",
        "DNS:node-1.example,IP:10.1.2.3,email:ops@corp.example,URI:spiffe://corp/svc",
    );
    let r = env.run(&["sign", "--csr", "good.csr"]);
    r.ok();
    std::fs::write(env.path("good.crt"), &r.stdout).unwrap();
    assert_eq!(
        sans(&env.path("good.crt")),
        "DNS:node-1.example, IP Address:10.1.2.3, email:ops@corp.example, URI:spiffe://corp/svc"
    );
    // Names that would change type are refused, with the request named.
    for (name, san, parts) in [
        (
            "dnsip",
            "DNS:10.1.2.3",
            &["dnsip.csr", "DNS name \"10.1.2.3\"", "is an IP address"][..],
        ),
        (
            "dnsmail",
            "DNS:admin@corp.example",
            &[
                "dnsmail.csr",
                "DNS name \"admin@corp.example\"",
                "not a valid DNS name",
            ],
        ),
        (
            "maildns",
            "email:backup.example",
            &["maildns.csr", "e-mail address \"backup.example\"", "no @"],
        ),
        (
            "urn",
            "URI:urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
            &["urn.csr", "URI \"urn:uuid:"],
        ),
    ] {
        csr(&env, name, name, san);
        let r = env.run(&["sign", "--csr", &format!("{name}.csr")]);
        r.code(2).one_line_error(parts);
        assert!(!r.stderr.contains("--san"), "{}", r.stderr);
        assert!(r.stdout.is_empty());
    }
    let ix = env.run(&["list", "--all", "--json"]);
    ix.ok();
    for name in ["dnsip", "dnsmail", "maildns", "urn"] {
        assert!(
            !ix.stdout.contains(&format!("\"{name}\"")),
            "{name} was signed"
        );
    }
}

/// The CRL distribution point a certificate names.
fn cdp(cert: &std::path::Path) -> String {
    let out = openssl_ext(cert, "crlDistributionPoints");
    let at = out.find("URI:").expect("a CRL URI") + 4;
    out[at..].lines().next().unwrap().trim().to_string()
}

/// `openssl verify -crl_check` of `cert` against `ca` with `crl`.
fn crl_verify(
    ca: &std::path::Path,
    crl: &std::path::Path,
    cert: &std::path::Path,
) -> (bool, String) {
    openssl(&[
        "verify",
        "-crl_check",
        "-CAfile",
        ca.to_str().unwrap(),
        "-CRLfile",
        crl.to_str().unwrap(),
        cert.to_str().unwrap(),
    ])
}

#[test]
fn every_phase_of_a_rollover_has_one_crl_per_ca_at_a_url_of_its_own() {
    let env = Env::new();
    let url = "http://crl.example/crl/rootCA.crl";
    env.run(&["init", "--crl-url", url]).ok();
    env.run(&["issue", "alice", "bob", "carol", "dave"]).ok();
    let web = env.path("www");
    std::fs::create_dir(&web).unwrap();
    let out = web.join("rootCA.crl");
    let out = out.to_str().unwrap();
    let keep = |user: &str, tag: &str| {
        let to = env.path(&format!("{user}-{tag}.crt"));
        std::fs::copy(env.user_files(user).0, &to).unwrap();
        to
    };
    // The file a URL names, under the published directory.
    let served = |url: &str| web.join(url.rsplit('/').next().unwrap());
    let old_ca = env.path("old-ca.crt");
    std::fs::copy(env.ca_files().0, &old_ca).unwrap();
    let (alice_old, bob_old) = (keep("alice", "old"), keep("bob", "old"));
    env.run(&["revoke", "bob"]).ok();

    // trust: the old CA signs; the new one has a CRL of its own already.
    env.run(&["rollover", "start"]).ok();
    let ix = env.index();
    let new = ix.rollover.as_ref().unwrap().other.clone();
    let new_ca = env.store().join(&new.cert);
    let own = format!("http://crl.example/crl/rootCA-{}.crl", new.serial);
    env.run(&["crl", "--out", out]).ok();
    assert_eq!(cdp(&alice_old), url);
    for (cert, want) in [(&alice_old, true), (&bob_old, false)] {
        let (ok, why) = crl_verify(&old_ca, &served(&cdp(cert)), cert);
        assert_eq!(ok, want, "trust, {}: {why}", cert.display());
    }
    let (ok, why) = openssl(&[
        "crl",
        "-in",
        served(&own).to_str().unwrap(),
        "-CAfile",
        new_ca.to_str().unwrap(),
        "-noout",
    ]);
    assert!(
        ok,
        "the new CA's CRL, at its own URL, is signed by it: {why}"
    );
    env.run(&["check"]).ok();

    // switch: the new CA signs under its own URL; the old CA's users keep theirs.
    env.run(&["rollover", "advance", "--force"]).ok();
    let alice_new = keep("alice", "new");
    assert_eq!(cdp(&alice_new), own);
    let carol_new = keep("carol", "new");
    env.run(&["revoke", "carol"]).ok();
    env.run(&["check"]).code(3);
    env.run(&["crl", "--out", out]).ok();
    env.run(&["check"]).ok();
    for (ca, cert, want) in [
        (&old_ca, &alice_old, true),
        (&old_ca, &bob_old, false),
        (&new_ca, &alice_new, true),
        (&new_ca, &carol_new, false),
    ] {
        let (ok, why) = crl_verify(ca, &served(&cdp(cert)), cert);
        assert_eq!(ok, want, "switch, {}: {why}", cert.display());
    }
    // --json names the other CA's CRL, its file and its URL.
    let doc = env.run(&["crl", "--json", "--out", out]).ok().json();
    assert_eq!(doc["crl_url"], own.as_str());
    assert_eq!(
        doc["other"]["ca_serial"],
        ix.ca.as_ref().unwrap().serial.to_string()
    );
    assert_eq!(doc["other"]["crl_url"], url);
    assert_eq!(doc["other"]["out"], out);
    assert_eq!(doc["other"]["revoked"][0]["user"], "bob");
    // A CA's CRL at the other's URL is no CRL for its certificates.
    let (ok, _) = crl_verify(&new_ca, &served(url), &alice_new);
    assert!(!ok);

    // done: only the new CA, still at its own URL.
    env.run(&["rollover", "advance", "--force"]).ok();
    let dave_new = keep("dave", "new");
    env.run(&["revoke", "dave"]).ok();
    env.run(&["crl", "--out", out]).ok();
    for (cert, want) in [(&alice_new, true), (&carol_new, false), (&dave_new, false)] {
        let (ok, why) = crl_verify(&new_ca, &served(&cdp(cert)), cert);
        assert_eq!(ok, want, "done, {}: {why}", cert.display());
    }
    env.run(&["verify"]).ok();
}

#[test]
fn verify_fails_on_a_stored_crl_that_is_garbage_or_signed_by_another_key() {
    let env = Env::with_users(&["alice"]);
    env.run(&["revoke", "alice"]).ok();
    env.run(&["crl"]).ok();
    let crl = env.store().join("crl/1.crl");
    let r = env.run(&["verify", "--json"]);
    let doc = r.ok().json();
    let crl_checks = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "crl" && f["ok"] == true)
        .count();
    assert_eq!(crl_checks, 1, "{}", r.stdout);
    // Garbage where the CRL was.
    std::fs::write(&crl, "not a CRL\n").unwrap();
    let r = env.run(&["verify"]);
    r.code(3);
    assert!(r.stdout.contains("crl/1.crl is not a CRL"), "{}", r.stdout);
    // A CRL with the same issuer name and number, signed by another CA's key.
    let other = Env::with_users(&["alice"]);
    other.run(&["revoke", "alice"]).ok();
    other.run(&["crl"]).ok();
    std::fs::copy(other.store().join("crl/1.crl"), &crl).unwrap();
    let r = env.run(&["verify"]);
    r.code(3);
    assert!(
        r.stdout
            .contains("signature that does not verify with the CA's key"),
        "{}",
        r.stdout
    );
}

#[test]
fn an_imported_ca_with_a_negative_or_over_long_serial_is_refused() {
    let env = Env::new();
    sh(
        &env,
        "openssl genrsa -out ca.key 2048 2>/dev/null
         openssl req -x509 -new -key ca.key -subj /CN=rootCA -days 365 -set_serial -5 -out neg.crt
         openssl req -x509 -new -key ca.key -subj /CN=rootCA -days 365 \
           -set_serial 0x7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f -out long.crt
         openssl req -x509 -new -key ca.key -subj /CN=rootCA -days 365 \
           -set_serial 0x7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f -out twenty.crt",
    );
    let before = env.snapshot(env.root());
    env.run(&["import", "--cert", "neg.crt", "--key", "ca.key"])
        .code(2)
        .one_line_error(&["neg.crt has a negative serial number", "RFC 5280"]);
    env.run(&["import", "--cert", "long.crt", "--key", "ca.key"])
        .code(2)
        .one_line_error(&["long.crt has a serial number of 30 octets", "at most 20"]);
    assert_eq!(env.snapshot(env.root()), before);
    // 20 octets is the most RFC 5280 allows, and is taken.
    env.run(&["import", "--cert", "twenty.crt", "--key", "ca.key"])
        .ok();
}

#[test]
fn weak_cas_are_named_for_what_they_are_not_as_not_self_signed() {
    let env = Env::new();
    sh(
        &env,
        "openssl genrsa -out k1024.key 1024 2>/dev/null
         openssl req -x509 -new -key k1024.key -subj /CN=rootCA -days 365 -out rsa1024.crt
         openssl genrsa -out ca.key 2048 2>/dev/null
         openssl req -x509 -new -key ca.key -subj /CN=rootCA -days 365 -md5 -out md5.crt",
    );
    for (cert, key, parts) in [
        (
            "rsa1024.crt",
            "k1024.key",
            &["1024-bit RSA key", "weak key"][..],
        ),
        (
            "md5.crt",
            "ca.key",
            &["md5WithRSAEncryption", "weak signature algorithm"],
        ),
    ] {
        let r = env.run(&["import", "--cert", cert, "--key", key]);
        r.code(2).one_line_error(parts);
        assert!(!r.stderr.contains("not self-signed"), "{}", r.stderr);
    }
}

#[test]
fn a_bmpstring_common_name_is_decoded_and_named_as_such() {
    let env = Env::with_users(&[]);
    std::fs::write(
        env.path("bmp.cnf"),
        "[req]\ndistinguished_name=dn\nprompt=no\nstring_mask=MASK:0x800\n[dn]\nCN=bmpuser\n",
    )
    .unwrap();
    sh(
        &env,
        "openssl req -new -newkey rsa:2048 -nodes -keyout bmp.key -config bmp.cnf -out bmp.csr 2>/dev/null
         openssl asn1parse -in bmp.csr | grep -q BMPSTRING",
    );
    let r = env.run(&["sign", "--csr", "bmp.csr"]);
    r.ok();
    assert!(
        r.stderr.contains("\"bmpuser\" is a BMPString") && !r.stderr.contains("<unreadable>"),
        "{}",
        r.stderr
    );
    std::fs::write(env.path("bmp.crt"), &r.stdout).unwrap();
    let (ok, subject) = openssl(&[
        "x509",
        "-in",
        env.path("bmp.crt").to_str().unwrap(),
        "-noout",
        "-subject",
        "-nameopt",
        "show_type",
    ]);
    assert!(ok && subject.contains("CN=UTF8STRING:bmpuser"), "{subject}");
    env.run(&["verify", "bmpuser"]).ok();
}

#[test]
fn input_files_are_read_with_a_cap() {
    let env = Env::with_users(&["alice"]);
    // A 1 GB file (sparse): refused after reading 1 MiB and one byte of it.
    let big = std::fs::File::create(env.path("big.csr")).unwrap();
    big.set_len(1 << 30).unwrap();
    let t = std::time::Instant::now();
    env.run(&["sign", "--csr", "big.csr"])
        .code(2)
        .one_line_error(&["big.csr is larger than 1024 KiB"]);
    assert!(t.elapsed() < std::time::Duration::from_secs(20));
    // The same cap on stdin.
    let r = env.run_stdin(&["sign", "--csr", "-"], &"x".repeat((1 << 20) + 1));
    r.code(2).one_line_error(&["stdin is larger than 1024 KiB"]);
    // Every other input file is read through the same function.
    env.run(&["verify", "--cert", "big.csr"])
        .code(2)
        .one_line_error(&["larger than 1024 KiB"]);
}

#[test]
fn a_merge_file_with_a_key_twice_is_refused() {
    let env = Env::with_users(&["alice"]);
    std::fs::write(
        env.path("app.json"),
        r#"{"id":"/ephemeral-store","env":{"KEEP":"1"},"env":{"OTHER":"2"}}"#,
    )
    .unwrap();
    let r = env.run(&[
        "export", "marathon", "--user", "alice", "--merge", "app.json",
    ]);
    r.code(2)
        .one_line_error(&["app.json has a duplicate key \"env\""]);
    assert!(r.stdout.is_empty());
}

#[test]
fn man_pages_are_0644_under_umask_000() {
    let mut env = Env::new();
    env.umask = Some(0);
    env.run(&["man", "--out", "man1"]).ok();
    let mut n = 0;
    for e in std::fs::read_dir(env.path("man1")).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p), 0o644, "{}", p.display());
        n += 1;
    }
    assert!(n > 10);
}
