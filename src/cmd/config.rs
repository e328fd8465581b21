//! `pki config`: store-wide settings kept in the index.
//!
//! One setting so far: `crl-url`, the CRL distribution point put into every
//! certificate issued afterwards (docs/revocation.md).

use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::json;

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Change a setting.
    #[command(
        after_help = "Example:\n  pki config set crl-url http://crl.example.internal/rootCA.crl\n\nCertificates issued afterwards carry it; existing ones do not (re-issue them)."
    )]
    Set {
        key: Key,
        #[arg(value_name = "VALUE")]
        value: String,
    },
    /// Remove a setting.
    Unset { key: Key },
    /// Print the settings.
    Show,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Key {
    /// The CRL distribution point (an http:// URL) of certificates issued from now on.
    CrlUrl,
}

/// Check a CRL distribution point URL. Only http: Riak fetches CRLs with a
/// plain HTTP GET (riak_api_ssl), and a CRL is signed, so it needs no TLS.
pub fn parse_crl_url(s: &str) -> Result<String, String> {
    let Some(rest) = s.strip_prefix("http://") else {
        return Err(format!(
            "{s:?} is not an http:// URL: Riak fetches CRLs over plain http only (the CRL is signed, so that is safe)"
        ));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("{s:?} names no host"));
    }
    if let Some(c) = s.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!("{s:?} contains {c:?}; percent-encode it"));
    }
    Ok(s.to_string())
}

/// [`parse_crl_url`] as a usage error (exit 2).
pub fn check_crl_url(s: &str) -> Result<()> {
    parse_crl_url(s)
        .map(drop)
        .map_err(|e| Error::usage(e, "give e.g. http://crl.example.internal/rootCA.crl"))
}

pub fn run(ctx: &Ctx, action: Action) -> Result<()> {
    if let Action::Set { value, .. } = &action {
        parse_crl_url(value)
            .map_err(|e| Error::usage(e, "give e.g. http://crl.example.internal/rootCA.crl"))?;
    }
    let index = ctx.store.read_index()?;
    if matches!(action, Action::Show) {
        return show(ctx, &index.settings.crl_url);
    }
    let _lock = ctx.store.lock(ctx.wait)?;
    let mut index = ctx.store.read_index()?;
    let new = match &action {
        Action::Set { value, .. } => Some(value.clone()),
        _ => None,
    };
    if index.settings.crl_url == new {
        ctx.say("crl-url is already so; nothing to do");
        return if ctx.json { show(ctx, &new) } else { Ok(()) };
    }
    index.settings.crl_url = new.clone();
    ctx.store.write_index(&index)?;
    crate::audit::record(
        &ctx.store,
        ctx,
        crate::audit::Event::new("config", "config-changed").detail(match &new {
            Some(url) => format!("crl-url set to {url}"),
            None => "crl-url removed".to_string(),
        }),
    )?;
    let active = index.active_all().count();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crl_urls_must_be_plain_http() {
        assert!(parse_crl_url("http://crl.example/root.crl").is_ok());
        assert!(parse_crl_url("http://10.0.0.1:8080/crl/root.crl").is_ok());
        for (bad, why) in [
            ("https://crl.example/root.crl", "plain http only"),
            ("ftp://x/y", "plain http only"),
            ("crl.example/root.crl", "plain http only"),
            ("http:///root.crl", "names no host"),
            ("http://x/a b", "' '"),
            ("http://x/é", "'é'"),
        ] {
            let e = parse_crl_url(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
