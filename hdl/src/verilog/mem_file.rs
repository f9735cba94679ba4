//! A memory's `$readmemh` file, written from its [`MemInit`] word by word, and the same words
//! as a packed binary image for loaders that want one.

use std::io::{self, Write};

use crate::bits::Bits;
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

    /// Bytes of the hex file: one line of [`Bits::to_hex`] per word.
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

    /// The hex file's text (for small memories: reviews and hashing).
    pub fn hex(&self) -> String {
        let mut out = Vec::with_capacity(self.hex_len() as usize);
        self.write_hex(&mut out, &mut |_| {})
            .expect("writing to memory cannot fail");
        String::from_utf8(out).expect("hex digits are ASCII")
    }

    /// Writes the hex file to `w`, calling `progress` with the bytes written so far every few
    /// megabytes.
    pub fn write_hex(&self, w: &mut dyn Write, progress: &mut dyn FnMut(u64)) -> io::Result<()> {
        let digits = self.digits() as usize;
        let mut line = Vec::with_capacity(digits + 1);
        self.write_words(
            w,
            progress,
            |word, line| {
                // [`Bits::to_hex`]'s digits, without its allocation: a nibble never straddles
                // two 64-bit words.
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let words = word.words();
                line.extend((0..digits).rev().map(|d| {
                    let v = words.get(d / 16).map_or(0, |v| v >> (d % 16 * 4));
                    HEX[(v & 0xf) as usize]
                }));
                line.push(b'\n');
            },
            &mut line,
        )
    }

    /// Writes the binary image to `w`: each word little-endian in
    /// [`MemFile::bin_word_bytes`] bytes, the high bits of the last byte zero.
    pub fn write_bin(&self, w: &mut dyn Write, progress: &mut dyn FnMut(u64)) -> io::Result<()> {
        let n = self.bin_word_bytes();
        let mut bytes = Vec::with_capacity(n);
        self.write_words(
            w,
            progress,
            |word, out| out.extend(word.words().iter().flat_map(|v| v.to_le_bytes()).take(n)),
            &mut bytes,
        )
    }

    /// Encodes each word into `buf` with `encode` and writes it, stopping at the first error.
    fn write_words(
        &self,
        w: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
        encode: impl Fn(&Bits, &mut Vec<u8>),
        buf: &mut Vec<u8>,
    ) -> io::Result<()> {
        const NOTE_EVERY: u64 = 16 << 20;
        let (mut written, mut noted) = (0u64, 0u64);
        let mut result = Ok(());
        self.init.visit(|word| {
            buf.clear();
            encode(word, buf);
            result = w.write_all(buf);
            written += buf.len() as u64;
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
        let mut bin = Vec::new();
        f.write_bin(&mut bin, &mut |_| {}).unwrap();
        assert_eq!(bin, [0xab, 0x01, 0xff, 0x0f]);
        assert_eq!(f.bin_len(), 4);
    }
}
