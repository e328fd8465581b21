//! The directory store's index in shards (docs/formats.md, `index.json`
//! format 2), so that one change costs O(change), not a rewrite of the
//! whole index.
//!
//! Up to [`inline_max`] certificates, `index.json` holds every entry
//! (format 1). Past it, the certificate entries move to 256 shard files,
//! `index.d/<shard>.<generation>.jsonl`, a user's entries all in the shard
//! named by the low byte of the FNV-1a hash of its name; `index.json` keeps the
//! CAs, settings and CRL bookkeeping and names the file of each shard.
//! Shard files are never rewritten: a commit writes the shards it changed
//! as new files (the next generation), makes them durable, and only then
//! replaces `index.json`, which stays the single commit point. The files
//! it replaced are removed after the commit, or by the next run that takes
//! the lock.
//!
//! A command that acts on named users (`issue`, `revoke USER`) reads only
//! their shards ([`Layout::loaded`]); every other command reads them all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{CertEntry, Index, INDEX_FORMAT};
use crate::error::{Error, Result};

/// `index.json`'s format when its certificates are in shards.
pub const SHARDED_FORMAT: u32 = 2;
/// The directory of the shard files.
pub const SHARD_DIR: &str = "index.d";
/// How many certificates `index.json` holds itself before they move to shards.
const INLINE_MAX: usize = 1000;

/// [`INLINE_MAX`], or `PKI_INDEX_INLINE_MAX` (the tests shard small stores).
pub fn inline_max() -> usize {
    std::env::var("PKI_INDEX_INLINE_MAX")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(INLINE_MAX)
}

/// The shard of a user's entries: the low byte of the 32-bit FNV-1a hash
/// of the name, as two lower-case hex digits. (Not a cryptographic hash:
/// it only spreads names, is read for every entry of a whole index, and
/// must never change, as the files are named by it.)
pub fn shard_of(user: &str) -> String {
    let hash = user.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{:02x}", hash & 0xff)
}

/// A shard's file, relative to the store.
pub fn shard_path(shard: &str, generation: u64) -> PathBuf {
    Path::new(SHARD_DIR).join(format!("{shard}.{generation}.jsonl"))
}

/// What `index.json` says of the shards (format 2).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardMap {
    /// How many certificate entries the shards hold together.
    pub certificates: u64,
    /// Counts the commits; a shard written by commit N is `<shard>.N.jsonl`.
    pub generation: u64,
    /// Each shard's generation: the file that holds its entries.
    pub files: BTreeMap<String, u64>,
}

/// Where a sharded index's entries were read from: kept beside the index
/// in memory, never written with it, so its commit writes only what changed.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    map: ShardMap,
    /// The shards read; None: all of them.
    loaded: Option<BTreeSet<String>>,
    /// The place of each entry read, in the order read.
    places: Vec<u64>,
}

/// The layout is how an index was read, not what it says.
impl PartialEq for Layout {
    fn eq(&self, _: &Layout) -> bool {
        true
    }
}

impl Layout {
    /// Whether only some shards were read.
    pub fn partial(&self) -> bool {
        self.loaded.is_some()
    }

    /// Whether the entries of `user` were read.
    pub fn holds(&self, user: &str) -> bool {
        self.loaded
            .as_ref()
            .is_none_or(|l| l.contains(&shard_of(user)))
    }

    /// Every file the index names.
    pub fn files(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.map.files.iter().map(|(s, g)| shard_path(s, *g))
    }
}

fn damaged(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::failed(
        format!("{} is damaged: {why}", path.display()),
        "restore the store's index.json and index.d/ from a backup; the certificates and keys beside them are intact",
    )
}

/// Fill `index` (read from `index.json` at `path`, format 2, its
/// certificates in shards) with the entries of the shards of `users`, or
/// of every shard. `read` reads a file of the store into a buffer. The entries are then
/// checked as those of a format 1 index are ([`Index::validate`]), and
/// each must be in its user's shard, once, at a place the map counts.
pub fn assemble(
    index: &mut Index,
    path: &Path,
    users: Option<&[String]>,
    read: impl Fn(&Path, &mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    let map = index.shards.take().expect("a sharded index");
    if map.files.keys().any(|s| !is_shard(s)) || map.files.values().any(|g| *g > map.generation) {
        return Err(damaged(
            path,
            "its shard map names a file pki does not write",
        ));
    }
    let loaded: Option<BTreeSet<String>> = users.map(|u| u.iter().map(|u| shard_of(u)).collect());
    let twice = || damaged(path, "two of its shards' entries claim one place");
    let mut entries: Vec<(u64, CertEntry)> = Vec::new();
    // One buffer for every file: the index is read in one go.
    let mut bytes = Vec::new();
    for (shard, generation) in &map.files {
        if loaded.as_ref().is_some_and(|l| !l.contains(shard)) {
            continue;
        }
        let rel = shard_path(shard, *generation);
        read(&rel, &mut bytes)?;
        let shown = path.with_file_name(&rel);
        for read in serde_json::Deserializer::from_slice(&bytes).into_iter::<(u64, CertEntry)>() {
            let (place, e) = read.map_err(|e| damaged(&shown, crate::error::one_line(&e)))?;
            if shard_of(&e.user) != *shard || place >= map.certificates {
                return Err(damaged(
                    &shown,
                    format!("it holds an entry of user {:?} at place {place}, which is not this shard's", e.user),
                ));
            }
            entries.push((place, e));
        }
    }
    let (places, certificates) = if loaded.is_some() {
        entries.sort_unstable_by_key(|(place, _)| *place);
        if entries.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(twice());
        }
        entries.into_iter().unzip()
    } else {
        // The count is checked against what was read before anything is
        // sized by it (a map is read back, not trusted); then each entry
        // goes to its place, no sort.
        let count = entries.len();
        if count as u64 != map.certificates {
            return Err(damaged(
                path,
                format!(
                    "it counts {} certificates, its shards hold {count}",
                    map.certificates
                ),
            ));
        }
        let mut slots: Vec<Option<CertEntry>> = Vec::new();
        slots.resize(count, None);
        for (place, e) in entries {
            if slots[place as usize].replace(e).is_some() {
                return Err(twice());
            }
        }
        // In place: the list of places becomes the list of entries (every
        // place is held: as many entries as places, none twice).
        let certificates = slots
            .into_iter()
            .map(|e| e.expect("every place is held"))
            .collect();
        ((0..count as u64).collect(), certificates)
    };
    index.certificates = certificates;
    index.format = INDEX_FORMAT;
    index.layout = Some(Layout {
        map,
        loaded,
        places,
    });
    index.validate(path)
}

fn is_shard(s: &str) -> bool {
    s.len() == 2
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An index as the directory store writes it: `index.json`'s text, and
/// before it the shard files it names; after the commit, the files no
/// longer named.
pub struct Encoded {
    pub index: String,
    pub shards: Vec<(PathBuf, String)>,
    pub replaced: Vec<PathBuf>,
}

/// Encode `index` for the directory store. An index read whole keeps
/// format 1 up to [`inline_max`] certificates and is sharded past it; one
/// read in shards stays in shards, and only the shards whose entries
/// changed are written anew. An index read in part may change entries of
/// the shards it read and add entries after the rest; anything else is a
/// fault of pki, refused before anything is written.
pub fn encode(index: &Index, before: Option<&Index>) -> Result<Encoded> {
    encode_past(index, before, inline_max())
}

/// [`encode`], sharding past `inline` certificates.
fn encode_past(index: &Index, before: Option<&Index>, inline: usize) -> Result<Encoded> {
    let layout = index.layout.as_ref();
    let partial = layout.is_some_and(Layout::partial);
    if !partial && index.certificates.len() <= inline {
        let replaced = layout.map(|l| l.files().collect()).unwrap_or_default();
        return Ok(Encoded {
            index: crate::ui::to_text(index, "the index")?,
            shards: Vec::new(),
            replaced,
        });
    }
    let blank = Layout::default();
    let old = layout.unwrap_or(&blank);
    let mut places = old.places.clone();
    let read = places.len();
    if partial {
        if index.certificates.len() < read {
            return Err(fault("an entry read was removed"));
        }
        places.extend(
            (0..(index.certificates.len() - read) as u64).map(|i| old.map.certificates + i),
        );
    } else {
        places = (0..index.certificates.len() as u64).collect();
    }
    let mut by_shard: BTreeMap<String, Vec<(u64, &CertEntry)>> = BTreeMap::new();
    // The shards with an entry that is new or not as it was read (all of
    // them when nothing says how it was read).
    let mut changed = BTreeSet::new();
    let was = |i: usize| {
        before
            .filter(|_| layout.is_some())
            .and_then(|b| b.certificates.get(i))
    };
    for (i, (place, e)) in places.iter().zip(&index.certificates).enumerate() {
        let shard = shard_of(&e.user);
        if was(i) != Some(e) {
            changed.insert(shard.clone());
        }
        by_shard.entry(shard).or_default().push((*place, e));
    }
    if let Some(loaded) = &old.loaded {
        if let Some(s) = by_shard.keys().find(|s| !loaded.contains(*s)) {
            return Err(fault(&format!(
                "an entry of shard {s}, which was not read, was written"
            )));
        }
    }
    let generation = old.map.generation + 1;
    let mut files = old.map.files.clone();
    let mut out = Encoded {
        index: String::new(),
        shards: Vec::new(),
        replaced: Vec::new(),
    };
    // Shards read whole that now hold nothing (every entry gone: `init
    // --force` over a sharded store) are dropped from the map.
    if !partial {
        for (s, g) in &old.map.files {
            if !by_shard.contains_key(s) {
                files.remove(s);
                out.replaced.push(shard_path(s, *g));
            }
        }
    }
    for (shard, entries) in by_shard {
        if !changed.contains(&shard) && old.map.files.contains_key(&shard) {
            continue;
        }
        let text = shard_text(&entries)?;
        out.shards.push((shard_path(&shard, generation), text));
        if let Some(g) = files.insert(shard.clone(), generation) {
            out.replaced.push(shard_path(&shard, g));
        }
    }
    let head = Index {
        format: SHARDED_FORMAT,
        ca: index.ca.clone(),
        ca_history: index.ca_history.clone(),
        certificates: Vec::new(),
        settings: index.settings.clone(),
        crl: index.crl.clone(),
        rollover: index.rollover.clone(),
        shards: Some(ShardMap {
            certificates: places.len() as u64
                + if partial {
                    old.map.certificates - read as u64
                } else {
                    0
                },
            generation,
            files,
        }),
        layout: None,
    };
    out.index = crate::ui::to_text(&head, "the index")?;
    Ok(out)
}

/// A shard file's text: one line per entry, `[place, entry]`, with the
/// entry as format 1 writes it, compact. (JSON Lines, as the audit log:
/// read one entry at a time, into its place.)
fn shard_text(entries: &[(u64, &CertEntry)]) -> Result<String> {
    let mut text = String::new();
    for entry in entries {
        let line = serde_json::to_string(entry).map_err(|source| Error::Json {
            what: "a shard of the index".into(),
            source,
        })?;
        text.push_str(&line);
        text.push('\n');
    }
    Ok(text)
}

pub fn fault(what: &str) -> Error {
    Error::failed(
        format!("pki would write a damaged index ({what}); nothing was written"),
        "this is a fault of pki: report it with the command that was run",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CertState, INDEX_FORMAT};
    use std::collections::HashMap;

    fn entry(i: usize) -> CertEntry {
        let t = time::macros::datetime!(2026-01-01 00:00 UTC);
        let user = format!("u{}", i % 40);
        let serial = format!("1{i:039x}");
        CertEntry {
            cert: format!("users/{user}/{serial}.crt").into(),
            key: Some(format!("users/{user}/{serial}.key").into()),
            user,
            serial: serial.as_str().into(),
            not_before: t,
            not_after: t,
            key_type: crate::x509::keys::KeyType::EcdsaP256,
            fingerprint_sha256: "ab".repeat(32),
            state: CertState::Superseded,
            ca_serial: "0c".into(),
            issued_at: t,
            revoked_at: None,
            revocation_reason: None,
        }
    }

    /// An index of `n` entries, the last of each user active.
    fn index(n: usize) -> Index {
        let mut ix = Index::new();
        ix.certificates = (0..n).map(entry).collect();
        for c in ix.certificates.iter_mut().rev().take(40) {
            c.state = CertState::Active;
        }
        ix
    }

    /// The files of a store: what `encode` wrote over what was there.
    #[derive(Default)]
    struct Disk(HashMap<PathBuf, String>);

    impl Disk {
        fn write(&mut self, e: &Encoded) {
            for (rel, text) in &e.shards {
                self.0.insert(rel.clone(), text.clone());
            }
            self.0.insert(PathBuf::from("index.json"), e.index.clone());
            for rel in &e.replaced {
                self.0.remove(rel);
            }
        }

        fn read(&self, users: Option<&[String]>) -> Result<Index> {
            let path = Path::new("/s/index.json");
            let text = &self.0[Path::new("index.json")];
            let mut ix = Index::from_text(text.as_bytes(), path)?;
            ix.check_format(path, SHARDED_FORMAT)?;
            if ix.shards.is_none() {
                return Ok(ix);
            }
            assemble(&mut ix, path, users, |rel, buf| {
                let t = self.0.get(rel).ok_or_else(|| damaged(rel, "missing"))?;
                buf.clear();
                buf.extend_from_slice(t.as_bytes());
                Ok(())
            })?;
            Ok(ix)
        }

        fn shard_files(&self) -> usize {
            self.0.keys().filter(|p| p.starts_with(SHARD_DIR)).count()
        }
    }

    fn sharded(n: usize) -> (Disk, Index) {
        let ix = index(n);
        let mut disk = Disk::default();
        disk.write(&encode_past(&ix, None, 0).unwrap());
        (disk, ix)
    }

    #[test]
    fn a_sharded_index_reads_back_whole_in_its_order() {
        let (disk, ix) = sharded(300);
        let back = disk.read(None).unwrap();
        assert_eq!(back.certificates, ix.certificates);
        assert_eq!(back.format, INDEX_FORMAT);
        let map: ShardMap = serde_json::from_value(
            serde_json::from_str::<serde_json::Value>(&disk.0[Path::new("index.json")]).unwrap()
                ["shards"]
                .clone(),
        )
        .unwrap();
        assert_eq!(map.certificates, 300);
        assert_eq!(map.files.len(), disk.shard_files());
        // A small index stays format 1, byte for byte as before.
        let small = index(5);
        let e = encode_past(&small, None, 1000).unwrap();
        assert!(e.shards.is_empty());
        assert_eq!(e.index, crate::ui::to_text(&small, "the index").unwrap());
    }

    #[test]
    fn a_change_to_some_users_writes_only_their_shards() {
        let (mut disk, ix) = sharded(300);
        let users = vec!["u7".to_string()];
        let before = disk.read(Some(&users)).unwrap();
        assert!(before.layout.as_ref().unwrap().partial());
        assert!(before.certificates.len() < 300 && before.holds_user("u7"));
        let mut after = before.clone();
        let i = after
            .certificates
            .iter()
            .position(|c| c.user == "u7" && c.state == CertState::Active)
            .unwrap();
        after.certificates[i].state = CertState::Revoked;
        let mut new = entry(300);
        new.user = "u7".into();
        new.cert = format!("users/u7/{}.crt", new.serial).into();
        new.key = Some(format!("users/u7/{}.key", new.serial).into());
        new.state = CertState::Active;
        after.certificates.push(new.clone());
        let e = encode_past(&after, Some(&before), 0).unwrap();
        assert_eq!(e.shards.len(), 1, "only u7's shard");
        assert_eq!(e.replaced.len(), 1);
        disk.write(&e);
        let whole = disk.read(None).unwrap();
        let mut want = ix.certificates.clone();
        let j = want
            .iter()
            .position(|c| c.user == "u7" && c.state == CertState::Active)
            .unwrap();
        want[j].state = CertState::Revoked;
        want.push(new);
        assert_eq!(
            whole.certificates, want,
            "the change in place, the new entry last"
        );
        // Nothing changed in the entries: no shard is written.
        let again = disk.read(None).unwrap();
        let mut settled = again.clone();
        settled.settings.crl_url = Some("http://crl.example/c.crl".into());
        let e = encode_past(&settled, Some(&again), 0).unwrap();
        assert!(e.shards.is_empty() && e.replaced.is_empty());
        // Everything gone (`init --force` over it): back to format 1.
        let mut empty = again.clone();
        empty.certificates.clear();
        let e = encode_past(&empty, Some(&again), 1000).unwrap();
        assert!(e.shards.is_empty());
        disk.write(&e);
        assert_eq!(disk.shard_files(), 0);
        assert!(disk.read(None).unwrap().certificates.is_empty());
    }

    #[test]
    fn a_change_outside_the_shards_read_is_refused_as_a_fault() {
        let (disk, _) = sharded(300);
        let users = vec!["u7".to_string()];
        let before = disk.read(Some(&users)).unwrap();
        let mut after = before.clone();
        let stranger = (0..40)
            .map(|i| format!("u{i}"))
            .find(|u| !before.holds_user(u))
            .unwrap();
        let mut e = entry(301);
        e.user = stranger;
        after.certificates.push(e);
        let err = encode_past(&after, Some(&before), 0)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("was not read") && err.contains("nothing was written"),
            "{err}"
        );
        let mut after = before.clone();
        after.certificates.pop();
        let err = encode_past(&after, Some(&before), 0)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("removed"), "{err}");
    }

    #[test]
    fn hostile_shards_are_refused_naming_the_file() {
        let (disk, _) = sharded(120);
        let names: Vec<PathBuf> = {
            let mut v: Vec<_> = disk
                .0
                .keys()
                .filter(|p| p.starts_with(SHARD_DIR))
                .cloned()
                .collect();
            v.sort();
            v
        };
        let damaged_by = |edit: &dyn Fn(&mut Disk)| {
            let mut d = Disk(disk.0.clone());
            edit(&mut d);
            d.read(None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        // An entry moved to another user's shard.
        let moved = damaged_by(&|d: &mut Disk| {
            let line = d.0[&names[0]].lines().next().unwrap().to_string();
            d.0.get_mut(&names[1])
                .unwrap()
                .push_str(&format!("{line}\n"));
        });
        assert!(
            moved.contains("is not this shard's")
                && moved.contains(&names[1].display().to_string()),
            "{moved}"
        );
        // An entry dropped: the count no longer holds.
        let dropped = damaged_by(&|d: &mut Disk| {
            let t = d.0[&names[0]]
                .lines()
                .skip(1)
                .map(|l| format!("{l}\n"))
                .collect();
            d.0.insert(names[0].clone(), t);
        });
        assert!(
            dropped.contains("counts 120 certificates, its shards hold 119"),
            "{dropped}"
        );
        // An entry repeated in place of another: the count holds, a place
        // is claimed twice.
        let twice = damaged_by(&|d: &mut Disk| {
            let lines: Vec<&str> = d.0[&names[0]].lines().collect();
            assert!(lines.len() > 1);
            let t = [&[lines[0]][..], &lines[..lines.len() - 1]]
                .concat()
                .join("\n")
                + "\n";
            d.0.insert(names[0].clone(), t);
        });
        assert!(twice.contains("claim one place"), "{twice}");
        // A count no read could hold is refused before anything is sized by it.
        let huge = damaged_by(&|d: &mut Disk| {
            let t = d.0[Path::new("index.json")].replacen(
                "\"certificates\": 120",
                "\"certificates\": 1000000000000000",
                1,
            );
            d.0.insert("index.json".into(), t);
        });
        assert!(
            huge.contains("counts 1000000000000000 certificates, its shards hold 120"),
            "{huge}"
        );
        // Not JSON, a file missing, a map naming what pki never writes.
        let garbled = damaged_by(&|d: &mut Disk| {
            d.0.insert(names[2].clone(), "[1, {\"user\": \n".into());
        });
        assert!(
            garbled.contains("is damaged") && garbled.contains(&names[2].display().to_string()),
            "{garbled}"
        );
        let missing = damaged_by(&|d: &mut Disk| {
            d.0.remove(&names[3]);
        });
        assert!(missing.contains("missing"), "{missing}");
        for (from, to) in [
            (
                "\"files\": {\n      \"",
                "\"files\": {\n      \"zz\": 1,\n      \"",
            ),
            ("\"generation\": 1", "\"generation\": 0"),
        ] {
            let odd = damaged_by(&|d: &mut Disk| {
                let t = d.0[Path::new("index.json")].replacen(from, to, 1);
                d.0.insert("index.json".into(), t);
            });
            assert!(
                odd.contains("names a file pki does not write"),
                "{from}: {odd}"
            );
        }
        // Format 2 holds no entries of its own; format 1 names no shards.
        let text = disk.0[Path::new("index.json")].clone();
        let own = format!(
            "\"certificates\": [{}]",
            serde_json::to_string(&entry(0)).unwrap()
        );
        for (from, to) in [
            ("\"certificates\": []", own.as_str()),
            ("\"format\": 2", "\"format\": 1"),
        ] {
            let mut d = Disk(disk.0.clone());
            d.0.insert("index.json".into(), text.replacen(from, to, 1));
            let err = d.read(None).err().unwrap().to_string();
            assert!(err.contains("is damaged: format"), "{to}: {err}");
        }
    }

    #[test]
    fn names_spread_over_the_shards() {
        assert_eq!(shard_of("alice"), shard_of("alice"));
        let used: BTreeSet<String> = (0..50_000)
            .map(|i| shard_of(&format!("user{i:05}")))
            .collect();
        assert_eq!(used.len(), 256);
        assert!(used.iter().all(|s| is_shard(s)));
    }
}
