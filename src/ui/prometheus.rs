//! node_exporter textfiles (`check --prometheus`, `probe --prometheus`):
//! the label escaping. The path is checked before writing by
//! `cmd::check_prometheus_path`, and the file written atomically with
//! `store::fs::write_atomic`, mode 0644.

/// Escape a label value as the text exposition format requires.
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(label("alice"), "alice");
    }
}
