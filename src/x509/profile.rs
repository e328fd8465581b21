//! Certificate profiles: every field of the root CA and user certificates,
//! set on purpose (rcgen's defaults are for tests: valid 1975 to 4096 and a
//! serial derived from the key).
//!
//! Root: X.509 v3, basicConstraints critical CA:TRUE, keyUsage critical
//! keyCertSign + cRLSign, subject key identifier.
//! User: basicConstraints CA:FALSE, keyUsage critical digitalSignature +
//! keyEncipherment (RSA key exchange suites need the latter on Riak's R16
//! stack), extendedKeyUsage clientAuth, subject and authority key identifiers.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};
use crate::x509::keys::PrivateKey;
use crate::x509::serial::Serial;

/// Ten years for the root CA: long enough that CA rotation is a rare,
/// planned event, short enough that a lost key does not live forever.
pub const DEFAULT_CA_DAYS: u32 = 3650;
/// 365 days for users: the lifetime the deployment documentation uses.
pub const DEFAULT_USER_DAYS: u32 = 365;
/// notBefore is set this far in the past so that nodes whose clocks lag a
/// little still accept a certificate issued just now (cfssl uses 5 minutes).
pub const BACKDATE: Duration = Duration::minutes(5);
/// Longest lifetime we issue (about 100 years), to keep dates in range.
pub const MAX_DAYS: u32 = 36500;

/// Validity of a new certificate: from `now - BACKDATE` for `days` days
/// from now. Seconds are truncated so the dates round-trip exactly.
pub fn validity(now: OffsetDateTime, days: u32) -> (OffsetDateTime, OffsetDateTime) {
    let now = now.replace_nanosecond(0).expect("0 is a valid nanosecond");
    (now - BACKDATE, now + Duration::days(days.into()))
}

/// Root CA parameters.
pub fn ca_params(
    cn: &str,
    serial: &Serial,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut p = base_params(cn, serial, not_before, not_after);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    // A self-signed root carries no authority key identifier of its own.
    p.use_authority_key_identifier_extension = false;
    p
}

/// Parameters of a renewal of the root CA `old_der` (`rotate --ca
/// --keep-key`): the root profile with `old_der`'s subject, attribute by
/// attribute and string type by string type, and its subject key
/// identifier, so that what the old certificate signed names the new one
/// as its issuer (name and key id) and verifies under it. Only the serial
/// and the validity are new; the key is the caller's (the old one).
pub fn renewal_params(
    old_der: &[u8],
    serial: &Serial,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams> {
    let bad = |why: String| {
        Error::input(
            format!("the CA certificate cannot be renewed with its key: {why}"),
            "replace it with a new key instead: `pki rotate --ca --force` or `pki rollover start`",
        )
    };
    let (_, x) = x509_parser::parse_x509_certificate(old_der)
        .map_err(|e| bad(format!("it does not parse ({e})")))?;
    let mut p = ca_params("", serial, not_before, not_after);
    p.distinguished_name = same_name(x.subject()).map_err(bad)?;
    if let Some(ski) = x
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
    {
        p.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(ski);
    }
    Ok(p)
}

/// `name` as rcgen writes it back: each attribute with its string type
/// (rcgen re-encodes an issuer's name this way too, so a renewed root's
/// subject is byte for byte the issuer its old certificates name).
fn same_name(
    name: &x509_parser::x509::X509Name<'_>,
) -> std::result::Result<DistinguishedName, String> {
    use rcgen::{
        string::{BmpString, Ia5String, PrintableString, TeletexString, UniversalString},
        DnValue,
    };
    use x509_parser::der_parser::asn1_rs::Tag;
    let mut dn = DistinguishedName::new();
    for rdn in name.iter() {
        let [attr] = rdn.iter().collect::<Vec<_>>()[..] else {
            return Err("its subject has a multi-valued name part".into());
        };
        let oid: Vec<u64> = attr
            .attr_type()
            .iter()
            .ok_or("its subject has an attribute type too long to read")?
            .collect();
        let data = attr.attr_value().data;
        let text = || {
            std::str::from_utf8(data)
                .map_err(|_| "its subject has text that is not UTF-8".to_string())
        };
        let odd = |e: rcgen::Error| format!("its subject has a value rcgen cannot write ({e})");
        let value = match attr.attr_value().header.tag() {
            Tag::Utf8String => DnValue::Utf8String(text()?.to_owned()),
            Tag::PrintableString => {
                DnValue::PrintableString(PrintableString::try_from(text()?).map_err(odd)?)
            }
            Tag::Ia5String => DnValue::Ia5String(Ia5String::try_from(text()?).map_err(odd)?),
            Tag::T61String => {
                DnValue::TeletexString(TeletexString::try_from(text()?).map_err(odd)?)
            }
            Tag::BmpString => {
                DnValue::BmpString(BmpString::from_utf16be(data.to_vec()).map_err(odd)?)
            }
            Tag::UniversalString => {
                DnValue::UniversalString(UniversalString::from_utf32be(data.to_vec()).map_err(odd)?)
            }
            t => return Err(format!("its subject has a value of type {t:?}")),
        };
        dn.push(DnType::from_oid(&oid), value);
    }
    Ok(dn)
}

/// What goes into a user (client) certificate besides the key.
pub struct UserProfile<'a> {
    pub user: &'a str,
    pub serial: &'a Serial,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub sans: &'a [String],
    pub crl_url: Option<&'a str>,
}

/// User (client) certificate parameters.
pub fn user_params(u: &UserProfile<'_>) -> Result<CertificateParams> {
    let mut p = base_params(u.user, u.serial, u.not_before, u.not_after);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.use_authority_key_identifier_extension = true;
    p.subject_alt_names = u.sans.iter().map(|s| parse_san(s)).collect::<Result<_>>()?;
    if let Some(url) = u.crl_url {
        p.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
            uris: vec![url.to_string()],
        }];
    }
    Ok(p)
}

fn base_params(
    cn: &str,
    serial: &Serial,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.serial_number = Some(serial.to_rcgen());
    p.not_before = not_before;
    p.not_after = not_after;
    p
}

/// A SAN as given on the command line: an IP address, an e-mail address
/// (contains `@`), a URI (contains `://`), or else a DNS name.
pub fn parse_san(s: &str) -> Result<SanType> {
    let bad = |why: &str| {
        Error::input(
            format!("--san {s:?} {why}"),
            "give a DNS name, an IP address, an e-mail address or a URI",
        )
    };
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let kind = if s.contains("://") {
        SanKind::Uri
    } else if s.contains('@') {
        SanKind::Email
    } else {
        SanKind::Dns
    };
    typed_san(kind, s).map_err(|why| bad(&why))
}

/// The type of a requested name, as a CSR states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SanKind {
    Dns,
    Email,
    Uri,
    Ip,
}

impl SanKind {
    pub fn name(self) -> &'static str {
        match self {
            SanKind::Dns => "DNS name",
            SanKind::Email => "e-mail address",
            SanKind::Uri => "URI",
            SanKind::Ip => "IP address",
        }
    }
}

/// `s` as a name of type `kind`, or why it is not one. The store keeps
/// SANs as text and [`parse_san`] reads their type back from the text, so
/// a name is taken only when its text reads back as its own type: a DNS
/// name that is an IP address ("10.1.2.3") or has an `@`, an e-mail
/// address without `@`, a URI without `://`, is not one.
pub fn typed_san(kind: SanKind, s: &str) -> std::result::Result<SanType, String> {
    // Controls would reach the certificate and every terminal that shows it.
    if let Some(c) = crate::x509::names::control_char(s) {
        return Err(format!("contains {c}"));
    }
    let ia5 = |v: &str| v.try_into().map_err(|_| "is not ASCII".to_string());
    match kind {
        SanKind::Ip => s
            .parse::<IpAddr>()
            .map(SanType::IpAddress)
            .map_err(|_| "is not an IP address".into()),
        _ if s.parse::<IpAddr>().is_ok() => Err(format!("is an IP address, not a {}", kind.name())),
        SanKind::Uri if s.contains("://") => Ok(SanType::URI(ia5(s)?)),
        SanKind::Uri => Err("has no \"://\" (pki carries URIs of the form scheme://...)".into()),
        SanKind::Email if s.contains("://") => Err("is not an e-mail address".into()),
        SanKind::Email if s.contains('@') => Ok(SanType::Rfc822Name(ia5(s)?)),
        SanKind::Email => Err("is not an e-mail address (it has no @)".into()),
        SanKind::Dns => {
            let label_ok = |l: &str| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            };
            let dns = s.strip_prefix("*.").unwrap_or(s);
            if s.len() > 253 || !dns.split('.').all(label_ok) {
                return Err("is not a valid DNS name".into());
            }
            Ok(SanType::DnsName(ia5(s)?))
        }
    }
}

/// Check a CRL distribution point URL. Only http: Riak fetches CRLs with a
/// plain HTTP GET (riak_api_ssl), and a CRL is signed, so it needs no TLS.
pub fn parse_crl_url(s: &str) -> Result<String, String> {
    let Some(rest) = s.strip_prefix("http://") else {
        return Err(format!(
            "{s:?} is not an http:// URL: Riak fetches CRLs over plain http only (the CRL is signed, so that is safe)"
        ));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("{s:?} names no host"));
    }
    if let Some(c) = s.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!("{s:?} contains {c:?}; percent-encode it"));
    }
    Ok(s.to_string())
}

/// The name of CA `serial`'s own CRL, made from the configured one (a URL
/// or a file name): the serial inserted before the extension of the last
/// path segment, `http://h/crl/rootCA.crl` becoming
/// `http://h/crl/rootCA-<serial>.crl` (appended when there is none). A
/// query or fragment stays at the end.
pub fn per_ca_name(name: &str, serial: &Serial) -> String {
    let (body, tail) = name.split_at(name.find(['?', '#']).unwrap_or(name.len()));
    // A URL's path starts after its host; a URL without one gets one.
    let path_start = body.find("://").map_or(0, |i| i + 3);
    if path_start > 0 && !body[path_start..].contains('/') {
        return format!("{body}/crl-{serial}{tail}");
    }
    let seg_start = body.rfind('/').map_or(0, |i| i + 1);
    let at = match body[seg_start..].rfind('.') {
        Some(dot) if dot > 0 => seg_start + dot,
        _ => body.len(),
    };
    format!("{}-{serial}{}{tail}", &body[..at], &body[at..])
}

/// [`parse_crl_url`] as a usage error (exit 2).
pub fn check_crl_url(s: &str) -> Result<()> {
    parse_crl_url(s)
        .map(drop)
        .map_err(|e| Error::usage(e, "give e.g. http://crl.example.internal/rootCA.crl"))
}

/// Self-sign a root CA certificate; returns its DER.
pub fn self_sign(params: &CertificateParams, key: &PrivateKey) -> Result<Vec<u8>> {
    let kp = key.key_pair()?;
    let cert = params
        .self_signed(&kp)
        .map_err(|e| Error::crypto("cannot sign the CA certificate", e))?;
    Ok(cert.der().to_vec())
}

/// A CA ready to sign: its certificate DER and its key.
pub struct Signer {
    pub cert_der: Vec<u8>,
    pub key: PrivateKey,
    key_pair: KeyPair,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The CA's serial, recorded in what it signs.
    pub serial: Serial,
    /// The CA's subject key identifier. X.509 v1 CAs (the documented
    /// openssl procedure makes them) have none.
    pub ski: Option<Vec<u8>>,
}

impl Signer {
    pub fn new(cert_der: Vec<u8>, key: PrivateKey) -> Result<Self> {
        let key_pair = key.key_pair()?;
        let (_, x) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| Error::crypto("cannot parse the CA certificate", e))?;
        let not_before = x.validity().not_before.to_datetime();
        let not_after = x.validity().not_after.to_datetime();
        let ski = x
            .iter_extensions()
            .find_map(|e| match e.parsed_extension() {
                x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => {
                    Some(k.0.to_vec())
                }
                _ => None,
            });
        let serial = Serial::from_der(x.raw_serial());
        Ok(Signer {
            cert_der,
            key,
            key_pair,
            not_before,
            not_after,
            serial,
            ski,
        })
    }

    /// How the authority key identifier of what this CA signs is made: the
    /// CA's own SKI when it has one, else rcgen's hash of the CA key.
    pub fn key_id_method(&self) -> rcgen::KeyIdMethod {
        match &self.ski {
            Some(ski) => rcgen::KeyIdMethod::PreSpecified(ski.clone()),
            None => rcgen::KeyIdMethod::Sha256,
        }
    }

    pub fn issuer(&self) -> Result<Issuer<'static, &KeyPair>> {
        Issuer::from_ca_cert_der(&self.cert_der.as_slice().into(), &self.key_pair)
            .map_err(|e| Error::crypto("cannot use the CA certificate as issuer", e))
    }

    /// Sign a certificate for `public_key` (any `PublicKeyData`); returns DER.
    pub fn sign(
        &self,
        params: &CertificateParams,
        public_key: &impl rcgen::PublicKeyData,
    ) -> Result<Vec<u8>> {
        let issuer = self.issuer()?;
        // An issuer without a subject key identifier (an X.509 v1 CA) gives
        // its certificates no authority key identifier: rcgen would make one
        // up from the key hash, naming a key id that no certificate carries.
        let trimmed;
        let params = if self.ski.is_none() && params.use_authority_key_identifier_extension {
            let mut p = params.clone();
            p.use_authority_key_identifier_extension = false;
            trimmed = p;
            &trimmed
        } else {
            params
        };
        let cert = params
            .signed_by(public_key, &issuer)
            .map_err(|e| Error::crypto("cannot sign the certificate", e))?;
        Ok(cert.der().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_backdates_and_truncates() {
        let now = time::macros::datetime!(2026-01-01 12:00:00.75 UTC);
        let (nb, na) = validity(now, 365);
        assert_eq!(nb, time::macros::datetime!(2026-01-01 11:55:00 UTC));
        assert_eq!(na, time::macros::datetime!(2027-01-01 12:00:00 UTC));
    }

    #[test]
    fn sans_are_classified() {
        assert!(matches!(
            parse_san("10.0.0.1").unwrap(),
            SanType::IpAddress(_)
        ));
        assert!(matches!(parse_san("::1").unwrap(), SanType::IpAddress(_)));
        assert!(matches!(
            parse_san("a@b.c").unwrap(),
            SanType::Rfc822Name(_)
        ));
        assert!(matches!(
            parse_san("spiffe://x/y").unwrap(),
            SanType::URI(_)
        ));
        assert!(matches!(
            parse_san("node-1.example.com").unwrap(),
            SanType::DnsName(_)
        ));
        assert!(matches!(
            parse_san("*.example.com").unwrap(),
            SanType::DnsName(_)
        ));
        for bad in [
            "",
            "a..b",
            "-a.b",
            "a b",
            "ex ample.com",
            "é.com",
            "a\u{1b}@b.c",
            "http://x/\u{7}",
        ] {
            assert_eq!(parse_san(bad).unwrap_err().code(), 2, "{bad}");
        }
    }

    #[test]
    fn a_ca_s_own_crl_name_has_its_serial_before_the_extension() {
        for (given, want) in [
            ("http://h/crl/rootCA.crl", "http://h/crl/rootCA-0a1b.crl"),
            ("http://h/crl/rootCA", "http://h/crl/rootCA-0a1b"),
            ("http://h/a.b/crl?x=1.2", "http://h/a.b/crl-0a1b?x=1.2"),
            ("http://h:80/r.crl#f", "http://h:80/r-0a1b.crl#f"),
            ("/srv/www/.crl", "/srv/www/.crl-0a1b"),
            ("rootCA.crl.pem", "rootCA.crl-0a1b.pem"),
            ("http://crl.example", "http://crl.example/crl-0a1b"),
        ] {
            assert_eq!(per_ca_name(given, &"0a1b".into()), want, "{given}");
        }
    }

    #[test]
    fn crl_urls_must_be_plain_http() {
        assert!(parse_crl_url("http://crl.example/root.crl").is_ok());
        assert!(parse_crl_url("http://10.0.0.1:8080/crl/root.crl").is_ok());
        for (bad, why) in [
            ("https://crl.example/root.crl", "plain http only"),
            ("ftp://x/y", "plain http only"),
            ("crl.example/root.crl", "plain http only"),
            ("http:///root.crl", "names no host"),
            ("http://x/a b", "' '"),
            ("http://x/é", "'é'"),
        ] {
            let e = parse_crl_url(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}

/// `--days N` (and `--ca-days`) as clap parses it: a whole number of days
/// from 1 to [`MAX_DAYS`], refused in words that name the flag.
#[derive(Clone, Copy, Debug)]
pub struct Days;

impl clap::builder::TypedValueParser for Days {
    type Value = u32;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> std::result::Result<u32, clap::Error> {
        let flag = arg
            .and_then(|a| a.get_long())
            .map_or("--days".to_string(), |l| format!("--{l}"));
        let text = value.to_string_lossy();
        match text.parse::<u32>() {
            Ok(n) if (1..=MAX_DAYS).contains(&n) => Ok(n),
            _ => Err(clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                Error::usage(
                    format!("{flag} {text}: a lifetime is from 1 to {MAX_DAYS} days"),
                    format!("give a whole number of days, e.g. {flag} 365"),
                )
                .to_string(),
            )),
        }
    }
}
