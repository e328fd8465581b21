//! `pki vault policy`: the Vault policy (HCL) to grant for a store on
//! Vault: what pki itself needs on the store's path, or, `--for marathon`,
//! read on the values `--by-reference` publishes and nothing else (docs/vault-by-reference.md).
//! It reads no store and asks no server: the rules follow from the
//! address alone.

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
lock, which is released by deleting it). --for marathon grants read on
MOUNT/data/PATH/published/* alone: a token with it can read the CA key and the
users' keys pki publishes there, and nothing else of the store.")]
pub struct PolicyArgs {
    /// The store, as vault://MOUNT/PATH (e.g. vault://secret/pki/ephemeral-store).
    // Until the global --store (the lead's) lands, this command takes its own.
    #[arg(long, env = "PKI_STORE", value_name = "ADDRESS")]
    pub store: String,
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
    let (mount, path) = vault_address(&a.store)?;
    let rules = rules(&mount, &path, a.whom);
    let text = hcl(&a.store, a.whom, &rules);
    if ctx.json {
        return ctx.emit_json(&json::VaultPolicyDoc {
            version: json::VERSION,
            store: a.store.clone(),
            for_: a.whom.name().into(),
            rules,
            policy: text,
        });
    }
    ctx.data(&text)
}

/// The rules for the store at `MOUNT/PATH` (a KV version 2 mount): for pki,
/// create, read and update every object under the path (`cas` writes are
/// create or update), list them, and delete the lock (its release);
/// for Marathon, read the published values.
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
        let why = match (whom, r.capabilities.as_slice()) {
            (For::Marathon, _) => {
                "the CA and the users' keys, as the apps' secret references name them"
            }
            (_, [one]) if one == "list" => {
                "list the store's objects (certificate files, index chunks, audit blocks)"
            }
            (_, [one]) if one == "delete" => {
                "release the store lock (deleting it with its versions)"
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

/// `vault://MOUNT/PATH` as (MOUNT, PATH): each a `/`-separated list of names
/// of `A-Z a-z 0-9 . _ -` (no `.` or `..`, nothing a policy path would
/// read as a glob: `*`, `+`).
//
// Stands in for `crate::store::Address` (the lead's) until it lands.
fn vault_address(s: &str) -> Result<(String, String)> {
    let bad = |why: &str| {
        Error::usage(
            format!(
                "--store {} {why}",
                crate::error::one_line(&format!("{s:?}"))
            ),
            "give the store on Vault as vault://MOUNT/PATH, e.g. vault://secret/pki/ephemeral-store",
        )
    };
    let Some(rest) = s.strip_prefix("vault://") else {
        return Err(bad(
            "is not a store on Vault: pki vault policy is for a vault://MOUNT/PATH store",
        ));
    };
    let name_ok = |n: &str| {
        !n.is_empty()
            && n != "."
            && n != ".."
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    let (mount, path) = rest
        .trim_end_matches('/')
        .split_once('/')
        .ok_or_else(|| bad("has no PATH after the mount"))?;
    if !name_ok(mount) || !path.split('/').all(name_ok) {
        return Err(bad(
            "has a name that is empty or holds a character other than A-Z a-z 0-9 . _ -",
        ));
    }
    Ok((mount.to_string(), path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked() {
        assert_eq!(
            vault_address("vault://secret/pki/ephemeral-store").unwrap(),
            ("secret".into(), "pki/ephemeral-store".into())
        );
        assert_eq!(vault_address("vault://kv/s/").unwrap().1, "s");
        for bad in [
            "./pki",
            "vault://",
            "vault://secret",
            "vault://secret/",
            "vault://secret/a//b",
            "vault://secret/a/*",
            "vault://secret/a+b",
            "vault://secret/../x",
            "vault://se cret/x",
            "vault://secret/x\"y",
        ] {
            assert_eq!(vault_address(bad).unwrap_err().code(), 2, "{bad}");
        }
    }

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
