//! `pki show USER | --ca | --file PATH`: inspect one certificate.

use std::path::PathBuf;

use crate::ca::policy::Within;
use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::json::{self, CertDetails, ShowDoc};
use crate::x509::cert::CertInfo;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  pki show myuser\n  pki show --ca\n  pki show --file some.crt --json\n  pki show --file some.der"
)]
pub struct Args {
    /// The user whose current certificate to show.
    #[arg(value_name = "USER", add = crate::cli::user_names(), required_unless_present_any = ["ca", "file"], conflicts_with_all = ["ca", "file"])]
    pub user: Option<String>,
    /// Show the root CA certificate.
    #[arg(long, conflicts_with = "file")]
    pub ca: bool,
    /// Show any certificate file, PEM or DER; needs no store.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
}

/// A certificate file given by the user: PEM text, or DER (binary).
fn read_cert_file(path: &std::path::Path) -> Result<CertInfo> {
    let what = path.display().to_string();
    let bytes = crate::store::fs::read_input(path)?;
    match String::from_utf8(bytes) {
        Ok(text) => CertInfo::from_pem(&text, &what),
        Err(e) => CertInfo::from_der(e.as_bytes(), &what).map_err(|_| {
            Error::input(
                format!("{what} is not text, and not a DER certificate either"),
                "give a certificate file, PEM (-----BEGIN CERTIFICATE-----) or DER",
            )
        }),
    }
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let (user, status, info) = if let Some(path) = &a.file {
        (None, None, read_cert_file(path)?)
    } else {
        let index = ctx.store.read_index()?;
        if a.ca {
            let ca = index.ca(&ctx.store)?;
            let der = ctx.store.read_cert_der(&ca.cert)?;
            let status = if ctx.now >= ca.not_after {
                "expired"
            } else {
                "valid"
            };
            (
                None,
                Some(status.to_string()),
                CertInfo::from_der(&der, "the CA certificate")?,
            )
        } else {
            let user = a.user.expect("clap requires USER without --ca or --file");
            crate::x509::names::validate_user(&user)?;
            let entry = index
                .current()
                .into_iter()
                .find(|c| c.user == user)
                .ok_or_else(|| Error::NoUser { user: user.clone() })?;
            let der = ctx.store.read_cert_der(&entry.cert)?;
            let status = crate::ca::policy::status(entry, Within::default(), ctx.now);
            (
                Some(user),
                Some(status.to_string()),
                CertInfo::from_der(&der, "the certificate")?,
            )
        }
    };
    let details = CertDetails::new(&info, ctx.now);
    if ctx.json {
        return ctx.emit_json(&ShowDoc {
            version: json::VERSION,
            user,
            status,
            certificate: details,
        });
    }
    let d = details;
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    let mut out = String::new();
    if let Some(u) = &user {
        out.push_str(&format!("user:                {u}\n"));
    }
    if let Some(s) = &status {
        out.push_str(&format!("status:              {s}\n"));
    }
    out.push_str(&format!(
        "subject:             {}\nissuer:              {}\nserial:              {}\nversion:             X.509 v{}\nnot before:          {}\nnot after:           {} ({} days left)\nkey:                 {}\nsignature:           {}\nCA:                  {}\nkey usage:           {}\nextended key usage:  {}\nalternative names:   {}\nCRL distribution:    {}\nSHA-256 fingerprint: {}\n",
        d.subject,
        d.issuer,
        d.serial,
        d.x509_version,
        d.not_before,
        d.not_after,
        d.days_left,
        d.key_type.as_deref().unwrap_or("unsupported"),
        d.signature_algorithm,
        if d.is_ca { "yes" } else { "no" },
        list(&d.key_usage),
        list(&d.extended_key_usage),
        list(&d.subject_alt_names),
        list(&d.crl_distribution_points),
        d.fingerprint_sha256,
    ));
    ctx.text(&out)
}
