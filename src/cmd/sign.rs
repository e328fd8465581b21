//! `pki sign --csr FILE`: a certificate for a key that never leaves its owner.
//!
//! The request's signature is checked (proof that its sender holds the
//! key); its Common Name becomes the user unless `--user` says otherwise;
//! the name rules and our user profile apply exactly as for `pki issue`.
//! Of what the request asks for, only subject alternative names are kept:
//! every other requested extension is ignored, and stderr says which.

use std::path::PathBuf;

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::*;

use crate::certinfo::{key_type_of, rfc3339, CertInfo};
use crate::cmd::issue::{clamp, Request};
use crate::cmd::{shown, Ctx};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::json;
use crate::keys::KeyType;
use crate::names;
use crate::profile::{self, UserProfile, DEFAULT_USER_DAYS, MAX_DAYS};
use crate::store::{CertEntry, Store};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  openssl req -new -newkey rsa:2048 -nodes -keyout myuser.key -subj /CN=myuser -out myuser.csr\n  pki sign --csr myuser.csr > myuser.crt\n  pki sign --csr request.pem --user asp-1 --days 90\n\nThe certificate (PEM) goes to stdout and into the store; no key is stored."
)]
pub struct Args {
    /// The certificate signing request (PEM or DER; - for stdin).
    #[arg(long, value_name = "FILE")]
    pub csr: PathBuf,
    /// The user (and so the CN) to issue for; default: the CSR's Common Name.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Lifetime in days (365, as the deployment documentation uses); never past the CA's own expiry.
    #[arg(long, default_value_t = DEFAULT_USER_DAYS, value_parser = clap::value_parser!(u32).range(1..=MAX_DAYS as i64))]
    pub days: u32,
    /// Replace the user's current certificate (the old one stays in history).
    #[arg(long)]
    pub force: bool,
}

/// What we take from a request once its signature is checked.
pub struct Csr {
    /// Every Common Name of the subject.
    pub common_names: Vec<String>,
    /// The subject, for messages.
    pub subject: String,
    pub key_type: KeyType,
    /// The raw subjectPublicKey bits.
    pub public_key: Vec<u8>,
    /// Requested SANs, in the form `--san` takes.
    pub sans: Vec<String>,
    /// Requested things we do not honour, for the note on stderr.
    pub ignored: Vec<String>,
}

/// Parse a CSR (PEM or DER) and check its signature.
pub fn parse_csr(bytes: &[u8], what: &str) -> Result<Csr> {
    let der = if bytes.starts_with(b"-----BEGIN") {
        let p = ::pem::parse(bytes).map_err(|_| bad_csr(what))?;
        if !p.tag().ends_with("CERTIFICATE REQUEST") {
            return Err(Error::input(
                format!(
                    "{what} is PEM of type {:?}, not a certificate signing request",
                    p.tag()
                ),
                "give a file that starts with -----BEGIN CERTIFICATE REQUEST-----",
            ));
        }
        p.into_contents()
    } else {
        bytes.to_vec()
    };
    let (rest, csr) = X509CertificationRequest::from_der(&der).map_err(|_| bad_csr(what))?;
    if !rest.is_empty() {
        return Err(bad_csr(what));
    }
    csr.verify_signature().map_err(|_| {
        Error::input(
            format!("the signature of {what} does not verify"),
            "the request was altered or made with another key; ask its owner for a fresh one",
        )
    })?;
    let info = &csr.certification_request_info;
    let spki = &info.subject_pki;
    let key_type = key_type_of(spki).ok_or_else(|| {
        Error::input(
            format!(
                "{what} is for a key pki does not support ({})",
                spki.algorithm.algorithm.to_id_string()
            ),
            "ask for an RSA 2048/3072/4096 key (the ephemeral store needs RSA)",
        )
    })?;
    let common_names = info
        .subject
        .iter_common_name()
        .map(|cn| {
            cn.as_str()
                .map(str::to_string)
                .unwrap_or_else(|_| "<unreadable>".into())
        })
        .collect::<Vec<_>>();
    let mut ignored = Vec::new();
    let other_rdns = info
        .subject
        .iter_attributes()
        .filter(|a| a.attr_type() != &x509_parser::oid_registry::OID_X509_COMMON_NAME)
        .count();
    if other_rdns > 0 {
        ignored.push(format!("{other_rdns} subject attribute(s) besides CN"));
    }
    let mut sans = Vec::new();
    for attr in info.iter_attributes() {
        if let ParsedCriAttribute::ExtensionRequest(req) = attr.parsed_attribute() {
            for ext in &req.extensions {
                match ext.parsed_extension() {
                    ParsedExtension::SubjectAlternativeName(san) => {
                        for n in &san.general_names {
                            match n {
                                GeneralName::DNSName(d) => sans.push(d.to_string()),
                                GeneralName::RFC822Name(e) => sans.push(e.to_string()),
                                GeneralName::URI(u) => sans.push(u.to_string()),
                                GeneralName::IPAddress(b) => match ip(b) {
                                    Some(a) => sans.push(a),
                                    None => ignored.push("a malformed IP address SAN".into()),
                                },
                                other => ignored.push(format!("SAN {other:?}")),
                            }
                        }
                    }
                    _ => ignored.push(extension_name(&ext.oid.to_id_string())),
                }
            }
        }
    }
    Ok(Csr {
        common_names,
        subject: info.subject.to_string(),
        key_type,
        public_key: spki.subject_public_key.data.to_vec(),
        sans,
        ignored,
    })
}

fn ip(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?).to_string()),
        _ => None,
    }
}

fn extension_name(oid: &str) -> String {
    match oid {
        "2.5.29.15" => "keyUsage".into(),
        "2.5.29.37" => "extendedKeyUsage".into(),
        "2.5.29.19" => "basicConstraints".into(),
        "2.5.29.14" => "subjectKeyIdentifier".into(),
        "2.5.29.31" => "cRLDistributionPoints".into(),
        other => format!("extension {other}"),
    }
}

fn bad_csr(what: &str) -> Error {
    Error::input(
        format!("{what} is not a certificate signing request"),
        "give a PKCS#10 request, e.g. from `openssl req -new`",
    )
}

/// The CSR's public key, for rcgen to put into the certificate.
struct CsrKey<'a> {
    raw: &'a [u8],
    alg: &'static rcgen::SignatureAlgorithm,
}

impl rcgen::PublicKeyData for CsrKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.raw
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.alg
    }
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let what = a.csr.display().to_string();
    let bytes = if a.csr.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v).map_err(|source| {
            Error::Read {
                path: "stdin".into(),
                source,
            }
        })?;
        v
    } else {
        fsutil::read_input(&a.csr)?
    };
    let csr = parse_csr(&bytes, &what)?;
    let user = match &a.user {
        Some(u) => u.clone(),
        None => match csr.common_names.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(Error::input(
                    format!("{what} has no Common Name ({})", csr.subject),
                    "name the user with --user USER",
                ))
            }
            _ => {
                return Err(Error::input(
                    format!(
                        "{what} has {} Common Names, Riak wants exactly one",
                        csr.common_names.len()
                    ),
                    "name the user with --user USER",
                ))
            }
        },
    };
    names::validate_user(&user)?;
    for s in &csr.sans {
        profile::parse_san(s)?;
    }
    let index = ctx.store.read_index()?;
    index.ca(&ctx.store)?;
    let _lock = ctx.store.lock(ctx.wait)?;
    let mut index = ctx.store.read_index()?;
    if !a.force && index.active(&user).is_some() {
        return Err(Error::refused(
            format!("user {user:?} already has a certificate"),
            "pass --force to replace it (the old one stays in history)",
        ));
    }
    let ca_serial = index.ca(&ctx.store)?.serial.clone();
    let signer = ctx.store.signer(&index)?;
    if ctx.now >= signer.not_after {
        return Err(Error::refused(
            format!("the root CA expired on {}", rfc3339(signer.not_after)),
            "create a new one with `pki rotate --ca` (or `pki init --force`)",
        ));
    }
    if a.user.is_some() && csr.common_names.first() != Some(&user) {
        ctx.warn(format!(
            "the request's subject is {:?}; the certificate's CN is {user}",
            csr.subject
        ));
    }
    if !csr.ignored.is_empty() {
        ctx.warn(format!(
            "ignored from the request (pki applies its own user profile): {}",
            csr.ignored.join(", ")
        ));
    }
    if !csr.key_type.is_rsa() {
        ctx.warn(format!(
            "{} client keys cannot talk to the ASP ephemeral store, whose TLS stack needs RSA",
            csr.key_type
        ));
    }
    let req = Request {
        user: user.clone(),
        key_type: csr.key_type,
        days: a.days,
        sans: csr.sans.clone(),
    };
    let (not_before, not_after) = clamp(ctx, &req, signer.not_after);
    let serial = loop {
        let s = profile::random_serial()?;
        if !index.serial_in_use(&profile::hex(&s)) {
            break s;
        }
    };
    let params = profile::user_params(&UserProfile {
        user: &user,
        serial: &serial,
        not_before,
        not_after,
        sans: &req.sans,
        crl_url: index.settings.crl_url.as_deref(),
    })?;
    let key = CsrKey {
        raw: &csr.public_key,
        alg: csr.key_type.signature_algorithm(),
    };
    let der = signer.sign(&params, &key)?;
    let info = CertInfo::from_der(&der, "the new certificate")?;
    let (cert_rel, _) = Store::user_paths(&user, &info.serial);
    ctx.store.write_cert(&cert_rel, &der)?;
    let replaced = index.supersede(&user);
    index.certificates.push(CertEntry::from_info(
        &user,
        &info,
        &ca_serial,
        cert_rel.clone(),
        None,
        ctx.now,
    )?);
    ctx.store.write_index(&index)?;
    let ev = crate::audit::Event::new("sign", "signed")
        .user(&user)
        .serial(&info.serial)
        .detail(match &replaced {
            Some(old) => format!("from a CSR; replaces serial {old}"),
            None => "from a CSR; the key stays with its owner".to_string(),
        });
    crate::audit::record(&ctx.store, ctx, ev)?;

    let issued = json::Issued::from_info(
        &user,
        &info,
        shown(ctx, &cert_rel).display().to_string(),
        None,
        replaced,
    );
    ctx.say(format!(
        "signed {user} (serial {}, valid until {}); the key stays with its owner",
        issued.serial, issued.not_after
    ));
    if ctx.json {
        ctx.emit_json(&json::IssueDoc {
            version: json::VERSION,
            issued: vec![issued],
        })
    } else {
        ctx.data(&crate::certinfo::der_to_pem(&der))
    }
}
