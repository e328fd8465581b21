//! docs/vault.md and docs/vault-by-reference.md, their command lines run
//! as printed against the shared OpenBao dev server: `pki` and `vault` are
//! found in PATH (the binary under test, and OpenBao's CLI, which takes the
//! same commands), the docs' server and store path become the test's.

use std::path::Path;
use std::process::Command;

use crate::support::bao::{bao_binary, Bao};
use crate::support::common::{self, Env, PKI};

/// The docs' Vault address and store path.
const DOC_ADDR: &str = "https://vault.example:8200";
const DOC_STORE: &str = "secret/pki/ephemeral-store";

/// Run `script` (a ```sh block of `page` holding `marker`, as printed,
/// with the docs' server and store path replaced by the test's) with
/// `pki` and `vault` in PATH; returns stdout.
fn run_block(env: &Env, bao: &Bao, store: &str, page: &str, marker: &str) -> String {
    let blocks: Vec<String> = common::doc_blocks(page, "sh")
        .into_iter()
        .filter(|b| b.contains(marker))
        .collect();
    assert_eq!(blocks.len(), 1, "{page}: one ```sh block with {marker:?}");
    let script = common::localise(
        &blocks[0],
        &[(DOC_ADDR, bao.addr.clone()), (DOC_STORE, store.to_string())],
    );
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, target) in [
        ("pki", Path::new(PKI).to_path_buf()),
        ("vault", bao_binary().unwrap()),
    ] {
        let link = bin.join(name);
        if !link.exists() {
            std::os::unix::fs::symlink(target, link).unwrap();
        }
    }
    let out = Command::new("sh")
        .arg("-ec")
        .arg(&script)
        .current_dir(env.root())
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("HOME", env.root())
        .env("VAULT_TOKEN", &bao.root_token)
        .env("VAULT_ADDR", &bao.addr)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{page}:\n{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `vault://secret/pki/t...` as the docs' `secret/pki/ephemeral-store`.
fn store_path(bao: &Bao) -> String {
    bao.fresh_prefix()
        .strip_prefix("vault://")
        .unwrap()
        .to_string()
}

#[test]
fn vault_md_main_job_and_copies_run_as_printed() {
    let Some(bao) = Bao::shared() else { return };
    let env = Env::new();
    let store = store_path(bao);
    // The page's first block: init, issue, export marathon into a file.
    run_block(&env, bao, &store, "vault.md", "pki issue asp-user");
    let app: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("store-env.json")).unwrap()).unwrap();
    let key = app["EPHEMERAL_STORE_ROOT_CA_KEY"].as_str().unwrap();
    assert!(key.contains("PRIVATE KEY"), "{app}");
    common::assert_app_valid(
        "1.5.15",
        &serde_json::json!({"id": "/ephemeral-store", "env": app}),
    );

    // The copy block: a directory store to Vault, then Vault to a backup
    // directory; the backup verifies and holds the same CA certificate.
    let env = Env::new();
    env.run(&["init"]).ok();
    env.run(&["issue", "alice"]).ok();
    let store = store_path(bao);
    run_block(&env, bao, &store, "vault.md", "store copy --to");
    let backup = env.path("pki-backup-2026-12-07");
    env.run(&["--store", backup.to_str().unwrap(), "verify"])
        .ok();
    env.run(&["--store", backup.to_str().unwrap(), "audit", "verify"])
        .ok();
    let (ca, _) = env.ca_files();
    let rel = ca.strip_prefix(env.store()).unwrap();
    assert_eq!(
        std::fs::read(&ca).unwrap(),
        std::fs::read(backup.join(rel)).unwrap()
    );
}

#[test]
fn vault_by_reference_md_policies_are_written_as_printed() {
    let Some(bao) = Bao::shared() else { return };
    let env = Env::new();
    let store = store_path(bao);
    run_block(
        &env,
        bao,
        &store,
        "vault-by-reference.md",
        "vault policy write",
    );
    for name in ["pki-ephemeral-store", "marathon-ephemeral-store"] {
        let policy = bao.api_ok("GET", &format!("sys/policies/acl/{name}"), None);
        let text = policy["data"]["policy"].as_str().unwrap_or_default();
        assert!(
            text.contains(&store.replacen("secret/", "secret/data/", 1)),
            "{name}: {text}"
        );
    }
}
