//! `pki list`: every current certificate, read from the index alone (no
//! certificate is parsed, so it stays fast on stores of thousands).

use crate::ca::policy::Within;
use crate::cmd::Ctx;
use crate::error::Result;
use crate::json::{self, ListRow};
use crate::store::CertEntry;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  pki list\n  pki list --all --json | jq '.certificates[] | select(.status == \"due\")'"
)]
pub struct Args {
    /// Include superseded certificates (history), not just the current ones.
    #[arg(long)]
    pub all: bool,
    /// What counts as due: 30d, 12h, or a share of the lifetime such as 33%.
    #[arg(long, default_value = "33%", value_parser = crate::ca::policy::parse_within, value_name = "D", allow_hyphen_values = true)]
    pub within: Within,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let index = ctx.store.read_index()?;
    let ca = index.ca(&ctx.store)?;
    let certs: Vec<&CertEntry> = if a.all {
        index.certificates.iter().collect()
    } else {
        index.current()
    };
    // By user; each user's current certificate first, then its history, newest first.
    let mut certs: Vec<(usize, &CertEntry)> = certs.into_iter().enumerate().collect();
    certs.sort_by(|(i, a), (j, b)| {
        let history = |c: &CertEntry| c.state == crate::store::CertState::Superseded;
        (a.user.as_str(), history(a), std::cmp::Reverse(i)).cmp(&(
            b.user.as_str(),
            history(b),
            std::cmp::Reverse(j),
        ))
    });
    let certs: Vec<&CertEntry> = certs.into_iter().map(|(_, c)| c).collect();
    let rows: Vec<ListRow> = certs
        .iter()
        .map(|c| crate::cmd::list_row(c, crate::ca::policy::status(c, a.within, ctx.now), ctx.now))
        .collect();
    if ctx.json {
        return ctx.emit_json(&json::ListDoc {
            version: json::VERSION,
            ca: crate::cmd::ca_summary(ca, ctx.now),
            certificates: rows,
        });
    }
    let mut out = String::new();
    let ca_row = crate::cmd::ca_summary(ca, ctx.now);
    out.push_str(&format!(
        "CA {}  serial {}  not after {}  ({} days left, {})\n",
        ca_row.subject, ca_row.serial, ca_row.not_after, ca_row.days_left, ca_row.key_type
    ));
    if rows.is_empty() {
        out.push_str("no certificates issued yet; run `pki issue USER`\n");
        return ctx.text(&out);
    }
    let w = rows.iter().map(|r| r.user.len()).max().unwrap_or(4).max(4);
    out.push_str(&format!(
        "{:<w$}  {:<40}  {:<20}  {:>9}  {:<10}  {}\n",
        "USER", "SERIAL", "NOT AFTER", "DAYS LEFT", "STATUS", "KEY"
    ));
    for r in &rows {
        out.push_str(&format!(
            "{:<w$}  {:<40}  {:<20}  {:>9}  {:<10}  {}\n",
            r.user, r.serial, r.not_after, r.days_left, r.status, r.key_type
        ));
    }
    ctx.text(&out)
}
