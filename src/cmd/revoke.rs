//! `pki revoke USER | --serial HEX`: mark a certificate revoked in the index.
//!
//! Revocation takes effect for Riak only once a new CRL is made (`pki crl`)
//! and published at the URL the certificates name (docs/revocation.md).

use crate::ca::revoke::{revoke, still_valid_superseded, target};
use crate::cmd::Ctx;
use crate::error::Result;
use crate::json;
use crate::x509::cert::{rfc3339, whole_seconds};
use crate::x509::crl::Reason;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  pki revoke myuser\n  pki revoke --serial 5a3c0e1f --reason key-compromise   # a unique prefix of 8+ hex digits\n  pki crl --out /srv/crl/rootCA.crl --format der   # then publish: Riak sees only the published CRL\n\nRevoking a user's current certificate frees the name: `pki issue USER` works again without --force."
)]
pub struct Args {
    /// The user whose current certificate is revoked.
    #[arg(
        value_name = "USER",
        add = crate::cli::user_names(),
        required_unless_present = "serial",
        conflicts_with = "serial"
    )]
    pub user: Option<String>,
    /// Revoke the certificate with this serial (hex, as `pki list --all` shows, or a unique prefix of 8+ digits), current or superseded.
    #[arg(long, value_name = "HEX")]
    pub serial: Option<String>,
    /// The reason recorded in the CRL.
    #[arg(long, value_enum, default_value_t = Reason::Unspecified)]
    pub reason: Reason,
    #[command(flatten)]
    pub lock: crate::cli::Wait,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let (user, serial) = (a.user.as_deref(), a.serial.as_deref());
    // Check unlocked first: a bad name or serial is exit 2 without waiting.
    // `revoke USER` reads and writes only that user's entries (in a store
    // whose index is in shards, one revoke costs O(change)); a serial may
    // be anyone's.
    let named: Vec<String> = user.map(String::from).into_iter().collect();
    let whose = user.map(|_| named.as_slice());
    let index = ctx.store.read_index_for(whose)?;
    index.ca(&ctx.store)?;
    target(&index, user, serial)?;
    if let Some(hex) = serial {
        if let (full, true) = crate::ca::revoke::resolve_serial(&index, hex)? {
            let who = index
                .certificates
                .iter()
                .find(|c| c.serial == full)
                .map_or(String::new(), |c| format!("{}'s certificate ", c.user));
            ctx.say(format!("--serial {} matches {who}{full}", hex.trim()));
        }
    }
    let done = ctx.store.transact_for(whose, ctx.wait, ctx.now, |tx| {
        let Some(i) = target(&tx.index, user, serial)? else {
            return Ok(None);
        };
        let (c, ev) = revoke(&mut tx.index, i, a.reason, tx.now);
        tx.record(ev);
        // The current CA's CRL lists it when its key signed it.
        let listed = tx.index.same_key(&c.ca_serial, tx.index.ca(tx.store)?);
        let older = still_valid_superseded(&tx.index, &c.user, tx.now);
        Ok(Some((
            c,
            listed,
            tx.index.settings.crl_url.is_none(),
            older,
        )))
    })?;
    let Some((c, listed, no_crl_url, older)) = done else {
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
    // A revoked user leaves what the controller reads by reference.
    crate::cmd::republish(ctx, "revoke")?;
    // Shown as the CRL will carry it (the index keeps the instant).
    let now = whole_seconds(c.revoked_at.expect("just revoked"));
    ctx.say(format!(
        "revoked {} (serial {}, reason {}) at {}",
        c.user,
        c.serial,
        a.reason.name(),
        rfc3339(now)
    ));
    if !listed {
        ctx.warn(format!(
            "serial {} was issued by an earlier CA: the CRL of the current CA cannot list it; stop trusting the old CA instead",
            c.serial
        ));
    } else {
        ctx.say("Riak learns of it only from a published CRL: run `pki crl --out FILE --format der` and publish FILE (docs/revocation.md)");
    }
    for (serial, not_after) in &older {
        ctx.warn(format!(
            "{} also has an older certificate, serial {serial}, superseded but not revoked and valid until {}: a client that still holds it can log in; revoke it too with `pki revoke --serial {serial}`",
            c.user,
            rfc3339(*not_after)
        ));
    }
    if no_crl_url {
        ctx.warn("this store's certificates carry no CRL distribution point, so Riak cannot check revocation; see `pki config set crl-url`");
    }
    if ctx.json {
        ctx.emit_json(&json::RevokeDoc {
            version: json::VERSION,
            revoked: Some(json::Revoked {
                user: c.user.clone(),
                serial: c.serial.to_string(),
                revoked_at: rfc3339(now),
                reason: a.reason.name().into(),
            }),
        })?;
    }
    Ok(())
}
