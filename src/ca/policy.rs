//! When a certificate is due for rotation: `--within 30d`, `12h` or `33%`.
//!
//! A pure function of the certificate's validity and the clock; the default
//! (a third of the lifetime left) gives a 365-day certificate four months of
//! warning, plenty for a monthly cron job to notice and for a deploy to land.

use std::fmt;
use std::str::FromStr;

use time::{Duration, OffsetDateTime};

use crate::error::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Within {
    /// Due when at most this much time is left.
    Time(Duration),
    /// Due when at most this share (in per cent, 0-100) of the lifetime is left.
    Percent(u8),
}

/// The default window: a third of the lifetime left.
pub const DEFAULT_WITHIN: Within = Within::Percent(33);

impl Default for Within {
    fn default() -> Self {
        DEFAULT_WITHIN
    }
}

/// Where a certificate stands against the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    Valid,
    Due,
    Expired,
    /// Before its notBefore (made with a clock ahead): no verifier accepts it yet.
    #[serde(rename = "not-yet-valid")]
    NotYetValid,
}

impl Standing {
    /// The word `list`, `check` and the JSON documents use.
    pub fn word(self) -> &'static str {
        match self {
            Standing::Valid => "valid",
            Standing::Due => "due",
            Standing::Expired => "expired",
            Standing::NotYetValid => "not-yet-valid",
        }
    }
}

/// How a validity window stands at `now`, in words: "364 days left",
/// "expired 183 days ago", "valid in 12 days".
pub fn time_left(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> String {
    let days = |d: Duration| match d.whole_days() {
        0 => "less than a day".to_string(),
        1 => "1 day".to_string(),
        n => format!("{n} days"),
    };
    if now < not_before {
        format!("valid in {}", days(not_before - now))
    } else if now >= not_after {
        format!("expired {} ago", days(now - not_after))
    } else {
        format!("{} left", days(not_after - now))
    }
}

impl Within {
    /// The instant from which a certificate with this validity is due.
    pub fn due_from(self, not_before: OffsetDateTime, not_after: OffsetDateTime) -> OffsetDateTime {
        match self {
            Within::Time(d) => not_after - d,
            Within::Percent(p) => {
                let life = (not_after - not_before).whole_seconds();
                // Round the window down to whole seconds: due when <= p% left.
                not_after - Duration::seconds(life * i64::from(p) / 100)
            }
        }
    }

    pub fn standing(
        self,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Standing {
        if now >= not_after {
            Standing::Expired
        } else if now < not_before {
            Standing::NotYetValid
        } else if now >= self.due_from(not_before, not_after) {
            Standing::Due
        } else {
            Standing::Valid
        }
    }
}

impl FromStr for Within {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        const EXAMPLES: &str =
            "use e.g. 33% (a third of the lifetime left), 30d (days) or 12h (hours)";
        let t = s.trim();
        let bad = || Error::usage(format!("--within {s:?} is not a duration"), EXAMPLES);
        if let Some(rest) = t.strip_prefix('-') {
            return Err(Error::usage(
                format!("--within {t}: a window cannot be negative"),
                format!("use e.g. {rest} (due when that much or less is left)"),
            ));
        }
        let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
        let n: i64 = num.parse().map_err(|_| bad())?;
        match unit {
            "%" if n <= 100 => Ok(Within::Percent(n as u8)),
            "%" => Err(Error::usage(
                format!("--within {t}: a share of the lifetime is at most 100%"),
                EXAMPLES,
            )),
            "d" if n <= 36_500 => Ok(Within::Time(Duration::days(n))),
            "h" if n <= 876_000 => Ok(Within::Time(Duration::hours(n))),
            "d" | "h" => Err(Error::usage(
                format!("--within {t}: longer than any certificate lives (100 years)"),
                EXAMPLES,
            )),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Within {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Within::Percent(p) => write!(f, "{p}%"),
            Within::Time(d) if d.whole_hours() % 24 == 0 => write!(f, "{}d", d.whole_days()),
            Within::Time(d) => write!(f, "{}h", d.whole_hours()),
        }
    }
}

/// `--within` as clap parses it.
pub fn parse_within(s: &str) -> Result<Within, Error> {
    s.parse::<Within>()
}

/// The status word of one certificate under `within` at `now`.
pub fn status(
    c: &crate::store::CertEntry,
    within: Within,
    now: time::OffsetDateTime,
) -> &'static str {
    match c.state {
        crate::store::CertState::Revoked => "revoked",
        crate::store::CertState::Superseded => "superseded",
        crate::store::CertState::Active => within.standing(c.not_before, c.not_after, now).word(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn parses_each_form_and_refuses_the_rest() {
        assert_eq!(
            "30d".parse::<Within>().unwrap(),
            Within::Time(Duration::days(30))
        );
        assert_eq!(
            "12h".parse::<Within>().unwrap(),
            Within::Time(Duration::hours(12))
        );
        assert_eq!("33%".parse::<Within>().unwrap(), Within::Percent(33));
        assert_eq!("0%".parse::<Within>().unwrap(), Within::Percent(0));
        for bad in [
            "",
            "30",
            "d",
            "-1d",
            "1.5d",
            "101%",
            "3w",
            "30 d",
            "99999999999999999999d",
        ] {
            let e = bad.parse::<Within>().unwrap_err();
            assert_eq!(e.code(), 2, "{bad}");
        }
        for s in ["30d", "12h", "33%"] {
            assert_eq!(s.parse::<Within>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn standing_at_the_edges_of_a_time_window() {
        let nb = datetime!(2026-01-01 00:00 UTC);
        let na = datetime!(2027-01-01 00:00 UTC);
        let w = Within::Time(Duration::days(30));
        let edge = na - Duration::days(30);
        assert_eq!(
            w.standing(nb, na, edge - Duration::seconds(1)),
            Standing::Valid
        );
        assert_eq!(w.standing(nb, na, edge), Standing::Due);
        assert_eq!(w.standing(nb, na, na - Duration::seconds(1)), Standing::Due);
        assert_eq!(w.standing(nb, na, na), Standing::Expired);
        let h = Within::Time(Duration::hours(12));
        assert_eq!(
            h.standing(nb, na, na - Duration::hours(12) - Duration::seconds(1)),
            Standing::Valid
        );
        assert_eq!(h.standing(nb, na, na - Duration::hours(12)), Standing::Due);
    }

    #[test]
    fn standing_at_the_edges_of_a_share_window() {
        let nb = datetime!(2026-01-01 00:00 UTC);
        let na = nb + Duration::days(300);
        let w = Within::Percent(33);
        let edge = na - Duration::days(99);
        assert_eq!(
            w.standing(nb, na, edge - Duration::seconds(1)),
            Standing::Valid
        );
        assert_eq!(w.standing(nb, na, edge), Standing::Due);
        assert_eq!(w.standing(nb, na, na), Standing::Expired);
        // 0% is due only when expired; 100% is due from the start.
        assert_eq!(
            Within::Percent(0).standing(nb, na, na - Duration::seconds(1)),
            Standing::Valid
        );
        assert_eq!(Within::Percent(100).standing(nb, na, nb), Standing::Due);
    }
}
