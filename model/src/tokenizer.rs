//! Text to token ids and back: the byte-level vocabulary of the `tiny` preset, and GPT-2 style
//! byte-level BPE built from a GGUF file's `tokenizer.ggml.*` metadata.

use crate::error::{ModelError, Result};
use crate::gguf::GgufFile;
use std::collections::HashMap;

/// A tokenizer.
///
/// ```
/// let t = hardwire_model::Tokenizer::bytes();
/// assert_eq!(t.encode("hi").unwrap(), vec![104, 105]);
/// assert_eq!(t.decode(&[104, 105]), "hi");
/// ```
pub struct Tokenizer {
    kind: Kind,
}

enum Kind {
    Bytes,
    Bpe(Box<Bpe>),
}

struct Bpe {
    tokens: Vec<String>,
    vocab: HashMap<String, u32>,
    merges: HashMap<(String, String), u32>,
    pattern: fancy_regex::Regex,
    split_digits: bool,
    byte_char: [char; 256],
    char_byte: HashMap<char, u8>,
    /// Control tokens matched literally in the text, longest first.
    special: Vec<(String, u32)>,
}

/// GPT-2's pre-tokenizer pattern.
pub const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// GPT-2's reversible map from bytes to printable characters.
pub fn byte_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..256u32 {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        table[b as usize] = if printable {
            char::from_u32(b).unwrap_or('\0')
        } else {
            n += 1;
            char::from_u32(255 + n).unwrap_or('\0')
        };
    }
    table
}

/// Largest `tokenizer.json` read (real ones are 2 to 35 MB).
pub const MAX_TOKENIZER_JSON_BYTES: u64 = 256 << 20;

impl Tokenizer {
    /// One token per byte (vocabulary 256), as used by the `tiny` preset.
    pub fn bytes() -> Self {
        Tokenizer { kind: Kind::Bytes }
    }

    /// Builds the BPE tokenizer stored in a GGUF file's metadata (`tokenizer.ggml.model` `gpt2`).
    pub fn from_gguf(f: &GgufFile) -> Result<Self> {
        let err = |m: &str| ModelError::Tokenizer(format!("{}: {m}", f.path().display()));
        let model = f
            .get("tokenizer.ggml.model")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if model != "gpt2" {
            return Err(err(&format!(
                "tokenizer.ggml.model `{model}` is not supported (only `gpt2`)"
            )));
        }
        let strings = |key: &str| -> Result<Vec<String>> {
            let a = f
                .get(key)
                .and_then(|v| v.as_array())
                .ok_or_else(|| err(&format!("`{key}` missing")))?;
            let s = a
                .as_strings()
                .ok_or_else(|| err(&format!("`{key}` is not an array of strings")))?;
            Ok(s.iter().map(String::from).collect())
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges = strings("tokenizer.ggml.merges")?;
        let types: Vec<u64> = f
            .get("tokenizer.ggml.token_type")
            .and_then(|v| v.as_array())
            .map(|a| (0..a.len()).map(|i| a.u64_at(i).unwrap_or(1)).collect())
            .unwrap_or_default();
        let pre = f
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.as_str())
            .unwrap_or("gpt2");
        let mut merge_ranks = HashMap::with_capacity(merges.len());
        for (rank, m) in merges.iter().enumerate() {
            let (a, b) = m
                .split_once(' ')
                .ok_or_else(|| err(&format!("merge `{m}` has no space")))?;
            merge_ranks
                .entry((a.to_string(), b.to_string()))
                .or_insert(rank as u32);
        }
        let special = tokens
            .iter()
            .enumerate()
            .filter(|(i, _)| matches!(types.get(*i), Some(3) | Some(4)))
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        Self::bpe(tokens, merge_ranks, special, pre)
    }

    /// Builds the byte-level BPE tokenizer of a Hugging Face `tokenizer.json` (model type `BPE`,
    /// merges as `"a b"` strings or `["a", "b"]` pairs, added tokens matched literally).
    pub fn from_tokenizer_json(path: &std::path::Path) -> Result<Self> {
        let err = |m: String| ModelError::Tokenizer(format!("{}: {m}", path.display()));
        let text = crate::bytes::read_text_limited(path, MAX_TOKENIZER_JSON_BYTES)?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| err(format!("bad JSON: {e}")))?;
        let model = &v["model"];
        if model["type"].as_str() != Some("BPE") {
            return Err(err("only BPE models are supported".into()));
        }
        let vocab = model["vocab"]
            .as_object()
            .ok_or_else(|| err("model.vocab is not an object".into()))?;
        let mut tokens = vec![String::new(); vocab.len()];
        for (t, id) in vocab {
            let id = id
                .as_u64()
                .filter(|&i| (i as usize) < tokens.len())
                .ok_or_else(|| err(format!("token `{t}` has a bad id")))?;
            tokens[id as usize] = t.clone();
        }
        let mut merges = HashMap::new();
        for (rank, m) in model["merges"]
            .as_array()
            .ok_or_else(|| err("model.merges is not a list".into()))?
            .iter()
            .enumerate()
        {
            let pair = match m {
                serde_json::Value::String(s) => s
                    .split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string())),
                serde_json::Value::Array(a) if a.len() == 2 => a[0]
                    .as_str()
                    .zip(a[1].as_str())
                    .map(|(a, b)| (a.to_string(), b.to_string())),
                _ => None,
            };
            let pair = pair.ok_or_else(|| err(format!("merge {rank} is malformed")))?;
            merges.entry(pair).or_insert(rank as u32);
        }
        let mut special = Vec::new();
        for t in v["added_tokens"].as_array().into_iter().flatten() {
            if let (Some(id), Some(content)) = (t["id"].as_u64(), t["content"].as_str()) {
                // The id sizes the token table: bound it before growing the table to it.
                let id = usize::try_from(id)
                    .ok()
                    .filter(|&id| id < crate::sizes::MAX_VOCAB)
                    .ok_or_else(|| {
                        err(format!(
                            "added token `{content}` has id {id}, beyond the vocabulary limit of {}",
                            crate::sizes::MAX_VOCAB
                        ))
                    })?;
                if id >= tokens.len() {
                    tokens.resize(id + 1, String::new());
                }
                tokens[id] = content.to_string();
                special.push((content.to_string(), id as u32));
            }
        }
        let digits = text.contains("\"individual_digits\":true")
            || text.contains("\"individual_digits\": true");
        Self::bpe(
            tokens,
            merges,
            special,
            if digits { "smollm" } else { "gpt2" },
        )
    }

    fn bpe(
        tokens: Vec<String>,
        merges: HashMap<(String, String), u32>,
        mut special: Vec<(String, u32)>,
        pre: &str,
    ) -> Result<Self> {
        let pattern = fancy_regex::Regex::new(GPT2_PATTERN)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        let byte_char = byte_to_unicode();
        let char_byte = byte_char
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect();
        let vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        special.retain(|(s, _)| !s.is_empty());
        special.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        let bpe = Bpe {
            tokens,
            vocab,
            merges,
            pattern,
            // SmolLM2's (and StarCoder's) pre-tokenizer isolates every digit first.
            split_digits: matches!(pre, "smollm" | "starcoder" | "refact" | "smaug-bpe"),
            byte_char,
            char_byte,
            special,
        };
        Ok(Tokenizer {
            kind: Kind::Bpe(Box::new(bpe)),
        })
    }

    /// Number of ids this tokenizer can produce.
    pub fn vocab_size(&self) -> usize {
        match &self.kind {
            Kind::Bytes => 256,
            Kind::Bpe(b) => b.tokens.len(),
        }
    }

    /// Token ids of `text`; no BOS is added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match &self.kind {
            Kind::Bytes => Ok(text.bytes().map(u32::from).collect()),
            Kind::Bpe(b) => b.encode(text),
        }
    }

    /// The text of `ids` (invalid UTF-8 sequences replaced).
    pub fn decode(&self, ids: &[u32]) -> String {
        match &self.kind {
            Kind::Bytes => {
                String::from_utf8_lossy(&ids.iter().map(|&i| i as u8).collect::<Vec<_>>())
                    .into_owned()
            }
            Kind::Bpe(b) => b.decode(ids),
        }
    }
}

impl Bpe {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            // The earliest control token in the rest of the text, longest first at a tie.
            let next = self
                .special
                .iter()
                .filter_map(|(s, id)| rest.find(s.as_str()).map(|p| (p, s.len(), *id)))
                .min_by_key(|&(p, len, _)| (p, std::cmp::Reverse(len)));
            let (plain, after) = match next {
                Some((p, len, id)) => (&rest[..p], Some((id, &rest[p + len..]))),
                None => (rest, None),
            };
            self.encode_plain(plain, &mut ids)?;
            match after {
                Some((id, r)) => {
                    ids.push(id);
                    rest = r;
                }
                None => break,
            }
        }
        Ok(ids)
    }

    fn encode_plain(&self, text: &str, ids: &mut Vec<u32>) -> Result<()> {
        let mut pieces: Vec<&str> = Vec::new();
        let mut start = 0;
        for (i, ch) in text.char_indices() {
            if self.split_digits && ch.is_numeric() {
                if start < i {
                    pieces.push(&text[start..i]);
                }
                pieces.push(&text[i..i + ch.len_utf8()]);
                start = i + ch.len_utf8();
            }
        }
        if start < text.len() {
            pieces.push(&text[start..]);
        }
        for piece in pieces {
            for m in self.pattern.find_iter(piece) {
                let m = m.map_err(|e| ModelError::Tokenizer(e.to_string()))?;
                self.encode_word(m.as_str(), ids)?;
            }
        }
        Ok(())
    }

    fn encode_word(&self, word: &str, ids: &mut Vec<u32>) -> Result<()> {
        let mut symbols: Vec<String> = word
            .bytes()
            .map(|b| self.byte_char[b as usize].to_string())
            .collect();
        loop {
            let best = symbols
                .windows(2)
                .enumerate()
                .filter_map(|(i, w)| {
                    self.merges
                        .get(&(w[0].clone(), w[1].clone()))
                        .map(|&r| (r, i))
                })
                .min();
            let Some((_, i)) = best else { break };
            let merged = format!("{}{}", symbols[i], symbols[i + 1]);
            symbols[i] = merged;
            symbols.remove(i + 1);
        }
        for s in symbols {
            let id = self.vocab.get(&s).ok_or_else(|| {
                ModelError::Tokenizer(format!("symbol `{s}` is not in the vocabulary"))
            })?;
            ids.push(*id);
        }
        Ok(())
    }

    fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for &id in ids {
            let Some(t) = self.tokens.get(id as usize) else {
                continue;
            };
            if self.special.iter().any(|(_, s)| *s == id) {
                bytes.extend(t.as_bytes());
                continue;
            }
            for c in t.chars() {
                match self.char_byte.get(&c) {
                    Some(&b) => bytes.push(b),
                    None => bytes.extend(c.to_string().as_bytes()),
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_a_bijection() {
        let t = byte_to_unicode();
        let mut s: Vec<char> = t.to_vec();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), 256);
        assert_eq!(t[b' ' as usize], 'Ġ');
    }

    #[test]
    fn small_bpe_merges_by_rank() {
        let bc = byte_to_unicode();
        let mut tokens: Vec<String> = bc.iter().map(|c| c.to_string()).collect();
        tokens.extend(["ab".into(), "Ġa".into(), "Ġab".into(), "<|x|>".into()]);
        let merges = [("a", "b"), ("Ġ", "a"), ("Ġa", "b")]
            .iter()
            .enumerate()
            .map(|(i, (a, b))| ((a.to_string(), b.to_string()), i as u32))
            .collect();
        let t = Tokenizer::bpe(tokens, merges, vec![("<|x|>".into(), 259)], "gpt2").unwrap();
        // " ab" -> Ġ a b -> (a,b) first -> Ġ ab: no merge Ġ+ab listed, so two tokens.
        assert_eq!(t.encode("ab ab").unwrap(), vec![256, 32, 256]);
        assert_eq!(t.encode("a<|x|>b").unwrap(), vec![97, 259, 98]);
        assert_eq!(t.decode(&[256, 259]), "ab<|x|>");
    }
}
