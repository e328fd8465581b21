//! node_exporter textfiles (`check --prometheus`, `probe --prometheus`):
//! the label escaping and the check of the path before writing. The file
//! itself is written atomically with `store::fs::write_atomic`, mode 0644.

use std::path::Path;

use crate::error::{Error, Result};

/// Refuse a --prometheus path whose directory does not exist, before
/// writing (the textfile collector's directory is node_exporter's).
pub fn check_path(path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(Error::failed(
            format!(
                "--prometheus {}: the directory {} does not exist",
                path.display(),
                dir.display()
            ),
            "create it (node_exporter's --collector.textfile.directory), or give a path in an existing directory",
        ));
    }
    Ok(())
}

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
