//! `pki vault policy`: the Vault policy (HCL) to grant for a store on
//! Vault: what pki itself needs on the store's path, or, `--for marathon`,
//! read on the values `--by-reference` publishes and nothing else (docs/vault-by-reference.md).
//! It reads no store and asks no server: the rules follow from the
//! store's address (`--store vault://MOUNT/PATH`, or `PKI_STORE`) alone.

use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::json;

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Print the Vault policy for the store's path, or (--for marathon) for reading the published values only.
    Policy(PolicyArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum For {
    /// Every pki command: read, create and update under the store's path, list it, delete its lock.
    Pki,
    /// Marathon's secrets plugin: read on PATH/published/* only (the values of --by-reference).
    Marathon,
}

impl For {
    fn name(self) -> &'static str {
        match self {
            For::Pki => "pki",
            For::Marathon => "marathon",
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  pki vault policy --store vault://secret/pki/ephemeral-store | vault policy write pki-ephemeral-store -
  pki vault policy --store vault://secret/pki/ephemeral-store --for marathon \\
      | vault policy write marathon-ephemeral-store -

The store lives under the KV version 2 mount MOUNT at PATH, so the API paths
are MOUNT/data/PATH/... (values) and MOUNT/metadata/PATH/... (listing, and the
deletions pki makes: the lock, which is released by deleting it, a pending
hook once run, index chunks no longer named; nothing else). --for marathon
grants read on MOUNT/data/PATH/published/* alone: a token with it can read the
CA key and the users' keys pki publishes there, and nothing else of the store.")]
pub struct PolicyArgs {
    /// Whom the policy is for.
    #[arg(long = "for", value_enum, default_value_t = For::Pki, value_name = "WHOM")]
    pub whom: For,
}

pub fn run(ctx: &Ctx, a: Action) -> Result<()> {
    match a {
        Action::Policy(a) => policy(ctx, &a),
    }
}

fn policy(ctx: &Ctx, a: &PolicyArgs) -> Result<()> {
    let Some(v) = ctx.store.as_vault() else {
        return Err(Error::usage(
            format!(
                "the store {} is a directory: pki vault policy is for a store on Vault",
                ctx.store.name().display()
            ),
            "name it with --store vault://MOUNT/PATH (or PKI_STORE), e.g. vault://secret/pki/ephemeral-store",
        ));
    };
    let (mount, path) = v.mount_path();
    let store = v.address().to_string();
    let rules = rules(mount, path, a.whom);
    let text = hcl(&store, a.whom, &rules);
    if ctx.json {
        return ctx.emit_json(&json::VaultPolicyDoc {
            version: json::VERSION,
            store,
            for_: a.whom.name().into(),
            rules,
            policy: text,
        });
    }
    ctx.data(&text)
}

/// The rules for the store at `MOUNT/PATH` (a KV version 2 mount): for pki,
/// create, read and update every object under the path (`cas` writes are
/// create or update), list them, and delete (every version of) only what
/// the store removes: the lock (its release), a pending hook once run
/// (`docs/`), chunks of an index no longer named (`index/`). Certificates,
/// keys and the audit blocks cannot be deleted with it. Vault applies the
/// most specific matching path alone, so those rules repeat `list`.
/// For Marathon: read the published values.
pub fn rules(mount: &str, path: &str, whom: For) -> Vec<json::PolicyRule> {
    let rule = |p: String, caps: &[&str]| json::PolicyRule {
        path: p,
        capabilities: caps.iter().map(|c| c.to_string()).collect(),
    };
    match whom {
        For::Pki => vec![
            rule(
                format!("{mount}/data/{path}/*"),
                &["create", "read", "update"],
            ),
            rule(format!("{mount}/metadata/{path}/*"), &["list"]),
            rule(format!("{mount}/metadata/{path}/lock"), &["delete"]),
            rule(
                format!("{mount}/metadata/{path}/docs/*"),
                &["delete", "list"],
            ),
            rule(
                format!("{mount}/metadata/{path}/index/*"),
                &["delete", "list"],
            ),
        ],
        For::Marathon => vec![rule(format!("{mount}/data/{path}/published/*"), &["read"])],
    }
}

/// The policy as HCL, each rule with a comment saying why.
fn hcl(store: &str, whom: For, rules: &[json::PolicyRule]) -> String {
    let mut out = match whom {
        For::Pki => format!(
            "# Vault policy for the pki store {store}: what every pki command needs\n# (operators, pipelines, cron). Printed by `pki vault policy`.\n"
        ),
        For::Marathon => format!(
            "# Vault policy for Marathon's secrets plugin: read the values pki publishes\n# for --by-reference from the store {store}, and nothing else of it.\n# Printed by `pki vault policy --for marathon`.\n"
        ),
    };
    for r in rules {
        let why = match (whom, r.path.rsplit('/').next()) {
            (For::Marathon, _) => {
                "the CA and the users' keys, as the apps' secret references name them"
            }
            (_, Some("lock")) => "release the store lock (deleting it with its versions)",
            _ if r.path.ends_with("/docs/*") => {
                "remove rotate's pending --on-change hook once it has run"
            }
            _ if r.path.ends_with("/index/*") => "remove the chunks of an index no longer named",
            _ if r.path.contains("/metadata/") => {
                "list the store's objects; nothing else of them can be deleted"
            }
            _ => "read the store, write its objects (check-and-set), publish --by-reference values",
        };
        let caps = r
            .capabilities
            .iter()
            .map(|c| format!("{c:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "\n# {why}\npath {:?} {{\n  capabilities = [{caps}]\n}}\n",
            r.path
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_cover_the_store_and_marathon_reads_only_what_is_published() {
        let pki = rules("secret", "pki/es", For::Pki);
        let paths: Vec<(&str, Vec<&str>)> = pki
            .iter()
            .map(|r| {
                (
                    r.path.as_str(),
                    r.capabilities.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            paths,
            [
                ("secret/data/pki/es/*", vec!["create", "read", "update"]),
                ("secret/metadata/pki/es/*", vec!["list"]),
                ("secret/metadata/pki/es/lock", vec!["delete"]),
                ("secret/metadata/pki/es/docs/*", vec!["delete", "list"]),
                ("secret/metadata/pki/es/index/*", vec!["delete", "list"]),
            ]
        );
        let m = rules("secret", "pki/es", For::Marathon);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].path, "secret/data/pki/es/published/*");
        assert_eq!(m[0].capabilities, ["read"]);
        let text = hcl("vault://secret/pki/es", For::Marathon, &m);
        assert!(
            text.contains(
                "path \"secret/data/pki/es/published/*\" {\n  capabilities = [\"read\"]\n}\n"
            ),
            "{text}"
        );
    }
}
