//! `pki probe`: log in to the running store as each client would, and say
//! whether it worked and what the node's certificate looks like.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::ca::policy::{time_left, Standing, Within};
use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::json::{self, NodeCertificate, ProbeDoc, ProbeResult};
use crate::probe::{self, Login, Node, Outcome};
use crate::store::fs::{self, Replace, PUBLIC_MODE};
use crate::store::{CertEntry, CertState};
use crate::ui::prometheus::label;
use crate::x509::cert::{days_left, rfc3339, CertInfo};
use crate::x509::keys::KeyFormat;

const AFTER_HELP: &str = "\
Examples:
  pki probe riak-1.example.internal                  # every user with a key, port 8087
  pki probe --user alice 10.0.0.5:8087 10.0.0.6:8087 # one user, two nodes
  pki probe --within 30d --json riak-1 | jq '.results[] | select(.logged_in | not)'
  pki -q probe --prometheus /var/lib/node_exporter/textfile/pki_probe.prom riak-1

Each login: RpbStartTls, the TLS handshake with the user's key and certificate
(the node's certificate must chain to the store's CA bundle; its host name is
not checked), RpbAuthReq with the user name, RpbPingReq. No retries.

Exit codes: 0 every login worked and no node certificate is due;
3 a login failed or a node certificate is due or expired (listed on stdout);
2 bad arguments or no such user. See docs/probe.md for what each failure means.";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The nodes: HOST or HOST:PORT (port 8087 by default; [V6]:PORT for IPv6).
    #[arg(required = true, value_name = "NODE")]
    pub nodes: Vec<String>,
    /// Log in as this user (repeat for several); default: every current user whose key the store holds.
    #[arg(long = "user", value_name = "USER", add = crate::cli::user_names())]
    pub users: Vec<String>,
    /// Send NAME in RpbAuthReq instead of the user's own name, with that
    /// user's certificate: what a client configured under another name
    /// sends (the vendor's `myUser`). Only with exactly one --user.
    #[arg(long, value_name = "NAME")]
    pub login_as: Option<String>,
    /// Give up on a connect after this many seconds, and on the rest of a login after as many again.
    #[arg(long, default_value_t = 5, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub timeout: u64,
    /// When a node's certificate counts as due: 30d, 12h, or a share of its lifetime left such as 33%.
    #[arg(long, default_value = "33%", value_parser = crate::ca::policy::parse_within, value_name = "D", allow_hyphen_values = true)]
    pub within: Within,
    /// Also write a node_exporter textfile with each login's result and each node certificate's expiry.
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<()> {
    let nodes = a
        .nodes
        .iter()
        .map(|n| probe::parse_node(n))
        .collect::<Result<Vec<Node>>>()?;
    for u in &a.users {
        crate::x509::names::validate_user(u)?;
    }
    if let Some(name) = &a.login_as {
        if a.users.len() != 1 {
            return Err(Error::usage(
                "--login-as needs exactly one --user (whose certificate it sends)",
                "name the user: pki probe --user alice --login-as Alice NODE",
            ));
        }
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(Error::usage(
                format!("--login-as {name:?} is not a name a client could send"),
                "give a non-empty name without control characters",
            ));
        }
    }
    if let Some(path) = &a.prometheus {
        crate::cmd::check_prometheus_path(path)?;
    }
    let index = ctx.store.read_index()?;
    index.ca(&ctx.store)?;
    let trust = crate::deliver::trust_bundle(&ctx.store, &index, ctx.now)?;
    let users = pick_users(&index, &a.users)?;
    let timeout = Duration::from_secs(a.timeout);

    let mut results = Vec::new();
    // Each node certificate seen, once per node: the report's and the metrics' rows.
    let mut certs: Vec<(String, CertInfo)> = Vec::new();
    for entry in &users {
        let pair = crate::deliver::user_pem(&ctx.store, entry, KeyFormat::Native, &ctx.passphrase)?;
        let login = Login {
            user: a.login_as.as_deref().unwrap_or(&entry.user),
            cert_pem: &pair.cert,
            key_pem: &pair.key,
            trust_pem: &trust,
        };
        for node in &nodes {
            ctx.detail(format!("probing {node} as {}", entry.user));
            let outcome = probe::probe(node, &login, timeout)?;
            results.push(result(&entry.user, node, &outcome, a.within, ctx.now));
            if let Some(c) = outcome.node_cert {
                let node = node.to_string();
                if !certs
                    .iter()
                    .any(|(n, x)| *n == node && x.serial == c.serial)
                {
                    certs.push((node, c));
                }
            }
        }
    }
    let failed = results.iter().filter(|r| !r.logged_in).count();
    let standing = |c: &CertInfo| a.within.standing(c.not_before, c.not_after, ctx.now);
    let mut due_nodes: Vec<&str> = certs
        .iter()
        .filter(|(_, c)| standing(c) != Standing::Valid)
        .map(|(n, _)| n.as_str())
        .collect();
    due_nodes.dedup();
    let doc = ProbeDoc {
        version: json::VERSION,
        within: a.within.to_string(),
        timeout_seconds: a.timeout,
        ok: failed == 0 && due_nodes.is_empty(),
        results,
    };
    if let Some(path) = &a.prometheus {
        fs::write_atomic(
            path,
            prometheus(&doc, &certs, a.within, ctx.now).as_bytes(),
            PUBLIC_MODE,
            Replace::Allow,
        )?;
        ctx.detail(format!("wrote {}", path.display()));
    }
    if ctx.json {
        ctx.emit_json(&doc)?;
    } else {
        ctx.text(&report(&doc, &certs, a.within, ctx.now))?;
    }
    let total = doc.results.len();
    let mut found = Vec::new();
    if failed > 0 {
        found.push(format!(
            "{failed} of {total} logins failed (the reasons are listed above; see docs/probe.md)"
        ));
    }
    if !due_nodes.is_empty() {
        found.push(format!(
            "the certificate of {} is due within {} or expired: restart the node so the store mints a new one",
            due_nodes.join(", "),
            a.within
        ));
    }
    if found.is_empty() {
        ctx.say(format!("{total} of {total} logins worked"));
        Ok(())
    } else {
        Err(Error::Attention {
            msg: found.join("; "),
        })
    }
}

/// The users to log in as: those named (active or revoked: probing a
/// revoked user shows whether the node refuses it), else every current
/// user whose key the store holds.
fn pick_users<'a>(index: &'a crate::store::Index, named: &[String]) -> Result<Vec<&'a CertEntry>> {
    if named.is_empty() {
        let all: Vec<&CertEntry> = index.active_all().filter(|c| c.key.is_some()).collect();
        if all.is_empty() {
            return Err(Error::input(
                "the store holds the key of no current user, so there is no one to log in as",
                "issue one first: pki issue myuser",
            ));
        }
        return Ok(all);
    }
    let current = index.current();
    let mut out: Vec<&CertEntry> = Vec::new();
    for u in named {
        let c = current
            .iter()
            .find(|c| &c.user == u)
            .ok_or_else(|| Error::NoUser { user: u.clone() })?;
        debug_assert!(c.state != CertState::Superseded);
        if !out.iter().any(|o| o.user == c.user) {
            out.push(c);
        }
    }
    Ok(out)
}

/// One row of the document from a login's outcome.
fn result(
    user: &str,
    node: &Node,
    o: &Outcome,
    within: Within,
    now: time::OffsetDateTime,
) -> ProbeResult {
    ProbeResult {
        user: user.to_string(),
        node: node.to_string(),
        logged_in: o.logged_in(),
        stage: o.stage.word().into(),
        failure: o.failure.clone(),
        tls_alert: o.alert.map(str::to_string),
        riak_error: o.riak_error.clone(),
        protocol: o.protocol.clone(),
        cipher: o.cipher.clone(),
        node_certificate: o.node_cert.as_ref().map(|c| NodeCertificate {
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
            serial: c.serial.to_string(),
            not_after: rfc3339(c.not_after),
            days_left: days_left(c.not_after, now),
            status: within
                .standing(c.not_before, c.not_after, now)
                .word()
                .into(),
        }),
        elapsed_ms: u64::try_from(o.elapsed.as_millis()).unwrap_or(u64::MAX),
    }
}

/// The human report: one line per login, then one per node certificate seen.
fn report(
    doc: &ProbeDoc,
    certs: &[(String, CertInfo)],
    within: Within,
    now: time::OffsetDateTime,
) -> String {
    let mut out = String::new();
    for r in &doc.results {
        match (&r.failure, &r.protocol, &r.cipher) {
            (None, Some(p), Some(c)) => {
                let _ = writeln!(out, "ok      {}  {}  logged in ({p}, {c})", r.user, r.node);
            }
            (None, _, _) => {
                let _ = writeln!(out, "ok      {}  {}  logged in", r.user, r.node);
            }
            (Some(f), _, _) => {
                let stage = r.stage.as_str();
                let _ = writeln!(out, "FAILED  {}  {}  at {stage}: {f}", r.user, r.node);
            }
        }
    }
    for (node, c) in certs {
        let _ = writeln!(
            out,
            "{:<7} {node}  certificate {}  issuer {}  not after {}  ({})",
            within.standing(c.not_before, c.not_after, now).word(),
            c.subject,
            c.issuer,
            rfc3339(c.not_after),
            time_left(c.not_before, c.not_after, now)
        );
    }
    out
}

/// The node_exporter textfile: per login, whether it worked and how long
/// it took; per node certificate seen, its expiry and whether it is due.
fn prometheus(
    doc: &ProbeDoc,
    certs: &[(String, CertInfo)],
    within: Within,
    now: time::OffsetDateTime,
) -> String {
    let mut s = String::new();
    // Per login: labels user, node and the stage it reached; the value from the result.
    type Login = fn(&ProbeResult) -> String;
    let logins: [(&str, &str, Login); 2] = [
        (
            "pki_probe_login_ok",
            "1 when pki probe logged in to the node as the user and a ping was answered.",
            |r| u8::from(r.logged_in).to_string(),
        ),
        (
            "pki_probe_duration_seconds",
            "How long the login took, failed or not.",
            |r| format!("{:.3}", r.elapsed_ms as f64 / 1000.0),
        ),
    ];
    for (name, help, value) in logins {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge");
        for r in &doc.results {
            let _ = writeln!(
                s,
                "{name}{{user=\"{}\",node=\"{}\",stage=\"{}\"}} {}",
                label(&r.user),
                label(&r.node),
                r.stage,
                value(r)
            );
        }
    }
    type Value = fn(&CertInfo, bool) -> i64;
    let metrics: [(&str, &str, Value); 2] = [
        (
            "pki_probe_node_certificate_not_after_seconds",
            "When the certificate the node presented expires (unix time).",
            |c, _| c.not_after.unix_timestamp(),
        ),
        (
            "pki_probe_node_certificate_due",
            "1 when the certificate the node presented is due (--within) or expired.",
            |_, due| i64::from(due),
        ),
    ];
    for (name, help, value) in metrics {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (node, c) in certs {
            let due = within.standing(c.not_before, c.not_after, now) != Standing::Valid;
            let _ = writeln!(
                s,
                "{name}{{node=\"{}\",subject=\"{}\",serial=\"{}\"}} {}",
                label(node),
                label(&c.subject),
                c.serial,
                value(c, due)
            );
        }
    }
    s
}
