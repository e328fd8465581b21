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
use crate::x509::cert::{days_left, rfc3339};

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
    #[arg(long, default_value = "33%", value_parser = crate::ca::policy::parse_within, value_name = "D")]
    pub within: Within,
    /// Also write a node_exporter textfile with the expiry of every certificate and of the CA.
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let index = ctx.store.read_index()?;
    let ca = index.ca(&ctx.store)?;
    let ca_due = a.within.standing(ca.not_before, ca.not_after, ctx.now) != Standing::Valid;
    let crl = crate::ca::revoke::crl_status(&index, ctx.now);
    let crl_due = crl.as_ref().is_some_and(|c| c.attention);
    let mut doc = CheckDoc {
        version: json::VERSION,
        due: Vec::new(),
        expired: Vec::new(),
        ca_due,
        crl_warning: crl.map(|c| c.warning),
        crl_due,
        rollover_warning: crate::ca::rollover::stale(&index, ctx.now),
    };
    if let Some(w) = &doc.crl_warning {
        ctx.warn(w);
    }
    let rollover = doc.rollover_warning.clone();
    if let Some(w) = &rollover {
        ctx.warn(w);
    }
    for c in index.active_all() {
        match a.within.standing(c.not_before, c.not_after, ctx.now) {
            Standing::Valid => {}
            Standing::Due => doc.due.push(c.user.clone()),
            Standing::Expired => doc.expired.push(c.user.clone()),
        }
    }
    if let Some(path) = &a.prometheus {
        let text = prometheus(&index, ca, a.within, crl_due, ctx.now);
        fs::write_atomic(path, text.as_bytes(), PUBLIC_MODE, Replace::Allow)?;
        ctx.detail(format!("wrote {}", path.display()));
    }
    if ctx.json {
        ctx.emit_json(&doc)?;
    } else {
        let mut out = String::new();
        // One pass for the lookup: per-user `active()` is O(n) each.
        let pos = index.active_positions();
        for (word, users) in [("due", &doc.due), ("expired", &doc.expired)] {
            for u in users {
                let c = &index.certificates[pos[u.as_str()]];
                let _ = writeln!(
                    out,
                    "{word:<7}  {u}  not after {}  ({} days left)",
                    rfc3339(c.not_after),
                    days_left(c.not_after, ctx.now)
                );
            }
        }
        if ca_due {
            let _ = writeln!(
                out,
                "{:<7}  CA {}  not after {}  ({} days left)",
                if ctx.now >= ca.not_after {
                    "expired"
                } else {
                    "due"
                },
                ca.subject,
                rfc3339(ca.not_after),
                days_left(ca.not_after, ctx.now)
            );
        }
        if let (true, Some(c)) = (crl_due, &index.crl) {
            let _ = writeln!(
                out,
                "{:<7}  CRL #{}  next update {}",
                "stale",
                c.number,
                rfc3339(c.next_update)
            );
        }
        ctx.text(&out)?;
    }
    let certs_due = !(doc.due.is_empty() && doc.expired.is_empty() && !ca_due);
    if let (Some(w), false) = (&rollover, certs_due) {
        return Err(Error::Attention { msg: w.clone() });
    }
    if !certs_due && !crl_due {
        ctx.say(format!("nothing due within {}", a.within));
        return Ok(());
    }
    if !certs_due {
        return Err(Error::Attention {
            msg: "0 due, 0 expired, CA not due, but the CRL must be made anew: run `pki crl --out FILE` and publish it (see the warning above)".into(),
        });
    }
    Err(Error::Attention {
        msg: format!(
            "{} due, {} expired, CA {}; run `pki rotate`{}{}",
            doc.due.len(),
            doc.expired.len(),
            if ca_due { "due" } else { "not due" },
            if ca_due {
                " (and plan `pki rotate --ca`)"
            } else {
                ""
            },
            if crl_due {
                ", and make and publish a new CRL (`pki crl --out FILE`)"
            } else {
                ""
            }
        ),
    })
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

/// Escape a label value as the text exposition format requires.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(label("alice"), "alice");
    }
}
