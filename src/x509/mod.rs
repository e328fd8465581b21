//! Certificates and keys as data: PEM, serials, certificate facts, CSRs,
//! CRLs, the certificate profiles, key types, encrypted keys and names.
//! Nothing here touches the store or prints.

pub mod cert;
pub mod crl;
pub mod csr;
pub mod keys;
pub mod names;
pub mod profile;
pub mod secret;
pub mod serial;
