//! Where a store lives, named by one address (`--store`, `PKI_STORE`): a
//! path is a directory store, `vault://MOUNT/PATH` a store in Vault's KV v2
//! secrets engine at MOUNT, under PATH (docs/vault.md). `--dir` and
//! `PKI_DIR` name a directory store, as before.

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// The scheme of a Vault store's address.
pub const VAULT_SCHEME: &str = "vault://";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// A directory on this host.
    Dir(PathBuf),
    /// KV v2 mount `mount`, objects under `path` (no leading or trailing `/`).
    Vault { mount: String, path: String },
}

impl Address {
    /// Read an address: `vault://MOUNT/PATH`, else a directory path.
    pub fn parse(text: &str) -> Result<Address> {
        let Some(rest) = text.strip_prefix(VAULT_SCHEME) else {
            if text.contains("://") {
                return Err(Error::usage(
                    format!("--store {text:?} names a scheme pki does not know"),
                    "give a directory, or vault://MOUNT/PATH (e.g. vault://secret/pki/ephemeral-store)",
                ));
            }
            return Ok(Address::Dir(PathBuf::from(text)));
        };
        let bad = |why: &str| {
            Error::usage(
                format!("--store {text:?} is not a Vault store address: {why}"),
                "write it as vault://MOUNT/PATH, e.g. vault://secret/pki/ephemeral-store (MOUNT is the KV v2 mount)",
            )
        };
        let rest = rest.trim_end_matches('/');
        let (mount, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("it has no PATH under the mount"))?;
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !segment_ok(mount) {
            return Err(bad("the mount must be letters, digits, '-', '_' or '.'"));
        }
        if !path.split('/').all(segment_ok) {
            return Err(bad(
                "each part of PATH must be letters, digits, '-', '_' or '.' (no empty, '.' or '..' parts)",
            ));
        }
        Ok(Address::Vault {
            mount: mount.to_string(),
            path: path.to_string(),
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Dir(d) => write!(f, "{}", d.display()),
            Address::Vault { mount, path } => write!(f, "{VAULT_SCHEME}{mount}/{path}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_directories_and_vault_addresses_name_mount_and_path() {
        assert_eq!(Address::parse("pki").unwrap(), Address::Dir("pki".into()));
        assert_eq!(
            Address::parse("/srv/a b").unwrap(),
            Address::Dir("/srv/a b".into())
        );
        let a = Address::parse("vault://secret/pki/ephemeral-store/").unwrap();
        assert_eq!(
            a,
            Address::Vault {
                mount: "secret".into(),
                path: "pki/ephemeral-store".into()
            }
        );
        assert_eq!(a.to_string(), "vault://secret/pki/ephemeral-store");
        for bad in [
            "vault://secret",
            "vault://secret/",
            "vault:///pki",
            "vault://secret/a//b",
            "vault://secret/../x",
            "vault://secret/a?b",
            "s3://bucket/x",
        ] {
            let e = Address::parse(bad).unwrap_err();
            assert_eq!(e.code(), 2, "{bad}");
            assert!(e.to_string().contains("vault://MOUNT/PATH"), "{bad}: {e}");
        }
    }
}
