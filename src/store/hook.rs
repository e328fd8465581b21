//! The pending `--on-change` hook of `pki rotate`: `<store>/hook.pending`
//! (0600), written under the lock before the index that commits the
//! rotation, removed once the hook has run. A rotation whose run stopped
//! after its commit (a failed directory sync, a kill) leaves it behind: the
//! next `pki rotate` runs the hook, and `pki check` reports it until then.
//! A marker whose serials no index names belongs to a rotation that never
//! committed, and is dropped.

use crate::x509::serial::Serial;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::{Index, Store};
use std::path::Path;

pub const HOOK_FILE: &str = "hook.pending";

/// What the hook is run with: its command line and the rotation it follows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingHook {
    /// The `--on-change` command line, run with `sh -c`.
    pub command: String,
    /// user -> new serial.
    pub issued: BTreeMap<String, String>,
    /// The new CA's serial, when the CA was rotated.
    pub ca_serial: Option<String>,
}

impl PendingHook {
    /// Whether the rotation it follows was committed: the index names one
    /// of the serials it made.
    pub fn committed(&self, index: &Index) -> bool {
        let known = index.serials();
        self.issued
            .values()
            .chain(&self.ca_serial)
            .any(|s| Serial::parse(s).is_ok_and(|s| known.contains(&s)))
    }
}

/// Remember `hook` (atomically, 0600), under the lock, before the commit.
pub fn write(store: &Store, hook: &PendingHook) -> Result<()> {
    let text = crate::ui::to_text(hook, "the pending hook")?;
    store.write_doc(HOOK_FILE, text.as_bytes())?;
    crate::ui::trace(format!(
        "wrote {} (0600): the --on-change command, until it has run",
        store.path(Path::new(HOOK_FILE)).display()
    ));
    Ok(())
}

/// The pending hook, if any.
pub fn read(store: &Store) -> Result<Option<PendingHook>> {
    let Some(b) = store.read_doc(HOOK_FILE)? else {
        return Ok(None);
    };
    serde_json::from_slice(&b).map(Some).map_err(|e| {
        Error::failed(
            format!(
                "{} is not a pending --on-change hook: {}",
                store.path(Path::new(HOOK_FILE)).display(),
                crate::error::one_line(&e)
            ),
            "it is written atomically, so it was changed by hand: run the hook yourself if it is due, then remove the file",
        )
    })
}

/// Forget `hook` once it has run, unless another rotation replaced the
/// marker meanwhile (checked under the lock).
pub fn done(
    store: &Store,
    hook: &PendingHook,
    wait: bool,
    now: time::OffsetDateTime,
) -> Result<()> {
    let _lock = store.lock(wait, now)?;
    if read(store)?.as_ref() != Some(hook) {
        return Ok(());
    }
    store.remove_doc(HOOK_FILE)
}
