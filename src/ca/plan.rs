//! Rotation planning: a pure function of (index snapshot, policy, options,
//! clock) that decides, per user, rotate or keep, with the reason, and
//! whether the CA is inside its window. It reads no file and writes none;
//! `cmd::rotate` applies the plan and `cmd::check` reports from the same
//! decisions, so `check` exiting 3 and `rotate` having work are one fact.

use std::borrow::Cow;

use time::OffsetDateTime;

use crate::ca::policy::{Standing, Within};
use crate::error::{Error, Result};
use crate::store::{CaEntry, CertEntry, CertState, Index};
use crate::x509::cert::{days_left, rfc3339};
use crate::x509::keys::KeyType;
use crate::x509::profile::{self, BACKDATE};
use crate::x509::serial::Serial;

/// What the caller asks for besides the policy.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only these users (empty: every user with an active certificate).
    pub users: Vec<String>,
    /// Rotate what is selected even when it is not due.
    pub force: bool,
    /// Replace the CA when it is due (or with `force`), re-issuing every active user under it.
    pub ca: bool,
    /// Lifetime of re-issued user certificates; None keeps each one's previous lifetime.
    pub days: Option<u32>,
    /// Key type of re-issued users; None keeps each one's.
    pub key_type: Option<KeyType>,
    /// Lifetime of a new CA; None keeps the old CA's.
    pub ca_days: Option<u32>,
    /// Key type of a new CA; None keeps the old CA's.
    pub ca_key_type: Option<KeyType>,
    /// The new CA renews the old one with its key (`--keep-key`): users
    /// keep their certificates and are re-issued only when due.
    pub keep_key: bool,
}

/// Rotate or keep one user's certificate, and why (the words `rotate`
/// and `check` print).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Rotate(String),
    Keep(String),
    /// Kept, not due yet: `left` whole days left, due from `due_from`.
    /// Worded only when asked ([`Decision::reason`]): a run over thousands
    /// of users with nothing due prints none of it.
    NotDue {
        left: i64,
        due_from: OffsetDateTime,
    },
}

impl Decision {
    pub fn rotates(&self) -> bool {
        matches!(self, Decision::Rotate(_))
    }

    pub fn reason(&self) -> Cow<'_, str> {
        match self {
            Decision::Rotate(why) | Decision::Keep(why) => Cow::Borrowed(why),
            Decision::NotDue { left, due_from } => Cow::Owned(format!(
                "not due: {left} days left, due from {}",
                rfc3339(*due_from)
            )),
        }
    }

    /// `rotate` or `keep`, as `rotate --json` reports it.
    pub fn action(&self) -> &'static str {
        match self {
            Decision::Rotate(_) => "rotate",
            Decision::Keep(_) | Decision::NotDue { .. } => "keep",
        }
    }
}

/// The decision for one user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserPlan {
    pub user: String,
    pub decision: Decision,
    pub old_serial: Serial,
    pub standing: Standing,
    /// What a re-issue would use.
    pub key_type: KeyType,
    pub days: u32,
}

/// The decision for the CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaPlan {
    /// Inside its window (or expired).
    pub due: bool,
    pub expired: bool,
    /// Before its notBefore: nothing it signs verifies yet.
    pub not_yet_valid: bool,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub serial: String,
    /// A new CA will be made.
    pub rotate: bool,
    /// ... as a renewal with the old CA's key (`--keep-key`).
    pub keep_key: bool,
    pub key_type: KeyType,
    pub days: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// One entry per selected user, in index order.
    pub users: Vec<UserPlan>,
    pub ca: CaPlan,
}

impl Plan {
    /// Anything to write?
    pub fn changes(&self) -> bool {
        self.ca.rotate || self.users.iter().any(|u| u.decision.rotates())
    }

    pub fn to_rotate(&self) -> impl Iterator<Item = &UserPlan> {
        self.users.iter().filter(|u| u.decision.rotates())
    }
}

/// The lifetime a certificate was issued with, in whole days (rounded up,
/// at least 1), not counting the backdating of notBefore. A certificate cut
/// short by its CA's expiry counts as what it got, not what was asked.
pub fn lifetime_days(not_before: OffsetDateTime, not_after: OffsetDateTime) -> u32 {
    let secs = (not_after - not_before - BACKDATE).whole_seconds().max(1);
    let days = (secs + 86_399) / 86_400;
    u32::try_from(days)
        .unwrap_or(profile::MAX_DAYS)
        .clamp(1, profile::MAX_DAYS)
}

/// Decide. Errors only for a bad selection (exit 2): a named user without
/// an active certificate.
pub fn plan(
    index: &Index,
    ca: &CaEntry,
    within: Within,
    o: &Options,
    now: OffsetDateTime,
) -> Result<Plan> {
    let ca_standing = within.standing(ca.not_before, ca.not_after, now);
    let ca_plan = CaPlan {
        due: ca_standing != Standing::Valid,
        expired: ca_standing == Standing::Expired,
        not_yet_valid: ca_standing == Standing::NotYetValid,
        not_before: ca.not_before,
        not_after: ca.not_after,
        serial: ca.serial.to_string(),
        rotate: o.ca && (o.force || ca_standing != Standing::Valid),
        keep_key: o.keep_key,
        key_type: if o.keep_key {
            ca.key_type
        } else {
            o.ca_key_type.unwrap_or(ca.key_type)
        },
        days: o
            .ca_days
            .unwrap_or_else(|| lifetime_days(ca.not_before, ca.not_after)),
    };
    let selected = select(index, &o.users)?;
    let trust = index
        .rollover
        .as_ref()
        .is_some_and(|r| r.phase == crate::store::Phase::Trust);
    let users = selected
        .into_iter()
        .map(|c| {
            let same_key = index.same_key(&c.ca_serial, ca);
            let mut p = decide(c, same_key, &ca_plan, within, o, now);
            // The current CA is on its way out: `rollover advance` re-issues
            // everyone under the new one, so nothing is issued under it now.
            if trust && p.decision.rotates() {
                p.decision = Decision::Keep(format!(
                    "{}, but a CA rollover is in phase trust: `pki rollover advance` re-issues it under the new CA",
                    p.decision.reason()
                ));
            }
            p
        })
        .collect();
    Ok(Plan { users, ca: ca_plan })
}

/// Refuse a plan that would start a renewal loop (exit 2, before anything
/// is written): a re-issued certificate, or a new CA, that is itself due
/// the moment it is made under the same window would be re-issued again by
/// every later run, and redeployed each time. pki refuses rather than
/// lengthen a lifetime nobody asked for; the error names the lifetime, the
/// window and the flag that fixes it. A certificate cut short by its CA is
/// left to the CA's own rule (kept, with a hint to rotate the CA, once it
/// ends with the CA), so it cannot loop either.
pub fn check_loops(
    plan: &Plan,
    ca_not_after: OffsetDateTime,
    within: Within,
    now: OffsetDateTime,
) -> Result<()> {
    let made = |days: u32| {
        let (nb, na) = profile::validity(now, days);
        (na, within.standing(nb, na, now) != Standing::Valid)
    };
    let fix = |flag: &str| match within {
        Within::Time(d) => format!(
            "pass {flag} {} or more (longer than the window), or a shorter --within",
            d.whole_days() + 1
        ),
        Within::Percent(_) => format!("pass a --within below {within}, or a longer {flag}"),
    };
    let ca_end = if plan.ca.rotate {
        let (end, looping) = made(plan.ca.days);
        if looping {
            return Err(Error::usage(
                format!(
                    "the new CA ({} days) would itself be due at once under --within {within}, so every later `pki rotate --ca` would replace it again; nothing was changed",
                    plan.ca.days
                ),
                fix("--ca-days"),
            ));
        }
        end
    } else {
        ca_not_after
    };
    for u in plan.to_rotate() {
        let (end, looping) = made(u.days);
        if looping && end <= ca_end {
            return Err(Error::usage(
                format!(
                    "user {:?}: its re-issued certificate ({} days) would itself be due at once under --within {within}, so every run would re-issue it again (a renewal loop); nothing was changed",
                    u.user, u.days
                ),
                fix("--days"),
            ));
        }
    }
    Ok(())
}

fn select<'a>(index: &'a Index, users: &[String]) -> Result<Vec<&'a CertEntry>> {
    if users.is_empty() {
        return Ok(index.active_all().collect());
    }
    let mut out = Vec::with_capacity(users.len());
    for u in users {
        match index.active(u) {
            Some(c) => out.push(c),
            None => {
                let revoked = index
                    .certificates
                    .iter()
                    .any(|c| c.user == *u && c.state == CertState::Revoked);
                return Err(if revoked {
                    Error::input(
                        format!(
                            "user {u:?} has only revoked certificates; there is nothing to rotate"
                        ),
                        format!("issue a new one with `pki issue {u}`"),
                    )
                } else {
                    Error::NoUser { user: u.clone() }
                });
            }
        }
    }
    Ok(out)
}

/// `same_key`: `c` was signed with the current CA's key (by it, or by a
/// certificate of that key it renewed).
fn decide(
    c: &CertEntry,
    same_key: bool,
    ca_plan: &CaPlan,
    within: Within,
    o: &Options,
    now: OffsetDateTime,
) -> UserPlan {
    let standing = within.standing(c.not_before, c.not_after, now);
    let days = o
        .days
        .unwrap_or_else(|| lifetime_days(c.not_before, c.not_after));
    let left = days_left(c.not_after, now);
    let p = UserPlan {
        user: c.user.clone(),
        decision: Decision::Keep(String::new()),
        old_serial: c.serial.clone(),
        standing,
        key_type: o.key_type.unwrap_or(c.key_type),
        days,
    };
    let keep = |mut p: UserPlan, why: String| {
        p.decision = Decision::Keep(why);
        p
    };
    let rotate = |mut p: UserPlan, why: String| {
        p.decision = Decision::Rotate(why);
        p
    };
    // A renewal (`--keep-key`) supersedes nothing: users stay under it.
    let new_key = ca_plan.rotate && !ca_plan.keep_key;
    if c.key.is_none() && new_key {
        return keep(
            p,
            "superseded with the old CA: its key is not in the store (signed from a CSR); sign a new CSR with `pki sign`"
                .into(),
        );
    }
    if c.key.is_none() {
        return keep(
            p,
            "its key is not in the store (signed from a CSR); sign a new CSR with `pki sign`"
                .into(),
        );
    }
    if new_key {
        return rotate(p, "re-issued under the new CA".into());
    }
    // A renewal makes the CA valid again: users are judged on their own.
    let renewed = ca_plan.rotate && ca_plan.keep_key;
    if ca_plan.expired && !renewed {
        return keep(
            p,
            format!(
                "the CA expired on {}; nothing can be issued until `pki rotate --ca --force`",
                rfc3339(ca_plan.not_after)
            ),
        );
    }
    if ca_plan.not_yet_valid && !renewed {
        return keep(
            p,
            format!(
                "the CA is not valid before {}; nothing can be issued until `pki rotate --ca --force`",
                rfc3339(ca_plan.not_before)
            ),
        );
    }
    if !same_key {
        return rotate(p, "signed by an earlier CA".into());
    }
    let why = match standing {
        Standing::Expired => format!("expired on {}", rfc3339(c.not_after)),
        Standing::NotYetValid => format!(
            "not valid before {} (made with a clock ahead); re-issued to be valid now",
            rfc3339(c.not_before)
        ),
        Standing::Due => format!("due: {left} days left, inside the {within} window"),
        // --force with a renewal forces the CA, not its users.
        Standing::Valid if o.force && !renewed => format!("forced: {left} days left, not due"),
        Standing::Valid => {
            let due_from = within.due_from(c.not_before, c.not_after);
            return UserPlan {
                decision: Decision::NotDue { left, due_from },
                ..p
            };
        }
    };
    // A re-issue cannot end after the CA: when the new certificate would not
    // end later than the current one, re-issuing gains nothing and would
    // repeat on every run. Keep it and point at the CA instead.
    let (_, wanted) = profile::validity(now, days);
    let ca_end = if renewed {
        profile::validity(now, ca_plan.days).1
    } else {
        ca_plan.not_after
    };
    if wanted > ca_end && ca_end <= c.not_after && !o.force {
        return keep(
            p,
            format!(
                "{why}, but a new certificate could not outlive the CA (ends {}); rotate the CA with `pki rotate --ca`",
                rfc3339(ca_end)
            ),
        );
    }
    rotate(p, why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::INDEX_FORMAT;
    use time::macros::datetime;
    use time::Duration;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    fn ca(days: i64) -> CaEntry {
        CaEntry {
            subject: "CN=rootCA".into(),
            serial: "ca01".into(),
            not_before: T0 - BACKDATE,
            not_after: T0 + Duration::days(days),
            key_type: KeyType::Rsa2048,
            fingerprint_sha256: String::new(),
            cert: "ca/ca1.crt".into(),
            key: "ca/ca1.key".into(),
            created_at: T0,
            encrypted: false,
            own_crl_url: false,
        }
    }

    fn cert(user: &str, serial: &str, issued: OffsetDateTime, life: Duration) -> CertEntry {
        CertEntry {
            user: user.into(),
            serial: serial.into(),
            not_before: issued - BACKDATE,
            not_after: issued + life,
            key_type: KeyType::EcdsaP256,
            fingerprint_sha256: String::new(),
            state: CertState::Active,
            ca_serial: "ca01".into(),
            cert: format!("users/{user}/{serial}.crt").into(),
            key: Some(format!("users/{user}/{serial}.key").into()),
            issued_at: issued,
            revoked_at: None,
            revocation_reason: None,
        }
    }

    fn index(certs: Vec<CertEntry>, ca: CaEntry) -> Index {
        Index {
            format: INDEX_FORMAT,
            ca: Some(ca),
            certificates: certs,
            ..Default::default()
        }
    }

    fn decide_at(ix: &Index, within: &str, o: &Options, now: OffsetDateTime) -> Plan {
        plan(ix, ix.ca.as_ref().unwrap(), within.parse().unwrap(), o, now).unwrap()
    }

    fn one(ix: &Index, within: &str, now: OffsetDateTime) -> UserPlan {
        decide_at(ix, within, &Options::default(), now)
            .users
            .remove(0)
    }

    #[test]
    fn a_day_window_at_its_edges() {
        let c = cert("a", "1", T0, Duration::days(365));
        let ix = index(vec![c.clone()], ca(3650));
        let edge = c.not_after - Duration::days(30);
        let before = one(&ix, "30d", edge - Duration::seconds(1));
        assert!(!before.decision.rotates(), "{before:?}");
        assert!(
            before
                .decision
                .reason()
                .starts_with("not due: 30 days left"),
            "{}",
            before.decision.reason()
        );
        let at = one(&ix, "30d", edge);
        assert!(
            at.decision.rotates() && at.standing == Standing::Due,
            "{at:?}"
        );
        assert!(
            at.decision.reason().contains("inside the 30d window"),
            "{}",
            at.decision.reason()
        );
        let last = one(&ix, "30d", c.not_after - Duration::seconds(1));
        assert_eq!(last.standing, Standing::Due);
        let gone = one(&ix, "30d", c.not_after);
        assert!(gone.decision.rotates() && gone.standing == Standing::Expired);
        assert!(
            gone.decision.reason().starts_with("expired on 2027-01-01"),
            "{}",
            gone.decision.reason()
        );
    }

    #[test]
    fn an_hour_window_at_its_edges() {
        let c = cert("a", "1", T0, Duration::days(2));
        let ix = index(vec![c.clone()], ca(3650));
        let edge = c.not_after - Duration::hours(12);
        assert!(!one(&ix, "12h", edge - Duration::seconds(1))
            .decision
            .rotates());
        assert!(one(&ix, "12h", edge).decision.rotates());
        assert_eq!(one(&ix, "12h", c.not_after).standing, Standing::Expired);
    }

    #[test]
    fn a_share_window_at_its_edges() {
        // 300 days + the 5 minute backdate: 33% of that lifetime is the window.
        let c = cert("a", "1", T0, Duration::days(300));
        let ix = index(vec![c.clone()], ca(3650));
        let life = (c.not_after - c.not_before).whole_seconds();
        let edge = c.not_after - Duration::seconds(life * 33 / 100);
        let before = one(&ix, "33%", edge - Duration::seconds(1));
        assert!(!before.decision.rotates() && before.standing == Standing::Valid);
        let at = one(&ix, "33%", edge);
        assert!(at.decision.rotates() && at.standing == Standing::Due);
        assert!(
            at.decision.reason().contains("33% window"),
            "{}",
            at.decision.reason()
        );
        assert!(one(&ix, "33%", c.not_after)
            .decision
            .reason()
            .starts_with("expired"));
        // 0% is due only once expired; 100% from the start.
        assert!(!one(&ix, "0%", c.not_after - Duration::seconds(1))
            .decision
            .rotates());
        assert!(one(&ix, "100%", c.not_before).decision.rotates());
    }

    #[test]
    fn rotation_keeps_lifetime_and_key_type_unless_told() {
        let ix = index(vec![cert("a", "1", T0, Duration::days(90))], ca(3650));
        let now = T0 + Duration::days(89);
        let p = one(&ix, "33%", now);
        assert_eq!((p.days, p.key_type), (90, KeyType::EcdsaP256));
        let o = Options {
            days: Some(30),
            key_type: Some(KeyType::Rsa2048),
            ..Default::default()
        };
        let p = decide_at(&ix, "33%", &o, now).users.remove(0);
        assert_eq!((p.days, p.key_type), (30, KeyType::Rsa2048));
        assert_eq!(lifetime_days(T0 - BACKDATE, T0 + Duration::days(365)), 365);
        assert_eq!(lifetime_days(T0 - BACKDATE, T0 + Duration::hours(1)), 1);
    }

    #[test]
    fn a_user_selection_narrows_and_unknown_users_are_refused() {
        let ix = index(
            vec![
                cert("a", "1", T0, Duration::days(10)),
                cert("b", "2", T0, Duration::days(10)),
            ],
            ca(3650),
        );
        let o = Options {
            users: vec!["b".into()],
            ..Default::default()
        };
        let p = decide_at(&ix, "33%", &o, T0 + Duration::days(9));
        assert_eq!(p.users.len(), 1);
        assert_eq!(p.users[0].user, "b");
        let o = Options {
            users: vec!["zed".into()],
            ..Default::default()
        };
        let e = plan(&ix, ix.ca.as_ref().unwrap(), Within::default(), &o, T0).unwrap_err();
        assert_eq!(e.code(), 2);
        assert!(e.to_string().contains("\"zed\""));
    }

    #[test]
    fn a_rotation_due_at_once_is_a_renewal_loop() {
        // 5-day certificates under a 30-day window: due at once when re-issued.
        let ix = index(vec![cert("a", "1", T0, Duration::days(5))], ca(3650));
        let now = T0 + Duration::days(1);
        let check = |within: &str, o: &Options| {
            let p = decide_at(&ix, within, o, now);
            check_loops(
                &p,
                ix.ca.as_ref().unwrap().not_after,
                within.parse().unwrap(),
                now,
            )
        };
        let e = check("30d", &Options::default()).unwrap_err();
        assert_eq!(e.code(), 2);
        assert!(e.to_string().contains("--days 31"), "{e}");
        let days = |d| Options {
            days: Some(d),
            ..Default::default()
        };
        assert!(check("30d", &days(30)).is_err());
        assert!(check("30d", &days(31)).is_ok());
        assert!(check("33%", &Options::default()).is_ok());
        assert!(check("100%", &Options::default()).is_err());
        let new_ca = Options {
            ca: true,
            force: true,
            ca_days: Some(20),
            days: Some(60),
            ..Default::default()
        };
        let e = check("30d", &new_ca).unwrap_err();
        assert!(e.to_string().contains("--ca-days 31"), "{e}");
    }

    #[test]
    fn a_certificate_ending_with_its_ca_is_not_rotated_again_and_again() {
        // The CA has 100 days left; the user was clamped to it.
        let ca = ca(100);
        let mut c = cert("a", "1", T0, Duration::days(365));
        c.not_after = ca.not_after;
        let ix = index(vec![c], ca.clone());
        let p = one(&ix, "30d", ca.not_after - Duration::days(10));
        assert!(!p.decision.rotates(), "{p:?}");
        assert!(
            p.decision.reason().contains("could not outlive the CA"),
            "{}",
            p.decision.reason()
        );
        let plan = decide_at(
            &ix,
            "30d",
            &Options::default(),
            ca.not_after - Duration::days(10),
        );
        assert!(plan.ca.due && !plan.ca.rotate && !plan.changes());
    }

    #[test]
    fn the_ca_window_and_ca_rotation() {
        let ix = index(vec![cert("a", "1", T0, Duration::days(365))], ca(3650));
        let ca_e = ix.ca.clone().unwrap();
        let edge = ca_e.not_after - Duration::days(30);
        let o = Options {
            ca: true,
            ..Default::default()
        };
        let p = decide_at(&ix, "30d", &o, edge - Duration::seconds(1));
        assert!(!p.ca.due && !p.ca.rotate);
        let p = decide_at(&ix, "30d", &o, edge);
        assert!(p.ca.due && p.ca.rotate && !p.ca.expired);
        assert_eq!((p.ca.days, p.ca.key_type), (3650, KeyType::Rsa2048));
        // Every active user is re-issued under the new CA, due or not.
        assert!(p.users[0].decision.rotates());
        assert_eq!(p.users[0].decision.reason(), "re-issued under the new CA");
        // Without --ca a due CA is reported, not replaced.
        let p = decide_at(&ix, "30d", &Options::default(), edge);
        assert!(p.ca.due && !p.ca.rotate);
        // An expired CA: nothing can be issued, users are kept and told why.
        let p = decide_at(&ix, "30d", &Options::default(), ca_e.not_after);
        assert!(p.ca.expired && !p.users[0].decision.rotates());
        assert!(p.users[0].decision.reason().contains("rotate --ca"));
        // --force replaces a CA that is not due.
        let o = Options {
            ca: true,
            force: true,
            ..Default::default()
        };
        assert!(decide_at(&ix, "30d", &o, T0).ca.rotate);
    }

    #[test]
    fn a_renewal_re_issues_only_the_due_and_keeps_its_users_current() {
        let mut csr = cert("c", "3", T0, Duration::days(365));
        csr.key = None;
        let certs = vec![
            cert("a", "1", T0, Duration::days(30)),
            cert("b", "2", T0, Duration::days(365)),
            csr,
        ];
        let ix = index(certs, ca(3650));
        let o = Options {
            ca: true,
            force: true,
            keep_key: true,
            ..Default::default()
        };
        let p = decide_at(&ix, "33%", &o, T0 + Duration::days(25));
        assert!(p.ca.rotate && p.ca.keep_key);
        let why: Vec<(bool, Cow<str>)> = p
            .users
            .iter()
            .map(|u| (u.decision.rotates(), u.decision.reason()))
            .collect();
        assert!(why[0].0 && why[0].1.starts_with("due"), "{why:?}");
        assert!(
            !why[1].0 && why[1].1.starts_with("not due"),
            "--force is the CA's: {why:?}"
        );
        assert!(!why[2].0 && !why[2].1.contains("superseded"), "{why:?}");
        // An expired CA renewed: its users, cut to its expiry, are re-issued.
        let p = decide_at(&ix, "33%", &o, T0 + Duration::days(3651));
        assert!(p.users[1].decision.rotates(), "{:?}", p.users[1]);
        // Once renewed (same key file), the old certificate's users are the
        // current CA's, not "signed by an earlier CA".
        let mut renewed = ca(4000);
        renewed.serial = "ca2".into();
        let mut ix = ix;
        assert_eq!(ix.replace_ca(renewed), 0);
        let p = decide_at(&ix, "33%", &Options::default(), T0 + Duration::days(2));
        assert!(!p.users[1].decision.rotates(), "{:?}", p.users[1]);
    }

    #[test]
    fn earlier_ca_and_csr_signed_certificates() {
        let mut old = cert("a", "1", T0, Duration::days(365));
        old.ca_serial = "ca00".into();
        let mut csr = cert("b", "2", T0, Duration::days(1));
        csr.key = None;
        let ix = index(vec![old, csr], ca(3650));
        let p = decide_at(&ix, "33%", &Options::default(), T0 + Duration::days(2));
        assert!(
            p.users[0].decision.rotates()
                && p.users[0].decision.reason() == "signed by an earlier CA"
        );
        assert!(
            !p.users[1].decision.rotates() && p.users[1].decision.reason().contains("pki sign")
        );
    }

    #[test]
    fn superseded_and_revoked_are_not_planned() {
        let mut s = cert("a", "1", T0, Duration::days(1));
        s.state = CertState::Superseded;
        let mut r = cert("b", "2", T0, Duration::days(1));
        r.state = CertState::Revoked;
        let ix = index(
            vec![s, r, cert("a", "03", T0, Duration::days(365))],
            ca(3650),
        );
        let p = decide_at(&ix, "33%", &Options::default(), T0 + Duration::days(2));
        assert_eq!(p.users.len(), 1);
        assert_eq!(p.users[0].old_serial, "03");
        let o = Options {
            users: vec!["b".into()],
            ..Default::default()
        };
        let e = plan(&ix, ix.ca.as_ref().unwrap(), Within::default(), &o, T0).unwrap_err();
        assert!(e.to_string().contains("revoked"), "{e}");
    }
}
