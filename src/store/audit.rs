//! The audit log: `<store>/audit.jsonl` (0600), one JSON object a line,
//! appended for every change to the store and every export of key material.
//!
//! Each line carries `seq` (1, 2, ...), `time`, `actor` ($USER and uid),
//! `command`, `event`, optionally `user`, `serial` and `detail` (never key
//! bytes), `prev_hash` (the previous line's `hash`; 64 zeros for the first)
//! and `hash` = SHA-256 over `prev_hash` followed by the line's canonical
//! content (the compact JSON of every field but `hash`, in the order above).
//! Editing, deleting or reordering a line breaks the chain at that line.
//!
//! Order (docs/store.md, "The commit"): a change to the index and its
//! audit lines are one commit. Under the store lock, the chained lines are
//! first written to the pending journal `audit.pending` (atomically, with
//! the SHA-256 of the index they go with), then `index.json` is replaced
//! (the commit point), then the lines are appended to the log and the
//! journal removed. Whoever takes the lock next first finishes a leftover
//! journal ([`recover`]): its lines are appended when the index is the one
//! it names (the change was committed), and it is dropped otherwise. So
//! after recovery the log records every committed change and nothing else.
//! A torn last line (an append cut short by a crash or a full disk: no
//! line ending, or a last line that is not an entry) is provably
//! incomplete, since every append ends in a whole line: the next locked run
//! removes it and records that it did.
//! Exports and deploy take no lock for their work; [`Appender::open_locking`]
//! takes it (honouring `--wait`) and opens the log before any key material
//! is output, and they append before the output: an export that cannot be
//! recorded does not happen.
//! A deploy, whose key goes over the network, records the attempt before it
//! sends ([`Appender::record`]) and the outcome after, whatever it is.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::dir::DirStore;
use crate::store::Store;
use time::OffsetDateTime;

pub const AUDIT_FILE: &str = "audit.jsonl";
/// The pending journal of a commit in progress (docs/store.md).
pub const PENDING_FILE: &str = "audit.pending";
/// `prev_hash` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub seq: u64,
    /// RFC 3339 (the command's "now", which PKI_NOW sets in tests).
    pub time: String,
    /// `$USER (uid N)`, or `uid N` when USER is unset.
    pub actor: String,
    /// The pki command, e.g. `issue`, `export marathon`.
    pub command: String,
    /// What happened, e.g. `issued`, `ca-key-exported`.
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub prev_hash: String,
    #[serde(default)]
    pub hash: String,
}

impl Entry {
    /// SHA-256 (hex) over `prev_hash` and the canonical content (every field but `hash`).
    pub fn compute_hash(&self) -> String {
        let mut unhashed = self.clone();
        unhashed.hash = String::new();
        let mut content = serde_json::to_vec(&Canonical(&unhashed)).expect("plain data encodes");
        let mut data = self.prev_hash.as_bytes().to_vec();
        data.append(&mut content);
        crate::x509::cert::sha256_hex(&data)
    }
}

/// An entry serialised without its `hash` field.
struct Canonical<'a>(&'a Entry);

impl Serialize for Canonical<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("seq", &e.seq)?;
        m.serialize_entry("time", &e.time)?;
        m.serialize_entry("actor", &e.actor)?;
        m.serialize_entry("command", &e.command)?;
        m.serialize_entry("event", &e.event)?;
        for (k, v) in [
            ("user", &e.user),
            ("serial", &e.serial),
            ("detail", &e.detail),
        ] {
            if let Some(v) = v {
                m.serialize_entry(k, v)?;
            }
        }
        m.serialize_entry("prev_hash", &e.prev_hash)?;
        m.end()
    }
}

/// Whose key material a send carries: the CA key (the store's half) or
/// users' keys (the clients' half).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Material {
    CaKey,
    Key,
}

/// Where a deploy's send stood when it was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendStage {
    /// Recorded before the request leaves.
    Sending,
    /// Marathon took it.
    Deployed,
    /// Marathon refused it, or it never arrived.
    Failed,
}

/// Every kind of event pki records; the log holds its name
/// ([`Kind::name`]), the same words as before the type existed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    CaCreated,
    CaImported,
    CaRotated,
    /// A new certificate for the CA's own key (`rotate --ca --keep-key`).
    CaRenewed,
    CaSwitched,
    Issued,
    Signed,
    Imported,
    Revoked,
    CrlSigned,
    ConfigChanged,
    RolloverStarted,
    RolloverDone,
    RolloverAborted,
    /// The controller's env written with users removed and no key added
    /// (`export asp --remove` alone).
    UsersRemoved,
    /// Material written to stdout or files (an export).
    Exported(Material),
    /// Material sent to Marathon (a deploy), at one stage of the send.
    Deploy(Material, SendStage),
    /// Material written to the store's Vault for Marathon's secret
    /// references (`--by-reference`), recorded before it is written.
    Published(Material),
    /// A deploy that found the app's env already holding what it would
    /// send, and sent nothing: no key left the machine.
    DeployUnchanged,
    /// The next locked run appended the lines of a commit whose run
    /// stopped before it could (`audit.pending`).
    AuditCompleted,
    /// The next locked run cut off a torn last line (a crash or a full
    /// disk mid-append).
    AuditTornLineRemoved,
    /// The whole store (keys included) was copied to another address
    /// (`pki store copy`); recorded in the source before anything is sent.
    StoreCopiedTo,
    /// The first line of a copy's own history: where it came from.
    StoreCopiedFrom,
}

impl Kind {
    const PLAIN: [Kind; 20] = [
        Kind::CaCreated,
        Kind::CaImported,
        Kind::CaRotated,
        Kind::CaRenewed,
        Kind::CaSwitched,
        Kind::Issued,
        Kind::Signed,
        Kind::Imported,
        Kind::Revoked,
        Kind::CrlSigned,
        Kind::ConfigChanged,
        Kind::RolloverStarted,
        Kind::RolloverDone,
        Kind::RolloverAborted,
        Kind::UsersRemoved,
        Kind::DeployUnchanged,
        Kind::AuditCompleted,
        Kind::AuditTornLineRemoved,
        Kind::StoreCopiedTo,
        Kind::StoreCopiedFrom,
    ];

    /// The event's name in `audit.jsonl`.
    pub fn name(self) -> &'static str {
        use {Material::*, SendStage::*};
        match self {
            Kind::CaCreated => "ca-created",
            Kind::CaImported => "ca-imported",
            Kind::CaRotated => "ca-rotated",
            Kind::CaRenewed => "ca-renewed",
            Kind::CaSwitched => "ca-switched",
            Kind::Issued => "issued",
            Kind::Signed => "signed",
            Kind::Imported => "imported",
            Kind::Revoked => "revoked",
            Kind::CrlSigned => "crl-signed",
            Kind::ConfigChanged => "config-changed",
            Kind::RolloverStarted => "rollover-started",
            Kind::RolloverDone => "rollover-done",
            Kind::RolloverAborted => "rollover-aborted",
            Kind::UsersRemoved => "users-removed",
            Kind::DeployUnchanged => "deploy-unchanged",
            Kind::AuditCompleted => "audit-completed",
            Kind::AuditTornLineRemoved => "audit-torn-line-removed",
            Kind::StoreCopiedTo => "store-copied-to",
            Kind::StoreCopiedFrom => "store-copied-from",
            Kind::Exported(CaKey) => "ca-key-exported",
            Kind::Exported(Key) => "key-exported",
            Kind::Published(CaKey) => "ca-key-published",
            Kind::Published(Key) => "key-published",
            Kind::Deploy(CaKey, Sending) => "ca-key-sending",
            Kind::Deploy(CaKey, Deployed) => "ca-key-deployed",
            Kind::Deploy(CaKey, Failed) => "ca-key-send-failed",
            Kind::Deploy(Key, Sending) => "key-sending",
            Kind::Deploy(Key, Deployed) => "key-deployed",
            Kind::Deploy(Key, Failed) => "key-send-failed",
        }
    }

    /// Every kind there is.
    pub fn all() -> impl Iterator<Item = Kind> {
        use {Material::*, SendStage::*};
        let sends = [CaKey, Key].into_iter().flat_map(|m| {
            [Kind::Exported(m), Kind::Published(m)]
                .into_iter()
                .chain([Sending, Deployed, Failed].map(move |s| Kind::Deploy(m, s)))
        });
        Kind::PLAIN.into_iter().chain(sends)
    }

    /// The kind a log line names; None for a name pki does not write.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::all().find(|k| k.name() == name)
    }

    /// Whether the event is about the CA key (the store's half).
    pub fn carries_ca_key(self) -> bool {
        matches!(
            self,
            Kind::Exported(Material::CaKey)
                | Kind::Published(Material::CaKey)
                | Kind::Deploy(Material::CaKey, _)
        )
    }

    /// Whether the event records material that reached its consumer (an
    /// export, or a deploy Marathon took), not a deploy's attempt or its
    /// failure.
    pub fn delivered(self) -> bool {
        !matches!(
            self,
            Kind::Deploy(_, SendStage::Sending | SendStage::Failed)
                | Kind::DeployUnchanged
                | Kind::StoreCopiedTo
                | Kind::StoreCopiedFrom
        )
    }
}

/// What a command records: built with [`Event::new`] and the setters.
#[derive(Clone, Debug, Default)]
pub struct Event {
    pub command: String,
    pub event: String,
    pub user: Option<String>,
    pub serial: Option<String>,
    pub detail: Option<String>,
}

impl Event {
    pub fn new(command: &str, kind: Kind) -> Self {
        Event {
            command: command.into(),
            event: kind.name().into(),
            ..Default::default()
        }
    }
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.into());
        self
    }
    pub fn serial(mut self, serial: impl std::fmt::Display) -> Self {
        self.serial = Some(serial.to_string());
        self
    }
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl Entry {
    /// The line's kind; None for an event name pki does not write.
    pub fn kind(&self) -> Option<Kind> {
        Kind::parse(&self.event)
    }

    /// Whether the line records material that reached its consumer (an
    /// export, or a deploy Marathon took). A name pki does not write is
    /// not taken as a delivery.
    pub fn delivered(&self) -> bool {
        self.kind().is_some_and(Kind::delivered)
    }
}

/// The log file of a directory store.
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join(AUDIT_FILE)
}

/// Who is running pki: `$USER (uid N)`, for the record only (it is not proof).
fn actor() -> String {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid().to_string())
        .unwrap_or_else(|_| "?".into());
    match std::env::var("USER") {
        Ok(u) if !u.is_empty() => format!("{u} (uid {uid})"),
        _ => format!("uid {uid}"),
    }
}

/// Append `event` to the store's audit log. The caller holds the store lock
/// and has already committed the change it records.
pub fn record(store: &Store, now: OffsetDateTime, event: Event) -> Result<()> {
    record_all(store, now, vec![event])
}

/// Append several events (one command's batch) in order; see [`record`].
pub fn record_all(store: &Store, now: OffsetDateTime, events: Vec<Event>) -> Result<()> {
    Appender::open(store, now, None, "the change was made, but ")?.append(events)
}

/// The log opened for appending: where the chain ends, and for commands
/// that take no lock of their own, the store lock.
pub struct Appender<'a> {
    store: &'a Store,
    now: OffsetDateTime,
    seq: u64,
    prev: String,
    _lock: Option<crate::store::Lock>,
}

impl<'a> Appender<'a> {
    /// Open the log and read where its chain ends. The caller holds the
    /// store lock, or passes it in `lock`; `done` says what became of the
    /// command's work when the log cannot be opened ("nothing was changed: ").
    pub fn open(
        store: &'a Store,
        now: OffsetDateTime,
        lock: Option<crate::store::Lock>,
        done: &str,
    ) -> Result<Self> {
        let (seq, prev) = store.audit_head(done)?;
        Ok(Appender {
            store,
            now,
            seq,
            prev,
            _lock: lock,
        })
    }

    /// For commands that hold no lock of their own (exports, deploy): take
    /// the store lock (honouring `--wait`) and open the log, BEFORE any key
    /// material leaves, so an export that cannot be recorded does not happen.
    pub fn open_locking(store: &'a Store, wait: bool, now: OffsetDateTime) -> Result<Self> {
        let lock = store.lock(wait, now)?;
        Appender::open(store, now, Some(lock), "nothing was exported: ")
    }

    /// Append the events, chained, in one write. Releases the lock if it holds one.
    pub fn append(mut self, events: Vec<Event>) -> Result<()> {
        self.record(events)
    }

    /// Append the events, chained, in one write, and stay open (holding
    /// the lock, if any) for more: a send is recorded before it leaves and
    /// its outcome after.
    pub fn record(&mut self, events: Vec<Event>) -> Result<()> {
        let entries = self.chain(events);
        self.write(&entries)
    }

    /// The events as the log's next lines, chained to its end; nothing is
    /// written (for the commit that carries them).
    pub fn chain(&self, events: Vec<Event>) -> Vec<Entry> {
        chain(self.seq, &self.prev, self.now, events)
    }

    /// Append lines made by [`Appender::chain`] in one write.
    pub fn write(&mut self, entries: &[Entry]) -> Result<()> {
        let Some(last) = entries.last() else {
            return Ok(());
        };
        self.store.append_audit(entries)?;
        (self.seq, self.prev) = (last.seq, last.hash.clone());
        Ok(())
    }
}

/// `events` as the lines that follow entry `seq` (hash `prev`).
pub fn chain(mut seq: u64, prev: &str, now: OffsetDateTime, events: Vec<Event>) -> Vec<Entry> {
    let mut prev = prev.to_string();
    let time = crate::x509::cert::rfc3339(now);
    let actor = actor();
    let mut out = Vec::new();
    for ev in events {
        seq += 1;
        let mut e = Entry {
            seq,
            time: time.clone(),
            actor: actor.clone(),
            command: ev.command,
            event: ev.event,
            user: ev.user,
            serial: ev.serial,
            detail: ev.detail,
            prev_hash: prev,
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        prev = e.hash.clone();
        out.push(e);
    }
    out
}

/// Where the chain of a directory store's log ends: the last line's seq
/// and hash, (0, genesis) for an empty log. The log is created (0600)
/// when missing, which proves it can be appended to.
pub fn dir_head(dir: &Path, done: &str) -> Result<(u64, String)> {
    let path = log_path(dir);
    let damaged = |why: String| {
        Error::failed(
            format!("{done}the audit log {} {why}", path.display()),
            "run `pki audit verify` and keep a copy of the log before repairing it",
        )
    };
    crate::store::fs::append(&path, b"", crate::store::fs::SECRET_MODE)?;
    let unreadable =
        |e: std::io::Error| damaged(format!("cannot be read: {}", crate::error::one_line(&e)));
    // Only the end of the log: the whole of it is megabytes in a large store.
    let log =
        crate::store::fs::open_private(&path, crate::store::fs::Kind::File).map_err(
            |e| match e {
                Ok(refusal) => refusal,
                Err(e) => unreadable(e),
            },
        )?;
    let bytes = match tail_lines(log, AUDIT_TAIL).map_err(unreadable)? {
        Some(tail) => tail,
        // A last line longer than the window: the whole log.
        None => crate::store::fs::read_private(&path, crate::store::fs::Kind::File).map_err(
            |e| match e {
                Ok(refusal) => refusal,
                Err(e) => unreadable(e),
            },
        )?,
    };
    head_of(&bytes).map_err(|why| damaged(why.into()))
}

/// The (seq, hash) a log's text ends with; why not, when its last line is
/// torn or not an entry.
pub fn head_of(bytes: &[u8]) -> std::result::Result<(u64, String), &'static str> {
    if bytes.is_empty() {
        return Ok((0, GENESIS.to_string()));
    }
    if torn_tail(bytes) > 0 {
        return Err("ends in an incomplete line");
    }
    let last = bytes[..bytes.len() - 1]
        .rsplit(|b| *b == b'\n')
        .next()
        .unwrap_or_default();
    let e: Entry =
        serde_json::from_slice(last).map_err(|_| "has a last line that is not an audit entry")?;
    Ok((e.seq, e.hash))
}

/// Append lines to a directory store's log in one write, then fsync.
pub fn append_lines(dir: &Path, entries: &[Entry]) -> Result<()> {
    let Some(last) = entries.last() else {
        return Ok(());
    };
    let path = log_path(dir);
    crate::store::fs::append(
        &path,
        lines(entries).as_bytes(),
        crate::store::fs::SECRET_MODE,
    )?;
    crate::ui::trace(format!(
        "appended {} line(s) to {}: the audit record, up to seq {}",
        entries.len(),
        path.display(),
        last.seq
    ));
    Ok(())
}

/// Entries as log text: one compact JSON line each.
pub fn lines(entries: &[Entry]) -> String {
    let mut text = String::new();
    for e in entries {
        text.push_str(&serde_json::to_string(e).expect("plain data encodes"));
        text.push('\n');
    }
    text
}

/// How many bytes at the end of `log` are a torn line: an append cut short
/// (no line ending), or a last line that is not an audit entry (a crash can
/// leave a line of zeros). Every append ends in a whole line, so such a
/// tail is provably incomplete. 0 when the log ends in a whole entry.
pub fn torn_tail(log: &[u8]) -> usize {
    if log.is_empty() {
        return 0;
    }
    let body = log.strip_suffix(b"\n").unwrap_or(log);
    let start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let whole = log.ends_with(b"\n") && serde_json::from_slice::<Entry>(&body[start..]).is_ok();
    if whole {
        0
    } else {
        log.len() - start
    }
}

/// The pending journal: the lines a commit appends, and the index they go
/// with (SHA-256 of the `index.json` bytes the commit writes).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    pub index_sha256: String,
    pub entries: Vec<Entry>,
}

/// Write the pending journal of a directory store (0600, atomically,
/// refusing to replace one: a leftover journal is finished by [`recover`]
/// before any commit).
pub fn write_pending(dir: &Path, pending: &Pending) -> Result<()> {
    let text = serde_json::to_vec(pending).expect("plain data encodes");
    let path = dir.join(PENDING_FILE);
    crate::store::fs::write_atomic(
        &path,
        &text,
        crate::store::fs::SECRET_MODE,
        crate::store::fs::Replace::Never,
    )?;
    crate::ui::trace(format!(
        "wrote {} (0600): the audit lines of the commit, appended once the index is written",
        path.display()
    ));
    Ok(())
}

/// Remove the pending journal (and sync the store directory).
pub fn remove_pending(dir: &Path) -> Result<()> {
    let path = dir.join(PENDING_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => crate::store::fs::sync_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", &path, e)),
    }
}

/// What [`recover`] found and did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Bytes of a torn last line removed from the log.
    pub torn: usize,
    /// Lines of a committed change's journal appended now.
    pub completed: usize,
    /// Lines of a journal whose change was never committed, dropped.
    pub dropped: usize,
}

/// Finish what an interrupted run left in a directory store, before
/// anything else is done under the store lock (which the caller holds):
/// remove a torn last line of the log, then finish a leftover pending
/// journal: append the lines the log lacks when `index.json` is the index
/// it names, drop it otherwise. Each repair is recorded in the log.
pub fn recover(store: &DirStore, now: OffsetDateTime) -> Result<Recovered> {
    let dir = &store.dir;
    let mut done = Recovered::default();
    // Most often there is nothing to finish, which the end of the log and
    // the journal's absence tell without reading the whole log.
    if !dir_unsettled(dir) {
        return Ok(done);
    }
    let log = log_path(dir);
    let bytes =
        crate::store::fs::read_if_present(&log, crate::store::fs::Kind::File)?.unwrap_or_default();
    done.torn = torn_tail(&bytes);
    if done.torn > 0 {
        crate::store::fs::truncate(&log, (bytes.len() - done.torn) as u64)?;
        crate::ui::trace(format!(
            "removed a torn last line of {} bytes from {}: an interrupted append",
            done.torn,
            log.display()
        ));
    }
    let journal = dir.join(PENDING_FILE);
    let pending = crate::store::fs::read_if_present(&journal, crate::store::fs::Kind::File)?
        .map(|b| {
            serde_json::from_slice::<Pending>(&b).map_err(|e| {
                Error::failed(
                    format!(
                        "{} is not a pending audit journal: {}",
                        journal.display(),
                        crate::error::one_line(&e)
                    ),
                    "it is written atomically, so it was changed by hand: keep a copy, check the store with `pki verify`, then remove it",
                )
            })
        })
        .transpose()?;
    if pending.is_none() && done.torn == 0 {
        return Ok(done);
    }
    let (mut seq, mut prev) = dir_head(dir, "nothing was changed: ")?;
    let mut notes = Vec::new();
    if let Some(p) = pending {
        let committed = store.index_sha256().as_deref() == Some(p.index_sha256.as_str());
        if committed {
            // Lines the log already has (an append that got through before
            // the journal was removed) are not appended twice.
            let have = p
                .entries
                .iter()
                .position(|e| e.hash == prev)
                .map_or(0, |i| i + 1);
            let first_prev = p.entries.first().map(|e| e.prev_hash.as_str());
            if have == 0 && first_prev.is_some_and(|h| h != prev) {
                return Err(Error::failed(
                    format!(
                        "{} holds the audit lines of a committed change, but the log {} does not end where they begin",
                        journal.display(),
                        log.display()
                    ),
                    "run `pki audit verify` and keep a copy of both files; then append the journal's lines by hand, or remove it",
                ));
            }
            let rest = &p.entries[have..];
            append_lines(dir, rest)?;
            if let Some(last) = rest.last() {
                (seq, prev) = (last.seq, last.hash.clone());
            }
            done.completed = rest.len();
            if !rest.is_empty() {
                notes.push(Event::new("recover", Kind::AuditCompleted).detail(format!(
                    "appended {} line(s) of a committed change from {PENDING_FILE}: its run stopped before recording them",
                    rest.len()
                )));
            }
        } else {
            done.dropped = p.entries.len();
        }
        remove_pending(dir)?;
    }
    if done.torn > 0 {
        notes.push(Event::new("recover", Kind::AuditTornLineRemoved).detail(format!(
            "a torn line of {} bytes was removed from the end of {AUDIT_FILE}: an append cut short by a crash or a full disk",
            done.torn
        )));
    }
    append_lines(dir, &chain(seq, &prev, now, notes))?;
    Ok(done)
}

/// Whether an interrupted commit may have left [`recover`]
/// something to finish: `audit.pending` exists, or the log's last line may
/// be torn. Reads only the end of the log (the whole of it is megabytes in
/// a large store); true whenever it cannot tell, so `recover` decides.
pub fn dir_unsettled(dir: &Path) -> bool {
    use crate::store::fs;
    if std::fs::symlink_metadata(dir.join(PENDING_FILE)).is_ok() {
        return true;
    }
    match fs::open_private(&log_path(dir), fs::Kind::File) {
        Ok(f) => torn_end(f, AUDIT_TAIL).unwrap_or(true),
        Err(Err(e)) => e.kind() != std::io::ErrorKind::NotFound,
        Err(Ok(_refused)) => true,
    }
}

/// How much of the end of the audit log [`torn_end`] reads: far more than
/// one line.
const AUDIT_TAIL: u64 = 64 * 1024;

/// Whether the last line of `log` may be torn ([`torn_tail`]),
/// from its last `window` bytes; true when the last line does not fit in them.
fn torn_end(log: impl std::io::Read + std::io::Seek, window: u64) -> std::io::Result<bool> {
    Ok(tail_lines(log, window)?.is_none_or(|t| torn_tail(&t) > 0))
}

/// The whole lines among the last `window` bytes of `log` (and a torn
/// last one), or None when the last line does not fit in them.
fn tail_lines(
    mut log: impl std::io::Read + std::io::Seek,
    window: u64,
) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::SeekFrom;
    let len = log.seek(SeekFrom::End(0))?;
    // From one byte before the window, so a line that begins exactly at
    // its start is seen whole.
    let start = len.saturating_sub(window + 1);
    log.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    log.read_to_end(&mut tail)?;
    if start == 0 {
        return Ok(Some(tail));
    }
    // Drop the part of a line the window begins inside.
    match tail.iter().position(|b| *b == b'\n') {
        Some(i) if i + 1 < tail.len() => Ok(Some(tail.split_off(i + 1))),
        _ => Ok(None),
    }
}

/// The first broken link of a log: its 1-based line number and what is wrong.
#[derive(Debug, PartialEq, Eq)]
pub struct Broken {
    pub line: usize,
    pub problem: String,
}

/// Check the whole chain; Ok(entries) when intact.
pub fn verify(text: &str) -> std::result::Result<Vec<Entry>, (Vec<Entry>, Broken)> {
    let mut out: Vec<Entry> = Vec::new();
    let mut prev = GENESIS.to_string();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, raw) in lines.iter().enumerate() {
        let n = i + 1;
        let broken = |problem: String| Broken { line: n, problem };
        let Some(line) = raw.strip_suffix('\n') else {
            return Err((
                out,
                broken("is incomplete (no line ending): an interrupted or truncated write".into()),
            ));
        };
        let e: Entry = match serde_json::from_str(line) {
            Ok(e) => e,
            Err(err) => {
                return Err((
                    out,
                    broken(format!(
                        "is not an audit entry ({})",
                        crate::error::one_line(&err)
                    )),
                ))
            }
        };
        if e.seq != n as u64 {
            return Err((
                out,
                broken(format!(
                    "has seq {}, expected {n}: a line was deleted, inserted or moved here",
                    e.seq
                )),
            ));
        }
        if e.prev_hash != prev {
            return Err((
                out,
                broken(format!(
                    "does not chain to line {}: its prev_hash is not that line's hash (a line was replaced or reordered)",
                    n - 1
                )),
            ));
        }
        if e.hash != e.compute_hash() {
            return Err((
                out,
                broken("was edited: its hash does not match its content".into()),
            ));
        }
        prev = e.hash.clone();
        out.push(e);
    }
    Ok(out)
}

/// Read the store's log; a missing log is empty.
pub fn read(store: &Store) -> Result<String> {
    store.audit_text()
}

/// Read a directory store's log file; a missing log is empty.
pub fn read_dir_log(dir: &Path) -> Result<String> {
    let path = log_path(dir);
    match crate::store::fs::read_private(&path, crate::store::fs::Kind::File) {
        Err(Ok(refusal)) => Err(refusal),
        Ok(b) => String::from_utf8(b).map_err(|_| Error::Attention {
            msg: format!(
                "{} is not text: the audit log was damaged or replaced",
                path.display()
            ),
        }),
        Err(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(Err(source)) => Err(Error::Read { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real audit log of a few lines of different lengths.
    fn unsettled_log() -> Vec<u8> {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path().join("s"));
        let dir = store.dir().unwrap().to_path_buf();
        crate::store::fs::private_dir(&dir).unwrap();
        store
            .as_dir()
            .unwrap()
            .write_index(&crate::store::Index::new())
            .unwrap();
        let now = time::macros::datetime!(2026-06-01 00:00 UTC);
        assert!(!dir_unsettled(&dir), "no log yet");
        store
            .transact(false, now, |tx| {
                for i in 0..6 {
                    let e = Event::new("test", Kind::ConfigChanged);
                    tx.record(e.detail("x".repeat(i * 7)));
                }
                Ok(())
            })
            .unwrap();
        assert!(!dir_unsettled(&dir));
        std::fs::write(dir.join(PENDING_FILE), "{}").unwrap();
        assert!(dir_unsettled(&dir), "a pending journal");
        std::fs::read(log_path(&dir)).unwrap()
    }

    #[test]
    fn the_end_of_the_log_tells_a_torn_last_line_at_every_window() {
        use std::io::Cursor;
        let log = unsettled_log();
        let ends: Vec<usize> = (0..log.len()).filter(|&i| log[i] == b'\n').collect();
        for (n, &end) in ends.iter().enumerate() {
            let whole = &log[..=end];
            let last = end - n.checked_sub(1).map_or(0, |p| ends[p] + 1) + 1;
            for window in 1..=whole.len() as u64 + 2 {
                let fits = window >= last as u64 || whole.len() as u64 <= window + 1;
                let torn = torn_end(Cursor::new(whole), window).unwrap();
                assert_eq!(torn, !fits, "{n} lines, window {window}");
                for cut in [b"{\"seq\":9".as_slice(), b"\0\0\0\0\n"] {
                    let bad = [whole, cut].concat();
                    assert!(torn_end(Cursor::new(&bad), window).unwrap());
                }
            }
        }
        assert!(!torn_end(Cursor::new(b""), AUDIT_TAIL).unwrap());
    }

    #[test]
    fn the_head_read_from_the_end_of_the_log_is_the_head_of_the_whole_log() {
        use std::io::Cursor;
        let log = unsettled_log();
        let want = head_of(&log).unwrap();
        assert!(want.0 > 1);
        let last = log[..log.len() - 1]
            .rsplit(|b| *b == b'\n')
            .next()
            .unwrap()
            .len() as u64
            + 1;
        for window in 1..=log.len() as u64 + 2 {
            match tail_lines(Cursor::new(&log), window).unwrap() {
                Some(tail) => assert_eq!(head_of(&tail).unwrap(), want, "window {window}"),
                // Only a window shorter than the last line needs the whole log.
                None => assert!(window < last, "window {window}"),
            }
        }
        assert_eq!(tail_lines(Cursor::new(b""), 9).unwrap(), Some(Vec::new()));
    }

    #[test]
    fn every_kind_reads_back_from_its_name_and_only_sends_that_arrived_deliver() {
        let all: Vec<Kind> = Kind::all().collect();
        assert_eq!(all.len(), 30);
        for k in &all {
            assert_eq!(Kind::parse(k.name()), Some(*k), "{k:?}");
        }
        let names: std::collections::HashSet<_> = all.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), all.len(), "two kinds share a name");
        assert!(Kind::parse("issued-x").is_none() && Kind::parse("").is_none());
        let undelivered: Vec<&str> = all
            .iter()
            .filter(|k| !k.delivered())
            .map(|k| k.name())
            .collect();
        assert_eq!(
            undelivered,
            [
                "deploy-unchanged",
                "store-copied-to",
                "store-copied-from",
                "ca-key-sending",
                "ca-key-send-failed",
                "key-sending",
                "key-send-failed"
            ]
        );
    }

    fn chain(n: u64) -> String {
        let mut prev = GENESIS.to_string();
        let mut s = String::new();
        for seq in 1..=n {
            let mut e = Entry {
                seq,
                time: "2026-01-01T00:00:00Z".into(),
                actor: "uid 0".into(),
                command: "issue".into(),
                event: "issued".into(),
                user: Some(format!("u{seq}")),
                serial: Some("ab".into()),
                detail: None,
                prev_hash: prev,
                hash: String::new(),
            };
            e.hash = e.compute_hash();
            prev = e.hash.clone();
            s.push_str(&serde_json::to_string(&e).unwrap());
            s.push('\n');
        }
        s
    }

    #[test]
    fn an_intact_chain_verifies_and_each_kind_of_tampering_names_its_line() {
        let good = chain(4);
        assert_eq!(verify(&good).unwrap().len(), 4);
        assert_eq!(verify("").unwrap().len(), 0);
        let lines: Vec<&str> = good.lines().collect();
        let join = |ls: Vec<&str>| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
        let edited = good.replacen("\"u2\"", "\"mallory\"", 1);
        let deleted = join(vec![lines[0], lines[2], lines[3]]);
        let swapped = join(vec![lines[0], lines[2], lines[1], lines[3]]);
        let truncated = good[..good.len() - 5].to_string();
        for (text, line, want) in [
            (edited, 2, "was edited"),
            (deleted, 2, "expected 2"),
            (swapped, 2, "expected 2"),
            (truncated, 4, "incomplete"),
            (good.replacen("{", "[", 1), 1, "not an audit entry"),
        ] {
            let (ok, b) = verify(&text).unwrap_err();
            assert_eq!(b.line, line, "{}", b.problem);
            assert_eq!(ok.len(), line - 1);
            assert!(b.problem.contains(want), "{}", b.problem);
        }
    }

    #[test]
    fn the_hash_covers_every_field_and_the_previous_hash() {
        let base: Entry = serde_json::from_str(chain(1).trim()).unwrap();
        let h = base.compute_hash();
        for change in [
            |e: &mut Entry| e.seq = 9,
            |e: &mut Entry| e.time.push('x'),
            |e: &mut Entry| e.actor.push('x'),
            |e: &mut Entry| e.command.push('x'),
            |e: &mut Entry| e.event.push('x'),
            |e: &mut Entry| e.user = None,
            |e: &mut Entry| e.serial = Some("cd".into()),
            |e: &mut Entry| e.detail = Some(String::new()),
            |e: &mut Entry| e.prev_hash = "1".repeat(64),
        ] {
            let mut e = base.clone();
            change(&mut e);
            assert_ne!(e.compute_hash(), h, "{e:?}");
        }
    }
}
