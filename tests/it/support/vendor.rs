//! The vendor's documents in ../shared/vendor, read at test time (never
//! copied into the repository) and turned into values the tests compare
//! pki's output with.
#![allow(dead_code)]

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

pub fn path(name: &str) -> PathBuf {
    crate::support::common::shared().join("vendor").join(name)
}

pub fn text(name: &str) -> String {
    let p = path(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `f5-marathon-asp-ctlr-example.json` as JSON: the vendor's file has `//`
/// comment lines and an `ASP_EPHEMERAL_STORE` string broken over lines,
/// which JSON allows neither of; drop the comments and join those lines.
pub fn controller_example() -> Value {
    let raw = text("f5-marathon-asp-ctlr-example.json");
    let mut out = String::new();
    let mut in_value = false;
    for line in raw.lines() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        if line.contains("\"ASP_EPHEMERAL_STORE\": \"{") {
            in_value = true;
        }
        out.push_str(if in_value { line.trim() } else { line });
        if in_value && line.trim_start().starts_with("}\"") {
            in_value = false;
        }
        if !in_value {
            out.push('\n');
        } else {
            out.push(' ');
        }
    }
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("vendor example ({e}):\n{out}"))
}

/// The answer to `GET /v2/apps/marathon-asp-ctlr` printed in
/// `asp-install-marathon.rst`, made JSON again: the page elides the task
/// list as `[...]` and leaves a trailing comma after it.
pub fn controller_get_answer() -> Value {
    let page = text("asp-install-marathon.rst");
    let start = page
        .find("| jq .\n")
        .expect("the GET example in asp-install-marathon.rst")
        + "| jq .\n".len();
    let end = page[start..]
        .find("\nWhat's Next")
        .expect("end of the example")
        + start;
    let body = page[start..end].replace("\"tasks\": [...],", "\"tasks\": []");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("vendor GET answer ({e}):\n{body}"))
}

/// Every YAML document of a vendor manifest.
pub fn yaml_docs(name: &str) -> Vec<Value> {
    let text = text(name);
    serde_norway::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect()
}

/// The one document of `kind` in a vendor manifest.
pub fn object(name: &str, kind: &str) -> Value {
    let docs: Vec<Value> = yaml_docs(name)
        .into_iter()
        .filter(|d| d["kind"] == kind)
        .collect();
    assert_eq!(docs.len(), 1, "{name}: one {kind}");
    docs.into_iter().next().unwrap()
}
