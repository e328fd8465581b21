//! `pki export riak-admin`: the `riak-admin security` commands that make
//! Riak know the store's users (docs.basho.com, "Riak Security" and
//! "Managing Security Sources"): `add-user`, one `certificate` source for
//! the network given, the grants asked for, and `del-source` for revoked
//! users. Pure: the caller reads the index and prints the text.
//!
//! Run twice, the script changes nothing the second time. Riak refuses
//! `add-user` for a user it has (`{error,role_exists}`, exit 1), so each
//! `add-user` is followed by `|| riak-admin security print-user USER`:
//! the line fails only when the user could neither be added nor found.
//! `add-source` replaces a user's source for the same network, `grant`
//! adds to a set and `del-source` of an absent source is a no-op.

use std::net::IpAddr;
/// A network in CIDR form, as `add-source` and `del-source` take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Cidr {
    /// Whether it is every address (`0.0.0.0/0`, `::/0`).
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }
}

/// Parse `--cidr`: an address, `/`, a prefix length within the address's
/// size, and no host bits set (`10.1.2.3/8` is refused with `10.0.0.0/8`
/// as the hint: a typo there would grant a network nobody asked for).
pub fn parse_cidr(s: &str) -> std::result::Result<Cidr, String> {
    let (addr, prefix) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?} is not in CIDR form ADDRESS/PREFIX, e.g. 10.0.0.0/8"))?;
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{s:?}: {addr:?} is not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= max)
        .ok_or_else(|| format!("{s:?}: the prefix length must be a number from 0 to {max}"))?;
    let network = network(addr, prefix);
    if network != addr {
        return Err(format!(
            "{s:?} has host bits set; the network is {network}/{prefix}"
        ));
    }
    Ok(Cidr { addr, prefix })
}

/// `addr` with every bit past `prefix` cleared.
fn network(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

/// Parse `--grant`: a comma-separated list of Riak permissions, each
/// `app.permission` in lower case (`riak_kv.get`, `riak_kv.put`,
/// `riak_core.get_bucket`, `search.query`, ...). `all` is not taken: name
/// what the users need.
pub fn parse_permissions(s: &str) -> std::result::Result<String, String> {
    let word = |w: &str| {
        !w.is_empty()
            && w.starts_with(|c: char| c.is_ascii_lowercase())
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    for p in s.split(',') {
        let ok = p.split_once('.').is_some_and(|(a, b)| word(a) && word(b));
        if !ok {
            return Err(format!(
                "{p:?} is not a Riak permission; give a comma-separated list such as riak_kv.get,riak_kv.put"
            ));
        }
    }
    Ok(s.to_string())
}

/// What the script is made from.
pub struct Users<'a> {
    /// Users with a current certificate: added, given the source and the grants.
    pub current: &'a [&'a str],
    /// Users whose newest certificate is revoked: their source is removed.
    pub revoked: &'a [&'a str],
}

/// The script (`sh`), one `riak-admin security` command per line apart
/// from the header and the `add-user` guard. `store` is named in the header.
pub fn script(store: &str, users: &Users<'_>, cidr: Cidr, grant: Option<&str>) -> String {
    let mut out = format!(
        "#!/bin/sh\n\
         # Riak users and certificate sources for the users of the pki store {store}\n\
         # (`pki export riak-admin`). Safe to run twice: Riak refuses add-user for\n\
         # a user it has, so that step passes when print-user then finds the user.\n\
         set -eu\n"
    );
    for u in users.current {
        out.push_str(&format!(
            "riak-admin security add-user {u} || riak-admin security print-user {u} >/dev/null\n"
        ));
    }
    if !users.current.is_empty() {
        let all = users.current.join(",");
        out.push_str(&format!(
            "riak-admin security add-source {all} {cidr} certificate\n"
        ));
        if let Some(perms) = grant {
            out.push_str(&format!(
                "riak-admin security grant {perms} on any to {all}\n"
            ));
        }
    }
    if !users.revoked.is_empty() {
        out.push_str(&format!(
            "riak-admin security del-source {} {cidr}\n",
            users.revoked.join(",")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_are_networks_within_their_size() {
        for ok in [
            "10.0.0.0/8",
            "192.168.1.0/24",
            "10.1.2.3/32",
            "0.0.0.0/0",
            "fd00::/8",
            "::1/128",
        ] {
            assert_eq!(parse_cidr(ok).unwrap().to_string(), ok);
        }
        for (bad, says) in [
            ("10.0.0.0", "CIDR form"),
            ("10.0.0.0/33", "0 to 32"),
            ("fd00::/129", "0 to 128"),
            ("10.0.0.0/-1", "0 to 32"),
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("host/8", "not an IP address"),
            ("10.0.0.0/8; rm -rf /", "0 to 32"),
        ] {
            let e = parse_cidr(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(parse_cidr("0.0.0.0/0").unwrap().is_everything());
    }

    #[test]
    fn permissions_are_app_dot_name_lists() {
        assert!(parse_permissions("riak_kv.get,riak_kv.put,search.query").is_ok());
        for bad in [
            "all",
            "riak_kv.get,",
            "riak_kv",
            "riak_kv.get;id",
            "Riak_kv.get",
            "riak_kv.get put",
        ] {
            assert!(parse_permissions(bad).is_err(), "{bad}");
        }
    }
}
