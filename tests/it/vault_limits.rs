//! What a Vault server refuses in one request, held by the store's
//! layout: OpenBao's listener refuses a body with more than 1,000 JSON
//! strings (`max_request_json_strings`, keys included), and each audit
//! line `state` keeps costs up to 19 of them; `state` must move its lines
//! into a block long before that, whatever the number of commits or the
//! size of one.

use crate::support::common::{Backend, Env};

#[test]
fn a_store_in_vault_takes_more_audit_lines_than_one_request_may_carry() {
    if !Backend::Vault.available() {
        return;
    }
    let env = Env::on(Backend::Vault);
    env.run(&["init", "--key-type", "ecdsa-p256"]).ok();
    // One commit of 60 lines, one of 60 more, then commits of one line.
    let users: Vec<String> = (0..60).map(|i| format!("u{i:02}")).collect();
    let mut issue = vec!["issue", "--key-type", "ecdsa-p256"];
    issue.extend(users.iter().map(String::as_str));
    env.run(&issue).ok();
    env.run(&["rotate", "--force"]).ok();
    for u in &users[..5] {
        env.run(&["revoke", u]).ok();
    }
    let r = env.run(&["audit", "verify"]);
    r.ok();
    assert!(
        r.stdout.starts_with("126 entries, chain intact"),
        "{}",
        r.stdout
    );
    let (state, _) = env.vault.as_ref().unwrap().object("state").unwrap();
    let kept = state["pending"].as_array().unwrap().len();
    assert!(kept <= 32, "state keeps {kept} audit lines");
}
