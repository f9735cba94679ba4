//! [`FixedWeightMatVec`]: a streaming quantised matrix-vector product, `y = requant(W x)`, with
//! the weights of one or more layers fixed at elaboration, either hardwired into logic or held
//! in block-RAM ROMs feeding a few multiply-accumulate lanes.

mod hardwired;
mod pool;
mod rom;

pub use pool::MatrixPool;

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::clog2;
use hardwire_model::fixed::FixedMatrix;

/// Where the weights of a [`FixedWeightMatVec`] live, which sets how often each multiplier is
/// reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightStore {
    /// Every weight a constant in the logic (shift-and-add trees, zero weights removed): the
    /// fixed-weight multiplier array of an inference chip, reuse factor 1.
    Hardwired,
    /// The weights in block-RAM ROMs read one column per cycle into `lanes` multiply-accumulate
    /// lanes, each computing one output row per pass.
    Rom {
        /// Rows computed in parallel (1 ..= rows).
        lanes: usize,
    },
    /// The ROM store's lanes, shared with the other matrix units of a [`MatrixPool`]: the
    /// unit runs on all of them, one vector at a time, so a small matrix beside large ones
    /// keeps every lane busy instead of holding its own few. Its latency is the ROM store's
    /// with `lanes` lanes, which may exceed its rows (the extra lanes idle). Built alone, it
    /// is a pool of one.
    Shared {
        /// The pool's lanes (at least 1).
        lanes: usize,
    },
}

impl WeightStore {
    /// The store for a target reuse factor (times each multiplier is used per product):
    /// [`WeightStore::Hardwired`] for a reuse of 1 (or 0), otherwise ROMs with
    /// `ceil(rows * cols / reuse)` lanes, kept within `1 ..= rows`.
    ///
    /// ```
    /// use hardwire_blocks::WeightStore;
    /// assert_eq!(WeightStore::for_reuse(64, 32, 1), WeightStore::Hardwired);
    /// assert_eq!(WeightStore::for_reuse(64, 32, 256), WeightStore::Rom { lanes: 8 });
    /// assert_eq!(WeightStore::for_reuse(64, 32, 1 << 20), WeightStore::Rom { lanes: 1 });
    /// ```
    pub fn for_reuse(rows: usize, cols: usize, reuse: usize) -> WeightStore {
        if reuse <= 1 {
            return WeightStore::Hardwired;
        }
        WeightStore::Rom {
            lanes: Self::lanes_for(rows, cols, reuse),
        }
    }

    /// The lanes a ROM store of a `rows` × `cols` matrix needs for a reuse factor of `reuse`
    /// (at least 2): `ceil(rows * cols / reuse)`, kept within `1 ..= rows`.
    pub fn lanes_for(rows: usize, cols: usize, reuse: usize) -> usize {
        rows.saturating_mul(cols)
            .div_ceil(reuse.max(1))
            .min(rows)
            .max(1)
    }

    /// Whether the store is a pool's ([`WeightStore::Shared`]).
    pub fn shared(&self) -> bool {
        matches!(self, WeightStore::Shared { .. })
    }

    /// The lanes of a ROM store, its own or shared; `None` for hardwired weights.
    pub fn lanes(&self) -> Option<usize> {
        match *self {
            WeightStore::Hardwired => None,
            WeightStore::Rom { lanes } | WeightStore::Shared { lanes } => Some(lanes),
        }
    }
}

/// A quantised matrix-vector product on element streams, matching
/// `hardwire_model::fixed::matvec_row` bit for bit: for output row `r` of layer `layer`'s
/// matrix, each group of `group_size` inputs is accumulated exactly in a wrapping `acc_bits`
/// accumulator, times the group's multiplier (plus, for an affine grid, the group's input sum,
/// wrapped the same way, times its offset multiplier), the row's terms are added exactly, and
/// the total is shifted right by the row's shift rounding half up and saturated to `out_bits`.
///
/// Ports (see [the stream convention](super)): `layer` (unsigned,
/// `max(1, ceil(log2(layers)))` bits, held for the whole vector), stream `x` (`x_valid`, `x`:
/// `input_bits` signed), `cols` elements in; stream `y` (`y_valid`, `y`: `out_bits` signed),
/// `rows` elements out in row order. The next vector is accepted from the cycle after the
/// last `y` element.
///
/// [`WeightStore::Rom`] `{ lanes: L }`: output-stationary. Rows go in `P = ceil(rows / L)`
/// passes of `L` rows; in each pass every lane multiplies the broadcast `x[c]` by its row's
/// weight from a block-RAM ROM holding the `L` weights of (layer, pass, column) per word. Pass
/// 0 takes the live stream and stores it in an input buffer RAM; later passes replay the buffer
/// at one column per cycle. At each group end a lane adds its accumulator times the group
/// multiplier (from a second ROM; plus the input sum times the offset multiplier) to its row
/// sum, the lanes taking turns on shared term multipliers (one per `G` lanes, `G` at most the
/// shortest group's columns); in the pass's last group the row sums load an output shift
/// register, whose head is rounded by the row's shift (a third ROM, or a constant when all
/// rows share one), saturated and registered, one row per cycle. Rows past `rows` in the last
/// pass are zero padding and never leave. When `L > cols` and there are several passes, each
/// replayed pass first waits
/// `L - cols` cycles so the shift register has emitted the pass before it.
/// The operands, the products, the accumulators, the group's sums, its term's partial
/// products (one multiplier block each), the term, the row sum and the shifted output each
/// have their own register, so no path holds a memory read and a multiply, a multiply and the
/// adds after it, or a shift and the rounding after it.
/// Latency: `(P - 1) * max(cols, L) + (rows - (P - 1) * L) +`
/// [`ROM_STAGES`](FixedWeightMatVec::ROM_STAGES) cycles.
/// Throughput: one vector per `cols + latency` cycles when the input has no gaps.
/// Multipliers: `L` weight × input ones, used `P * cols` times per vector (the reuse factor),
/// and `ceil(L / G)` group-multiplier products (twice that for an affine grid), each used by
/// its lanes in turn once per group.
///
/// [`WeightStore::Shared`] `{ lanes: L }`: the same engine, run by a [`MatrixPool`] for
/// several units, so `L` may exceed `rows`; the latency and throughput are the ROM store's.
///
/// [`WeightStore::Hardwired`]: the stream is collected into registers, one
/// [`Linear`](super::Linear) per layer (weights as constants) computes all rows at once from
/// the held vector, and the chosen layer's rows load an output shift register and leave one
/// per cycle.
/// Latency: `max over layers of Linear::latency() + rows + 1` cycles.
/// Throughput: one vector per `cols + latency` cycles when the input has no gaps; reuse
/// factor 1.
///
/// Layers may hold their weights in different formats (a mixed-precision policy raises some
/// matrices of some layers to a wider grid): their weight widths may differ, and symmetric
/// layers may sit beside affine ones. The ROM store pads: its weight word gives every lane a
/// field as wide as the widest layer's weights, and a narrower layer's weights are
/// sign-extended into it (the weights are two's-complement integers on either grid, so the
/// product is the same integer the golden model forms); a symmetric layer among affine ones
/// gets offset multipliers of 0, which add exactly nothing. One datapath then serves every
/// layer with the latency above, and the cost is ROM bits: the padding is real block RAM,
/// counted in the design report's ROM figure and named in it
/// ([`FixedWeightMatVec::weight_padding_bits`]), and every lane multiplies at the widest width.
/// Holding a per-layer format instead (narrow layers packed several weights to a word, or a
/// ROM bank per width) would save those bits, at the price of a lane datapath or a word
/// multiplexer per width and a second address scheme, all in logic that is otherwise
/// independent of the weights; padding keeps the datapath one width and the schedule
/// unchanged, so it is the default until the padded bits, which the report shows, are what
/// stops a design from fitting. The hardwired store needs no padding: each layer is its own
/// [`Linear`](super::Linear) at its own width. Layers must still share rows, columns, group
/// size and output width, which set the schedule.
///
/// Inputs are at most `32 - weight_bits` bits (the widest layer's) so every product is exact
/// in the golden model's `i32`; `acc_bits` is 1 ..= 64. Anything else, an empty or
/// inconsistent set of matrices, a weight that does not fit its layer's `weight_bits`, or
/// `lanes` outside `1 ..= rows`, is reported by elaboration as a bad parameter.
///
/// ```
/// use hardwire_blocks::{FixedWeightMatVec, WeightStore};
/// use hardwire_model::fixed::{FixedMatrix, PackedWeights};
///
/// let matrix = FixedMatrix {
///     rows: 3,
///     cols: 4,
///     group_size: 2,
///     weight_bits: 4,
///     weights: PackedWeights::new(3, 4, &[1, -2, 3, -4, 5, -6, 7, -8, 0, 1, 0, 1]),
///     mults: vec![100, 200, 300, 400, 500, 600].into(),
///     shifts: vec![4, 5, 6],
///     out_bits: 12,
///     offset_mults: Default::default(),
/// };
/// let block = FixedWeightMatVec {
///     matrices: vec![matrix],
///     input_bits: 8,
///     acc_bits: 20,
///     store: WeightStore::Rom { lanes: 2 },
///     label: "demo".into(),
/// };
/// // Two passes of 2 rows: 4 columns per pass, then the last row, then the 15 stages.
/// assert_eq!(FixedWeightMatVec::ROM_STAGES, 16);
/// assert_eq!(block.latency(), 4 + 1 + FixedWeightMatVec::ROM_STAGES);
/// assert_eq!((block.multipliers(), block.reuse()), (2, 8));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FixedWeightMatVec {
    /// One matrix per layer: the same shape, group size and output bits; weight bits and grid
    /// kind may differ per layer.
    pub matrices: Vec<FixedMatrix>,
    /// Width of each signed input element.
    pub input_bits: u32,
    /// Width the group accumulators wrap to (the golden model's `acc_bits`).
    pub acc_bits: u32,
    /// Hardwired logic or ROMs.
    pub store: WeightStore,
    /// Distinguishes the modules of different matrices (a Verilog identifier part).
    pub label: String,
}

/// What every layer shares, once checked.
#[derive(Debug, Clone, Copy)]
struct Shape {
    rows: usize,
    cols: usize,
    group_size: usize,
    groups: usize,
    weight_bits: u32,
    out_bits: u32,
    affine: bool,
    layers: usize,
}

impl Shape {
    /// Width of the `layer` input.
    fn layer_bits(&self) -> u32 {
        clog2(self.layers).max(1)
    }
}

impl FixedWeightMatVec {
    fn first(&self) -> Option<&FixedMatrix> {
        self.matrices.first()
    }

    /// Width of each signed output element (layer 0's; every layer's is the same).
    pub fn out_bits(&self) -> u32 {
        self.first().map_or(1, |m| m.out_bits)
    }

    /// Pipeline stages of the ROM store between a pass's last input and its first output.
    pub const ROM_STAGES: u64 = rom::STAGES;

    /// The deepest a weight ROM is built as one memory: deeper ones are banked by depth, each
    /// bank's word registered before a multiplexer picks one, so no path holds a memory read
    /// and a multiplexer (the stages, and so the latency, stay the same). 2,048 words is the
    /// deepest an 18-kbit block RAM is at its full width (2,048 × 9 on both the ECP5's
    /// DP16KD and the 7-series' RAMB18E1), so a bank is one block deep and banking costs no
    /// block RAM.
    pub const ROM_BANK_DEPTH: usize = rom::BANK_DEPTH;

    /// Passes of the ROM store (`ceil(rows / lanes)`), with the lanes (1 for a bad 0).
    fn passes(&self, lanes: usize) -> (usize, usize) {
        let rows = self.first().map_or(1, |m| m.rows.max(1));
        let lanes = lanes.max(1);
        (rows.div_ceil(lanes), lanes)
    }

    /// Cycles from the cycle carrying the last `x` element to the cycle carrying the last `y`
    /// element, whatever the gaps in the input stream.
    pub fn latency(&self) -> u64 {
        let Some(first) = self.first() else {
            return 0;
        };
        let (rows, cols) = (first.rows as u64, first.cols as u64);
        match self.store {
            WeightStore::Hardwired => {
                // A matrix the layers could not be built from has no latency to speak of.
                if self.check().is_err() {
                    return 0;
                }
                let linear = (0..self.matrices.len())
                    .map(|n| u64::from(self.linear(n).latency()))
                    .max()
                    .unwrap_or(0);
                linear + rows + 1
            }
            WeightStore::Rom { lanes } | WeightStore::Shared { lanes } => {
                let (passes, lanes) = self.passes(lanes);
                let (passes, lanes) = (passes as u64, lanes as u64);
                let last_pass_rows = rows.saturating_sub((passes - 1) * lanes);
                (passes - 1) * cols.max(lanes) + last_pass_rows + Self::ROM_STAGES
            }
        }
    }

    /// Weight multipliers: the lanes for ROMs (a pool's, for a shared store); for hardwired
    /// weights, the nonzero weights of all layers (each a constant product of shifts and adds).
    pub fn multipliers(&self) -> usize {
        match self.store {
            WeightStore::Hardwired => self
                .matrices
                .iter()
                .map(|m| {
                    let nonzero = m.weights.iter().filter(|&w| w != 0).count();
                    m.release(); // a streamed model's pages, one matrix at a time
                    nonzero
                })
                .sum(),
            WeightStore::Rom { lanes } | WeightStore::Shared { lanes } => lanes,
        }
    }

    /// Times each weight multiplier is used per matrix-vector product: 1 for hardwired
    /// weights, `ceil(rows / lanes) * cols` for ROMs.
    pub fn reuse(&self) -> usize {
        match self.store {
            WeightStore::Hardwired => 1,
            WeightStore::Rom { lanes } | WeightStore::Shared { lanes } => {
                self.passes(lanes).0 * self.first().map_or(0, |m| m.cols)
            }
        }
    }

    /// The hardwired layer `n`.
    fn linear(&self, n: usize) -> super::Linear {
        super::Linear {
            matrix: self.matrices[n].clone(),
            input: Type::signed(self.input_bits),
            acc_bits: self.acc_bits,
            label: format!("{}_l{n}", self.label),
        }
    }

    /// The shared shape, or a sentence saying what is wrong.
    ///
    /// Layers may differ in weight width and grid kind (see [`FixedWeightMatVec`]): the shape's
    /// `weight_bits` is the widest, and it is affine when any layer is. Everything else must
    /// match layer 0.
    fn check(&self) -> Result<Shape, String> {
        let shape = self.shape()?;
        let label = &self.label;
        match self.store {
            WeightStore::Rom { lanes } if lanes == 0 || lanes > shape.rows => Err(format!(
                "`{label}` asks for {lanes} lanes for {} rows; use 1 to {} lanes \
                 (`WeightStore::for_reuse` picks them)",
                shape.rows, shape.rows
            )),
            WeightStore::Shared { lanes: 0 } => Err(format!(
                "`{label}` shares a pool of 0 lanes; a pool needs at least 1"
            )),
            _ => Ok(shape),
        }
    }

    /// The shape every layer shares, or a sentence saying what is wrong, whatever the store.
    fn shape(&self) -> Result<Shape, String> {
        let label = &self.label;
        let Some(first) = self.first() else {
            return Err(format!("`{label}` has no matrices: give it one per layer"));
        };
        let shape = Shape {
            rows: first.rows,
            cols: first.cols,
            group_size: first.group_size,
            groups: if first.group_size == 0 {
                0
            } else {
                first.groups_per_row()
            },
            weight_bits: self
                .matrices
                .iter()
                .map(|m| m.weight_bits)
                .max()
                .unwrap_or(0),
            out_bits: first.out_bits,
            affine: self.matrices.iter().any(|m| !m.offset_mults.is_empty()),
            layers: self.matrices.len(),
        };
        if shape.rows == 0 || shape.cols == 0 || shape.group_size == 0 {
            return Err(format!(
                "`{label}` is {}x{} with groups of {}: every size must be at least 1",
                shape.rows, shape.cols, shape.group_size
            ));
        }
        if let Some((n, m)) = self
            .matrices
            .iter()
            .enumerate()
            .find(|(_, m)| !(1..=8).contains(&m.weight_bits))
        {
            return Err(format!(
                "layer {n} of `{label}` has {}-bit weights; weights are 1 to 8 bits",
                m.weight_bits
            ));
        }
        if !(1..=32).contains(&shape.out_bits) {
            return Err(format!(
                "`{label}` saturates to {} bits; outputs are 1 to 32 bits",
                shape.out_bits
            ));
        }
        if self.input_bits == 0 || self.input_bits + shape.weight_bits > 32 {
            return Err(format!(
                "`{label}` takes {}-bit inputs with {}-bit weights; inputs need at least 1 bit \
                 and at most {} so products fit the golden model's 32 bits",
                self.input_bits,
                shape.weight_bits,
                32 - shape.weight_bits
            ));
        }
        if !(1..=64).contains(&self.acc_bits) {
            return Err(format!(
                "`{label}` wraps accumulators at {} bits; use 1 to 64",
                self.acc_bits
            ));
        }
        for (n, m) in self.matrices.iter().enumerate() {
            if (m.rows, m.cols, m.group_size) != (shape.rows, shape.cols, shape.group_size) {
                return Err(format!(
                    "layer {n} of `{label}` is {}x{} in groups of {}, layer 0 {}x{} in groups \
                     of {}: one engine runs every layer, so every layer needs layer 0's shape \
                     and group size (weight widths and grids may differ)",
                    m.rows, m.cols, m.group_size, shape.rows, shape.cols, shape.group_size
                ));
            }
            if m.out_bits != shape.out_bits {
                return Err(format!(
                    "layer {n} of `{label}` saturates to {} bits, layer 0 to {}: every layer \
                     must give outputs of one width",
                    m.out_bits, shape.out_bits
                ));
            }
            let cells = shape.rows * shape.groups;
            let affine = !m.offset_mults.is_empty();
            if m.weights.len() != shape.rows * shape.cols
                || m.mults.len() != cells
                || m.shifts.len() != shape.rows
                || (affine && m.offset_mults.len() != cells)
            {
                return Err(format!(
                    "layer {n} of `{label}` has {} weights, {} multipliers, {} offset \
                     multipliers and {} shifts; a {}x{} matrix in {} groups per row needs {}, \
                     {cells}, {cells} (or 0 for a symmetric grid) and {}",
                    m.weights.len(),
                    m.mults.len(),
                    m.offset_mults.len(),
                    m.shifts.len(),
                    shape.rows,
                    shape.cols,
                    shape.groups,
                    shape.rows * shape.cols,
                    shape.rows
                ));
            }
            let lim = 1i32 << (m.weight_bits - 1);
            let too_wide = m
                .weights
                .iter()
                .find(|&w| !(-lim..lim).contains(&i32::from(w)));
            m.release(); // a streamed model's pages, one matrix at a time
            if let Some(w) = too_wide {
                return Err(format!(
                    "layer {n} of `{label}` has the weight {w}, which does not fit {} bits",
                    m.weight_bits
                ));
            }
        }
        Ok(shape)
    }

    /// Bits of the ROMs the block builds (weights, group multipliers, row shifts), padding
    /// included, computed without elaborating it; 0 for hardwired weights (they are logic) and
    /// for a block that would not elaborate.
    pub fn rom_bits(&self) -> u64 {
        match (self.store, self.check()) {
            (WeightStore::Rom { lanes } | WeightStore::Shared { lanes }, Ok(shape)) => {
                rom::rom_bits(&[rom::Job { unit: self, shape }], lanes)
            }
            _ => 0,
        }
    }

    /// ROM bits that hold no information because a layer's weights are narrower than the
    /// widest layer's (each is sign-extended to the ROM word's field width): for every layer,
    /// `(widest - its bits) * lanes * passes * cols`. 0 for hardwired weights, and for layers
    /// of one width. Zero rows padding the last pass are not counted here.
    pub fn weight_padding_bits(&self) -> u64 {
        let Some(lanes) = self.store.lanes() else {
            return 0;
        };
        let Ok(shape) = self.check() else {
            return 0;
        };
        let (passes, lanes) = self.passes(lanes);
        let fields = (lanes * passes * shape.cols) as u64;
        self.matrices
            .iter()
            .map(|m| u64::from(shape.weight_bits - m.weight_bits) * fields)
            .sum()
    }
}

impl Block for FixedWeightMatVec {
    fn name(&self) -> String {
        let (rows, cols, group) = self
            .first()
            .map_or((0, 0, 0), |m| (m.rows, m.cols, m.group_size));
        let store = match self.store {
            WeightStore::Hardwired => "hw".to_string(),
            WeightStore::Rom { lanes } => format!("rom{lanes}"),
            WeightStore::Shared { lanes } => format!("shared{lanes}"),
        };
        format!(
            "fwmv_{}_{}x{rows}x{cols}g{group}_i{}a{}_{store}",
            self.label,
            self.matrices.len(),
            self.input_bits,
            self.acc_bits
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let shape = match self.check() {
            Ok(shape) => shape,
            Err(message) => {
                m.bad_parameter(message);
                return;
            }
        };
        match self.store {
            WeightStore::Hardwired => hardwired::build(self, shape, m),
            WeightStore::Rom { lanes } | WeightStore::Shared { lanes } => {
                rom::build(&[rom::Job { unit: self, shape }], lanes, m)
            }
        }
    }
}
