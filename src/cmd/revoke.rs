//! `pki revoke USER | --serial HEX`: mark a certificate revoked in the index.
//!
//! Revocation takes effect for Riak only once a new CRL is made (`pki crl`)
//! and published at the URL the certificates name (docs/revocation.md).

use crate::certinfo::rfc3339;
use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::json;
use crate::names;
use crate::store::{CertState, Index};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  pki revoke myuser\n  pki revoke --serial 3f9a0c... --reason key-compromise\n  pki crl --out /srv/crl/rootCA.crl --format der   # then publish: Riak sees only the published CRL\n\nRevoking a user's current certificate frees the name: `pki issue USER` works again without --force."
)]
pub struct Args {
    /// The user whose current certificate is revoked.
    #[arg(
        value_name = "USER",
        required_unless_present = "serial",
        conflicts_with = "serial"
    )]
    pub user: Option<String>,
    /// Revoke the certificate with this serial (hex, as `pki list --all` shows), current or superseded.
    #[arg(long, value_name = "HEX")]
    pub serial: Option<String>,
    /// The reason recorded in the CRL.
    #[arg(long, value_enum, default_value_t = Reason::Unspecified)]
    pub reason: Reason,
}

/// CRL reason codes (RFC 5280 5.3.1) that make sense for a client certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Reason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    PrivilegeWithdrawn,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Unspecified => "unspecified",
            Reason::KeyCompromise => "key-compromise",
            Reason::CaCompromise => "ca-compromise",
            Reason::AffiliationChanged => "affiliation-changed",
            Reason::Superseded => "superseded",
            Reason::CessationOfOperation => "cessation-of-operation",
            Reason::PrivilegeWithdrawn => "privilege-withdrawn",
        }
    }

    /// The reason stored in the index, read back; unknown names are unspecified.
    pub fn from_name(s: &str) -> Reason {
        <Reason as clap::ValueEnum>::from_str(s, false).unwrap_or(Reason::Unspecified)
    }

    pub fn code(self) -> rcgen::RevocationReason {
        match self {
            Reason::Unspecified => rcgen::RevocationReason::Unspecified,
            Reason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
            Reason::CaCompromise => rcgen::RevocationReason::CaCompromise,
            Reason::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
            Reason::Superseded => rcgen::RevocationReason::Superseded,
            Reason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
            Reason::PrivilegeWithdrawn => rcgen::RevocationReason::PrivilegeWithdrawn,
        }
    }
}

/// A serial as users type it: any case, optional 0x, colons, leading zeros.
pub fn normalise_serial(s: &str) -> Result<String> {
    let t: String = s
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::usage(
            format!("--serial {s:?} is not a hexadecimal serial number"),
            "give the serial as `pki list --all` shows it, e.g. --serial 3f9a...",
        ));
    }
    // The index keeps whole octets without leading zero octets.
    let t = if t.len() % 2 == 1 { format!("0{t}") } else { t };
    let mut out = t.as_str();
    while out.len() > 2 && out.starts_with("00") {
        out = &out[2..];
    }
    Ok(out.to_string())
}

/// Which certificate to revoke: its position in the index, or None when
/// there is nothing to do (already revoked).
fn target(index: &Index, a: &Args) -> Result<Option<usize>> {
    if let Some(hex) = &a.serial {
        let serial = normalise_serial(hex)?;
        if let Some(i) = index.certificates.iter().position(|c| c.serial == serial) {
            return Ok((index.certificates[i].state != CertState::Revoked).then_some(i));
        }
        if index
            .ca
            .iter()
            .chain(&index.ca_history)
            .any(|c| c.serial == serial)
        {
            return Err(Error::input(
                format!("serial {serial} is a CA certificate of this store"),
                "to retire the CA, make a new one (`pki rotate --ca` or `pki init --force`) and redeploy",
            ));
        }
        return Err(Error::input(
            format!("the store has no certificate with serial {serial}"),
            "see `pki list --all` for the serials it knows",
        ));
    }
    let user = a.user.as_deref().expect("clap requires USER or --serial");
    names::validate_user(user)?;
    if let Some(i) = index
        .certificates
        .iter()
        .rposition(|c| c.user == user && c.state == CertState::Active)
    {
        return Ok(Some(i));
    }
    if index
        .certificates
        .iter()
        .any(|c| c.user == user && c.state == CertState::Revoked)
    {
        return Ok(None);
    }
    Err(crate::cmd::show::no_user(user))
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let index = ctx.store.read_index()?;
    index.ca(&ctx.store)?;
    target(&index, &a)?;
    let _lock = ctx.store.lock(ctx.wait)?;
    let mut index = ctx.store.read_index()?;
    let Some(i) = target(&index, &a)? else {
        let what = a.user.clone().or(a.serial.clone()).unwrap_or_default();
        ctx.say(format!("{what} is already revoked; nothing to do"));
        if ctx.json {
            ctx.emit_json(&json::RevokeDoc {
                version: json::VERSION,
                revoked: None,
            })?;
        }
        return Ok(());
    };
    let current_ca = index.ca(&ctx.store)?.serial.clone();
    let now = ctx
        .now
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond");
    let c = &mut index.certificates[i];
    c.state = CertState::Revoked;
    c.revoked_at = Some(now);
    c.revocation_reason = Some(a.reason.name().to_string());
    let c = c.clone();
    ctx.store.write_index(&index)?;
    crate::audit::record(
        &ctx.store,
        ctx,
        crate::audit::Event::new("revoke", "revoked")
            .user(&c.user)
            .serial(&c.serial)
            .detail(format!("reason {}", a.reason.name())),
    )?;
    ctx.say(format!(
        "revoked {} (serial {}, reason {}) at {}",
        c.user,
        c.serial,
        a.reason.name(),
        rfc3339(now)
    ));
    if c.ca_serial != current_ca {
        ctx.warn(format!(
            "serial {} was issued by an earlier CA: the CRL of the current CA cannot list it; stop trusting the old CA instead",
            c.serial
        ));
    } else {
        ctx.say("Riak learns of it only from a published CRL: run `pki crl --out FILE --format der` and publish FILE (docs/revocation.md)");
    }
    if index.settings.crl_url.is_none() {
        ctx.warn("this store's certificates carry no CRL distribution point, so Riak cannot check revocation; see `pki config set crl-url`");
    }
    if ctx.json {
        ctx.emit_json(&json::RevokeDoc {
            version: json::VERSION,
            revoked: Some(json::Revoked {
                user: c.user.clone(),
                serial: c.serial.clone(),
                revoked_at: rfc3339(now),
                reason: a.reason.name().into(),
            }),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_normalised() {
        for (given, want) in [
            ("3F9A", "3f9a"),
            ("0x3f9a", "3f9a"),
            ("3f:9a", "3f9a"),
            ("00003f9a", "3f9a"),
            ("f9a", "0f9a"),
            ("00", "00"),
        ] {
            assert_eq!(normalise_serial(given).unwrap(), want, "{given}");
        }
        for bad in ["", "xyz", "3f 9a", "0x"] {
            assert_eq!(normalise_serial(bad).unwrap_err().code(), 2, "{bad}");
        }
    }

    #[test]
    fn reasons_round_trip_through_their_names() {
        for r in <Reason as clap::ValueEnum>::value_variants() {
            assert_eq!(Reason::from_name(r.name()), *r);
        }
        assert_eq!(Reason::from_name("nonsense"), Reason::Unspecified);
    }
}
