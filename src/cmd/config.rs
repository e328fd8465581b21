//! `pki config`: store-wide settings kept in the index.
//!
//! One setting so far: `crl-url`, the CRL distribution point put into every
//! certificate issued afterwards (docs/revocation.md).

use crate::cmd::Ctx;
use crate::error::Result;
use crate::json;
use crate::x509::profile::check_crl_url;

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Change a setting.
    #[command(
        after_help = "Example:\n  pki config set crl-url http://crl.example.internal/rootCA.crl\n\nCertificates issued afterwards carry it; existing ones do not (re-issue them)."
    )]
    Set {
        /// The setting to change.
        key: Key,
        /// Its new value.
        #[arg(value_name = "VALUE")]
        value: String,
        #[command(flatten)]
        lock: crate::cli::Wait,
    },
    /// Remove a setting.
    Unset {
        /// The setting to remove.
        key: Key,
        #[command(flatten)]
        lock: crate::cli::Wait,
    },
    /// Print the settings.
    Show,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Key {
    /// The CRL distribution point (an http:// URL) of certificates issued from now on.
    CrlUrl,
}

pub fn run(ctx: &Ctx, action: Action) -> Result<()> {
    if let Action::Set { value, .. } = &action {
        check_crl_url(value)?;
    }
    if matches!(action, Action::Show) {
        return show(ctx, &ctx.store.read_index()?.settings.crl_url);
    }
    let new = match &action {
        Action::Set { value, .. } => Some(value.clone()),
        _ => None,
    };
    let changed = ctx.store.transact(ctx.wait, ctx.now, |tx| {
        if tx.index.settings.crl_url == new {
            return Ok(None);
        }
        tx.index.settings.crl_url = new.clone();
        tx.record(
            crate::store::audit::Event::new("config", crate::store::audit::Kind::ConfigChanged)
                .detail(match &new {
                    Some(url) => format!("crl-url set to {url}"),
                    None => "crl-url removed".to_string(),
                }),
        );
        Ok(Some(tx.index.active_all().count()))
    })?;
    let Some(active) = changed else {
        ctx.say("crl-url is already so; nothing to do");
        return if ctx.json { show(ctx, &new) } else { Ok(()) };
    };
    match &new {
        Some(url) => {
            ctx.say(format!(
                "crl-url set to {url}: certificates issued from now on carry it"
            ));
            if active > 0 {
                ctx.warn(format!(
                    "the {active} current certificate(s) do not name it; re-issue them (pki issue --force USER...) if Riak checks CRLs"
                ));
            }
        }
        None => ctx.say(
            "crl-url removed: certificates issued from now on carry no CRL distribution point",
        ),
    }
    if ctx.json {
        show(ctx, &new)
    } else {
        Ok(())
    }
}

fn show(ctx: &Ctx, crl_url: &Option<String>) -> Result<()> {
    if ctx.json {
        return ctx.emit_json(&json::ConfigDoc {
            version: json::VERSION,
            crl_url: crl_url.clone(),
        });
    }
    ctx.data(&format!("crl-url = {}\n", crl_url.as_deref().unwrap_or("")))
}
