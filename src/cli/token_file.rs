//! `--tokens FILE`, read the same way by every command that takes it.

use anyhow::Context;
use std::path::Path;

/// The token ids in `path`: a JSON array, or integers separated by spaces, commas or newlines.
pub fn read_tokens(path: &Path) -> anyhow::Result<Vec<u32>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--tokens: reading {}", path.display()))?;
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(&text).with_context(|| {
            format!(
                "--tokens: {} is not a JSON array of token ids",
                path.display()
            )
        });
    }
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u32>()
                .with_context(|| format!("--tokens: `{s}` in {} is not a token id", path.display()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_and_plain_token_files() {
        let dir = std::env::temp_dir().join(format!("hardwire-cli-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (json, plain, bad) = (dir.join("a.json"), dir.join("b.txt"), dir.join("c.txt"));
        std::fs::write(&json, "[504, 1463, 282]").unwrap();
        std::fs::write(&plain, "504 1463,\n282\n").unwrap();
        std::fs::write(&bad, "504 x").unwrap();
        assert_eq!(read_tokens(&json).unwrap(), vec![504, 1463, 282]);
        assert_eq!(read_tokens(&plain).unwrap(), vec![504, 1463, 282]);
        let e = format!("{:#}", read_tokens(&bad).unwrap_err());
        assert!(e.contains("`x`") && e.contains("--tokens"), "{e}");
        std::fs::write(&bad, "[504, -1]").unwrap();
        let e = format!("{:#}", read_tokens(&bad).unwrap_err());
        assert!(e.contains("JSON array"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
