//! Revocation: which certificate a `pki revoke` names, the act itself,
//! what the CRL lists, and whether the CRL needs to be made again.

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::store::audit::{Event, Kind};
use crate::store::{CaEntry, CertEntry, CertState, CrlRecord, Index};
use crate::x509::cert::{rfc3339, whole_seconds};
use crate::x509::crl::{Reason, Revoked};
use crate::x509::names;
use crate::x509::profile::per_ca_name;
use crate::x509::serial::Serial;

/// A serial as users type it (any case, optional 0x, colons, leading
/// zeros), in the form the index keeps.
pub fn normalise_serial(s: &str) -> Result<String> {
    Serial::parse(s).map(|v| v.to_string()).map_err(|_| {
        Error::usage(
            format!("--serial {s:?} is not a hexadecimal serial number"),
            "give the serial as `pki list --all` shows it, or its first 8 or more hex digits, e.g. --serial 5a3c0e1f",
        )
    })
}

/// The fewest hex digits `--serial` takes as a prefix: 8 (32 bits), so a
/// typo is unlikely to pick another certificate of a store of thousands.
pub const MIN_PREFIX: usize = 8;

/// The whole serial `--serial HEX` names: HEX itself, or the one
/// certificate serial it is a prefix of (at least [`MIN_PREFIX`] digits).
/// The bool says whether a prefix was expanded.
pub fn resolve_serial(index: &Index, hex: &str) -> Result<(String, bool)> {
    let serial = normalise_serial(hex)?;
    let known = |s: &str| {
        index.certificates.iter().any(|c| c.serial == s)
            || index
                .ca
                .iter()
                .chain(&index.ca_history)
                .any(|c| c.serial == s)
    };
    if known(&serial) {
        return Ok((serial, false));
    }
    let digits = Serial::typed_digits(hex);
    if digits.len() < MIN_PREFIX {
        return Ok((serial, false));
    }
    let mut matches: Vec<&CertEntry> = index
        .certificates
        .iter()
        .filter(|c| c.serial.to_string().starts_with(&digits))
        .collect();
    matches.dedup_by(|a, b| a.serial == b.serial);
    match matches.as_slice() {
        [] => Ok((serial, false)),
        [one] => Ok((one.serial.to_string(), true)),
        many => Err(Error::input(
            format!(
                "--serial {digits} is the start of {} serials ({})",
                many.len(),
                many.iter()
                    .map(|c| format!("{} of {}", c.serial, c.user))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "give more digits",
        )),
    }
}

/// Which certificate to revoke (by user, or by serial): its position in the index, or None when
/// there is nothing to do (already revoked).
pub fn target(index: &Index, user: Option<&str>, serial: Option<&str>) -> Result<Option<usize>> {
    if let Some(hex) = serial {
        let serial = resolve_serial(index, hex)?.0;
        if let Some(i) = index.certificates.iter().position(|c| c.serial == serial) {
            return Ok((index.certificates[i].state != CertState::Revoked).then_some(i));
        }
        if index
            .ca
            .iter()
            .chain(&index.ca_history)
            .any(|c| c.serial == serial)
        {
            return Err(Error::input(
                format!("serial {serial} is a CA certificate of this store"),
                "to retire the CA, make a new one (`pki rotate --ca` or `pki init --force`) and redeploy",
            ));
        }
        return Err(Error::input(
            format!("the store has no certificate with serial {serial}"),
            "see `pki list --all` for the serials it knows",
        ));
    }
    let user = user.expect("clap requires USER or --serial");
    names::validate_user(user)?;
    if let Some(i) = index
        .certificates
        .iter()
        .rposition(|c| c.user == user && c.state == CertState::Active)
    {
        return Ok(Some(i));
    }
    if index
        .certificates
        .iter()
        .any(|c| c.user == user && c.state == CertState::Revoked)
    {
        return Ok(None);
    }
    Err(Error::NoUser {
        user: user.to_string(),
    })
}

/// Mark certificate `i` revoked at `now`, kept at full precision so that
/// `pki check` can tell a revocation from a CRL made in the same second;
/// returns its entry and the audit event.
pub fn revoke(
    index: &mut Index,
    i: usize,
    reason: Reason,
    now: OffsetDateTime,
) -> (CertEntry, Event) {
    let c = &mut index.certificates[i];
    c.state = CertState::Revoked;
    c.revoked_at = Some(now);
    c.revocation_reason = Some(reason);
    let ev = Event::new("revoke", Kind::Revoked)
        .user(&c.user)
        .serial(&c.serial)
        .detail(format!("reason {}", reason.name()));
    (c.clone(), ev)
}

/// The other certificates of `user` that were superseded (not revoked)
/// yet are still valid at `now` under a CA the store trusts: a client
/// holding one still logs in after its user's current certificate is
/// revoked. (serial, not after), oldest first.
pub fn still_valid_superseded(
    index: &Index,
    user: &str,
    now: OffsetDateTime,
) -> Vec<(String, OffsetDateTime)> {
    let trusted: Vec<&Serial> = index.trusted(now).iter().map(|c| &c.serial).collect();
    index
        .certificates
        .iter()
        .filter(|c| {
            c.user == user
                && c.state == CertState::Superseded
                && c.not_before <= now
                && now < c.not_after
                && trusted.contains(&&c.ca_serial)
        })
        .map(|c| (c.serial.to_string(), c.not_after))
        .collect()
}

/// The CRL entry of a revoked certificate: its serial, when it was revoked
/// (in whole seconds; when it was issued, for an entry without the time)
/// and why.
pub fn crl_entry(c: &CertEntry) -> Result<Revoked> {
    Ok(Revoked {
        serial: c.serial.clone(),
        at: whole_seconds(c.revoked_at.unwrap_or(c.issued_at)),
        reason: c.revocation_reason,
    })
}

/// What `pki check` says about the CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlStatus {
    /// One line: what is wrong and what to do.
    pub warning: String,
    /// An outage alarm (exit 3), not a hint: Riak with `check_crl` on (its
    /// default) refuses every login once the CRL it fetches is missing or
    /// past nextUpdate, and lets a revoked certificate in while the
    /// published CRL predates its revocation.
    pub attention: bool,
}

/// [`crl_status`]'s warning alone.
pub fn crl_due(index: &Index, now: OffsetDateTime) -> Option<String> {
    crl_status(index, now).map(|s| s.warning)
}

/// Whether the CRL needs attention at `now`, for `pki check`: None when all
/// is well. The CRL must be made (and published) anew when a revocation or
/// a new CA is not older than the last CRL (compared at full precision, and
/// a revocation at the CRL's very instant counts as after it), when it has
/// expired, and when a third or less of its lifetime is left (as for
/// certificates): each is attention. A store that has never made a CRL
/// needs one when its certificates name a CRL URL (attention: that URL
/// serves nothing yet), or, as a hint only, when some certificate is
/// revoked (without a URL, revocation has no effect on Riak at all). A
/// CRL made in a store with no CRL URL is never attention (nobody fetches
/// it): what would be is a hint.
pub fn crl_status(index: &Index, now: OffsetDateTime) -> Option<CrlStatus> {
    let status = crl_cas(index, now)
        .into_iter()
        .find_map(|(ca, crl)| ca_crl_status(index, ca, crl, now))?;
    // Certificates issued with no CRL URL send Riak nowhere: a CRL made
    // anyway (one `pki crl` to try it) is fetched by nobody, so its age
    // is a hint, never an alarm.
    Some(match (&index.crl, &index.settings.crl_url) {
        (Some(_), None) => CrlStatus {
            warning: format!(
                "{} (no alarm: this store's certificates name no CRL URL, so nobody fetches it)",
                status.warning
            ),
            attention: false,
        },
        _ => status,
    })
}

/// The CAs whose certificates may still be in use at `now`, each with the
/// record of its last CRL: the current CA, then a rollover's other CA
/// (unless it has expired, and its certificates with it). `pki crl` makes
/// a CRL for each, signed by that CA.
pub fn crl_cas(index: &Index, now: OffsetDateTime) -> Vec<(&CaEntry, Option<&CrlRecord>)> {
    let mut out: Vec<_> = index.ca.iter().map(|ca| (ca, index.crl.as_ref())).collect();
    if let Some(r) = index.rollover.as_ref().filter(|r| r.other.not_after > now) {
        out.push((&r.other, r.crl.as_ref()));
    }
    out
}

/// The CRL distribution point that the certificates of CA `ca_serial`
/// name: the configured URL, with the serial inserted for a CA that has a
/// URL of its own (one made by `rollover start`); None when no URL is
/// configured.
pub fn crl_url_of(index: &Index, ca_serial: &Serial) -> Option<String> {
    let url = index.settings.crl_url.as_deref()?;
    Some(if own_crl_url(index, ca_serial) {
        per_ca_name(url, ca_serial)
    } else {
        url.to_string()
    })
}

/// Whether CA `ca_serial` has a CRL URL (and so CRL file names) of its own.
pub fn own_crl_url(index: &Index, ca_serial: &Serial) -> bool {
    index.ca_by_serial(ca_serial).is_some_and(|c| c.own_crl_url)
}

/// [`crl_status`] for one CA and the record of its last CRL.
fn ca_crl_status(
    index: &Index,
    ca: &CaEntry,
    crl: Option<&CrlRecord>,
    now: OffsetDateTime,
) -> Option<CrlStatus> {
    let revoked = || index.revoked_by(ca);
    // The current CA's messages say "CRL #n"; the other CA's say which CA.
    let of = if index.ca.as_ref().is_some_and(|c| c.serial == ca.serial) {
        String::new()
    } else {
        format!(" of the rollover's other CA (serial {})", ca.serial)
    };
    let attention = |warning: String| {
        Some(CrlStatus {
            warning,
            attention: true,
        })
    };
    let Some(crl) = crl else {
        return match (crl_url_of(index, &ca.serial), revoked().count()) {
            (Some(url), _) if of.is_empty() => attention(format!(
                "no CRL has been made, but certificates name {url}: run `pki crl --out FILE` and publish FILE there"
            )),
            (Some(url), _) => attention(format!(
                "no CRL{of} has been made, but its certificates name {url}: run `pki crl --out FILE` and publish what it writes"
            )),
            (None, 0) => None,
            (None, n) => Some(CrlStatus {
                warning: format!(
                    "{n} certificate(s){of} are revoked but no CRL has been made: run `pki crl --out FILE` and publish it"
                ),
                attention: false,
            }),
        };
    };
    let n = crl.number;
    if crl.next_update <= now {
        return attention(format!(
            "CRL #{n}{of} expired at {}: Riak refuses every client whose certificate names it; run `pki crl --out FILE` and publish it",
            rfc3339(crl.next_update)
        ));
    }
    // A CRL signed before a renewal with the same key still verifies.
    if !index.same_key(&crl.ca_serial, ca) {
        return attention(format!(
            "CRL #{n}{of} was signed by an earlier CA: run `pki crl --out FILE` and publish it"
        ));
    }
    if let Some(c) = revoked().find(|c| c.revoked_at.is_some_and(|t| t >= crl.this_update)) {
        return attention(format!(
            "{} (serial {}) was revoked after CRL #{n}{of} was made: run `pki crl --out FILE` and publish it",
            c.user, c.serial
        ));
    }
    let life = crl.next_update - crl.this_update;
    let left = crl.next_update - now;
    if left * 3 <= life {
        return attention(format!(
            "CRL #{n}{of} expires at {} ({} h left): run `pki crl --out FILE` and publish it",
            rfc3339(crl.next_update),
            left.whole_hours()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_normalised() {
        for (given, want) in [
            ("3F9A", "3f9a"),
            ("0x3f9a", "3f9a"),
            ("3f:9a", "3f9a"),
            ("00003f9a", "3f9a"),
            ("f9a", "0f9a"),
            ("00", "00"),
        ] {
            assert_eq!(normalise_serial(given).unwrap(), want, "{given}");
        }
        for bad in ["", "xyz", "3f 9a", "0x"] {
            assert_eq!(normalise_serial(bad).unwrap_err().code(), 2, "{bad}");
        }
    }

    use crate::x509::keys::KeyType;
    use time::macros::datetime;
    use time::Duration;

    fn index_with(crl: Option<(u64, OffsetDateTime, OffsetDateTime)>) -> Index {
        let t = datetime!(2026-01-01 00:00 UTC);
        let mut i = Index::new();
        i.ca = Some(CaEntry {
            subject: "CN=rootCA".into(),
            serial: "ca".into(),
            not_before: t,
            not_after: t + Duration::days(3650),
            key_type: KeyType::Rsa2048,
            fingerprint_sha256: String::new(),
            cert: "c".into(),
            key: "k".into(),
            created_at: t,
            encrypted: false,
            own_crl_url: false,
        });
        // A store that makes CRLs names where they are published (see
        // a_crl_nobody_fetches_is_a_hint_never_attention for one that does not).
        if crl.is_some() {
            i.settings.crl_url = Some("http://crl.example/root.crl".into());
        }
        i.crl = crl.map(|(number, this_update, next_update)| CrlRecord {
            number,
            ca_serial: "ca".into(),
            this_update,
            next_update,
            path: "crl/1.crl".into(),
        });
        i
    }

    fn revoked(at: OffsetDateTime) -> CertEntry {
        CertEntry {
            user: "bob".into(),
            serial: "0b".into(),
            not_before: at,
            not_after: at + Duration::days(365),
            key_type: KeyType::Rsa2048,
            fingerprint_sha256: String::new(),
            state: CertState::Revoked,
            ca_serial: "ca".into(),
            cert: "c".into(),
            key: None,
            issued_at: at,
            revoked_at: Some(at),
            revocation_reason: None,
        }
    }

    #[test]
    fn a_revocation_in_the_crl_s_own_second_is_after_it_and_stale_crls_are_attention() {
        let t0 = datetime!(2026-02-01 10:00:00.250 UTC);
        let t30 = t0 + Duration::days(30);
        let mut same = index_with(Some((3, t0, t30)));
        same.certificates.push(revoked(t0));
        let mut later = index_with(Some((3, t0, t30)));
        later
            .certificates
            .push(revoked(t0 + Duration::milliseconds(500)));
        let mut earlier = index_with(Some((3, t0, t30)));
        earlier
            .certificates
            .push(revoked(t0 - Duration::milliseconds(200)));
        let now = t0 + Duration::seconds(1);
        assert!(crl_status(&same, now).is_some_and(|s| s.attention));
        assert!(crl_status(&later, now).is_some_and(|s| s.attention));
        assert_eq!(crl_status(&earlier, now), None);
        let fresh = index_with(Some((3, t0, t30)));
        assert!(crl_status(&fresh, t0 + Duration::days(25)).is_some_and(|s| s.attention));
        let mut hint = index_with(None);
        hint.certificates.push(revoked(t0));
        assert!(crl_status(&hint, now).is_some_and(|s| !s.attention));
        let mut url = index_with(None);
        url.settings.crl_url = Some("http://crl.example/root.crl".into());
        assert!(crl_status(&url, now).is_some_and(|s| s.attention));
    }

    #[test]
    fn a_crl_nobody_fetches_is_a_hint_never_attention() {
        let t0 = datetime!(2026-02-01 00:00 UTC);
        let t30 = t0 + Duration::days(30);
        let with_url = index_with(Some((3, t0, t30)));
        let mut no_url = index_with(Some((3, t0, t30)));
        no_url.settings.crl_url = None;
        let mut revoked_after = no_url.clone();
        revoked_after
            .certificates
            .push(revoked(t0 + Duration::days(1)));
        for now in [t0 + Duration::days(25), t30] {
            assert!(crl_status(&with_url, now).is_some_and(|s| s.attention));
            let hint = crl_status(&no_url, now).unwrap();
            assert!(
                !hint.attention && hint.warning.contains("no alarm"),
                "{hint:?}"
            );
        }
        let hint = crl_status(&revoked_after, t0 + Duration::days(2)).unwrap();
        assert!(!hint.attention, "{hint:?}");
        assert_eq!(crl_status(&no_url, t0 + Duration::days(1)), None);
    }

    #[test]
    fn crl_due_table() {
        let t0 = datetime!(2026-02-01 00:00 UTC);
        let t30 = t0 + Duration::days(30);
        let fresh = index_with(Some((3, t0, t30)));
        let empty = index_with(None);
        // (index, now, expected substring or None)
        let mut no_crl_url = index_with(None);
        no_crl_url.settings.crl_url = Some("http://crl.example/root.crl".into());
        let mut no_crl_revoked = index_with(None);
        no_crl_revoked.certificates.push(revoked(t0));
        let mut revoked_after = index_with(Some((3, t0, t30)));
        revoked_after
            .certificates
            .push(revoked(t0 + Duration::days(1)));
        let mut revoked_before = index_with(Some((3, t0, t30)));
        revoked_before
            .certificates
            .push(revoked(t0 - Duration::days(1)));
        let mut other_ca = index_with(Some((3, t0, t30)));
        other_ca.crl.as_mut().unwrap().ca_serial = "0d".into();
        let cases: Vec<(&Index, OffsetDateTime, Option<&str>)> = vec![
            (&empty, t0, None),
            (&no_crl_url, t0, Some("no CRL has been made")),
            (&no_crl_revoked, t0, Some("1 certificate(s) are revoked")),
            (&fresh, t0 + Duration::days(1), None),
            (&fresh, t0 + Duration::days(19), None),
            (&fresh, t0 + Duration::days(20), Some("CRL #3 expires")),
            (&fresh, t30, Some("CRL #3 expired")),
            (
                &revoked_after,
                t0 + Duration::days(2),
                Some("revoked after CRL #3"),
            ),
            (&revoked_before, t0 + Duration::days(2), None),
            (&other_ca, t0 + Duration::days(1), Some("earlier CA")),
        ];
        for (i, (index, now, want)) in cases.into_iter().enumerate() {
            let got = crl_due(index, now);
            match want {
                None => assert_eq!(got, None, "case {i}"),
                Some(w) => assert!(
                    got.as_deref().is_some_and(|g| g.contains(w)),
                    "case {i}: {got:?}"
                ),
            }
        }
    }
}
