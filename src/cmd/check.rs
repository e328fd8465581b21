//! `pki check`: monitoring. Exit 0 when nothing is due, 3 when a current
//! certificate or the CA is due or expired. Reads the index alone (no
//! certificate file is opened), so it stays fast on stores of thousands.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::ca::policy::{Standing, Within};
use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::json::{self, CheckDoc};
use crate::store::fs::{self, Replace, PUBLIC_MODE};
use crate::store::{CaEntry, Index};
use crate::ui::prometheus::label;
use crate::x509::cert::rfc3339;

const AFTER_HELP: &str = "\
Examples:
  pki check                          # exit 3 when anything is within a third of its lifetime
  pki check --within 30d --json
  pki -q check --prometheus /var/lib/node_exporter/textfile/pki.prom

Exit codes: 0 nothing due; 3 something due or expired, or the CRL stale
(listed on stdout);
1 or 2 when the store cannot be read.

--prometheus writes a node_exporter textfile (atomically, mode 0644) with
pki_certificate_not_after_seconds{user,serial} for every current
certificate, pki_ca_not_after_seconds{subject,serial} for the CA, and
pki_certificate_due / pki_ca_due (1 when due or expired under --within),
pki_crl_next_update_seconds{number,ca_serial} for the last CRL and
pki_crl_due (1 when the CRL must be made and published anew).
Alert on e.g. `pki_certificate_not_after_seconds - time() < 7 * 86400`.";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// What counts as due: 30d, 12h, or a share of the lifetime left such as 33%.
    #[arg(long, default_value = "33%", value_parser = crate::ca::policy::parse_within, value_name = "D", allow_hyphen_values = true)]
    pub within: Within,
    /// Also write a node_exporter textfile with the expiry of every certificate and of the CA.
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let index = ctx.store.read_index()?;
    let ca = index.ca(&ctx.store)?;
    let ca_standing = a.within.standing(ca.not_before, ca.not_after, ctx.now);
    let crl = crate::ca::revoke::crl_status(&index, ctx.now);
    let crl_due = crl.as_ref().is_some_and(|c| c.attention);
    let mut doc = CheckDoc {
        version: json::VERSION,
        due: Vec::new(),
        expired: Vec::new(),
        ca_due: ca_standing != Standing::Valid,
        crl_warning: crl.map(|c| c.warning),
        crl_due,
        rollover_warning: crate::ca::rollover::stale(&index, ctx.now),
        not_yet_valid: Vec::new(),
        ca_not_yet_valid: ca_standing == Standing::NotYetValid,
        fix: None,
    };
    if let Some(w) = &doc.crl_warning {
        ctx.warn(w);
    }
    if let Some(w) = &doc.rollover_warning {
        ctx.warn(w);
    }
    // Users signed from a CSR cannot be renewed by `pki rotate`.
    let mut from_csr = Vec::new();
    for c in index.active_all() {
        let list = match a.within.standing(c.not_before, c.not_after, ctx.now) {
            Standing::Valid => continue,
            Standing::Due => &mut doc.due,
            Standing::Expired => &mut doc.expired,
            Standing::NotYetValid => &mut doc.not_yet_valid,
        };
        list.push(c.user.clone());
        if c.key.is_none() {
            from_csr.push(c.user.clone());
        }
    }
    if let Some(path) = &a.prometheus {
        crate::cmd::check_prometheus_path(path)?;
        let text = prometheus(&index, ca, a.within, crl_due, ctx.now);
        fs::write_atomic(path, text.as_bytes(), PUBLIC_MODE, Replace::Allow)?;
        ctx.detail(format!("wrote {}", path.display()));
    }
    let mut found = findings(&doc, ca_standing);
    let mut fixes = Vec::new();
    if !found.is_empty() {
        fixes.push(fix(&doc, ca_standing, &from_csr));
    }
    if crl_due {
        found.push("CRL stale".into());
        fixes.push(
            "make and publish a new CRL with `pki crl --out FILE` (see the warning above)".into(),
        );
    }
    // A rotation whose --on-change command has not run yet (its run stopped
    // after the commit): the next `pki rotate` runs it.
    if let Some(h) = crate::store::hook::read(&ctx.store)?.filter(|h| h.committed(&index)) {
        ctx.warn(format!(
            "the --on-change command of a committed rotation has not run yet ({}); the next `pki rotate` runs it",
            h.command
        ));
        found.push("on-change hook pending".into());
        fixes.push("run `pki rotate` to run the pending --on-change command".into());
    }
    // A rollover left half done (its warning says what to run) is attention too.
    let rollover_only = found.is_empty() && doc.rollover_warning.is_some();
    doc.fix = (!fixes.is_empty()).then(|| fixes.join("; "));
    if ctx.json {
        ctx.emit_json(&doc)?;
    } else {
        // One pass for the lookup: per-user `active()` is O(n) each.
        let pos = index.active_positions();
        let (mut rows, mut others): (Vec<[String; 4]>, Vec<[String; 4]>) = Default::default();
        for (standing, users) in [
            (Standing::Due, &doc.due),
            (Standing::Expired, &doc.expired),
            (Standing::NotYetValid, &doc.not_yet_valid),
        ] {
            for u in users {
                let c = &index.certificates[pos[u.as_str()]];
                rows.push(row(standing, u, c.not_before, c.not_after, ctx.now));
            }
        }
        if doc.ca_due {
            let who = format!("CA {}", ca.subject);
            others.push(row(ca_standing, &who, ca.not_before, ca.not_after, ctx.now));
        }
        if let (true, Some(c)) = (crl_due, &index.crl) {
            others.push([
                "stale".into(),
                format!("CRL #{}", c.number),
                "next update".into(),
                rfc3339(c.next_update),
            ]);
        }
        let mut groups = vec![rows];
        groups.extend(others.into_iter().map(|r| vec![r]));
        ctx.text(&aligned(&groups))?;
    }
    match doc.fix {
        None if rollover_only => Err(Error::Attention {
            msg: doc.rollover_warning.clone().unwrap_or_default(),
        }),
        None => {
            ctx.say(format!("nothing due within {}", a.within));
            Ok(())
        }
        Some(fix) => Err(Error::Attention {
            msg: format!("{}; {fix}", found.join(", ")),
        }),
    }
}

/// One line of the human report: what, who, which date matters, that
/// date and how long.
fn row(
    standing: Standing,
    who: &str,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
    now: time::OffsetDateTime,
) -> [String; 4] {
    let (edge, at) = match standing {
        Standing::NotYetValid => ("not before", not_before),
        _ => ("not after", not_after),
    };
    [
        standing.word().to_string(),
        who.to_string(),
        edge.to_string(),
        format!(
            "{}  ({})",
            rfc3339(at),
            crate::ca::policy::time_left(not_before, not_after, now)
        ),
    ]
}

/// The rows as lines: the first column (the standing) as wide as its
/// widest cell on every line, at least 7 ("expired"); the others as wide
/// as their widest cell in each group (the users' table, then the CA's
/// line and the CRL's, each a group of its own).
fn aligned(groups: &[Vec<[String; 4]>]) -> String {
    let width = |rows: &[[String; 4]], i: usize| {
        rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)
    };
    let w0 = groups.iter().map(|g| width(g, 0)).max().unwrap_or(0).max(7);
    let mut out = String::new();
    for g in groups {
        let (w1, w2) = (width(g, 1), width(g, 2));
        for [a, b, c, d] in g {
            out.push_str(&format!("{a:<w0$}  {b:<w1$}  {c:<w2$} {d}\n"));
        }
    }
    out
}

/// What was found, in words: "1 due", "2 expired", "CA due", ...
fn findings(doc: &CheckDoc, ca: Standing) -> Vec<String> {
    let mut out: Vec<String> = [
        (doc.due.len(), "due"),
        (doc.expired.len(), "expired"),
        (doc.not_yet_valid.len(), "not yet valid"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, w)| format!("{n} {w}"))
    .collect();
    match ca {
        Standing::Valid => {}
        Standing::Due => out.push("CA due".into()),
        Standing::Expired => out.push("CA expired".into()),
        Standing::NotYetValid => out.push("CA not yet valid".into()),
    }
    out
}

/// The command that fixes what was found.
fn fix(doc: &CheckDoc, ca: Standing, from_csr: &[String]) -> String {
    const EVERYONE: &str = "it re-issues every user; redeploy the store and its clients together";
    let mut fix = match ca {
        Standing::Expired | Standing::NotYetValid => {
            format!("run `pki rotate --ca --force` ({EVERYONE})")
        }
        Standing::Due => format!("run `pki rotate --ca` in a planned window ({EVERYONE})"),
        Standing::Valid => {
            let renewable =
                doc.due.len() + doc.expired.len() + doc.not_yet_valid.len() > from_csr.len();
            if renewable {
                "run `pki rotate`".to_string()
            } else {
                String::new()
            }
        }
    };
    if !from_csr.is_empty() {
        if !fix.is_empty() {
            fix.push_str("; ");
        }
        fix.push_str(&format!(
            "{} signed from a CSR: sign a new CSR with `pki sign --csr FILE`",
            from_csr.join(", ")
        ));
    }
    fix
}

/// The node_exporter textfile: one gauge per current certificate, the CA,
/// and the CRL (`crl_due`: the CRL is an attention result of `check`).
pub fn prometheus(
    index: &Index,
    ca: &CaEntry,
    within: Within,
    crl_due: bool,
    now: time::OffsetDateTime,
) -> String {
    let due = |nb, na| u8::from(within.standing(nb, na, now) != Standing::Valid);
    let mut s = String::with_capacity(256 + index.certificates.len() * 200);
    // Each metric: name, help, value from (certificate, due 0/1).
    type Value = fn(&crate::store::CertEntry, u8) -> i64;
    let metrics: [(&str, &str, Value); 2] = [
        (
            "pki_certificate_not_after_seconds",
            "When the user's current certificate expires (unix time).",
            |c, _| c.not_after.unix_timestamp(),
        ),
        (
            "pki_certificate_due",
            "1 when the user's current certificate is due for rotation or expired.",
            |_, due| i64::from(due),
        ),
    ];
    for (name, help, value) in metrics {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge");
        for c in index.active_all() {
            let _ = writeln!(
                s,
                "{name}{{user=\"{}\",serial=\"{}\"}} {}",
                label(&c.user),
                c.serial,
                value(c, due(c.not_before, c.not_after))
            );
        }
    }
    let ca_labels = format!(
        "subject=\"{}\",serial=\"{}\"",
        label(&ca.subject),
        ca.serial
    );
    let _ = write!(
        s,
        "# HELP pki_ca_not_after_seconds When the root CA expires (unix time).\n\
         # TYPE pki_ca_not_after_seconds gauge\n\
         pki_ca_not_after_seconds{{{ca_labels}}} {}\n\
         # HELP pki_ca_due 1 when the root CA is due for rotation or expired.\n\
         # TYPE pki_ca_due gauge\n\
         pki_ca_due{{{ca_labels}}} {}\n",
        ca.not_after.unix_timestamp(),
        due(ca.not_before, ca.not_after)
    );
    if let Some(crl) = &index.crl {
        let _ = write!(
            s,
            "# HELP pki_crl_next_update_seconds When the last CRL made by pki crl passes its nextUpdate (unix time); Riak refuses every client after it.\n\
             # TYPE pki_crl_next_update_seconds gauge\n\
             pki_crl_next_update_seconds{{number=\"{}\",ca_serial=\"{}\"}} {}\n",
            crl.number,
            crl.ca_serial,
            crl.next_update.unix_timestamp()
        );
    }
    let _ = write!(
        s,
        "# HELP pki_crl_due 1 when a CRL must be made and published anew (pki check exits 3).\n\
         # TYPE pki_crl_due gauge\n\
         pki_crl_due{{ca_serial=\"{}\"}} {}\n",
        ca.serial,
        u8::from(crl_due)
    );
    s
}
