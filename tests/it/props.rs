//! Property tests: user-name validation against its one-line specification,
//! PEM round trips of every key type and of certificates, and JSON escaping
//! of the Marathon env block. Case counts are modest: RSA keys are made
//! once and reused.

use std::sync::OnceLock;

use proptest::prelude::*;

use pki::deliver::marathon::{env_block, user_json, CA_CERT, CA_KEY, USER};
use pki::x509::cert::{der_to_pem, pem_to_der};
use pki::x509::keys::{KeyFormat, KeyType, PrivateKey};
use pki::x509::names::{validate_user, PATH_NAMES, RESERVED};

/// The specification: ^[a-z0-9._@-]{1,64}$, minus reserved words and . and ..
fn spec_accepts(name: &str) -> bool {
    let n = name.chars().count();
    (1..=64).contains(&n)
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '@' | '-')
        })
        && !RESERVED.contains(&name)
        && !PATH_NAMES.contains(&name)
}

/// A self-signed CA certificate (DER) for each of [`keys`].
fn certs() -> &'static [Vec<u8>] {
    static CERTS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CERTS.get_or_init(|| {
        let (nb, na) = pki::x509::profile::validity(time::OffsetDateTime::now_utc(), 30);
        keys()
            .iter()
            .map(|k| {
                let serial = pki::x509::serial::Serial::random().unwrap();
                pki::x509::profile::self_sign(
                    &pki::x509::profile::ca_params("rootCA", &serial, nb, na),
                    k,
                )
                .unwrap()
            })
            .collect()
    })
}

fn keys() -> &'static [PrivateKey] {
    static KEYS: OnceLock<Vec<PrivateKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            KeyType::Rsa2048,
            KeyType::EcdsaP256,
            KeyType::EcdsaP384,
            KeyType::Ed25519,
        ]
        .into_iter()
        .map(|t| PrivateKey::generate(t).unwrap())
        .collect()
    })
}

/// Names near the boundary: mostly allowed characters, sometimes one that is not.
fn names() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9._@-]{0,70}",
        "[a-zA-Z0-9._@ /\"'-]{0,66}",
        any::<String>(),
        Just("all".to_string()),
        Just("..".to_string()),
        Just("x".repeat(64)),
        Just("x".repeat(65)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn names_are_accepted_exactly_by_the_specification(name in names()) {
        let got = validate_user(&name);
        prop_assert_eq!(got.is_ok(), spec_accepts(&name), "{:?}: {:?}", name, got.err());
        if let Err(e) = got {
            prop_assert_eq!(e.code(), 2);
            let msg = e.to_string();
            prop_assert!(!msg.contains('\n'), "{}", msg);
        }
    }

    #[test]
    fn any_der_survives_pem(der in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let pem = der_to_pem(&der);
        prop_assert_eq!(pem_to_der(&pem, "x").unwrap(), der);
    }

    #[test]
    fn env_block_survives_json(user in any::<String>(), cert in any::<String>(), key in any::<String>()) {
        let env = env_block(&user, &cert, &key);
        let text = serde_json::to_string_pretty(&env).unwrap();
        let back: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &env);
        prop_assert_eq!(back[CA_CERT].as_str().unwrap(), cert.as_str());
        prop_assert_eq!(back[CA_KEY].as_str().unwrap(), key.as_str());
        // EPHEMERAL_STORE_USER is JSON inside a JSON string: the name survives both levels.
        let inner: serde_json::Value = serde_json::from_str(back[USER].as_str().unwrap()).unwrap();
        prop_assert_eq!(inner["name"].as_str().unwrap(), user.as_str());
        prop_assert_eq!(back[USER].as_str().unwrap(), user_json(&user));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn keys_of_every_type_survive_pem_in_both_forms(i in 0usize..4, pkcs8 in any::<bool>()) {
        let k = &keys()[i];
        let format = if pkcs8 { KeyFormat::Pkcs8 } else { KeyFormat::Native };
        let pem = k.to_pem(format).unwrap();
        let back = PrivateKey::from_pem(&pem, "k").unwrap();
        prop_assert_eq!(back.key_type(), k.key_type());
        prop_assert_eq!(back.public_key_der().unwrap(), k.public_key_der().unwrap());
        // ... and the re-encoding is identical.
        prop_assert_eq!(&*back.to_pem(format).unwrap(), &*pem);
    }

    #[test]
    fn real_pem_survives_the_env_block(i in 0usize..4, user in "[a-z0-9._@-]{1,64}") {
        let key = keys()[i].to_pem(KeyFormat::Native).unwrap();
        let cert = der_to_pem(&certs()[i]);
        let text = serde_json::to_string(&env_block(&user, &cert, &key)).unwrap();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        let key_back = PrivateKey::from_pem(back[CA_KEY].as_str().unwrap(), "env").unwrap();
        prop_assert_eq!(key_back.public_key_der().unwrap(), keys()[i].public_key_der().unwrap());
        prop_assert_eq!(back[CA_CERT].as_str().unwrap(), cert.as_str());
        let der = pem_to_der(back[CA_CERT].as_str().unwrap(), "env").unwrap();
        prop_assert_eq!(&der, &certs()[i]);
        let info = pki::x509::cert::CertInfo::from_der(&der, "env").unwrap();
        prop_assert_eq!(info.spki_der, keys()[i].public_key_der().unwrap());
    }

    #[test]
    fn mangled_key_pem_is_refused_not_panicked_on(
        i in 0usize..4,
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let pem = keys()[i].to_pem(KeyFormat::Native).unwrap();
        let mut bytes = pem.as_bytes().to_vec();
        let at = flip.index(bytes.len());
        bytes[at] = byte;
        bytes.truncate(cut.index(bytes.len()) + 1);
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = PrivateKey::from_pem(&text, "k") {
            prop_assert_eq!(e.code(), 2, "{}", e);
            prop_assert!(!e.to_string().contains('\n'));
        }
    }
}
