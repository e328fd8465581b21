//! Values published for Marathon's secret references (`--by-reference`,
//! docs/vault-by-reference.md): [`Store::publish`] writes them at a stable
//! path of the store's Vault, `PATH/published/<name>` under its KV v2
//! mount, where Marathon's secrets plugin reads them; the app definition
//! then holds only `{"secret": NAME}` and a `secrets` block naming that
//! path and a field.
//!
//! Which values are published, and how to compute them again from the
//! index after a rotation or rollover, is recorded in the index
//! ([`Publication`], `settings.published`).
//!
//! Only a store on Vault can publish ([`crate::store::vault::VaultStore::publish`]
//! writes): a directory store has no place a secrets plugin reads, so both
//! functions refuse there (exit 2), before anything is written or sent.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::Store;

/// Where a value was (or would be) published: the KV v2 mount, and the
/// path under it (`PATH/published/<name>`), the way Marathon's secret
/// `source` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub mount: String,
    /// Relative to the mount, without a leading slash: `pki/ephemeral-store/published/store`.
    pub path: String,
}

impl Published {
    /// The `source` of a Marathon secret for `field`: `/PATH@FIELD`. The
    /// leading slash is the marathon-vault-plugin's "shared" form (its
    /// `sharedPathRoot`, set to the mount, is put in front); without it the
    /// plugin would look under the app's private root instead.
    pub fn source(&self, field: &str) -> String {
        format!("/{}@{field}", self.path)
    }

    /// `MOUNT/PATH`, for messages and the audit log.
    pub fn location(&self) -> String {
        format!("{}/{}", self.mount, self.path)
    }
}

/// The refusal of `--by-reference` on a directory store.
pub fn needs_vault() -> Error {
    Error::input(
        "--by-reference needs a store on Vault (--store vault://MOUNT/PATH)",
        "move the store with `pki store copy --to vault://MOUNT/PATH`, or export the values themselves (leave out --by-reference)",
    )
}

impl Store {
    /// Where [`Store::publish`] would write `name`, without writing: the
    /// commands plan their output (the secret sources) with it before any
    /// key is read, recorded or sent. Refuses on a directory store.
    pub fn publish_target(&self, name: &str) -> Result<Published> {
        let v = self.as_vault().ok_or_else(needs_vault)?;
        let (mount, path) = v.mount_path();
        Ok(Published {
            mount: mount.to_string(),
            path: format!("{path}/published/{name}"),
        })
    }

    /// Write `fields` (name, value) as the one object `PATH/published/<name>`
    /// of the store's Vault (KV v2, replacing what was there:
    /// `MOUNT/data/PATH/published/<name>`) and say where. The caller has
    /// recorded the send in the audit log first. Refuses on a directory store.
    pub fn publish(&self, name: &str, fields: &[(&str, &str)]) -> Result<Published> {
        let v = self.as_vault().ok_or_else(needs_vault)?;
        let path = v.publish(name, fields)?;
        Ok(Published {
            mount: v.mount_path().0.to_string(),
            path,
        })
    }
}

/// How a published value is computed from the index, recorded in the
/// index's `settings.published` under its name, so that a rotation or a
/// rollover publishes it again from the new state (`deliver::by_reference::republish`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Publication {
    /// The ephemeral store's CA: `root_ca_cert` (the trust bundle) and
    /// `root_ca_key`.
    Store {
        /// The key as PKCS#8 (`--key-format pkcs8`) instead of PKCS#1.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pkcs8: bool,
        /// `--allow-non-rsa` was given.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        allow_non_rsa: bool,
    },
    /// The ASP controller's `ASP_EPHEMERAL_STORE`, as one field
    /// `asp_ephemeral_store`: these users (or every current user), at this
    /// address.
    Asp {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        users: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        all_users: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pkcs8: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        allow_non_rsa: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_store_refuses_to_publish_with_exit_2() {
        let store = Store::new("/nonexistent/pki");
        for e in [
            store.publish_target("store").unwrap_err(),
            store.publish("store", &[("f", "v")]).unwrap_err(),
        ] {
            assert_eq!(e.code(), 2);
            assert!(e
                .to_string()
                .starts_with("--by-reference needs a store on Vault (--store vault://MOUNT/PATH)"));
        }
    }

    #[test]
    fn a_vault_store_publishes_under_its_path() {
        let store = Store::open(&crate::store::Address::parse("vault://secret/pki/es").unwrap());
        assert_eq!(
            store.publish_target("store").unwrap(),
            Published {
                mount: "secret".into(),
                path: "pki/es/published/store".into()
            }
        );
    }

    #[test]
    fn sources_are_the_plugins_shared_form() {
        let p = Published {
            mount: "secret".into(),
            path: "pki/es/published/store".into(),
        };
        assert_eq!(
            p.source("root_ca_key"),
            "/pki/es/published/store@root_ca_key"
        );
        assert_eq!(p.location(), "secret/pki/es/published/store");
    }

    #[test]
    fn publications_read_back_as_written() {
        for p in [
            Publication::Store {
                pkcs8: false,
                allow_non_rsa: false,
            },
            Publication::Asp {
                users: vec!["alice".into()],
                all_users: false,
                host: Some("10.0.0.5".into()),
                port: Some(8087),
                pkcs8: true,
                allow_non_rsa: false,
            },
        ] {
            let text = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Publication>(&text).unwrap(), p);
        }
        assert_eq!(
            serde_json::to_string(&Publication::Store {
                pkcs8: false,
                allow_non_rsa: false
            })
            .unwrap(),
            r#"{"kind":"store"}"#
        );
    }
}
