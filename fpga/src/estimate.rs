//! An analytic estimate of a design's resources, from its IR, before any synthesis: minutes
//! sooner than yosys says the same, and good enough to say whether a design can fit.
//!
//! The cost model counts the logic by kind ([`LogicTerms`]): bits of carry chains (adders,
//! subtractors, negations, magnitude comparisons), bits of two-way muxes, LUTs of logic that
//! packs several bits per LUT (equality, bitwise logic, reductions), LUTs of barrel shifters
//! (a mux level per bit of the amount), and distributed RAM; slices, concatenations,
//! extensions, casts and shifts by a constant are wiring. Each kind has a weight per part
//! family. A product of two signals takes hard multipliers (18×18 tiles); registers are
//! flip-flops, except a [`MultiplierBlock`]'s, which is inside the block; a memory goes to
//! block RAM when marked so or when large, otherwise to LUTs. Each module's cost is counted
//! once per instance. The error against yosys and nextpnr is measured by
//! `examples/fpga_build.rs` and reported with each build.
//!
//! The ECP5 weights are fitted (least squares) to yosys `synth_ecp5 -noflatten`'s cells of
//! every module of the tiny core at reuse 8192 (LUT4s, two per CCU2C, and the slices nextpnr
//! spends per distributed-RAM cell), where the unit weights had counted 29% too many: synthesis
//! folds a mux with a constant arm, a compare or a bitwise operation into the LUT beside it,
//! and drops the carry bits a shifted partial product leaves at zero. Per module the fitted
//! model is still off by up to ±50% (the embedding's lane select, a shift by a multiple of
//! the weight width, is far cheaper than a general barrel shifter); the whole design is what
//! it is fitted for. The mux weight, fitted at 0.60 there, was refitted to 0.78 on nextpnr's
//! placed LUTs of the whole board design at four points (one layer at reuse 4096; two layers
//! with eight attention lanes at reuse 2048, 1024 and 512), where the estimate had been 2%,
//! 6%, 10% and 16% low: the lanes' queues and rings are muxes that pack with little, and they
//! grow with the lanes. Refitted, it is 6.4% high, 2.8% high, 0.9% low and 6.4% low.
//!
//! The Xilinx 7-series weights are fitted the same way to yosys `synth_xilinx` (the only
//! Xilinx figures this project can produce without Vivado) on every module of the tiny core
//! at two design points (one layer at reuse 8192; two layers at reuse 2048 with four attention
//! lanes), 34 modules in all, where the unit weights had counted 81% too many. A 6-input LUT
//! holds an adder bit together with the mux or compare that feeds it, so the carry chain's
//! own weight is small (pinned at 0.3: a lone adder costs a LUT per bit, but here almost
//! every adder takes a muxed operand) and bitwise logic and equality cost nothing beyond the
//! LUTs around them; distributed RAM is pinned at the 4 LUTs a RAM64M spends on 64 × 3 bits.
//! The mux weight, fitted at 1.21, was refitted to 1.0 when the lanes came to share their
//! group-term multipliers (queues and rings instead of a mux per lane): on the whole board
//! design at reuse 4096 and 8192 it was then 25–28% high, at 1.0 it is 10–12% high. When
//! fitted, over both points the fit was 6% high; per module it is off by up to ±40% (the attention's
//! address arithmetic high, RoPE's and softmax's tables low). Against the whole board design through
//! `synth_xilinx -flatten` the LUTs are 13% high, the DSP blocks 14% and the block RAMs 16%
//! (counted in RAMB18E1 halves, which two small memories share). Flip-flops are not close:
//! yosys packs the registers around a multiply into the DSP48E1's own (A, B, M and P) and
//! delay lines into shift-register LUTs, so it keeps fewer than half the register bits the
//! IR has, which Vivado would do too; the ECP5 flow packs neither, except the product
//! registers of hardwire's multiplier blocks, which it maps into the MULT18X18D.

use hardwire_hdl::ir::{BinaryOp, Design, MemStyle, Module, NodeKind, UnaryOp};
use hardwire_hdl::passes::strip_checks;
use hardwire_hdl::primitives::MultiplierBlock;

use crate::part::{Family, Part, Resources};

/// Memories with at least this many bits go to block RAM when their style is `Auto` (yosys
/// maps small ones to LUTs).
const AUTO_BRAM_BITS: u64 = 4096;

/// The estimated resources of `design` on `part`.
pub fn estimate(design: &Design, part: &Part) -> Resources {
    let counts = instance_counts(design);
    let mut total = Resources {
        luts: 0,
        ffs: 0,
        dsps: 0,
        bram_blocks: 0,
    };
    for (m, n) in design.modules.iter().zip(counts) {
        // An external module is the vendor's (a PLL is a hard block): its body is only a
        // simulation model, which synthesis never sees.
        if m.external.is_some() {
            continue;
        }
        // Checks cost nothing on the chip: synthesis never sees them.
        let stripped;
        let m = if m.checks.is_empty() {
            m
        } else {
            let mut hw = m.clone();
            strip_checks(&mut hw);
            stripped = hw;
            &stripped
        };
        let r = module_cost(m, part);
        total.luts += r.luts * n;
        total.ffs += r.ffs * n;
        total.dsps += r.dsps * n;
        total.bram_blocks += r.bram_blocks * n;
    }
    // Module costs count block RAM in halves of a 7-series RAMB36E1 (a RAMB18E1, which two
    // small memories may share), whole blocks on the ECP5.
    total.bram_blocks = total.bram_blocks.div_ceil(bram_halves(part));
    total
}

/// How many of the memory units [`bram_tiles`] counts make one of the part's block RAMs.
fn bram_halves(part: &Part) -> u64 {
    match part.family {
        Family::Ecp5 => 1,
        Family::Xilinx7 => 2,
    }
}

/// How many times each module occurs in the flattened design (the top once).
fn instance_counts(design: &Design) -> Vec<u64> {
    let mut counts = vec![0u64; design.modules.len()];
    counts[design.top.0 as usize] = 1;
    // Parents come after their children, so walking backwards visits every parent first.
    for (i, m) in design.modules.iter().enumerate().rev() {
        for inst in &m.instances {
            counts[inst.module.0 as usize] += counts[i];
        }
    }
    counts
}

/// A module's logic by kind, in the units the cost model counts (before any weights).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LogicTerms {
    /// Bits of carry chains: adders, subtractors, negations, magnitude comparisons.
    pub carry_bits: u64,
    /// Bits of two-way multiplexers.
    pub mux_bits: u64,
    /// LUTs of logic that packs several two-input bits into one LUT: equality, bitwise
    /// logic, reductions.
    pub packed_luts: u64,
    /// LUTs of barrel shifters: one mux level per bit of the amount.
    pub shifter_luts: u64,
    /// LUTs of memories kept in logic (distributed RAM and its read mux).
    pub lutram_luts: u64,
}

impl LogicTerms {
    /// LUTs by the part's weights.
    fn luts(&self, part: &Part) -> u64 {
        let w = LutWeights::of(part);
        let f = |n: u64, k: f64| n as f64 * k;
        (f(self.carry_bits, w.carry)
            + f(self.mux_bits, w.mux)
            + f(self.packed_luts, w.packed)
            + f(self.shifter_luts, w.shifter)
            + f(self.lutram_luts, w.lutram))
        .round() as u64
    }
}

/// LUTs per unit of each [`LogicTerms`] kind.
struct LutWeights {
    carry: f64,
    mux: f64,
    packed: f64,
    shifter: f64,
    lutram: f64,
}

impl LutWeights {
    fn of(part: &Part) -> LutWeights {
        match part.family {
            // Fitted to yosys `synth_ecp5` cell counts of every module of the tiny core
            // (LUT4 + 2 CCU2C + the distributed RAM's slices), and the mux weight refitted to
            // nextpnr's LUTs of the whole design at four points, see the estimator's note.
            Family::Ecp5 => LutWeights {
                carry: 0.88,
                mux: 0.78,
                packed: 0.5,
                shifter: 0.59,
                lutram: 1.03,
            },
            // Fitted to yosys `synth_xilinx` LUT counts (logic, shift registers and distributed
            // RAM, see `flow::xilinx::xilinx_resources`) of every module of the tiny core at
            // two design points, with the carry and distributed-RAM weights pinned at what
            // lone adders feeding muxes and a RAM64M measure, and the mux weight refitted on
            // the whole design; see the estimator's note.
            Family::Xilinx7 => LutWeights {
                carry: 0.3,
                mux: 1.0,
                packed: 0.0,
                shifter: 0.15,
                lutram: 0.22,
            },
        }
    }
}

/// The logic of one module (not its instances), by kind.
pub fn logic_terms(m: &Module, part: &Part) -> LogicTerms {
    // Logic that packs several two-input bits into one LUT.
    let packed = |bits: u32| u64::from(bits).div_ceil(u64::from(part.lut_inputs / 2));
    let mut t = LogicTerms::default();
    for n in &m.nodes {
        let w = u64::from(n.ty.width);
        let ty = |id: hardwire_hdl::ir::NodeId| m.node(id).ty;
        match &n.kind {
            NodeKind::Binary(op, a, b) => match op {
                BinaryOp::Add | BinaryOp::Sub => t.carry_bits += w,
                BinaryOp::Lt | BinaryOp::Le => {
                    t.carry_bits += u64::from(ty(*a).width.max(ty(*b).width))
                }
                BinaryOp::Eq | BinaryOp::Ne => {
                    t.packed_luts += packed(ty(*a).width.max(ty(*b).width))
                }
                BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => t.packed_luts += packed(n.ty.width),
                BinaryOp::Mul => {}
                BinaryOp::Shl | BinaryOp::Shr => match m.node(*b).kind {
                    NodeKind::Const(_) => {}
                    _ => {
                        let levels = ty(*b).width.min(32 - n.ty.width.leading_zeros());
                        t.shifter_luts += w * u64::from(levels);
                    }
                },
            },
            NodeKind::Unary(op, a) => match op {
                UnaryOp::Not => {}
                UnaryOp::Neg => t.carry_bits += w,
                _ => t.packed_luts += packed(ty(*a).width),
            },
            NodeKind::Mux(..) => t.mux_bits += w,
            _ => {}
        }
    }
    for mem in &m.mems {
        if !in_block_ram(mem) {
            // Sixteen bits of a LUT per word bit, a mux tree above.
            let per_bit = u64::from(mem.depth).div_ceil(16);
            let read_ports = mem.read_ports.len().max(1) as u64;
            t.lutram_luts += u64::from(mem.ty.width) * (per_bit + per_bit / 2) * read_ports;
        }
    }
    t
}

fn in_block_ram(mem: &hardwire_hdl::ir::Mem) -> bool {
    let bits = u64::from(mem.ty.width) * u64::from(mem.depth);
    mem.style == MemStyle::Block || (mem.style == MemStyle::Auto && bits >= AUTO_BRAM_BITS)
}

fn module_cost(m: &Module, part: &Part) -> Resources {
    let mut dsps = 0u64;
    for n in &m.nodes {
        if let NodeKind::Binary(BinaryOp::Mul, a, b) = &n.kind {
            let tiles = |x: u32| u64::from(x.div_ceil(18));
            dsps += tiles(m.node(*a).ty.width) * tiles(m.node(*b).ty.width);
        }
    }
    // A multiplier block's product register is inside the block (the ECP5 flow's MULT18X18D
    // output register, the DSP48's P register).
    let mut ffs: u64 = match MultiplierBlock::ALL
        .iter()
        .any(|b| b.module_name() == m.name)
    {
        true => 0,
        false => m.regs.iter().map(|r| u64::from(r.ty.width)).sum(),
    };
    let mut bram_blocks = 0u64;
    for mem in &m.mems {
        let read_ports = mem.read_ports.len().max(1) as u64;
        if in_block_ram(mem) {
            bram_blocks += bram_tiles(mem.ty.width, mem.depth) * read_ports.div_ceil(2);
        } else {
            // The read register.
            ffs += u64::from(mem.ty.width) * read_ports;
        }
    }
    Resources {
        luts: logic_terms(m, part).luts(part),
        ffs,
        dsps,
        bram_blocks,
    }
}

/// Block RAM units for a `width` × `depth` memory, taking the best of the aspect ratios of
/// an 18-kbit block: the ECP5's DP16KD and the 7 series' RAMB18E1 (half a RAMB36E1, see
/// [`bram_halves`]) have the same.
fn bram_tiles(width: u32, depth: u32) -> u64 {
    let shapes: &[(u32, u32)] = &[
        (1, 16384),
        (2, 8192),
        (4, 4096),
        (9, 2048),
        (18, 1024),
        (36, 512),
    ];
    shapes
        .iter()
        .map(|&(w, d)| u64::from(width.div_ceil(w)) * u64::from(depth.div_ceil(d)))
        .min()
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hardwire_hdl::prelude::*;

    #[test]
    fn an_adder_register_and_memory_cost_what_the_model_says() {
        let design = Design::build("t", |m| {
            let a = m.input("a", Type::unsigned(16));
            let b = m.input("b", Type::unsigned(16));
            let r = m.reg("sum", Type::unsigned(17));
            r.next(a + b);
            let mem = m
                .memory("ram", Type::unsigned(16), 2048)
                .style(MemStyle::Block);
            mem.write(a.bits(10, 0), b, a.bit(15));
            m.output("q", mem.read(b.bits(10, 0)));
            m.output("s", r.q());
        })
        .unwrap();
        let part = Part::lfe5u_85f();
        let r = estimate(&design, &part);
        let terms = logic_terms(design.top_module(), &part);
        assert_eq!((terms.carry_bits, terms.mux_bits), (17, 0));
        assert_eq!(r.luts, 15, "17 carry bits at 0.88 LUT each");
        assert_eq!(r.ffs, 17);
        assert_eq!(r.bram_blocks, 2, "2048 x 16 needs two 1024 x 18 tiles");
        assert_eq!(r.dsps, 0);
    }

    #[test]
    fn instances_count_once_each() {
        #[derive(Clone, PartialEq)]
        struct Leaf;
        impl Block for Leaf {
            fn name(&self) -> String {
                "leaf".into()
            }
            fn build(&self, m: &ModuleBuilder<'_>) {
                let x = m.input("x", Type::signed(8));
                let y = m.input("y", Type::signed(8));
                m.output("p", x * y);
            }
        }
        let design = Design::build("top", |m| {
            let x = m.input("x", Type::signed(8));
            for i in 0..3 {
                let u = m.instance(&format!("u{i}"), &Leaf);
                u.input("x", x);
                u.input("y", x);
                m.output(&format!("p{i}"), u.output("p"));
            }
        })
        .unwrap();
        assert_eq!(estimate(&design, &Part::lfe5u_85f()).dsps, 3);
    }
}
