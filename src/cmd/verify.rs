//! `pki verify`: check the store (or one certificate file) against the rules
//! the ephemeral store's TLS stack applies and the store's own invariants.
//! One line per finding; exit 3 when any check fails.
//!
//! The CA: its files and index entry, self-signature, CA:TRUE (an X.509 v1
//! root, as the documented openssl procedure makes, passes as OpenSSL and
//! Erlang accept it), keyCertSign when it carries keyUsage, validity, key
//! match, modes. Each user: the file matches its index entry, the signature
//! chains to the store CA, exactly one CN that is the user and follows
//! Riak's name rules (PrintableString or UTF8String), inside the validity
//! window and not outliving the CA, clientAuth in extendedKeyUsage, the key
//! matches the certificate, key 0600 and directories 0700. History
//! (superseded and revoked certificates, earlier CAs): the files named by
//! the index are there and unchanged.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::prelude::*;

use crate::cmd::Ctx;
use crate::error::{one_line, Error, Result};
use crate::json::{self, Finding, VerifyDoc};
use crate::store::{CaEntry, CertEntry, CertState, Index};
use crate::x509::cert::{rfc3339, sha256_hex};
use crate::x509::keys::PrivateKey;

const AFTER_HELP: &str = "\
Examples:
  pki verify                          # the CA, every current user, and the history files
  pki verify alice bob
  pki verify --cert client.crt --key client.key   # any certificate against the store CA
  pki verify --json | jq '.findings[] | select(.ok | not)'

Exit codes: 0 every check passed; 3 a check failed (the failing lines say which).";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Only these users (default: every user, and the store's history).
    #[arg(value_name = "USER", add = crate::cli::user_names(), conflicts_with = "cert")]
    pub users: Vec<String>,
    /// Verify this PEM certificate file against the store CA instead.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// With --cert: the private key that should match it.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
}

/// The findings so far.
struct Report {
    findings: Vec<Finding>,
}

type Outcome = std::result::Result<String, String>;

impl Report {
    fn add(&mut self, user: Option<&str>, serial: Option<&str>, check: &str, r: Outcome) {
        let (ok, message) = match r {
            Ok(m) => (true, m),
            Err(m) => (false, m),
        };
        self.findings.push(Finding {
            user: user.map(str::to_string),
            serial: serial.map(str::to_string),
            check: check.into(),
            ok,
            message,
        });
    }
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    for u in &a.users {
        crate::x509::names::validate_user(u)?;
    }
    let cert_input = match &a.cert {
        Some(p) => Some(crate::store::fs::read_input_text(p)?),
        None => None,
    };
    // A store that is not private is reported, not read: whatever a link
    // in it points to is not the store's to verify.
    let scanned = ctx.store.scan();
    let store_finding = |r: &mut Report, s: &crate::store::Scanned| {
        let res = if s.ok {
            Ok(s.message.clone())
        } else {
            Err(s.message.clone())
        };
        r.add(None, None, "store", res);
    };
    if scanned.iter().any(|s| !s.ok) {
        let mut r = Report {
            findings: Vec::new(),
        };
        for s in &scanned {
            store_finding(&mut r, s);
        }
        return emit(ctx, r);
    }
    let index = ctx.store.read_index()?;
    index.ca(&ctx.store)?;
    let selected: Vec<&CertEntry> = if a.users.is_empty() {
        index.active_all().collect()
    } else {
        a.users
            .iter()
            .map(|u| {
                index.active(u).ok_or_else(|| Error::NoUser {
                    user: u.to_string(),
                })
            })
            .collect::<Result<_>>()?
    };
    let mut r = Report {
        findings: Vec::new(),
    };
    let ca_der = verify_ca(ctx, index.ca(&ctx.store)?, &mut r);
    // The other CA of a rollover in progress is trusted too: check it the same way.
    if let Some(ro) = &index.rollover {
        verify_ca(ctx, &ro.other, &mut r);
    }
    if let (Some(path), Some(text)) = (&a.cert, &cert_input) {
        verify_file(ctx, path, text, a.key.as_deref(), ca_der.as_deref(), &mut r);
    } else {
        for e in &selected {
            verify_user(ctx, e, ca_der.as_deref(), &mut r);
        }
        if a.users.is_empty() {
            verify_history(ctx, &index, &mut r);
        }
    }
    for s in &scanned {
        store_finding(&mut r, s);
    }
    emit(ctx, r)
}

fn emit(ctx: &Ctx, r: Report) -> Result<()> {
    let failed = r.findings.iter().filter(|f| !f.ok).count();
    let total = r.findings.len();
    if ctx.json {
        ctx.emit_json(&VerifyDoc {
            version: json::VERSION,
            ok: failed == 0,
            findings: r.findings,
        })?;
    } else {
        let mut out = String::new();
        for f in &r.findings {
            out.push_str(&format!(
                "{:<4}  {:<12}  {:<14}  {}\n",
                if f.ok { "ok" } else { "FAIL" },
                f.user.as_deref().unwrap_or(
                    if f.check.starts_with("ca-") || f.check == "history" {
                        "(CA)"
                    } else if f.check == "store" {
                        "(store)"
                    } else {
                        "-"
                    }
                ),
                f.check,
                f.message
            ));
        }
        ctx.text(&out)?;
    }
    if failed == 0 {
        ctx.say(format!("all {total} checks passed"));
        Ok(())
    } else {
        Err(Error::Attention {
            msg: format!("{failed} of {total} checks failed; the FAIL lines say what to fix"),
        })
    }
}

/// The CA's checks; returns its DER when it could be read, for chaining.
fn verify_ca(ctx: &Ctx, ca: &CaEntry, r: &mut Report) -> Option<Vec<u8>> {
    let s = Some(ca.serial.as_str());
    let der = match ctx.store.read_cert_der(&ca.cert) {
        Ok(d) => d,
        Err(e) => {
            r.add(None, s, "ca-file", Err(e.to_string()));
            return None;
        }
    };
    r.add(
        None,
        s,
        "ca-file",
        matches_index(&der, &ca.fingerprint_sha256, &ca.cert),
    );
    let Ok((_, x)) = X509Certificate::from_der(&der) else {
        r.add(
            None,
            s,
            "ca-file",
            Err("the CA certificate does not parse".into()),
        );
        return None;
    };
    r.add(
        None,
        s,
        "ca-signature",
        x.verify_signature(None)
            .map(|_| "self-signature verifies".to_string())
            .map_err(|e| format!("the self-signature does not verify ({e})")),
    );
    let constraints = if x.version() == X509Version::V1 {
        Ok("X.509 v1 root (no extensions): accepted as a CA, as OpenSSL and Erlang do".into())
    } else {
        match x.basic_constraints() {
            Ok(Some(bc)) if bc.value.ca => Ok("basicConstraints CA:TRUE".into()),
            Ok(_) => Err("no basicConstraints CA:TRUE: clients will not accept it as a CA; make a new CA with `pki rotate --ca --force`".into()),
            Err(e) => Err(format!("basicConstraints cannot be read ({e})")),
        }
    };
    r.add(None, s, "ca-constraints", constraints);
    let usage = match x.key_usage() {
        Ok(Some(ku)) if ku.value.key_cert_sign() => Ok("keyUsage includes keyCertSign".into()),
        Ok(Some(_)) => Err("keyUsage lacks keyCertSign: Erlang refuses it as an issuer".into()),
        Ok(None) => Ok("no keyUsage extension (every use allowed)".into()),
        Err(e) => Err(format!("keyUsage cannot be read ({e})")),
    };
    r.add(None, s, "ca-key-usage", usage);
    r.add(None, s, "ca-validity", window(ctx, &x, None));
    let key = ctx.store.read_key(&ca.key);
    r.add(None, s, "ca-key", key_matches(key, &x));
    r.add(None, s, "ca-mode", modes(&ctx.store.dir, &ca.key));
    Some(der)
}

/// A user's current certificate in the store.
fn verify_user(ctx: &Ctx, e: &CertEntry, ca_der: Option<&[u8]>, r: &mut Report) {
    let (u, s) = (Some(e.user.as_str()), Some(e.serial.as_str()));
    let der = match ctx.store.read_cert_der(&e.cert) {
        Ok(d) => d,
        Err(err) => return r.add(u, s, "file", Err(err.to_string())),
    };
    r.add(
        u,
        s,
        "index",
        matches_index(&der, &e.fingerprint_sha256, &e.cert),
    );
    let key = e.key.as_ref().map(|k| ctx.store.read_key(k));
    certificate(ctx, &der, Some(&e.user), ca_der, key, r);
    if let Some(k) = &e.key {
        r.add(u, s, "mode", modes(&ctx.store.dir, k));
    }
}

/// A certificate file given with `--cert` (and maybe `--key`).
fn verify_file(
    ctx: &Ctx,
    path: &Path,
    text: &str,
    key: Option<&Path>,
    ca_der: Option<&[u8]>,
    r: &mut Report,
) {
    let der = match crate::x509::cert::pem_to_der(text, &path.display().to_string()) {
        Ok(d) => d,
        Err(e) => return r.add(None, None, "file", Err(e.to_string())),
    };
    let key_result = key.map(|k| {
        crate::store::fs::read_input_text(k).and_then(|t| {
            PrivateKey::from_pem(&zeroize::Zeroizing::new(t), &k.display().to_string())
        })
    });
    let (user, serial) = certificate(ctx, &der, None, ca_der, key_result, r);
    if let Some(k) = key {
        let mode = std::fs::metadata(k)
            .map(|m| m.mode() & 0o777)
            .map_err(|e| format!("cannot stat {}: {}", k.display(), one_line(&e)));
        let res = mode.and_then(|m| secret_mode(k, m));
        r.add(user.as_deref(), serial.as_deref(), "mode", res);
    }
}

/// The checks of one user certificate. `user` is who it should belong to
/// (None: whoever its CN names). Returns (CN, serial) for labelling.
fn certificate(
    ctx: &Ctx,
    der: &[u8],
    user: Option<&str>,
    ca_der: Option<&[u8]>,
    key: Option<Result<PrivateKey>>,
    r: &mut Report,
) -> (Option<String>, Option<String>) {
    let Ok((_, x)) = X509Certificate::from_der(der) else {
        r.add(
            user,
            None,
            "file",
            Err("not a valid X.509 certificate".into()),
        );
        return (user.map(str::to_string), None);
    };
    let serial = crate::x509::serial::Serial::from_der(x.raw_serial()).to_string();
    let cns: Vec<_> = x.subject().iter_common_name().collect();
    let label = user.map(str::to_string).or_else(|| {
        cns.first()
            .and_then(|c| c.as_str().ok())
            .map(str::to_string)
    });
    let (u, s) = (label.as_deref(), Some(serial.as_str()));
    let ca = ca_der.and_then(|d| X509Certificate::from_der(d).ok().map(|(_, c)| c));
    let chain = match &ca {
        None => Err("the store CA could not be read, so the chain cannot be checked".into()),
        Some(ca) if x.issuer().as_raw() != ca.subject().as_raw() => Err(format!(
            "issued by {:?}, not by the store CA {:?}",
            x.issuer().to_string(),
            ca.subject().to_string()
        )),
        Some(ca) => x
            .verify_signature(Some(ca.public_key()))
            .map(|_| format!("signed by the store CA ({})", ca.subject()))
            .map_err(|e| format!("the signature does not verify with the store CA's key ({e})")),
    };
    r.add(u, s, "chain", chain);
    r.add(u, s, "name", name_rules(&cns, user));
    r.add(u, s, "validity", window(ctx, &x, ca.as_ref()));
    let eku = match x.extended_key_usage() {
        Ok(Some(e)) if e.value.client_auth => Ok("extendedKeyUsage includes clientAuth".into()),
        Ok(Some(_)) => Err("extendedKeyUsage lacks clientAuth: Riak refuses it as a client certificate".into()),
        Ok(None) => Err("no extendedKeyUsage clientAuth: pki issues every client certificate with it; re-issue with `pki rotate --force USER`".into()),
        Err(e) => Err(format!("extendedKeyUsage cannot be read ({e})")),
    };
    r.add(u, s, "eku", eku);
    if let Some(k) = key {
        r.add(u, s, "key", key_matches(k, &x));
    }
    (label, Some(serial))
}

/// Exactly one CN, a string type Riak reads, a valid user name, the right user.
fn name_rules(cns: &[&AttributeTypeAndValue<'_>], user: Option<&str>) -> Outcome {
    let [cn] = cns else {
        return Err(format!(
            "{} Common Names; Riak needs exactly one",
            cns.len()
        ));
    };
    let tag = cn.attr_value().tag();
    if tag != Tag::PrintableString && tag != Tag::Utf8String {
        return Err(format!(
            "the CN is encoded as {tag:?}; Riak reads only PrintableString or UTF8String"
        ));
    }
    let name = cn
        .as_str()
        .map_err(|_| "the CN is not readable text".to_string())?;
    crate::x509::names::validate_user(name).map_err(|e| format!("CN: {e}"))?;
    match user {
        Some(u) if u != name => Err(format!(
            "the CN is {name:?}, but the index files it under {u:?}"
        )),
        _ => Ok(format!("CN {name:?} follows Riak's user-name rules")),
    }
}

/// Inside the validity window at `now`, and (for a user) not outliving the CA.
fn window(ctx: &Ctx, x: &X509Certificate<'_>, ca: Option<&X509Certificate<'_>>) -> Outcome {
    let nb = x.validity().not_before.to_datetime();
    let na = x.validity().not_after.to_datetime();
    if ctx.now < nb {
        return Err(format!("not valid before {}", rfc3339(nb)));
    }
    if ctx.now >= na {
        return Err(format!("expired on {}; run `pki rotate`", rfc3339(na)));
    }
    if let Some(ca) = ca {
        let ca_na = ca.validity().not_after.to_datetime();
        if na > ca_na {
            return Err(format!(
                "valid until {}, after its CA expires ({})",
                rfc3339(na),
                rfc3339(ca_na)
            ));
        }
    }
    Ok(format!("valid until {}", rfc3339(na)))
}

/// The private key's public half is the certificate's.
fn key_matches(key: Result<PrivateKey>, x: &X509Certificate<'_>) -> Outcome {
    let key = key.map_err(|e| e.to_string())?;
    let spki = key.public_key_der().map_err(|e| e.to_string())?;
    if spki == x.public_key().raw {
        Ok(format!(
            "the {} key matches the certificate",
            key.key_type()
        ))
    } else {
        Err("the private key does not belong to this certificate".into())
    }
}

/// The file on disk is the one the index names.
fn matches_index(der: &[u8], fingerprint: &str, rel: &Path) -> Outcome {
    let actual = sha256_hex(der);
    if actual == fingerprint {
        Ok(format!("{} matches the index", rel.display()))
    } else {
        Err(format!(
            "{} has SHA-256 {actual}, the index says {fingerprint}: the file was replaced; restore it from a backup",
            rel.display()
        ))
    }
}

/// A key file in the store: no access for group or others, nor to any
/// directory from the store down to it.
fn modes(store: &Path, key_rel: &Path) -> Outcome {
    let stat = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.mode() & 0o777)
            .map_err(|e| format!("cannot stat {}: {}", p.display(), one_line(&e)))
    };
    let key = store.join(key_rel);
    secret_mode(&key, stat(&key)?)?;
    let mut dir = store.to_path_buf();
    let mut dirs = vec![dir.clone()];
    for part in key_rel.parent().into_iter().flat_map(Path::components) {
        dir.push(part);
        dirs.push(dir.clone());
    }
    for d in &dirs {
        let m = stat(d)?;
        if m & 0o077 != 0 {
            return Err(format!(
                "directory {} has mode {m:04o}, want 0700: chmod 700 {}",
                d.display(),
                d.display()
            ));
        }
    }
    Ok("key 0600, directories 0700".into())
}

fn secret_mode(key: &Path, mode: u32) -> Outcome {
    if mode & 0o077 != 0 {
        Err(format!(
            "key {} has mode {mode:04o}, want 0600: chmod 600 {}",
            key.display(),
            key.display()
        ))
    } else {
        Ok(format!("key mode {mode:04o}"))
    }
}

/// Superseded and revoked certificates and earlier CAs: every file the
/// index names is there and unchanged (nothing is ever lost).
fn verify_history(ctx: &Ctx, index: &Index, r: &mut Report) {
    let files = |cert: &Path, key: Option<&Path>, fp: &str| -> Outcome {
        let der = ctx.store.read_cert_der(cert).map_err(|e| e.to_string())?;
        matches_index(&der, fp, cert)?;
        if let Some(k) = key {
            let p = ctx.store.path(k);
            if !p.is_file() {
                return Err(format!(
                    "{} is missing; restore it from a backup",
                    p.display()
                ));
            }
        }
        Ok(format!(
            "{}{} present and unchanged",
            cert.display(),
            key.map(|k| format!(" and {}", k.display()))
                .unwrap_or_default()
        ))
    };
    for c in index
        .certificates
        .iter()
        .filter(|c| c.state != CertState::Active)
    {
        let res = files(&c.cert, c.key.as_deref(), &c.fingerprint_sha256);
        r.add(Some(&c.user), Some(&c.serial), "history", res);
    }
    for ca in &index.ca_history {
        let res = files(&ca.cert, Some(&ca.key), &ca.fingerprint_sha256);
        r.add(None, Some(&ca.serial), "history", res);
    }
}
