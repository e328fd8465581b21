//! Certificate revocation lists (X.509 v2, RFC 5280 5): the revocation
//! reasons, signing a CRL from (serial, time, reason) entries, and
//! recognising one.

use std::path::Path;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::x509::cert::whole_seconds;
use crate::x509::profile::Signer;
use crate::x509::serial::Serial;

/// CRL reason codes (RFC 5280 5.3.1) that make sense for a client
/// certificate. The index keeps them by name (`key-compromise`), the names
/// `pki revoke --reason` takes; an index naming another is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    PrivilegeWithdrawn,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Unspecified => "unspecified",
            Reason::KeyCompromise => "key-compromise",
            Reason::CaCompromise => "ca-compromise",
            Reason::AffiliationChanged => "affiliation-changed",
            Reason::Superseded => "superseded",
            Reason::CessationOfOperation => "cessation-of-operation",
            Reason::PrivilegeWithdrawn => "privilege-withdrawn",
        }
    }

    /// The reason named `s` as the index keeps it, if it is one.
    pub fn from_name(s: &str) -> Option<Reason> {
        <Reason as clap::ValueEnum>::from_str(s, false).ok()
    }

    pub fn code(self) -> rcgen::RevocationReason {
        match self {
            Reason::Unspecified => rcgen::RevocationReason::Unspecified,
            Reason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
            Reason::CaCompromise => rcgen::RevocationReason::CaCompromise,
            Reason::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
            Reason::Superseded => rcgen::RevocationReason::Superseded,
            Reason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
            Reason::PrivilegeWithdrawn => rcgen::RevocationReason::PrivilegeWithdrawn,
        }
    }
}

/// One entry of a CRL: which certificate, since when, and why (None: no
/// reason code in the CRL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revoked {
    pub serial: Serial,
    /// Whole seconds, as the CRL carries it.
    pub at: OffsetDateTime,
    pub reason: Option<Reason>,
}

pub fn crl_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("X509 CRL", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// The DER of a CRL given as PEM (`X509 CRL`) or DER, if it is one.
fn crl_der(bytes: &[u8]) -> Option<Vec<u8>> {
    let der = match pem::parse(bytes) {
        Ok(p) if p.tag() == "X509 CRL" => p.into_contents(),
        Ok(_) => return None,
        Err(_) => bytes.to_vec(),
    };
    x509_parser::parse_x509_crl(&der).is_ok().then_some(der)
}

/// Whether `path` already holds a CRL (PEM or DER), so replacing it is routine.
pub fn holds_crl(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| crl_der(&b).is_some())
}

/// Whether `bytes` is the CRL number `number` that the CA `ca_der` signed:
/// Ok(what was seen) or Err(what is wrong), for `pki verify`.
pub fn check_crl(bytes: &[u8], ca_der: &[u8], number: u64) -> std::result::Result<String, String> {
    let der = crl_der(bytes).ok_or("is not a CRL")?;
    let (_, crl) = x509_parser::parse_x509_crl(&der).map_err(|e| format!("is not a CRL ({e})"))?;
    let (_, ca) = x509_parser::parse_x509_certificate(ca_der)
        .map_err(|e| format!("cannot be checked: the CA certificate does not parse ({e})"))?;
    if crl.issuer().as_raw() != ca.subject().as_raw() {
        return Err(format!(
            "names the issuer {}, not the CA {}",
            crl.issuer(),
            ca.subject()
        ));
    }
    crl.verify_signature(ca.public_key())
        .map_err(|_| "has a signature that does not verify with the CA's key: it was altered or signed by another key".to_string())?;
    let got = crl.crl_number().map(|n| n.to_string());
    if got.as_deref() != Some(number.to_string().as_str()) {
        return Err(format!(
            "has CRL number {}, the index says {number}",
            got.as_deref().unwrap_or("(none)")
        ));
    }
    Ok(format!("CRL #{number}, signed by the CA"))
}

/// Sign a CRL: `signer` is the CA, `revoked` every certificate of it that
/// is revoked (serial, time, reason). Pure: the caller writes the result.
pub fn make_crl(
    signer: &Signer,
    revoked: &[Revoked],
    number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<Vec<u8>> {
    let revoked_certs = revoked
        .iter()
        .map(|r| rcgen::RevokedCertParams {
            serial_number: r.serial.to_rcgen(),
            revocation_time: whole_seconds(r.at),
            reason_code: r.reason.map(Reason::code),
            invalidity_date: None,
        })
        .collect();
    let params = rcgen::CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: rcgen::SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: signer.key_id_method(),
    };
    let issuer = signer.issuer()?;
    let crl = params.signed_by(&issuer).map_err(|e| match e {
        rcgen::Error::IssuerNotCrlSigner => Error::input(
            "the store's CA has a keyUsage without cRLSign, so it cannot sign CRLs",
            "make a new CA with `pki rotate --ca` (pki's CAs carry cRLSign)",
        ),
        e => Error::crypto("cannot sign the CRL", e),
    })?;
    Ok(crl.der().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_through_their_names() {
        for r in <Reason as clap::ValueEnum>::value_variants() {
            assert_eq!(Reason::from_name(r.name()), Some(*r));
            let json = serde_json::to_string(r).unwrap();
            assert_eq!(json, format!("{:?}", r.name()));
            assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), *r);
        }
        // An unknown name is no reason: the index refuses it.
        assert_eq!(Reason::from_name("nonsense"), None);
        assert!(serde_json::from_str::<Reason>("\"keyCompromise\"").is_err());
    }
}
