//! Issue 20, items 9, 11 and 12: `sign` keeps the type of every requested
//! name, one CRL per CA (each at a URL of its own) through every phase of a
//! rollover, and the smaller refusals (a bad stored CRL, CA serials out of
//! RFC 5280's range, capped input files, duplicate JSON keys, man page
//! modes, weak CAs named for what they are, BMPString names).

mod common;

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

/// The subjectAltName line of a certificate, as openssl prints it.
fn sans(path: &std::path::Path) -> String {
    let (ok, out) = openssl(&[
        "x509",
        "-in",
        path.to_str().unwrap(),
        "-noout",
        "-ext",
        "subjectAltName",
    ]);
    assert!(ok, "{out}");
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
    let (ok, out) = openssl(&[
        "x509",
        "-in",
        cert.to_str().unwrap(),
        "-noout",
        "-ext",
        "crlDistributionPoints",
    ]);
    assert!(ok, "{out}");
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
