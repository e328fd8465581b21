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
