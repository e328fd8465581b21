//! `pki audit verify|show`: the store's hash-chained audit log (src/store/audit.rs).

use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::json;
use crate::store::audit;

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Check the hash chain: "N entries, chain intact" (exit 0), or the first broken line (exit 3).
    #[command(
        after_help = "Examples:\n  pki audit verify\n  pki audit verify --json\n\nThe chain proves that no line was edited, deleted or reordered since it was\nwritten. It cannot prove that the whole log was not rewritten by someone who\ncan write the store (root): ship the last hash off the machine to detect that\n(docs/security.md)."
    )]
    Verify,
    /// List the entries (one line each, or --json).
    #[command(
        after_help = "Examples:\n  pki audit show\n  pki audit show --json | jq '.entries[] | select(.event == \"ca-key-exported\")'"
    )]
    Show,
}

pub fn run(ctx: &Ctx, action: Action) -> Result<()> {
    ctx.store.read_index()?;
    let text = audit::read(&ctx.store)?;
    let path = ctx.store.audit_location();
    let (entries, broken) = match audit::verify(&text) {
        Ok(e) => (e, None),
        Err((e, b)) => (e, Some(b)),
    };
    match action {
        Action::Show => {
            if ctx.json {
                ctx.emit_json(&json::AuditShowDoc {
                    version: json::VERSION,
                    entries: entries
                        .iter()
                        .map(|e| json::AuditEntry {
                            seq: e.seq,
                            time: e.time.clone(),
                            actor: e.actor.clone(),
                            command: e.command.clone(),
                            event: e.event.clone(),
                            user: e.user.clone(),
                            serial: e.serial.clone(),
                            detail: e.detail.clone(),
                            prev_hash: e.prev_hash.clone(),
                            hash: e.hash.clone(),
                        })
                        .collect(),
                })?;
            } else {
                let mut out = String::new();
                for e in &entries {
                    out.push_str(&format!(
                        "{:>5}  {}  {}  {} {}{}{}{}\n",
                        e.seq,
                        e.time,
                        e.actor,
                        e.command,
                        e.event,
                        e.user
                            .as_ref()
                            .map(|u| format!(" user={u}"))
                            .unwrap_or_default(),
                        e.serial
                            .as_ref()
                            .map(|s| format!(" serial={s}"))
                            .unwrap_or_default(),
                        e.detail
                            .as_ref()
                            .map(|d| format!(" ({d})"))
                            .unwrap_or_default(),
                    ));
                }
                ctx.text(&out)?;
            }
        }
        Action::Verify => {
            if ctx.json {
                ctx.emit_json(&json::AuditVerifyDoc {
                    version: json::VERSION,
                    entries: entries.len(),
                    intact: broken.is_none(),
                    broken_line: broken.as_ref().map(|b| b.line),
                    problem: broken.as_ref().map(|b| b.problem.clone()),
                    last_hash: entries.last().map(|e| e.hash.clone()),
                })?;
            } else if broken.is_none() {
                ctx.data(&format!(
                    "{} entries, chain intact{}\n",
                    entries.len(),
                    entries
                        .last()
                        .map(|e| format!("; last hash {}", e.hash))
                        .unwrap_or_default()
                ))?;
            }
        }
    }
    match broken {
        None => Ok(()),
        Some(b) => Err(Error::Attention {
            msg: format!(
                "{} line {} {}; the {} line(s) before it are intact; compare the log with a copy kept off this machine",
                path,
                b.line,
                b.problem,
                entries.len()
            ),
        }),
    }
}
