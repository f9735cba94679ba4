//! A memory's initial contents: words held in the design, or an image that makes them on demand.
//!
//! A model's weight ROMs are most of its size (tens of gigabits for Llama 3.1 8B), and the
//! weights already sit packed in a mapped store. An [`MemImage`] lets the design refer to them
//! instead of copying them into [`Bits`]: the Verilog backend streams the image into its
//! `$readmemh` file and the simulator into its state, word by word, so holding a design costs
//! its logic, not its weights.

use std::fmt;
use std::sync::Arc;

use crate::bits::Bits;

/// Words made on demand, in address order: a memory's contents that the design does not hold.
pub trait MemImage: Send + Sync {
    /// Number of words.
    fn depth(&self) -> u32;
    /// Width of every word.
    fn width(&self) -> u32;
    /// Calls `f` with each word in address order, `depth` of them of `width` bits, until `f`
    /// returns `false`.
    fn visit(&self, f: &mut dyn FnMut(&Bits) -> bool);
}

/// Initial contents of a [`Mem`](super::Mem).
#[derive(Clone)]
pub enum MemInit {
    /// Every word, held in the design.
    Words(Vec<Bits>),
    /// Words made on demand (see [`MemImage`]).
    Image(Arc<dyn MemImage>),
}

impl MemInit {
    /// Number of words.
    pub fn depth(&self) -> usize {
        match self {
            MemInit::Words(w) => w.len(),
            MemInit::Image(i) => i.depth() as usize,
        }
    }

    /// Calls `f` with each word in address order until it returns `false`.
    pub fn visit(&self, mut f: impl FnMut(&Bits) -> bool) {
        match self {
            MemInit::Words(words) => {
                for w in words {
                    if !f(w) {
                        return;
                    }
                }
            }
            MemInit::Image(image) => image.visit(&mut f),
        }
    }

    /// The first `n` words (fewer if the memory is shallower).
    pub fn first(&self, n: usize) -> Vec<Bits> {
        let mut out = Vec::with_capacity(n.min(self.depth()));
        if n > 0 {
            self.visit(|w| {
                out.push(w.clone());
                out.len() < n
            });
        }
        out
    }

    /// Every word, made if it is an image.
    pub fn to_words(&self) -> Vec<Bits> {
        self.first(self.depth())
    }
}

impl PartialEq for MemInit {
    /// Equal when they hold the same words, however held.
    fn eq(&self, o: &Self) -> bool {
        match (self, o) {
            (MemInit::Words(a), MemInit::Words(b)) => a == b,
            (MemInit::Image(a), MemInit::Image(b)) if Arc::ptr_eq(a, b) => true,
            _ => self.depth() == o.depth() && self.to_words() == o.to_words(),
        }
    }
}

impl Eq for MemInit {}

impl fmt::Debug for MemInit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemInit::Words(w) => f.debug_tuple("Words").field(w).finish(),
            MemInit::Image(i) => write!(f, "Image({} x {} bits)", i.depth(), i.width()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Word `i` is `i * 3` in 8 bits.
    struct Ramp(u32);

    impl MemImage for Ramp {
        fn depth(&self) -> u32 {
            self.0
        }
        fn width(&self) -> u32 {
            8
        }
        fn visit(&self, f: &mut dyn FnMut(&Bits) -> bool) {
            for i in 0..self.0 {
                if !f(&Bits::from_u64(u64::from(i) * 3, 8)) {
                    return;
                }
            }
        }
    }

    #[test]
    fn an_image_equals_the_words_it_makes() {
        let words: Vec<Bits> = (0..5).map(|i| Bits::from_u64(i * 3, 8)).collect();
        let image = MemInit::Image(Arc::new(Ramp(5)));
        assert_eq!(image.to_words(), words);
        assert_eq!(image, MemInit::Words(words.clone()));
        assert_ne!(image, MemInit::Image(Arc::new(Ramp(4))));
        assert_eq!(image.first(2), words[..2]);
        assert_eq!(format!("{image:?}"), "Image(5 x 8 bits)");
    }
}
