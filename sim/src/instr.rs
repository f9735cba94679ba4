//! The simulator's instruction set: what the compiler emits and the executor runs.
//!
//! Every operand is a slot: an index into the flat state vector, where a value of width `w`
//! occupies `ceil(w / 64)` consecutive words, canonical (bits above `w` zero; signed values
//! as their two's-complement bits). Narrow instructions (every width at most 64) carry their
//! masks and sign-extension shifts precomputed as shift amounts so an instruction stays 24
//! bytes (checked below); anything wider, and the four-term sums, go through a side table
//! ([`Instr::Wide`], [`Instr::Sum`]), so the common case never pays for the rare one.
//!
//! Encoding of the precomputed shifts:
//! - `ms`: the result mask is `u64::MAX >> ms` (so `ms = 64 - width`).
//! - `sa`, `sb`: an operand is sign-extended to 64 bits as `((x << s) as i64 >> s) as u64`;
//!   `s = 64 - width` for a signed operand and `0` for an unsigned one (zero-extension is
//!   free because values are canonical).

// An instruction's size sets how much of the cache the program takes.
const _: () = assert!(std::mem::size_of::<Instr>() <= 24);

/// A slot index into the state vector.
pub(crate) type Slot = u32;

/// Slot value meaning "no enable: always".
pub(crate) const ALWAYS: Slot = Slot::MAX;

/// One combinational instruction. `d` is the destination slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Instr {
    /// `d = (ext(a) + ext(b)) & mask`.
    Add {
        d: Slot,
        a: Slot,
        b: Slot,
        sa: u8,
        sb: u8,
        ms: u8,
    },
    /// `d = (ext(a) - ext(b)) & mask`.
    Sub {
        d: Slot,
        a: Slot,
        b: Slot,
        sa: u8,
        sb: u8,
        ms: u8,
    },
    /// `d = (ext(a) * ext(b)) & mask`; exact for signed operands too, since the product's low
    /// bits do not depend on how the operands were extended beyond the result width.
    Mul {
        d: Slot,
        a: Slot,
        b: Slot,
        sa: u8,
        sb: u8,
        ms: u8,
    },
    /// `d = (view(a) + view(b)) & mask` with operands read through folded operations (see
    /// [`crate::fuse::View`]); `XS` for signed operands, `XU` for unsigned.
    AddXS {
        d: Slot,
        a: Slot,
        b: Slot,
        va: [u8; 4],
        vb: [u8; 4],
        ms: u8,
    },
    /// Unsigned [`Instr::AddXS`].
    AddXU {
        d: Slot,
        a: Slot,
        b: Slot,
        va: [u8; 4],
        vb: [u8; 4],
        ms: u8,
    },
    /// `d = (view(a) - view(b)) & mask`, signed.
    SubXS {
        d: Slot,
        a: Slot,
        b: Slot,
        va: [u8; 4],
        vb: [u8; 4],
        ms: u8,
    },
    /// `d = (view(a) * view(b)) & mask`, signed: a product of fields (a weight unpacked
    /// from a ROM word, say) without the instructions that would unpack them.
    MulXS {
        d: Slot,
        a: Slot,
        b: Slot,
        va: [u8; 4],
        vb: [u8; 4],
        ms: u8,
    },
    /// Unsigned [`Instr::MulXS`].
    MulXU {
        d: Slot,
        a: Slot,
        b: Slot,
        va: [u8; 4],
        vb: [u8; 4],
        ms: u8,
    },
    /// Unsigned [`Instr::SubXS`].
    SubXU {
        d: Slot,
        a: Slot,
        b: Slot,
        va: [u8; 4],
        vb: [u8; 4],
        ms: u8,
    },
    /// `d = ((a >> la) & (b >> lb)) & mask`: bitwise on operands that may be fields of a
    /// word (`la`, `lb` zero for whole values).
    AndF {
        d: Slot,
        a: Slot,
        b: Slot,
        la: u8,
        lb: u8,
        ms: u8,
    },
    /// Or of fields.
    OrF {
        d: Slot,
        a: Slot,
        b: Slot,
        la: u8,
        lb: u8,
        ms: u8,
    },
    /// Xor of fields.
    XorF {
        d: Slot,
        a: Slot,
        b: Slot,
        la: u8,
        lb: u8,
        ms: u8,
    },
    /// `d = (((a >> la) & mask(ma)) << sh) | ((b >> lb) & mask(mb))`: a two-part
    /// concatenation of fields.
    Concat2F {
        d: Slot,
        a: Slot,
        b: Slot,
        la: u8,
        lb: u8,
        sh: u8,
        ma: u8,
        mb: u8,
    },
    /// Bitwise on canonical operands of the result's width.
    And { d: Slot, a: Slot, b: Slot },
    /// Bitwise or.
    Or { d: Slot, a: Slot, b: Slot },
    /// Bitwise xor.
    Xor { d: Slot, a: Slot, b: Slot },
    /// `d = ext(a) == ext(b)`.
    Eq {
        d: Slot,
        a: Slot,
        b: Slot,
        sa: u8,
        sb: u8,
    },
    /// `d = ext(a) != ext(b)`.
    Ne {
        d: Slot,
        a: Slot,
        b: Slot,
        sa: u8,
        sb: u8,
    },
    /// Unsigned `a < b`.
    LtU { d: Slot, a: Slot, b: Slot },
    /// Unsigned `a <= b`.
    LeU { d: Slot, a: Slot, b: Slot },
    /// Signed `ext(a) < ext(b)`.
    LtS {
        d: Slot,
        a: Slot,
        b: Slot,
        sa: u8,
        sb: u8,
    },
    /// Signed `ext(a) <= ext(b)`.
    LeS {
        d: Slot,
        a: Slot,
        b: Slot,
        sa: u8,
        sb: u8,
    },
    /// `d = a << b`, zero when `b >= w` (the result width).
    Shl { d: Slot, a: Slot, b: Slot, w: u8 },
    /// Logical `d = a >> b`, zero when `b >= w`.
    ShrU { d: Slot, a: Slot, b: Slot, w: u8 },
    /// Arithmetic `d = ext(a) >> b` (all sign bits when `b >= w`), masked to `w`.
    ShrS { d: Slot, a: Slot, b: Slot, w: u8 },
    /// `d = (a << sh) & mask` with a constant `sh < 64`.
    ShlC { d: Slot, a: Slot, sh: u8, ms: u8 },
    /// Logical `d = a >> sh` with a constant `sh < 64`.
    ShrCU { d: Slot, a: Slot, sh: u8 },
    /// Arithmetic `d = (ext(a) >> sh) & mask` with a constant `sh < 64`.
    ShrCS {
        d: Slot,
        a: Slot,
        sa: u8,
        sh: u8,
        ms: u8,
    },
    /// `d = !a & mask`.
    Not { d: Slot, a: Slot, ms: u8 },
    /// `d = -ext(a) & mask`.
    Neg { d: Slot, a: Slot, sa: u8, ms: u8 },
    /// `d = a == mask_a` (all ones at the operand's width).
    RedAnd { d: Slot, a: Slot, ms: u8 },
    /// `d = a != 0`.
    RedOr { d: Slot, a: Slot },
    /// `d = parity(a)`.
    RedXor { d: Slot, a: Slot },
    /// `d = s ? a : b`.
    Mux { d: Slot, s: Slot, a: Slot, b: Slot },
    /// Resize: `d = ext(a) & mask`.
    Ext { d: Slot, a: Slot, sa: u8, ms: u8 },
    /// `d = (a >> lo) & mask`.
    Slice { d: Slot, a: Slot, lo: u8, ms: u8 },
    /// `d = ((a >> lo) | (a[1] << (64 - lo))) & mask`: a field straddling two words of a
    /// wide value (`0 < lo < 64`).
    Slice2 { d: Slot, a: Slot, lo: u8, ms: u8 },
    /// `d = (a << sh) | b`: the last two parts of a concatenation.
    Concat2 { d: Slot, a: Slot, b: Slot, sh: u8 },
    /// `d |= a << sh`: each further part of a concatenation.
    OrShl { d: Slot, a: Slot, sh: u8 },
    /// `d = 0`.
    Zero { d: Slot },
    /// [`WideOp`] number `i` of the program's side table.
    Wide(u32),
    /// [`SumOp`] number `i` of the program's side table.
    Sum(u32),
}

/// One term of a [`SumOp`]: `±(((st[slot] << p1) as i64 >> p2) << k)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SumTerm {
    pub slot: Slot,
    pub p1: u8,
    pub p2: u8,
    pub k: u8,
    /// Subtract the term instead of adding it.
    pub neg: bool,
}

/// `d = (t0 + t1 + t2 + t3) & mask`: a small adder tree folded into one instruction (see
/// [`crate::sum`]). Fewer terms are padded with a zero slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SumOp {
    pub d: Slot,
    pub ms: u8,
    pub terms: [SumTerm; 4],
}

/// The tables that [`Instr::Wide`] and [`Instr::Sum`] index.
#[derive(Debug, Clone, Default)]
pub(crate) struct Side {
    pub wide: Vec<WideOp>,
    pub sums: Vec<SumOp>,
}

/// Comparison kinds for [`WideOp::Cmp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
}

/// Reduction kinds for [`WideOp::Reduce`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReduceOp {
    And,
    Or,
    Xor,
}

/// Bitwise kinds for [`WideOp::Bitwise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BitOp {
    And,
    Or,
    Xor,
}

/// Arithmetic kinds for [`WideOp::Arith`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
}

/// A multi-word operation. Unless said otherwise the operands are already extended to the
/// result width `w`, so each kind works on equal word counts and only has to mask its top
/// word; the compiler emits [`WideOp::Ext`] for the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WideOp {
    /// Resize `a` (`aw` bits, sign-extended when `signed`) to `dw` bits; any widths.
    Ext {
        d: Slot,
        dw: u32,
        a: Slot,
        aw: u32,
        signed: bool,
    },
    /// Wrapping add, subtract or multiply modulo `2^w`.
    Arith {
        op: ArithOp,
        d: Slot,
        a: Slot,
        b: Slot,
        w: u32,
    },
    /// Bitwise and, or, xor.
    Bitwise {
        op: BitOp,
        d: Slot,
        a: Slot,
        b: Slot,
        w: u32,
    },
    /// Complement.
    Not { d: Slot, a: Slot, w: u32 },
    /// Negation modulo `2^w`.
    Neg { d: Slot, a: Slot, w: u32 },
    /// Comparison of two `w`-bit values into one bit.
    Cmp {
        op: CmpOp,
        d: Slot,
        a: Slot,
        b: Slot,
        w: u32,
        signed: bool,
    },
    /// Shift left by the narrow amount in slot `amt`.
    Shl { d: Slot, a: Slot, amt: Slot, w: u32 },
    /// Shift right by the narrow amount in slot `amt`, arithmetic when `signed`.
    Shr {
        d: Slot,
        a: Slot,
        amt: Slot,
        w: u32,
        signed: bool,
    },
    /// A wide shift amount or address saturated into one word: `u64::MAX` when any bit above
    /// the first word is set, since every such amount shifts everything out.
    Clamp { d: Slot, a: Slot, aw: u32 },
    /// Bits `lo .. lo + dw` of `a` (`aw` bits); bits past `aw` read as zero.
    Slice {
        d: Slot,
        dw: u32,
        a: Slot,
        aw: u32,
        lo: u32,
    },
    /// Clear `w` bits.
    Zero { d: Slot, w: u32 },
    /// `d |= a << off` for a `dw`-bit destination and an `aw`-bit part: concatenation.
    Insert {
        d: Slot,
        dw: u32,
        a: Slot,
        aw: u32,
        off: u32,
    },
    /// Reduction of a `w`-bit value into one bit.
    Reduce {
        op: ReduceOp,
        d: Slot,
        a: Slot,
        w: u32,
    },
    /// `d = s ? a : b` on `w` bits.
    Mux {
        d: Slot,
        s: Slot,
        a: Slot,
        b: Slot,
        w: u32,
    },
}

/// One action at the clock edge. The compiler orders them: every `Stage` first (copies of
/// state the edge is about to overwrite, so all inputs are sampled before any state
/// changes), then memory reads (read-first), then registers, then memory writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EdgeOp {
    /// Copy `n` words from `a` to `d` before anything commits.
    Stage {
        d: Slot,
        a: Slot,
        n: u32,
    },
    /// One-word register: `q = next` when the slot `en` is nonzero (a constant one for a
    /// register without enable).
    Reg {
        q: Slot,
        next: Slot,
        en: Slot,
    },
    /// Multi-word register; `en` may be [`ALWAYS`].
    RegWide {
        q: Slot,
        next: Slot,
        en: Slot,
        n: u32,
    },
    MemRead(MemRead),
    MemWrite(MemWrite),
}

/// A read port of memory `mem`: `data = mem[a]` when `en` (or [`ALWAYS`]), where the
/// address `a = (addr >> alo) & mask(ams)` may be a field of a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemRead {
    pub mem: u32,
    pub data: Slot,
    pub addr: Slot,
    pub en: Slot,
    pub alo: u8,
    pub ams: u8,
    /// The entries are one word and every address the mask lets through is inside the
    /// memory, so the read needs no bounds work: set and checked when the edge is built.
    pub direct: bool,
}

/// A write port of memory `mem`: `mem[a] = data` when bit `elo` of `en` is set, with the
/// address a field as for a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemWrite {
    pub mem: u32,
    pub addr: Slot,
    pub data: Slot,
    pub en: Slot,
    pub alo: u8,
    pub ams: u8,
    pub elo: u8,
    /// As for [`MemRead::direct`].
    pub direct: bool,
}

/// Words of state for a `width`-bit value: hdl's `words_for`, inlined into the hot paths
/// (a call across crates is not, without LTO).
#[inline(always)]
pub(crate) fn words(width: u32) -> usize {
    (width as usize).div_ceil(64).max(1)
}

/// The mask of the valid bits in the top word of a `width`-bit value (hdl's `top_mask`).
#[inline(always)]
pub(crate) fn top(width: u32) -> u64 {
    match width % 64 {
        0 => u64::MAX,
        r => (1u64 << r) - 1,
    }
}
