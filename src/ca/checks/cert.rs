//! The rules one certificate is held to, as typed findings: the validity
//! window, the chain to a CA, the root-CA rules (self-signed, CA:TRUE or
//! X.509 v1, keyCertSign), and a user certificate's name, clientAuth and
//! key. Pure: each takes parsed certificates and returns what it found;
//! `verify`, `import`, `sign` and the merge's kept users word it.

use ::time::OffsetDateTime;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::prelude::*;

use crate::error::{Error, Result};
use crate::x509::cert::rfc3339;
use crate::x509::keys::PrivateKey;

/// A check's outcome in `verify`'s words: Ok(what it saw) or Err(what is wrong).
pub type Outcome = std::result::Result<String, String>;

/// Where `now` falls in a certificate's validity window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    Valid {
        not_after: OffsetDateTime,
    },
    NotYetValid {
        not_before: OffsetDateTime,
    },
    Expired {
        not_after: OffsetDateTime,
    },
    /// Valid now, but it ends after the CA that signed it.
    OutlivesCa {
        not_after: OffsetDateTime,
        ca_not_after: OffsetDateTime,
    },
}

/// The window check: expired first (a certificate whose window is
/// inverted is expired), then not yet valid, then (for a user) not
/// outliving its CA, ending at `ca_not_after`.
pub fn window(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
    ca_not_after: Option<OffsetDateTime>,
) -> Window {
    if now >= not_after {
        Window::Expired { not_after }
    } else if now < not_before {
        Window::NotYetValid { not_before }
    } else {
        match ca_not_after {
            Some(ca_not_after) if not_after > ca_not_after => Window::OutlivesCa {
                not_after,
                ca_not_after,
            },
            _ => Window::Valid { not_after },
        }
    }
}

impl Window {
    pub fn outcome(self) -> Outcome {
        match self {
            Window::Valid { not_after } => Ok(format!("valid until {}", rfc3339(not_after))),
            Window::NotYetValid { not_before } => {
                Err(format!("not valid before {}", rfc3339(not_before)))
            }
            Window::Expired { not_after } => Err(format!(
                "expired on {}; run `pki rotate`",
                rfc3339(not_after)
            )),
            Window::OutlivesCa {
                not_after,
                ca_not_after,
            } => Err(format!(
                "valid until {}, after its CA expires ({})",
                rfc3339(not_after),
                rfc3339(ca_not_after)
            )),
        }
    }
}

/// Refuse to sign under a CA that has expired or is not valid yet (the
/// window check of `issue`, `sign`, `rotate` and `crl`).
pub fn check_ca_valid(
    ca_not_before: OffsetDateTime,
    ca_not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<()> {
    match window(ca_not_before, ca_not_after, now, None) {
        Window::Expired { not_after } => Err(Error::CaExpired {
            not_after: rfc3339(not_after),
        }),
        Window::NotYetValid { not_before } => Err(Error::CaNotYetValid {
            not_before: rfc3339(not_before),
        }),
        _ => Ok(()),
    }
}

/// How a certificate stands to a CA: issuer name and signature must both match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chain {
    Signed { ca: String },
    OtherIssuer { issuer: String, ca: String },
    BadSignature { issuer: String, error: String },
}

pub fn chain(x: &X509Certificate<'_>, ca: &X509Certificate<'_>) -> Chain {
    if x.issuer().as_raw() != ca.subject().as_raw() {
        return Chain::OtherIssuer {
            issuer: x.issuer().to_string(),
            ca: ca.subject().to_string(),
        };
    }
    match x.verify_signature(Some(ca.public_key())) {
        Ok(()) => Chain::Signed {
            ca: ca.subject().to_string(),
        },
        Err(e) => Chain::BadSignature {
            issuer: x.issuer().to_string(),
            error: e.to_string(),
        },
    }
}

impl Chain {
    pub fn outcome(&self) -> Outcome {
        match self {
            Chain::Signed { ca } => Ok(format!("signed by the store CA ({ca})")),
            Chain::OtherIssuer { issuer, ca } => {
                Err(format!("issued by {issuer:?}, not by the store CA {ca:?}"))
            }
            Chain::BadSignature { error, .. } => Err(format!(
                "the signature does not verify with the store CA's key ({error})"
            )),
        }
    }

    /// What is wrong, in the words of `import --user` and the merge's kept
    /// users ("<certificate> {problem}"); None when it chains.
    pub fn problem(&self) -> Option<String> {
        match self {
            Chain::Signed { .. } => None,
            Chain::OtherIssuer { issuer, ca } => Some(format!(
                "was issued by {issuer}, not by the store's CA {ca}"
            )),
            Chain::BadSignature { issuer, .. } => Some(format!(
                "names {issuer} as issuer but its signature is not the store's CA's"
            )),
        }
    }
}

/// Why `der` does not chain to the CA `ca_der`, if it does not (and both parse).
pub fn chain_problem(der: &[u8], ca_der: &[u8]) -> Option<String> {
    let (_, x) = X509Certificate::from_der(der).ok()?;
    let (_, ca) = X509Certificate::from_der(ca_der).ok()?;
    chain(&x, &ca).problem()
}

/// The root-CA rules, each as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootCa {
    pub self_signed: SelfSigned,
    pub constraints: Constraints,
    pub key_usage: CertSign,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelfSigned {
    Verifies,
    /// It names another issuer: not a root.
    OtherIssuer {
        issuer: String,
    },
    BadSignature(String),
    /// Self-issued, but signed with a broken digest (MD5, MD2): verifiers
    /// refuse it for that, whatever else holds.
    WeakSignature {
        algorithm: &'static str,
    },
    /// Self-issued, but its RSA key is shorter than 2048 bits, which
    /// verifiers (and pki) refuse.
    WeakKey {
        bits: usize,
    },
}

/// Whether it may act as a CA: CA:TRUE, or an X.509 v1 root (no
/// extensions, as the documented openssl procedure makes), which OpenSSL
/// and Erlang accept as a CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Constraints {
    V1Root,
    CaTrue,
    /// X.509 v2 or v3 without basicConstraints CA:TRUE.
    NotCa {
        version: u32,
    },
    Unreadable {
        version: u32,
        error: String,
    },
}

/// Whether its keyUsage lets it sign certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertSign {
    Includes,
    /// No keyUsage extension: every use allowed.
    Absent,
    /// keyUsage without keyCertSign: the usages it has.
    Lacks(Vec<String>),
    Unreadable(String),
}

/// The root-CA rules of one certificate: one function for `verify`'s CA
/// checks and `import`'s refusals.
pub fn root_ca(x: &X509Certificate<'_>) -> RootCa {
    let self_signed = if x.subject().as_raw() != x.issuer().as_raw() {
        SelfSigned::OtherIssuer {
            issuer: x.issuer().to_string(),
        }
    } else {
        match x.verify_signature(None) {
            Ok(()) => SelfSigned::Verifies,
            // Say why it does not verify when the reason is a weak
            // algorithm or key, not that it is no self-signature.
            Err(e) => match (weak_signature(x), rsa_bits(x)) {
                (Some(algorithm), _) => SelfSigned::WeakSignature { algorithm },
                (None, Some(bits)) if bits < 2048 => SelfSigned::WeakKey { bits },
                _ => SelfSigned::BadSignature(e.to_string()),
            },
        }
    };
    let version = x.version().0 + 1;
    let constraints = if x.version() == X509Version::V1 {
        Constraints::V1Root
    } else {
        match x.basic_constraints() {
            Ok(Some(bc)) if bc.value.ca => Constraints::CaTrue,
            Ok(_) => Constraints::NotCa { version },
            Err(e) => Constraints::Unreadable {
                version,
                error: e.to_string(),
            },
        }
    };
    let key_usage = match x.key_usage() {
        Ok(Some(ku)) if ku.value.key_cert_sign() => CertSign::Includes,
        Ok(Some(ku)) => CertSign::Lacks(crate::x509::cert::key_usage_names(ku.value)),
        Ok(None) => CertSign::Absent,
        Err(e) => CertSign::Unreadable(e.to_string()),
    };
    RootCa {
        self_signed,
        constraints,
        key_usage,
    }
}

/// The name of a broken signature algorithm `x` is signed with, if it is.
fn weak_signature(x: &X509Certificate<'_>) -> Option<&'static str> {
    match x.signature_algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.4" => Some("md5WithRSAEncryption (MD5)"),
        "1.2.840.113549.1.1.2" => Some("md2WithRSAEncryption (MD2)"),
        "1.2.840.113549.1.1.3" => Some("md4WithRSAEncryption (MD4)"),
        _ => None,
    }
}

/// The size of `x`'s RSA key, if it has one.
fn rsa_bits(x: &X509Certificate<'_>) -> Option<usize> {
    match x.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => Some(rsa.key_size()),
        _ => None,
    }
}

impl SelfSigned {
    /// What is wrong with a weak CA, and what to do, when it is weak.
    fn weakness(&self) -> Option<(String, &'static str)> {
        match self {
            SelfSigned::WeakSignature { algorithm } => Some((
                format!(
                    "is signed with {algorithm}, a weak signature algorithm that verifiers refuse"
                ),
                "make a new CA (`pki init`, or `pki rotate --ca`): pki signs with SHA-256",
            )),
            SelfSigned::WeakKey { bits } => Some((
                format!("has a {bits}-bit RSA key, a weak key that verifiers refuse"),
                "make a new CA (`pki init`, or `pki rotate --ca`) with a key of 2048 bits or more",
            )),
            _ => None,
        }
    }
}

impl RootCa {
    /// (`ca-signature`, `ca-constraints`, `ca-key-usage`) in `verify`'s words.
    pub fn outcomes(&self) -> [Outcome; 3] {
        let signature = match &self.self_signed {
            SelfSigned::Verifies => Ok("self-signature verifies".to_string()),
            SelfSigned::OtherIssuer { issuer } => {
                Err(format!("is not self-signed (issued by {issuer})"))
            }
            SelfSigned::BadSignature(e) => Err(format!("the self-signature does not verify ({e})")),
            weak => {
                let (what, hint) = weak.weakness().expect("the other variants are weak");
                Err(format!("{what}; {hint}"))
            }
        };
        let constraints = match &self.constraints {
            Constraints::V1Root => Ok("X.509 v1 root (no extensions): accepted as a CA, as OpenSSL and Erlang do".to_string()),
            Constraints::CaTrue => Ok("basicConstraints CA:TRUE".into()),
            Constraints::NotCa { .. } => Err("no basicConstraints CA:TRUE: clients will not accept it as a CA; make a new CA with `pki rotate --ca --force`".into()),
            Constraints::Unreadable { error, .. } => Err(format!("basicConstraints cannot be read ({error})")),
        };
        let usage = match &self.key_usage {
            CertSign::Includes => Ok("keyUsage includes keyCertSign".to_string()),
            CertSign::Lacks(_) => {
                Err("keyUsage lacks keyCertSign: Erlang refuses it as an issuer".into())
            }
            CertSign::Absent => Ok("no keyUsage extension (every use allowed)".into()),
            CertSign::Unreadable(e) => Err(format!("keyUsage cannot be read ({e})")),
        };
        [signature, constraints, usage]
    }
}

/// Why a certificate cannot serve as the store's root CA, if it cannot:
/// (what is wrong, what to do), in `import`'s words ("<file> {what}").
pub fn ca_problem(der: &[u8], now: OffsetDateTime) -> Option<(String, String)> {
    let (_, x) = X509Certificate::from_der(der).ok()?;
    let rules = root_ca(&x);
    match rules.constraints {
        Constraints::V1Root | Constraints::CaTrue => {}
        Constraints::NotCa { version } | Constraints::Unreadable { version, .. } => {
            return Some((
                format!(
                    "is not a CA certificate (X.509 v{version} without basicConstraints CA:TRUE)"
                ),
                "give the root CA certificate, not a user or server certificate".into(),
            ))
        }
    }
    let lacks = match rules.key_usage {
        CertSign::Includes | CertSign::Absent => None,
        CertSign::Lacks(usages) => Some(usages.join(", ")),
        CertSign::Unreadable(e) => Some(format!("that cannot be read ({e}),")),
    };
    if let Some(usages) = lacks {
        return Some((
            format!("has keyUsage {usages} without keyCertSign, so it cannot sign certificates"),
            "give a CA certificate whose keyUsage includes keyCertSign".into(),
        ));
    }
    if let Some((what, hint)) = rules.self_signed.weakness() {
        return Some((what, hint.into()));
    }
    if rules.self_signed != SelfSigned::Verifies {
        return Some((
            format!("is not self-signed (issued by {})", x.issuer()),
            "the store's CA is the root the ephemeral store trusts: import the root certificate and its key".into(),
        ));
    }
    let v = x.validity();
    match window(
        v.not_before.to_datetime(),
        v.not_after.to_datetime(),
        now,
        None,
    ) {
        Window::Expired { not_after } => Some((
            format!("expired on {}", rfc3339(not_after)),
            "create a new CA with `pki init` (or import a valid one)".into(),
        )),
        Window::NotYetValid { not_before } => Some((
            format!("is not valid before {}", rfc3339(not_before)),
            "check this machine's clock, or wait until then".into(),
        )),
        _ => None,
    }
}

/// Exactly one CN, a string type Riak reads, a valid user name, and (when
/// given) the user the index files it under.
pub fn name_rules(x: &X509Certificate<'_>, user: Option<&str>) -> Outcome {
    let cns: Vec<_> = x.subject().iter_common_name().collect();
    let [cn] = cns.as_slice() else {
        return Err(format!(
            "{} Common Names; Riak needs exactly one",
            cns.len()
        ));
    };
    let tag = cn.attr_value().tag();
    if tag != Tag::PrintableString && tag != Tag::Utf8String {
        return Err(format!(
            "the CN is encoded as {tag:?}; Riak reads only PrintableString or UTF8String"
        ));
    }
    let name = cn
        .as_str()
        .map_err(|_| "the CN is not readable text".to_string())?;
    crate::x509::names::validate_user(name).map_err(|e| format!("CN: {e}"))?;
    match user {
        Some(u) if u != name => Err(format!(
            "the CN is {name:?}, but the index files it under {u:?}"
        )),
        _ => Ok(format!("CN {name:?} follows Riak's user-name rules")),
    }
}

/// clientAuth in extendedKeyUsage, which pki issues every client certificate with.
pub fn client_auth(x: &X509Certificate<'_>) -> Outcome {
    match x.extended_key_usage() {
        Ok(Some(e)) if e.value.client_auth => Ok("extendedKeyUsage includes clientAuth".into()),
        Ok(Some(_)) => Err("extendedKeyUsage lacks clientAuth: Riak refuses it as a client certificate".into()),
        Ok(None) => Err("no extendedKeyUsage clientAuth: pki issues every client certificate with it; re-issue with `pki rotate --force USER`".into()),
        Err(e) => Err(format!("extendedKeyUsage cannot be read ({e})")),
    }
}

/// How far past its CA a user certificate of the vendor's openssl procedure
/// ends: both get `-days 365`, the user a moment after the CA, so the
/// user's ends seconds (minutes, when typed by hand) after the CA's. Up to
/// a day past is what that procedure makes (docs/migrating.md): a warning,
/// not a failure.
pub const VENDOR_OUTLIVES_MARGIN: ::time::Duration = ::time::Duration::DAY;

/// A user certificate ending a little after its CA, as the vendor's
/// procedure always makes it: what it is and when it matters.
pub fn outlives_warning(w: Window) -> Option<String> {
    let Window::OutlivesCa {
        not_after,
        ca_not_after,
    } = w
    else {
        return None;
    };
    let by = (not_after - ca_not_after).whole_seconds();
    (not_after - ca_not_after <= VENDOR_OUTLIVES_MARGIN).then(|| {
        format!(
            "valid until {}, {by} second(s) after its CA, as the vendor's openssl procedure always makes it: harmless until the CA expires on {}, when every certificate it signed stops working; replace the CA before then (`pki rollover start`)",
            rfc3339(not_after),
            rfc3339(ca_not_after)
        )
    })
}

/// An X.509 v1 user certificate (no extensions, so no extendedKeyUsage),
/// as the vendor's openssl procedure makes it: what it is and when it
/// matters. None for v3, which is held to [`client_auth`].
pub fn v1_leaf_warning(x: &X509Certificate<'_>) -> Option<String> {
    (x.version() == X509Version::V1).then(|| {
        "X.509 v1 without extendedKeyUsage, as the vendor's openssl procedure makes it: OpenSSL (`openssl verify -purpose sslclient`) and Erlang accept it as a client certificate; it becomes a problem only for a TLS stack that demands clientAuth; `pki rotate --force USER` re-issues it with clientAuth".to_string()
    })
}

/// The warnings of [`outlives_warning`] and [`v1_leaf_warning`] for a user
/// certificate `der` under the CA `ca_der` (`import --user`'s).
pub fn vendor_warnings(der: &[u8], ca_der: &[u8], now: OffsetDateTime) -> Vec<String> {
    let (Ok((_, x)), Ok((_, ca))) = (
        X509Certificate::from_der(der),
        X509Certificate::from_der(ca_der),
    ) else {
        return Vec::new();
    };
    let v = x.validity();
    let w = window(
        v.not_before.to_datetime(),
        v.not_after.to_datetime(),
        now,
        Some(ca.validity().not_after.to_datetime()),
    );
    v1_leaf_warning(&x)
        .into_iter()
        .chain(outlives_warning(w))
        .collect()
}

/// The private key's public half is the certificate's.
pub fn key_matches(key: Result<PrivateKey>, x: &X509Certificate<'_>) -> Outcome {
    let key = key.map_err(|e| e.to_string())?;
    let spki = key.public_key_der().map_err(|e| e.to_string())?;
    if spki == x.public_key().raw {
        Ok(format!(
            "the {} key matches the certificate",
            key.key_type()
        ))
    } else {
        Err("the private key does not belong to this certificate".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::time::macros::datetime;
    use ::time::Duration;

    #[test]
    fn the_window_check_says_expired_first_then_not_yet_then_outliving_the_ca() {
        let t = datetime!(2026-01-01 00:00 UTC);
        let day = Duration::days(1);
        let cases = [
            // (not_before, not_after, now, CA's not_after, want)
            (t, t + day, t, None, Window::Valid { not_after: t + day }),
            (
                t,
                t + day,
                t + day,
                None,
                Window::Expired { not_after: t + day },
            ),
            (
                t + day,
                t + day * 2,
                t,
                None,
                Window::NotYetValid {
                    not_before: t + day,
                },
            ),
            // An inverted window is expired.
            (
                t + day * 2,
                t + day,
                t + day,
                None,
                Window::Expired { not_after: t + day },
            ),
            (
                t,
                t + day * 2,
                t,
                Some(t + day),
                Window::OutlivesCa {
                    not_after: t + day * 2,
                    ca_not_after: t + day,
                },
            ),
        ];
        for (i, (nb, na, now, ca, want)) in cases.into_iter().enumerate() {
            assert_eq!(window(nb, na, now, ca), want, "case {i}");
        }
        assert_eq!(check_ca_valid(t, t + day, t + day).unwrap_err().code(), 2);
        assert!(check_ca_valid(t, t + day, t).is_ok());
    }

    #[test]
    fn a_root_made_by_pki_passes_every_root_rule_and_chains_to_itself() {
        use crate::x509::keys::{KeyType, PrivateKey};
        use crate::x509::profile;
        let t = datetime!(2026-01-01 00:00 UTC);
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let serial = crate::x509::serial::Serial::random().unwrap();
        let (nb, na) = profile::validity(t, 30);
        let der = profile::self_sign(&profile::ca_params("rootCA", &serial, nb, na), &key).unwrap();
        let (_, x) = X509Certificate::from_der(&der).unwrap();
        let rules = root_ca(&x);
        assert_eq!(rules.self_signed, SelfSigned::Verifies);
        assert_eq!(rules.constraints, Constraints::CaTrue);
        assert_eq!(rules.key_usage, CertSign::Includes);
        assert!(rules.outcomes().iter().all(Result::is_ok));
        assert_eq!(ca_problem(&der, t), None);
        let (why, _) = ca_problem(&der, na + Duration::seconds(1)).unwrap();
        assert!(why.starts_with("expired on"), "{why}");
        assert_eq!(
            chain(&x, &x),
            Chain::Signed {
                ca: "CN=rootCA".into()
            }
        );
        assert_eq!(chain_problem(&der, &der), None);
    }
}
