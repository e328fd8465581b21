//! Certificate revocation lists (X.509 v2, RFC 5280 5): signing one, and
//! recognising one.

use std::path::Path;

use time::OffsetDateTime;

use crate::ca::revoke::Reason;
use crate::error::{Error, Result};
use crate::store::CertEntry;
use crate::x509::cert::whole_seconds;
use crate::x509::profile::Signer;
use crate::x509::serial::Serial;

pub fn crl_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("X509 CRL", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// Whether `path` already holds a CRL (PEM or DER), so replacing it is routine.
pub fn holds_crl(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let der = match pem::parse(&bytes) {
        Ok(p) if p.tag() == "X509 CRL" => p.into_contents(),
        Ok(_) => return false,
        Err(_) => bytes,
    };
    x509_parser::parse_x509_crl(&der).is_ok()
}

/// Sign a CRL: `signer` is the CA, `revoked` every certificate of it that
/// is revoked (serial, time, reason). Pure: the caller writes the result.
pub fn make_crl<'a>(
    signer: &Signer,
    revoked: impl IntoIterator<Item = &'a CertEntry>,
    number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<Vec<u8>> {
    let revoked_certs = revoked
        .into_iter()
        .map(|c| {
            Ok(rcgen::RevokedCertParams {
                serial_number: Serial::from_index(&c.serial)?.to_rcgen(),
                revocation_time: whole_seconds(c.revoked_at.unwrap_or(c.issued_at)),
                reason_code: c
                    .revocation_reason
                    .as_deref()
                    .map(|r| Reason::from_name(r).code()),
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
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
