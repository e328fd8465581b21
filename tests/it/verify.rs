//! `pki verify`: a sound store passes; each defect in a table of broken
//! inputs is caught with exit 3 and names the failing check. Bad
//! certificates are made with openssl, signed by the store's own CA.

use crate::support::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::docs::VerifyDoc;
use common::{openssl, Env};

fn verify_doc(r: &common::Run) -> VerifyDoc {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// Sign a certificate for a fresh key with openssl and the store CA.
/// `subj` is openssl's -subj; `ext` the extension lines. Returns (cert, key).
fn openssl_cert(env: &Env, name: &str, subj: &str, ext: &str) -> (PathBuf, PathBuf) {
    let (ca_cert, ca_key) = env.ca_files();
    let key = env.path(&format!("{name}.key"));
    let csr = env.path(&format!("{name}.csr"));
    let cert = env.path(&format!("{name}.crt"));
    let extfile = env.path(&format!("{name}.ext"));
    std::fs::write(&extfile, ext).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let steps: [Vec<String>; 2] = [
        [
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            subj,
            "-keyout",
            &s(&key),
            "-out",
            &s(&csr),
        ]
        .map(String::from)
        .to_vec(),
        [
            "x509",
            "-req",
            "-in",
            &s(&csr),
            "-CA",
            &s(&ca_cert),
            "-CAkey",
            &s(&ca_key),
            "-set_serial",
            "0x1234",
            "-days",
            "30",
            "-extfile",
            &s(&extfile),
            "-out",
            &s(&cert),
        ]
        .map(String::from)
        .to_vec(),
    ];
    for args in steps {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, out) = openssl(&args);
        assert!(ok, "openssl {args:?}: {out}");
    }
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    (cert, key)
}

const CLIENT: &str = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n";

#[test]
fn a_sound_store_passes_every_check() {
    let env = Env::with_users(&["alice", "bob"]);
    env.run(&["issue", "alice", "--force"]).ok(); // history too
    let r = env.run(&["verify", "--json"]);
    let d = verify_doc(r.ok());
    assert!(d.ok && d.findings.iter().all(|f| f.ok), "{d:?}");
    let checks = |user: Option<&str>| -> Vec<String> {
        d.findings
            .iter()
            .filter(|f| f.user.as_deref() == user)
            .map(|f| f.check.clone())
            .collect()
    };
    assert_eq!(
        checks(None),
        [
            "ca-file",
            "ca-signature",
            "ca-constraints",
            "ca-key-usage",
            "ca-validity",
            "ca-key",
            "ca-mode"
        ]
    );
    assert_eq!(
        checks(Some("bob")),
        ["index", "chain", "name", "validity", "eku", "key", "mode"]
    );
    assert_eq!(
        checks(Some("alice"))
            .iter()
            .filter(|c| *c == "history")
            .count(),
        1
    );
    // Human output: one line per finding on stdout.
    let r = env.run(&["verify", "bob"]);
    assert_eq!(r.ok().stdout.lines().count(), 14);
    assert!(
        r.stdout.lines().all(|l| l.starts_with("ok ")),
        "{}",
        r.stdout
    );
    // A good openssl-made client certificate passes with --cert/--key.
    let (cert, key) = openssl_cert(&env, "good", "/CN=dave", CLIENT);
    env.run(&[
        "verify",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ])
    .ok();
    env.run(&["verify", "nobody"]).code(2);
}

/// How to break a store or a file, and the check that must catch it.
struct Case<'a> {
    name: &'a str,
    check: &'a str,
    message: &'a str,
}

#[test]
fn each_defect_is_caught() {
    let env = Env::with_users(&["alice", "bob"]);
    let other = Env::with_users(&["alice"]);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (alice_crt, alice_key) = env.user_files("alice");
    let (_, bob_key) = env.user_files("bob");
    let (bad_cn, bad_cn_key) = openssl_cert(&env, "badcn", "/CN=bad user", CLIENT);
    let (two_cn, two_cn_key) = openssl_cert(&env, "twocn", "/CN=carol/CN=dave", CLIENT);
    let (upper, upper_key) = openssl_cert(&env, "upper", "/CN=Carol", CLIENT);
    let (server, server_key) =
        openssl_cert(&env, "server", "/CN=carol", "extendedKeyUsage=serverAuth\n");
    let (no_eku, no_eku_key) =
        openssl_cert(&env, "noeku", "/CN=carol", "basicConstraints=CA:FALSE\n");
    let (foreign, foreign_key) = other.user_files("alice");
    let (loose, loose_key) = openssl_cert(&env, "loose", "/CN=carol", CLIENT);
    std::fs::set_permissions(&loose_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    // Files checked with --cert/--key: (case, check, message, cert, key).
    let files: [(&str, &str, &str, &Path, &Path); 8] = [
        ("wrong CA", "chain", "store CA", &foreign, &foreign_key),
        ("CN with a space", "name", "a space", &bad_cn, &bad_cn_key),
        ("two CNs", "name", "2 Common Names", &two_cn, &two_cn_key),
        ("upper-case CN", "name", "upper-case", &upper, &upper_key),
        (
            "serverAuth only",
            "eku",
            "lacks clientAuth",
            &server,
            &server_key,
        ),
        (
            "no EKU at all",
            "eku",
            "no extendedKeyUsage",
            &no_eku,
            &no_eku_key,
        ),
        (
            "mismatched key",
            "key",
            "does not belong",
            &alice_crt,
            &bob_key,
        ),
        ("key file 0644", "mode", "0644", &loose, &loose_key),
    ];
    // The store broken in place, then `verify USER`: (case, check, message, user, PKI_NOW, breakage).
    type Prep<'a> = Box<dyn Fn() + 'a>;
    let chmod = |p: PathBuf, m: u32| -> Prep {
        Box::new(move || std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap())
    };
    type StoreRow<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        Prep<'a>,
    );
    let in_store: Vec<StoreRow> = vec![
        (
            "expired",
            "validity",
            "expired on",
            "alice",
            Some("2031-01-01T00:00:00Z"),
            Box::new(|| {}),
        ),
        (
            "store key 0644",
            "mode",
            "0644",
            "alice",
            None,
            chmod(alice_key.clone(), 0o644),
        ),
        (
            "user dir 0755",
            "mode",
            "want 0700",
            "bob",
            None,
            chmod(env.store().join("users/bob"), 0o755),
        ),
        (
            "cert file replaced",
            "index",
            "the index says",
            "alice",
            None,
            Box::new(|| std::fs::copy(&foreign, &alice_crt).map(drop).unwrap()),
        ),
    ];
    let mut table: Vec<(Case, Vec<String>, Option<&str>, Prep)> = Vec::new();
    for (name, check, message, cert, key) in files {
        let args = vec!["--cert".into(), s(cert), "--key".into(), s(key)];
        table.push((
            Case {
                name,
                check,
                message,
            },
            args,
            None,
            Box::new(|| {}),
        ));
    }
    for (name, check, message, user, now, prep) in in_store {
        table.push((
            Case {
                name,
                check,
                message,
            },
            vec![user.into()],
            now,
            prep,
        ));
    }
    for (case, args, now, prep) in table {
        // Run against env's store (the preparations accumulate there).
        let mut runner = Env::new();
        runner.var("PKI_DIR", env.store().to_str().unwrap());
        if let Some(n) = now {
            runner.var("PKI_NOW", n);
        }
        prep();
        let mut argv = vec!["verify", "--json"];
        argv.extend(args.iter().map(String::as_str));
        let r = runner.run(&argv);
        assert_eq!(
            r.code, 3,
            "{}: exit code\n{}\n{}",
            case.name, r.stdout, r.stderr
        );
        let d = verify_doc(&r);
        assert!(!d.ok, "{}", case.name);
        let failed: Vec<_> = d.findings.iter().filter(|f| !f.ok).collect();
        assert!(
            failed
                .iter()
                .any(|f| f.check == case.check && f.message.contains(case.message)),
            "{}: want a failed {:?} finding containing {:?}, got {failed:?}",
            case.name,
            case.check,
            case.message
        );
        // Human form: a FAIL line for it, and the one-line summary on stderr.
        let mut human = vec!["verify"];
        human.extend(args.iter().map(String::as_str));
        let h = runner.run(&human);
        h.code(3).one_line_attention(&["checks failed"]);
        assert!(
            h.stdout
                .lines()
                .any(|l| l.starts_with("FAIL") && l.contains(case.check)),
            "{}",
            h.stdout
        );
    }
}
