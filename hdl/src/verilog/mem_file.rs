//! A memory's `$readmemh` file, written from its [`MemInit`] word by word, and the same words
//! as a packed binary image for loaders that want one.

use std::io::{self, Write};

use crate::ir::MemInit;

/// The initial contents of one memory, to be written as `name` (hex) and as a binary image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemFile {
    /// The `$readmemh` file's name, `<module>_<memory>.hex`.
    pub name: String,
    /// Width of a word.
    pub width: u32,
    /// The words.
    pub init: MemInit,
}

impl MemFile {
    /// Hex digits per word: `ceil(width / 4)`.
    fn digits(&self) -> u64 {
        u64::from(self.width.div_ceil(4).max(1))
    }

    /// Bytes of the hex file: one line of [`Bits::to_hex`](crate::bits::Bits::to_hex) per word.
    pub fn hex_len(&self) -> u64 {
        self.init.depth() as u64 * (self.digits() + 1)
    }

    /// Bytes per word of the binary image: `ceil(width / 8)`.
    pub fn bin_word_bytes(&self) -> usize {
        self.width.div_ceil(8).max(1) as usize
    }

    /// Bytes of the binary image.
    pub fn bin_len(&self) -> u64 {
        self.init.depth() as u64 * self.bin_word_bytes() as u64
    }

    /// The binary image's file name: the hex file's, ending `.bin`.
    pub fn bin_name(&self) -> String {
        let stem = self.name.strip_suffix(".hex").unwrap_or(&self.name);
        format!("{stem}.bin")
    }

    /// The hex file's text (for small memories: reviews and hashing).
    pub fn hex(&self) -> String {
        let mut out = Vec::with_capacity(self.hex_len() as usize);
        self.write(&mut out, None, &mut |_| {})
            .expect("writing to memory cannot fail");
        String::from_utf8(out).expect("hex digits are ASCII")
    }

    /// Writes the hex file to `hex` and, if given, the binary image to `bin` (each word
    /// little-endian in [`MemFile::bin_word_bytes`] bytes, the high bits of the last byte
    /// zero), making each word once; calls `progress` with the bytes written so far (to both)
    /// every few megabytes and at the end. Stops at the first error.
    pub fn write(
        &self,
        hex: &mut dyn Write,
        mut bin: Option<&mut dyn Write>,
        progress: &mut dyn FnMut(u64),
    ) -> io::Result<()> {
        const NOTE_EVERY: u64 = 16 << 20;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digits = self.digits() as usize;
        let word_bytes = self.bin_word_bytes();
        let mut line = Vec::with_capacity(digits + 1);
        let mut bytes = Vec::with_capacity(word_bytes);
        let (mut written, mut noted) = (0u64, 0u64);
        let mut result = Ok(());
        self.init.visit(|word| {
            let words = word.words();
            // [`Bits::to_hex`](crate::bits::Bits::to_hex)'s digits without its allocation: a nibble never straddles two
            // 64-bit words.
            line.clear();
            line.extend((0..digits).rev().map(|d| {
                let v = words.get(d / 16).map_or(0, |v| v >> (d % 16 * 4));
                HEX[(v & 0xf) as usize]
            }));
            line.push(b'\n');
            result = hex.write_all(&line);
            written += line.len() as u64;
            if let Some(bin) = bin.as_mut().filter(|_| result.is_ok()) {
                bytes.clear();
                bytes.extend(words.iter().flat_map(|v| v.to_le_bytes()).take(word_bytes));
                result = bin.write_all(&bytes);
                written += word_bytes as u64;
            }
            if written - noted >= NOTE_EVERY {
                noted = written;
                progress(written);
            }
            result.is_ok()
        });
        result?;
        progress(written);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bits::Bits;

    #[test]
    fn hex_lines_are_bits_to_hex() {
        for width in [1, 4, 5, 63, 64, 65, 130] {
            let words: Vec<Bits> = (0..3u64)
                .map(|i| {
                    Bits::from_words(&[i.wrapping_mul(0x9e37_79b9_7f4a_7c15), !i, i << 60], width)
                })
                .collect();
            let want: String = words.iter().map(|w| w.to_hex() + "\n").collect();
            let f = MemFile {
                name: "m.hex".into(),
                width,
                init: MemInit::Words(words),
            };
            assert_eq!(f.hex(), want, "width {width}");
            assert_eq!(f.hex_len(), want.len() as u64);
        }
    }

    #[test]
    fn hex_and_binary_images_hold_each_word() {
        let words = vec![Bits::from_u64(0x1ab, 12), Bits::from_u64(0xfff, 12)];
        let f = MemFile {
            name: "m.hex".into(),
            width: 12,
            init: MemInit::Words(words),
        };
        assert_eq!(f.hex(), "1ab\nfff\n");
        assert_eq!(f.hex_len(), 8);
        let (mut hex, mut bin) = (Vec::new(), Vec::new());
        let mut last = 0;
        f.write(&mut hex, Some(&mut bin), &mut |n| last = n)
            .unwrap();
        assert_eq!(
            (hex, bin),
            (b"1ab\nfff\n".to_vec(), vec![0xab, 0x01, 0xff, 0x0f])
        );
        assert_eq!(last, f.hex_len() + f.bin_len());
        assert_eq!(f.bin_name(), "m.bin");
        assert_eq!(f.bin_len(), 4);
    }
}
