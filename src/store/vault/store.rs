//! The store's objects in a KV v2 secrets engine: the same contract as the
//! directory store (docs/store.md), with Vault's check-and-set writes as
//! the commit (docs/vault.md).
//!
//! ```text
//! MOUNT/PATH/state            the commit point: the index (compressed; inline or
//!                             named chunks), where the audit chain ends, its
//!                             blocks and the lines not yet in a block.
//!                             Written with cas = the version read under the lock.
//! MOUNT/PATH/index/<sha256>   chunks of a large compressed index (cas 0)
//! MOUNT/PATH/files/<rel>      one object per certificate, key or CRL (cas 0,
//!                             never rewritten once an index names it)
//! MOUNT/PATH/audit/<seq>      a block of audit lines starting at seq (cas 0)
//! MOUNT/PATH/lock             the lease of the writer (pid, host, command, expiry)
//! MOUNT/PATH/docs/<name>      small documents (the pending --on-change hook)
//! MOUNT/PATH/published/<name> values an app reads by reference (--by-reference)
//! ```
//!
//! A commit writes the new objects first (an interrupted run leaves only
//! objects no index names), then replaces `state` with check-and-set
//! against the version read under the lock: two writers can never both
//! commit on the same state, so the audit chain cannot fork and no change
//! goes unrecorded.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::client::{Client, Put, Versioned};
use crate::error::{Error, Result};
use crate::store::address::Address;
use crate::store::audit::{self, Entry, GENESIS};
use crate::store::Index;

/// The layout this pki writes and reads.
const STATE_FORMAT: u32 = 1;
/// Vault's integrated storage refuses an entry over 1 MiB by default; each
/// object stays below this, with room for KV's own metadata and JSON.
pub const OBJECT_LIMIT: usize = 900 * 1024;
/// An index whose compressed text is larger goes into chunks of this size.
const INLINE_INDEX: usize = 256 * 1024;
/// Audit lines are kept in `state` until they pass this size, then moved
/// into a block of their own in the same commit.
const PENDING_AUDIT: usize = 64 * 1024;
/// ... or pass this many: each is a JSON object of up to 19 strings, and
/// OpenBao's listener refuses a request of more than 1,000 strings
/// (`max_request_json_strings`), which 52 lines would pass.
const PENDING_LINES: usize = 32;
/// The largest audit block or index chunk.
const CHUNK: usize = 512 * 1024;
/// How long a writer's lock lasts without renewal (`PKI_VAULT_LEASE`
/// seconds); renewed every third of it while the writer runs.
const LEASE_SECS: u64 = 60;

/// The `state` document: the commit point.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    format: u32,
    /// zlib-compressed index text, base64; empty when in `index_chunks`.
    #[serde(default)]
    index: String,
    /// SHA-256 of each chunk of the compressed index text, in order.
    #[serde(default)]
    index_chunks: Vec<String>,
    /// SHA-256 of the index text.
    index_sha256: String,
    /// Where the audit chain ends.
    audit_seq: u64,
    audit_hash: String,
    /// The first seq of each audit block, in order.
    #[serde(default)]
    audit_blocks: Vec<u64>,
    /// Audit lines after the last block.
    #[serde(default)]
    pending: Vec<Entry>,
}

/// A store in Vault. The client is made on first use, so a command that
/// never reads the store needs no Vault.
pub struct VaultStore {
    mount: String,
    path: String,
    client: Mutex<Option<Arc<Client>>>,
    /// `state` as read under this run's lock, and its version (0: none yet).
    session: Mutex<Option<(State, u64)>>,
    /// Objects read or written by this run: immutable once an index names them.
    files: Mutex<HashMap<PathBuf, zeroize::Zeroizing<String>>>,
}

impl VaultStore {
    pub fn new(mount: String, path: String) -> Self {
        VaultStore {
            mount,
            path,
            client: Mutex::new(None),
            session: Mutex::new(None),
            files: Mutex::new(HashMap::new()),
        }
    }

    /// A store reached through a client made elsewhere (a tool or a test
    /// that has its own credentials), not from this process's environment.
    pub fn with_client(mount: String, path: String, client: Client) -> Self {
        let store = VaultStore::new(mount, path);
        *store.client.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(client));
        store
    }

    pub fn address(&self) -> Address {
        Address::Vault {
            mount: self.mount.clone(),
            path: self.path.clone(),
        }
    }

    /// The mount and the store's path in it.
    pub fn mount_path(&self) -> (&str, &str) {
        (&self.mount, &self.path)
    }

    /// An object as messages name it: `vault://MOUNT/PATH/<rel>`.
    pub fn shown(&self, rel: &Path) -> String {
        format!("{}/{}", self.address(), rel.display())
    }

    /// The client, made from the environment on first use.
    pub fn client(&self) -> Result<Arc<Client>> {
        let mut slot = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = Arc::new(Client::from_env()?);
        *slot = Some(c.clone());
        Ok(c)
    }

    /// HTTP requests made so far (the benchmark reports them).
    pub fn requests(&self) -> u64 {
        self.client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, |c| c.requests())
    }

    fn key(&self, rel: &str) -> String {
        format!("{}/{rel}", self.path)
    }

    fn get(&self, rel: &str) -> Result<Option<Versioned>> {
        self.client()?.kv_get(&self.mount, &self.key(rel))
    }

    fn put(&self, rel: &str, data: &Value, cas: Option<u64>) -> Result<Put> {
        if let Ok(text) = serde_json::to_string(data) {
            if text.len() > OBJECT_LIMIT {
                return Err(too_large(&self.shown(Path::new(rel)), text.len()));
            }
        }
        self.client()?
            .kv_put(&self.mount, &self.key(rel), data, cas)
    }

    fn destroy(&self, rel: &str) -> Result<()> {
        self.client()?.kv_destroy(&self.mount, &self.key(rel))
    }

    /// `state` and its version; None when there is no store.
    fn read_state(&self) -> Result<Option<(State, u64)>> {
        let Some(v) = self.get("state")? else {
            return Ok(None);
        };
        let state: State = serde_json::from_value(Value::Object(v.data)).map_err(|e| {
            Error::failed(
                format!(
                    "{} is not a pki store's state: {}",
                    self.shown(Path::new("state")),
                    crate::error::one_line(&e)
                ),
                "restore it from a backup (`pki store copy`) or from an earlier version of the secret (`vault kv rollback`)",
            )
        })?;
        if state.format != STATE_FORMAT {
            return Err(crate::store::other_format(
                &self.shown(Path::new("state")),
                state.format,
                STATE_FORMAT,
            ));
        }
        Ok(Some((state, v.version)))
    }

    fn no_store(&self) -> Error {
        Error::NoStore {
            dir: PathBuf::from(self.address().to_string()),
        }
    }

    pub fn exists(&self) -> Result<bool> {
        Ok(self.read_state()?.is_some())
    }

    /// The index, read without the lock.
    ///
    /// Read without the lock, a chunked index can lose its chunks between
    /// reading `state` and reading them: a writer's commit removes the
    /// chunks only the state it replaced named. So a failure to decode it
    /// is only believed once `state` is read again unchanged.
    pub fn read_index(&self) -> Result<Index> {
        let (mut state, mut version) = self.read_state()?.ok_or_else(|| self.no_store())?;
        let mut rereads = 0;
        loop {
            match self.decode_index(&state) {
                Err(e) if !state.index_chunks.is_empty() && rereads < 10 => {
                    rereads += 1;
                    match self.read_state()? {
                        Some((now, v)) if v != version => (state, version) = (now, v),
                        _ => return Err(e),
                    }
                }
                decoded => return decoded,
            }
        }
    }

    fn decode_index(&self, state: &State) -> Result<Index> {
        let shown = PathBuf::from(self.shown(Path::new("state")));
        let packed = if state.index_chunks.is_empty() {
            state.index.clone()
        } else {
            let mut all = String::new();
            for sha in &state.index_chunks {
                let rel = format!("index/{sha}");
                let part = self
                    .get(&rel)?
                    .and_then(|v| v.data.get("chunk").and_then(Value::as_str).map(str::to_string))
                    .filter(|c| crate::x509::cert::sha256_hex(c.as_bytes()) == *sha)
                    .ok_or_else(|| {
                        Error::failed(
                            format!(
                                "{} names the index chunk {} but it is missing or not what was written",
                                shown.display(),
                                self.shown(Path::new(&rel))
                            ),
                            "restore the store from a backup (`pki store copy`)",
                        )
                    })?;
                all.push_str(&part);
            }
            all
        };
        let damaged = |why: &str| {
            Error::failed(
                format!("{} holds an index that {why}", shown.display()),
                "restore it from a backup (`pki store copy`) or an earlier version of the secret",
            )
        };
        let zipped = base64::engine::general_purpose::STANDARD
            .decode(packed.as_bytes())
            .map_err(|_| damaged("is not base64"))?;
        let mut text = Vec::new();
        flate2::read::ZlibDecoder::new(zipped.as_slice())
            .take(1 << 30)
            .read_to_end(&mut text)
            .map_err(|_| damaged("cannot be decompressed"))?;
        if crate::x509::cert::sha256_hex(&text) != state.index_sha256 {
            return Err(damaged("does not match its SHA-256"));
        }
        let index = Index::parse(&text, &shown)?;
        crate::ui::trace(format!(
            "read {} ({} certificate(s)): the store's state",
            shown.display(),
            index.certificates.len()
        ));
        Ok(index)
    }

    /// Take the lock: create `lock` (cas 0), or take over a holder whose
    /// lease expired or that was a process of this host that is gone.
    /// Without `wait`, a live holder is exit 4 naming it; with `wait`, say
    /// once for whom, then poll.
    pub fn lock(&self, wait: bool) -> Result<Lease> {
        let client = self.client()?;
        let me = Holder::me();
        let key = self.key("lock");
        let mut said = false;
        // Most often the lock is free: create it at once (one request).
        let mut cas = 0;
        loop {
            if let Put::Written { version } =
                client.kv_put(&self.mount, &key, &me.to_value(), Some(cas))?
            {
                crate::ui::trace(format!("locked {} as {me}", self.shown(Path::new("lock"))));
                *self.session.lock().unwrap_or_else(|e| e.into_inner()) = None;
                return Ok(Lease::start(client, self.mount.clone(), key, me, version));
            }
            // Held, or taken by another writer first: look at the holder.
            cas = 0;
            if let Some(cur) = client.kv_get(&self.mount, &key)? {
                match Holder::live(cur.data) {
                    Some(h) => {
                        if !wait {
                            return Err(Error::Locked {
                                dir: PathBuf::from(self.address().to_string()),
                                holder: h.to_string(),
                            });
                        }
                        if !said {
                            crate::ui::notice(format!(
                                "waiting for the store lock of {}, held by {h}",
                                self.address()
                            ));
                            said = true;
                        }
                        std::thread::sleep(Duration::from_millis(500));
                        continue;
                    }
                    // A holder that is gone, or a lock pki cannot read: taken over.
                    _ => cas = cur.version,
                }
            } else {
                // No holder: released meanwhile, or only deleted versions
                // left (`vault kv delete` of the lock), which a create
                // cannot replace: taken against the latest version.
                cas = client.kv_version(&self.mount, &key)?;
            }
        }
    }

    /// Whether the lock is held by a holder that is gone (or that pki
    /// cannot read), so that the next writer would take it over. A failed
    /// read is "no": the writer that follows reads it again and says why.
    pub fn lock_left(&self) -> bool {
        let Ok(client) = self.client() else {
            return false;
        };
        match client.kv_get(&self.mount, &self.key("lock")) {
            Ok(Some(cur)) => Holder::live(cur.data).is_none(),
            _ => false,
        }
    }

    /// Under the lock: read `state` (kept for the commit) and the index
    /// (a new empty one when `create` and there is none).
    pub fn begin(&self, create: bool) -> Result<Index> {
        let read = self.read_state()?;
        let index = match &read {
            Some((state, _)) => self.decode_index(state)?,
            None if create => Index::new(),
            None => return Err(self.no_store()),
        };
        let read = match read {
            Some(r) => r,
            // A store made where `state` has only deleted versions commits
            // against the latest of them.
            None => (
                State::new(),
                self.client()?.kv_version(&self.mount, &self.key("state"))?,
            ),
        };
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = Some(read);
        Ok(index)
    }

    /// Where the audit chain ends, as read under the lock (or now).
    pub fn audit_head(&self) -> Result<(u64, String)> {
        if let Some((s, _)) = self
            .session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            return Ok((s.audit_seq, s.audit_hash.clone()));
        }
        Ok(match self.read_state()? {
            Some((s, _)) => (s.audit_seq, s.audit_hash),
            None => (0, GENESIS.to_string()),
        })
    }

    /// The commit: the new index (None: unchanged) and the audit lines,
    /// in one check-and-set write of `state` against the version read
    /// under the lock. `committed` is called once it is made.
    pub fn commit(
        &self,
        index_text: Option<&str>,
        entries: &[Entry],
        committed: impl FnOnce(),
    ) -> Result<()> {
        self.commit_onto(false, index_text, entries, committed)
    }

    /// Replace the index and the whole audit log (`pki store copy`) in one
    /// commit, under the lock.
    pub fn replace_all(&self, text: &str, log: &[Entry], committed: impl FnOnce()) -> Result<()> {
        self.commit_onto(true, Some(text), log, committed)
    }

    /// The commit onto the state read under the lock (`fresh`: onto an
    /// empty one, whose version is still the one read).
    fn commit_onto(
        &self,
        fresh: bool,
        index_text: Option<&str>,
        entries: &[Entry],
        committed: impl FnOnce(),
    ) -> Result<()> {
        let (read, version) = self
            .session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                Error::failed(
                    "a commit to the store in Vault without its lock",
                    "this is a bug in pki; please report it",
                )
            })?;
        let old = read.clone();
        let mut state = if fresh { State::new() } else { read };
        state.format = STATE_FORMAT;
        if let Some(text) = index_text {
            self.encode_index(&mut state, text)?;
        }
        if let Some(last) = entries.last() {
            state.pending.extend(entries.iter().cloned());
            state.audit_seq = last.seq;
            state.audit_hash = last.hash.clone();
            if state.pending.len() > PENDING_LINES
                || audit::lines(&state.pending).len() > PENDING_AUDIT
            {
                self.write_blocks(&mut state)?;
            }
        }
        let doc = serde_json::to_value(&state).expect("plain data encodes");
        let answer = self.put("state", &doc, Some(version));
        let made = match answer {
            Ok(Put::Written { version }) => version,
            Ok(Put::CasMismatch) => {
                return Err(Error::failed(
                    format!(
                        "{} changed while this run held the store lock (its lease ran out?): nothing was changed",
                        self.address()
                    ),
                    "run the command again",
                ))
            }
            // The answer was lost (a timeout, the leader gone): the state
            // in Vault says whether the write was made.
            Err(e) => match self.read_state() {
                Ok(Some((now, v))) if now == state => v,
                Ok(_) => return Err(e),
                Err(_) => {
                    return Err(Error::failed(
                        format!(
                            "the answer to the commit was lost and {} cannot be read to say whether it was made: {}",
                            self.address(),
                            crate::error::one_line(&e)
                        ),
                        "once Vault answers, `pki audit show` says whether this change was recorded; if it was not, run the command again",
                    ))
                }
            },
        };
        committed();
        crate::ui::trace(format!(
            "wrote {} (version {made}): the commit point, the change is now current",
            self.shown(Path::new("state"))
        ));
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = Some((state.clone(), made));
        // Chunks of an index no longer named are removed (best effort: a
        // chunk left behind is never read).
        for sha in old
            .index_chunks
            .iter()
            .filter(|s| !state.index_chunks.contains(s))
        {
            let _ = self.destroy(&format!("index/{sha}"));
        }
        Ok(())
    }

    fn encode_index(&self, state: &mut State, text: &str) -> Result<()> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(text.as_bytes())
            .map_err(|e| Error::failed(format!("cannot compress the index: {e}"), "run again"))?;
        let zipped = z
            .finish()
            .map_err(|e| Error::failed(format!("cannot compress the index: {e}"), "run again"))?;
        let packed = base64::engine::general_purpose::STANDARD.encode(zipped);
        state.index_sha256 = crate::x509::cert::sha256_hex(text.as_bytes());
        if packed.len() <= INLINE_INDEX {
            state.index = packed;
            state.index_chunks.clear();
            return Ok(());
        }
        state.index.clear();
        state.index_chunks.clear();
        for part in packed.as_bytes().chunks(CHUNK) {
            let part = std::str::from_utf8(part).expect("base64 is ASCII");
            let sha = crate::x509::cert::sha256_hex(part.as_bytes());
            // Named by content: one already there holds the same bytes.
            self.put(&format!("index/{sha}"), &json!({ "chunk": part }), Some(0))?;
            state.index_chunks.push(sha);
        }
        let names = state.index_chunks.len() * 70;
        if names > OBJECT_LIMIT / 2 {
            return Err(too_large(&self.shown(Path::new("state")), names));
        }
        Ok(())
    }

    /// Move the pending audit lines into blocks of their own (written
    /// before the commit; a block no state names, left by an interrupted
    /// run, is replaced).
    fn write_blocks(&self, state: &mut State) -> Result<()> {
        let mut block: Vec<Entry> = Vec::new();
        let mut size = 0;
        let pending = std::mem::take(&mut state.pending);
        let n = pending.len();
        for (i, e) in pending.into_iter().enumerate() {
            size += serde_json::to_string(&e).map_or(0, |t| t.len() + 1);
            block.push(e);
            if size >= CHUNK || i + 1 == n {
                let first = block[0].seq;
                self.create_or_replace_orphan(
                    &format!("audit/{first:012}"),
                    &json!({ "lines": audit::lines(&block) }),
                )?;
                state.audit_blocks.push(first);
                block.clear();
                size = 0;
            }
        }
        Ok(())
    }

    /// Create an object the index (or state) does not name yet: cas 0, or,
    /// when an interrupted run left one there, replace it.
    fn create_or_replace_orphan(&self, rel: &str, data: &Value) -> Result<()> {
        if let Put::CasMismatch = self.put(rel, data, Some(0))? {
            let version = self.client()?.kv_version(&self.mount, &self.key(rel))?;
            if let Put::CasMismatch = self.put(rel, data, Some(version))? {
                return Err(Error::failed(
                    format!(
                        "{} was written by another run meanwhile",
                        self.shown(Path::new(rel))
                    ),
                    "another pki is writing without the store lock; run the command again",
                ));
            }
        }
        Ok(())
    }

    /// Write a new object for the file `rel`; one the index names is never
    /// replaced (exit 4), one it does not name is an orphan of an
    /// interrupted run and is replaced.
    pub fn write_file(&self, index: &Index, rel: &Path, data: &[u8]) -> Result<()> {
        let text = std::str::from_utf8(data).map_err(|_| {
            Error::failed(
                format!("{} is not text", self.shown(rel)),
                "this is a bug in pki; please report it",
            )
        })?;
        let key = format!("files/{}", rel.display());
        let doc = json!({ "text": text });
        if let Put::CasMismatch = self.put(&key, &doc, Some(0))? {
            if index.names(rel) {
                return Err(Error::Exists {
                    path: PathBuf::from(self.shown(rel)),
                    instead: "destination",
                });
            }
            self.create_or_replace_orphan(&key, &doc)?;
        }
        crate::ui::trace(format!(
            "wrote {}: not current until the index names it",
            self.shown(rel)
        ));
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(rel.to_path_buf(), zeroize::Zeroizing::new(text.to_string()));
        Ok(())
    }

    /// Read the object of the file `rel`.
    pub fn read_text(&self, rel: &Path) -> Result<String> {
        if let Some(t) = self
            .files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(rel)
        {
            return Ok(t.to_string());
        }
        let text = self
            .get(&format!("files/{}", rel.display()))?
            .and_then(|v| {
                v.data
                    .get("text")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .ok_or_else(|| {
                Error::failed(
                    format!("the store names {} but it cannot be read", self.shown(rel)),
                    "restore it from a backup (`pki store copy`), or re-issue with --force",
                )
            })?;
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(rel.to_path_buf(), zeroize::Zeroizing::new(text.clone()));
        Ok(text)
    }

    pub fn read_doc(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.get(&format!("docs/{name}"))?.and_then(|v| {
            v.data
                .get("text")
                .and_then(Value::as_str)
                .map(|s| s.as_bytes().to_vec())
        }))
    }

    pub fn write_doc(&self, name: &str, data: &[u8]) -> Result<()> {
        let text = String::from_utf8_lossy(data);
        self.put(&format!("docs/{name}"), &json!({ "text": text }), None)
            .map(|_| ())
    }

    pub fn remove_doc(&self, name: &str) -> Result<()> {
        self.destroy(&format!("docs/{name}"))
    }

    /// The whole audit log as text: the blocks `state` names, then its
    /// pending lines.
    pub fn audit_text(&self) -> Result<String> {
        let Some((state, _)) = self.read_state()? else {
            return Ok(String::new());
        };
        let mut text = String::new();
        for first in &state.audit_blocks {
            let rel = format!("audit/{first:012}");
            let lines = self
                .get(&rel)?
                .and_then(|v| {
                    v.data
                        .get("lines")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .ok_or_else(|| Error::Attention {
                    msg: format!(
                        "{} names the audit block {} but it is missing: the audit log was damaged",
                        self.shown(Path::new("state")),
                        self.shown(Path::new(&rel))
                    ),
                })?;
            text.push_str(&lines);
        }
        text.push_str(&audit::lines(&state.pending));
        Ok(text)
    }

    /// Publish `fields` at `PATH/published/<name>` (replacing what was
    /// there); returns the object's path under the mount.
    pub fn publish(&self, name: &str, fields: &[(&str, &str)]) -> Result<String> {
        let mut data = serde_json::Map::new();
        for (k, v) in fields {
            data.insert((*k).to_string(), Value::String((*v).to_string()));
        }
        let rel = format!("published/{name}");
        self.put(&rel, &Value::Object(data), None)?;
        Ok(self.key(&rel))
    }
}

impl State {
    fn new() -> Self {
        State {
            format: STATE_FORMAT,
            audit_hash: GENESIS.to_string(),
            ..State::default()
        }
    }
}

fn too_large(what: &str, size: usize) -> Error {
    Error::input(
        format!(
            "{what} would be {size} bytes, over the {OBJECT_LIMIT} bytes pki keeps each Vault object under (Vault's storage refuses entries over 1 MiB by default): nothing was written"
        ),
        "split the store (one store per deployment), or keep this one in a directory (docs/vault.md, Limits)",
    )
}

/// Who holds the lock, until when.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    host: String,
    command: String,
    /// Unix time the lease ends unless renewed.
    expires: i64,
}

impl Holder {
    fn me() -> Self {
        let command: Vec<String> = std::env::args()
            .enumerate()
            .map(|(i, a)| if i == 0 { "pki".to_string() } else { a })
            .take(4)
            .collect();
        Holder {
            pid: std::process::id(),
            host: rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned(),
            command: command.join(" "),
            expires: unix_now() + lease_secs() as i64,
        }
    }

    fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("plain data encodes")
    }

    /// The holder a lock object names, unless it is gone or unreadable
    /// (a lock any writer may take over).
    fn live(data: serde_json::Map<String, Value>) -> Option<Holder> {
        serde_json::from_value::<Holder>(Value::Object(data))
            .ok()
            .filter(|h| !h.gone())
    }

    /// A holder whose lease ran out, or a process of this host that is gone.
    fn gone(&self) -> bool {
        if self.expires < unix_now() {
            return true;
        }
        let here = rustix::system::uname().nodename().to_string_lossy() == self.host.as_str();
        here && rustix::process::Pid::from_raw(self.pid as i32)
            .is_some_and(|p| rustix::process::test_kill_process(p) == Err(rustix::io::Errno::SRCH))
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let clean =
            |s: &str| -> String { s.chars().filter(|c| !c.is_control()).take(200).collect() };
        write!(
            f,
            "pid {} on {} ({})",
            self.pid,
            clean(&self.host),
            clean(&self.command)
        )
    }
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn lease_secs() -> u64 {
    std::env::var("PKI_VAULT_LEASE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s| *s >= 3)
        .unwrap_or(LEASE_SECS)
}

/// A held lock: renewed by a thread every third of the lease, removed when
/// dropped (unless it was lost to a takeover, which the renewal notices).
pub struct Lease {
    stop: Option<mpsc::Sender<()>>,
    renewer: Option<std::thread::JoinHandle<bool>>,
    client: Arc<Client>,
    mount: String,
    key: String,
}

impl Lease {
    fn start(client: Arc<Client>, mount: String, key: String, me: Holder, version: u64) -> Lease {
        let (stop, stopped) = mpsc::channel::<()>();
        let (c, m, k) = (client.clone(), mount.clone(), key.clone());
        let renewer = std::thread::spawn(move || {
            let mut version = version;
            let mut me = me;
            let every = Duration::from_secs(lease_secs() / 3);
            // Returns whether the lease is still ours.
            loop {
                match stopped.recv_timeout(every) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return true,
                }
                me.expires = unix_now() + lease_secs() as i64;
                match c.kv_put(&m, &k, &me.to_value(), Some(version)) {
                    Ok(Put::Written { version: v }) => version = v,
                    Ok(Put::CasMismatch) => return false,
                    // A failed renewal is tried again next time; the commit's
                    // check-and-set guards the store meanwhile.
                    Err(_) => {}
                }
            }
        });
        Lease {
            stop: Some(stop),
            renewer: Some(renewer),
            client,
            mount,
            key,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        drop(self.stop.take());
        let ours = self
            .renewer
            .take()
            .map(|h| h.join().unwrap_or(false))
            .unwrap_or(false);
        if ours {
            let _ = self.client.kv_destroy(&self.mount, &self.key);
        }
    }
}
