//! User-name rules, taken from how Riak 2.x checks a client certificate
//! (riak_api / riak_core, summarised in `shared/docs/ephemeral-store.md`).
//!
//! Riak lower-cases the certificate CN before comparing it with stored user
//! names, refuses codes 0-44, 58-63 and 127-191 in names and reserves a few
//! words of its security grammar. We accept only the safe set `[a-z0-9._@-]`,
//! 1 to 64 characters (64 is X.520's upper bound for a Common Name).

use crate::error::{Error, Result};

/// The longest user name: X.520 `ub-common-name` is 64.
pub const MAX_LEN: usize = 64;

/// Words of Riak's `riak-admin security` grammar that cannot be user names.
pub const RESERVED: [&str; 5] = ["all", "on", "to", "from", "any"];

/// Names the safe set allows but the file system gives a meaning: a user
/// directory `users/..` would be the store itself.
pub const PATH_NAMES: [&str; 2] = [".", ".."];

/// Check a user name against Riak's rules; the error says why and what to use instead.
pub fn validate_user(name: &str) -> Result<()> {
    let refuse =
        |why: String, hint: String| Err(Error::input(format!("user name {name:?} {why}"), hint));
    if name.is_empty() {
        return refuse(
            "is empty".into(),
            "give a name of 1 to 64 characters from a-z 0-9 . _ @ -".into(),
        );
    }
    if name.chars().count() > MAX_LEN {
        return refuse(
            format!("is {} characters long", name.chars().count()),
            format!("use at most {MAX_LEN} characters (the X.520 limit for a Common Name)"),
        );
    }
    // Characters no case change could fix come first, so the hint below is a usable name.
    if let Some(c) = name
        .chars()
        .find(|c| !allowed(*c) && !c.is_ascii_uppercase())
    {
        return refuse(
            format!("contains {}", describe(c)),
            "Riak user names may only use a-z 0-9 . _ @ -".into(),
        );
    }
    if name.chars().any(|c| c.is_uppercase()) {
        let lower = name.to_lowercase();
        return refuse(
            "has upper-case letters".into(),
            format!("Riak lower-cases the certificate CN, so this user could never log in: use {lower:?}"),
        );
    }
    if let Some(c) = name.chars().find(|c| !allowed(*c)) {
        return refuse(
            format!("contains {}", describe(c)),
            "Riak user names may only use a-z 0-9 . _ @ -".into(),
        );
    }
    if PATH_NAMES.contains(&name) {
        return refuse(
            "names a directory (. and .. are the current and parent directory)".into(),
            "choose a name with at least one letter or digit".into(),
        );
    }
    if RESERVED.contains(&name) {
        return refuse(
            "is a reserved word of Riak's security commands".into(),
            format!("choose another name (reserved: {})", RESERVED.join(", ")),
        );
    }
    Ok(())
}

/// A user name that passed [`validate_user`]. Paths under `users/` are made
/// only from this type (`Store::user_paths`), so no name
/// that was not checked can become a path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

impl UserName {
    pub fn new(name: &str) -> Result<Self> {
        validate_user(name)?;
        Ok(UserName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Every name of a batch valid, and none named twice.
pub fn validate_users(users: &[String]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for u in users {
        validate_user(u)?;
        if !seen.insert(u.as_str()) {
            return Err(Error::usage(
                format!("user {u:?} is named twice"),
                "name each user once",
            ));
        }
    }
    Ok(())
}

fn allowed(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '@' | '-')
}

/// The first control character of `s`, described ("the control character
/// U+001B"), if any: text from outside must not carry one into a
/// certificate or onto a terminal.
pub fn control_char(s: &str) -> Option<String> {
    s.chars().find(|c| c.is_control()).map(describe)
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("{c:?}"),
    }
}

/// Check a CA common name: printable, 1 to 64 characters.
pub fn validate_ca_cn(cn: &str) -> Result<()> {
    if cn.is_empty() || cn.chars().count() > MAX_LEN || cn.chars().any(char::is_control) {
        return Err(Error::input(
            format!("CA common name {cn:?} is not usable"),
            "give 1 to 64 printable characters, e.g. --cn rootCA",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_safe_set() {
        for ok in [
            "myuser",
            "a",
            "asp-1",
            "svc.asp_2@example.com",
            &"x".repeat(64),
            "0",
            "al",
            "onx",
            "tox",
        ] {
            assert!(validate_user(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_with_the_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "is empty"),
            ("myUser", "use \"myuser\""),
            ("Bad User", "a space"),
            ("my user", "a space"),
            ("a/b", "'/'"),
            ("a\"b", "'\"'"),
            ("a\tb", "U+0009"),
            ("a:b", "':'"),
            ("a?b", "'?'"),
            ("a,b", "','"),
            ("é", "'é'"),
            ("all", "reserved"),
            ("on", "reserved"),
            ("to", "reserved"),
            ("from", "reserved"),
            ("any", "reserved"),
            (".", "names a directory"),
            ("..", "names a directory"),
        ];
        for (name, want) in cases {
            let err = validate_user(name).unwrap_err().to_string();
            assert!(err.contains(want), "{name:?}: {err}");
            assert_eq!(crate::error::Error::input("", "").code(), 2);
        }
        let long = "x".repeat(65);
        assert!(validate_user(&long)
            .unwrap_err()
            .to_string()
            .contains("65 characters"));
    }

    #[test]
    fn every_riak_forbidden_code_is_refused() {
        // Riak refuses 0-44, 58-63 and 127-191; our safe set is stricter still.
        for code in (0u32..=44).chain(58..=63).chain(127..=191) {
            let c = char::from_u32(code).unwrap();
            let name = format!("a{c}b");
            assert!(validate_user(&name).is_err(), "U+{code:04X} accepted");
        }
    }
}
