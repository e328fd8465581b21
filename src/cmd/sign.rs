//! `pki sign --csr FILE`: a certificate for a key that never leaves its owner.
//!
//! The request's signature is checked (proof that its sender holds the
//! key); its Common Name becomes the user unless `--user` says otherwise;
//! the name rules and our user profile apply exactly as for `pki issue`.
//! Of what the request asks for, only subject alternative names are kept:
//! every other requested extension is ignored, and stderr says which.

use std::path::PathBuf;

use crate::ca::checks::check_ca_valid;
use crate::ca::issue::{
    non_rsa_warning, prepare, refuse_ca_key, refuse_existing, sign, write_and_record, Request,
};
use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::json;
use crate::store::audit::{Event, Kind};
use crate::store::fs;
use crate::x509::cert::CertInfo;
use crate::x509::csr::{parse_csr, CsrKey};
use crate::x509::names;
use crate::x509::profile::DEFAULT_USER_DAYS;

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
    #[arg(long, default_value_t = DEFAULT_USER_DAYS, value_parser = crate::x509::profile::Days)]
    pub days: u32,
    /// Replace the user's current certificate (the old one stays in history).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub lock: crate::cli::Wait,
    #[command(flatten)]
    pub pass: crate::cli::PassphraseFile,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let what = a.csr.display().to_string();
    let bytes = fs::read_input(&a.csr)?;
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
    let req = Request {
        user: user.clone(),
        key_type: csr.key_type,
        days: a.days,
        sans: csr.sans.clone(),
    };
    let (issued, der) = ctx.store.transact(ctx.wait, ctx.now, |tx| {
        if !a.force {
            refuse_existing(&tx.index, [user.as_str()])?;
        }
        refuse_ca_key(tx.store, &tx.index, &csr.spki_der, &what)?;
        let signer = crate::ca::key::signer(tx.store, &tx.index, &ctx.passphrase)?;
        check_ca_valid(signer.not_before, signer.not_after, tx.now)?;
        if a.user.is_some() && csr.common_names.first() != Some(&user) {
            ctx.warn(format!(
                "the request's subject is {:?}; the certificate's CN is {user}",
                csr.subject
            ));
        }
        if csr.cn_is_bmp && a.user.is_none() {
            ctx.warn(format!(
                "the request's Common Name {user:?} is a BMPString; the certificate's CN is a UTF8String, which Riak reads"
            ));
        }
        if !csr.ignored.is_empty() {
            ctx.warn(format!(
                "ignored from the request (pki applies its own user profile): {}",
                csr.ignored.join(", ")
            ));
        }
        ctx.warn_all(non_rsa_warning(None, csr.key_type));
        let prepared = prepare(&signer, std::slice::from_ref(&req), tx.now)?;
        ctx.warn_all(prepared.warnings.iter());
        let key = CsrKey {
            raw: &csr.public_key,
            alg: csr.key_type.signature_algorithm(),
        };
        let mut serials = tx.index.serials();
        let crl_url = crate::ca::revoke::crl_url_of(&tx.index, &signer.serial);
        let der = sign(
            &signer,
            &mut serials,
            &req,
            prepared.validity[0],
            crl_url.as_deref(),
            &key,
        )?;
        let info = CertInfo::from_der(&der, "the new certificate")?;
        let issued = write_and_record(tx, &user, &info, &der, &signer.serial, None)?;
        tx.record(
            Event::new("sign", Kind::Signed)
                .user(&user)
                .serial(&info.serial)
                .detail(match &issued.replaced_serial {
                    Some(old) => format!("from a CSR; replaces serial {old}"),
                    None => "from a CSR; the key stays with its owner".to_string(),
                }),
        );
        Ok((issued, der))
    })?;
    ctx.say(format!(
        "signed {user} (serial {}, valid until {}); the key stays with its owner",
        issued.info.serial,
        crate::x509::cert::rfc3339(issued.info.not_after)
    ));
    if ctx.json {
        ctx.emit_json(&json::IssueDoc {
            version: json::VERSION,
            issued: vec![crate::cmd::issued_doc(&issued)],
        })
    } else {
        ctx.data(&crate::x509::cert::der_to_pem(&der))
    }
}
