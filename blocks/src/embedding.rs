//! [`Embedding`]: the token embedding lookup, with the integer weights in a block ROM.

use std::sync::Arc;

use hardwire_hdl::ir::{addr_width, MemImage};
use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::clog2;
use hardwire_model::fixed::FixedMatrix;

use super::elementwise::{round_off_half, shift_keeping_half, signed_width, unsigned_width};

/// The embedding row of a token as an element stream, matching the golden model's
/// `embed_lookup` bit for bit: each integer weight times its (token, group) multiplier, plus
/// the offset multiplier for an affine grid, shifted right by the token's shift with rounding
/// and saturated to `matrix.out_bits`.
///
/// The weights sit in a block ROM packed several to a 64-bit word (a power of two of them, so
/// the full vocabulary's ROM elaborates from a few million words); the multipliers (with the
/// offsets beside them) and shifts sit in ROMs of their own. One multiply-add per element.
///
/// Ports: `token_valid` (a one-cycle pulse) and `token` (unsigned, `max(1, clog2(rows))`
/// bits, read only on the pulse); stream `y` (`Type::signed(matrix.out_bits)`) of `cols`
/// elements, one per cycle. The next token may come the cycle after the last `y`.
/// Latency: [`Embedding::latency`] = `cols + 8` cycles from `token_valid` to the last `y`.
/// Throughput: one token per `cols + 8` cycles. The module name holds the label, sizes and
/// widths; the label stands for the weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// The embedding matrix: rows are tokens, columns the hidden dimension.
    pub matrix: FixedMatrix,
    /// Distinguishes the modules of different matrices.
    pub label: String,
}

impl Embedding {
    /// The output pipeline: the ROM words read, registered, the weight picked from its word,
    /// the scaled weight's partial products, the scaled weight, shifted, rounded.
    const STAGES: [&'static str; 8] = [
        "read", "operands", "weight", "partials", "retimed", "value", "shift", "round",
    ];

    /// Cycles from `token_valid` to the last output element, `cols + 8`: one to start the
    /// walk, the stages for the first column, one per further column.
    pub fn latency(&self) -> u64 {
        1 + Self::STAGES.len() as u64 + (self.matrix.cols as u64).saturating_sub(1)
    }

    /// Weights per ROM word: the largest power of two that fits 64 bits, but no more than a
    /// row has.
    fn lanes(&self) -> usize {
        let wb = self.matrix.weight_bits as usize;
        let mut lanes = 1;
        while 2 * lanes * wb <= 64 && lanes < self.matrix.cols {
            lanes *= 2;
        }
        lanes
    }

    /// Every reason the block cannot be built, as one sentence.
    fn check(&self) -> Result<(), String> {
        let m = &self.matrix;
        let label = &self.label;
        if m.rows == 0 || m.cols == 0 || m.group_size == 0 || m.weights.len() != m.rows * m.cols {
            return Err(format!(
                "embedding `{label}` is not a {}x{} matrix with groups of {}",
                m.rows, m.cols, m.group_size
            ));
        }
        if !(1..=8).contains(&m.weight_bits) || !(2..=32).contains(&m.out_bits) {
            return Err(format!(
                "embedding `{label}` has {}-bit weights and {}-bit outputs; use 1 to 8 and 2 \
                 to 32",
                m.weight_bits, m.out_bits
            ));
        }
        let scales = m.rows * m.groups_per_row();
        if m.mults.len() != scales
            || m.shifts.len() != m.rows
            || !(m.offset_mults.is_empty() || m.offset_mults.len() == scales)
        {
            return Err(format!(
                "embedding `{label}` needs {scales} multipliers (and as many offset \
                 multipliers, or none) and {} shifts, but has {}, {} and {}",
                m.rows,
                m.mults.len(),
                m.offset_mults.len(),
                m.shifts.len()
            ));
        }
        let limit = 1i32 << (m.weight_bits - 1);
        if let Some((i, w)) = m
            .weights
            .iter()
            .enumerate()
            .find(|&(_, w)| !(-limit..limit).contains(&i32::from(w)))
        {
            return Err(format!(
                "embedding `{label}`'s weight {i} ({w}) does not fit {} bits",
                m.weight_bits
            ));
        }
        if let Some(s) = m.shifts.iter().find(|&&s| s > 126) {
            return Err(format!(
                "embedding `{label}` has a shift of {s}; shifts go up to 126"
            ));
        }
        let words = m.rows * m.cols.div_ceil(self.lanes());
        if words > u32::MAX as usize || scales > u32::MAX as usize {
            return Err(format!(
                "embedding `{label}` needs {words} ROM words, more than a memory holds"
            ));
        }
        Ok(())
    }
}

impl Embedding {
    /// Widths of the multiplier, offset multiplier (0 for a symmetric grid) and shift fields.
    fn scale_widths(&self) -> (u32, u32, u32) {
        let mat = &self.matrix;
        let width_of = |v: &[i32]| v.iter().map(|&x| signed_width(x.into())).max().unwrap_or(2);
        let mult_bits = width_of(&mat.mults).max(2);
        let offset_bits = if mat.offset_mults.is_empty() {
            0
        } else {
            width_of(&mat.offset_mults).max(2)
        };
        let shift_bits = unsigned_width(mat.shifts.iter().copied().max().unwrap_or(0).into());
        mat.release(); // a streamed model's pages
        (mult_bits, offset_bits, shift_bits)
    }

    /// Bits of the ROMs the block builds (weights, scales, shifts), computed without
    /// elaborating it.
    pub fn rom_bits(&self) -> u64 {
        let m = &self.matrix;
        let lanes = self.lanes();
        let (mult_bits, offset_bits, shift_bits) = self.scale_widths();
        (m.rows * m.cols.div_ceil(lanes)) as u64 * u64::from(lanes as u32 * m.weight_bits)
            + (m.rows * m.groups_per_row()) as u64 * u64::from(mult_bits + offset_bits)
            + m.rows as u64 * u64::from(shift_bits)
    }
}

impl Block for Embedding {
    fn name(&self) -> String {
        let m = &self.matrix;
        format!(
            "embedding_{}_{}x{}_w{}g{}{}_o{}",
            self.label,
            m.rows,
            m.cols,
            m.weight_bits,
            m.group_size,
            if m.offset_mults.is_empty() { "" } else { "a" },
            m.out_bits
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        if let Err(e) = self.check() {
            m.bad_parameter(e);
            return;
        }
        let mat = &self.matrix;
        let (rows, cols, wb) = (mat.rows, mat.cols, mat.weight_bits);
        let (token_valid, token) = m
            .stream_input("token", Stream::new(Type::unsigned(clog2(rows).max(1))))
            .parts();

        let lanes = self.lanes();
        let lane_bits = lanes.trailing_zeros();
        let words_per_row = cols.div_ceil(lanes);
        let weight_rom = m
            .memory(
                "weights",
                Type::unsigned(lanes as u32 * wb),
                (rows * words_per_row) as u32,
            )
            .init_image(Arc::new(TableImage {
                matrix: mat.clone(),
                rom: TableRom::Weights { lanes },
            }))
            .style(MemStyle::Block);

        // Per (token, group): the multiplier, with the offset multiplier above it if affine.
        let groups = mat.groups_per_row();
        let (mult_bits, offset_bits, shift_bits) = self.scale_widths();
        let scale_rom = m
            .memory(
                "scales",
                Type::unsigned(mult_bits + offset_bits),
                (rows * groups) as u32,
            )
            .init_image(Arc::new(TableImage {
                matrix: mat.clone(),
                rom: TableRom::Scales {
                    mult_bits,
                    offset_bits,
                },
            }))
            .style(MemStyle::Block);
        let shifts: Vec<i64> = mat.shifts.iter().map(|&s| s.into()).collect();
        let shift_rom = m
            .memory("shifts", Type::unsigned(shift_bits), rows as u32)
            .init(&shifts);
        let shift = shift_rom.read_enabled(token, token_valid);

        // Walk the row: a column counter, the weight word and the (token, group) address.
        let active = m.reg("active", Type::BOOL).reset(0);
        let col_bits = clog2(cols).max(1);
        let col = m.reg("col", Type::unsigned(col_bits)).reset(0);
        let last_col = col.q().eq((cols - 1) as i64);
        active.next_when(active.q() & last_col, m.lit(0, Type::BOOL));
        active.next_when(token_valid, m.lit(1, Type::BOOL));
        col.next_when(active.q(), col.q().wrapping_add(1));
        col.next_when(token_valid, m.lit(0, Type::unsigned(col_bits)));
        let word_end = if lane_bits == 0 {
            m.lit(1, Type::BOOL)
        } else {
            col.q().bits(lane_bits - 1, 0).all()
        };
        let word_addr = advancing_address(
            m,
            "word_addr",
            token,
            words_per_row,
            addr_width((rows * words_per_row) as u32),
            token_valid,
            active.q() & word_end,
        );
        let group_pos_bits = clog2(mat.group_size).max(1);
        let group_pos = m.reg("group_pos", Type::unsigned(group_pos_bits)).reset(0);
        let group_end = group_pos.q().eq((mat.group_size - 1) as i64);
        group_pos.next_when(active.q(), group_pos.q().wrapping_add(1));
        group_pos.next_when(
            (active.q() & group_end) | token_valid,
            m.lit(0, Type::unsigned(group_pos_bits)),
        );
        let group_addr = advancing_address(
            m,
            "group_addr",
            token,
            groups,
            addr_width((rows * groups) as u32),
            token_valid,
            active.q() & group_end,
        );
        let mut p = m.pipeline("out", active.q(), &Self::STAGES);
        let (word, scale) = (
            p.read("word", &weight_rom, word_addr),
            p.read("scale", &scale_rom, group_addr),
        );
        let lane = (lane_bits > 0).then(|| p.keep("lane", col.q().bits(lane_bits - 1, 0)));

        // The weight from its lane, times the multiplier, plus the offset.
        // Registered as read (the ROMs' output registers), then picked and multiplied.
        p.stage("read");
        let (word, scale) = (p.keep("word_q", p.at(word)), p.keep("scale_q", p.at(scale)));
        p.stage("operands");
        let word = p.at(word);
        let weight = match lane {
            None => word.bits(wb - 1, 0),
            Some(lane) => word.shr_by(p.at(lane) * i64::from(wb)).bits(wb - 1, 0),
        }
        .as_signed();
        let weight = p.keep("weight", weight);
        p.stage("weight");
        let scale = p.at(scale);
        let mult = scale.bits(mult_bits - 1, 0).as_signed();
        let product = p.keep_product("value", p.at(weight), mult);
        let offset = (offset_bits > 0).then(|| {
            let offset = scale.bits(mult_bits + offset_bits - 1, mult_bits);
            p.keep("offset", offset.as_signed())
        });
        p.stage("partials");
        p.stage("retimed");
        let value = match offset {
            Some(offset) => p.product(&product) + p.at(offset),
            None => p.product(&product),
        };
        let value = p.keep("value", value);

        // Shifted by the token's shift, rounding, and saturated.
        p.stage("value");
        let shifted = p.keep("shifted", shift_keeping_half(p.at(value), shift));
        p.stage("shift");
        let y = round_off_half(p.at(shifted)).saturate(mat.out_bits);
        let y = p.keep("y", y);
        p.stage("round");
        m.stream_output("y", p.source(p.at(y)));
        p.finish();
    }
}

/// A ROM address register that loads `token * per_token` on `load` and steps by one on
/// `step`.
fn advancing_address<'a>(
    m: &'a ModuleBuilder<'a>,
    name: &str,
    token: Signal<'a>,
    per_token: usize,
    bits: u32,
    load: Signal<'a>,
    step: Signal<'a>,
) -> Signal<'a> {
    let addr = m.reg(name, Type::unsigned(bits)).reset(0);
    addr.next_when(step, addr.q().wrapping_add(1));
    addr.next_when(load, (token * per_token as i64).resize(bits));
    addr.q()
}

/// Which of the table's ROMs a [`TableImage`] makes.
#[derive(Clone, Copy)]
enum TableRom {
    /// The weights, `lanes` to a word, the first in the low bits; each row starts a new word.
    Weights { lanes: usize },
    /// Per (token, group): the multiplier, with the offset multiplier above it if affine.
    Scales { mult_bits: u32, offset_bits: u32 },
}

/// A ROM of the table, made row by row from the matrix (which shares the model's packed
/// weights) when the design is written or simulated.
struct TableImage {
    matrix: FixedMatrix,
    rom: TableRom,
}

impl MemImage for TableImage {
    fn depth(&self) -> u32 {
        let m = &self.matrix;
        (m.rows
            * match self.rom {
                TableRom::Weights { lanes } => m.cols.div_ceil(lanes),
                TableRom::Scales { .. } => m.groups_per_row(),
            }) as u32
    }

    fn width(&self) -> u32 {
        match self.rom {
            TableRom::Weights { lanes } => lanes as u32 * self.matrix.weight_bits,
            TableRom::Scales {
                mult_bits,
                offset_bits,
            } => mult_bits + offset_bits,
        }
    }

    fn visit(&self, f: &mut dyn FnMut(&Bits) -> bool) {
        let m = &self.matrix;
        let field = |v: i64, bits: u32| (v as u64) & (u64::MAX >> (64 - bits));
        let width = self.width();
        for r in 0..m.rows {
            let words: Vec<u64> = match self.rom {
                TableRom::Weights { lanes } => {
                    let wb = m.weight_bits;
                    m.weights
                        .row(r)
                        .chunks(lanes)
                        .map(|chunk| {
                            chunk.iter().enumerate().fold(0u64, |acc, (l, &w)| {
                                acc | field(w.into(), wb) << (l as u32 * wb)
                            })
                        })
                        .collect()
                }
                TableRom::Scales {
                    mult_bits,
                    offset_bits,
                } => {
                    let groups = m.groups_per_row();
                    (r * groups..(r + 1) * groups)
                        .map(|i| {
                            let word = field(m.mults[i].into(), mult_bits);
                            match m.offset_mults.get(i) {
                                Some(&o) if offset_bits > 0 => {
                                    word | field(o.into(), offset_bits) << mult_bits
                                }
                                _ => word,
                            }
                        })
                        .collect()
                }
            };
            for w in words {
                if !f(&Bits::from_u64(w, width)) {
                    return;
                }
            }
        }
        m.release();
    }
}
