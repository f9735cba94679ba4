//! The design report: what a generated [`LlamaCore`] is made of, block by block, and how many
//! cycles a token takes next to the bound its multipliers set.
//!
//! Resources are counted from the elaborated IR (after the optimisation passes, so constant
//! products have become shifts and adds and only true multipliers remain). A multiplier is
//! *LUT-sized* when one operand has at most [`LUT_MULT_BITS`] bits (a 4-bit weight times an
//! activation is a few adders) and *DSP-sized* otherwise; DSP-sized ones are also counted in
//! 18×18 tiles, the hard multiplier of both ECP5 and 7-series parts. ROM and RAM bits are
//! every bit of every memory (width × depth) as built, so a weight ROM padded for mixed
//! precision counts its padding; the report says how much of it that is.

use std::fmt;

use hardwire_hdl::ir::{BinaryOp, Design, ModuleId, NodeKind};
use serde::Serialize;

use crate::blocks::LlamaCore;

/// Widest operand of a multiplier still counted as LUT-sized.
pub const LUT_MULT_BITS: u32 = 4;

/// What one block (a module and everything under it) holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    /// Products of two signals with both operands wider than [`LUT_MULT_BITS`].
    pub dsp_multipliers: u64,
    /// 18×18 tiles those need.
    pub dsp_tiles: u64,
    /// Products of two signals with an operand of at most [`LUT_MULT_BITS`] bits.
    pub lut_multipliers: u64,
    /// Bits of memories that are never written (weights, tables).
    pub rom_bits: u64,
    /// Bits of written memories (KV cache, buffers).
    pub ram_bits: u64,
    /// Register bits.
    pub register_bits: u64,
}

impl std::ops::AddAssign for Resources {
    fn add_assign(&mut self, o: Resources) {
        self.dsp_multipliers += o.dsp_multipliers;
        self.dsp_tiles += o.dsp_tiles;
        self.lut_multipliers += o.lut_multipliers;
        self.rom_bits += o.rom_bits;
        self.ram_bits += o.ram_bits;
        self.register_bits += o.register_bits;
    }
}

/// Resources of module `id` and everything instantiated under it.
pub fn resources(design: &Design, id: ModuleId) -> Resources {
    let m = design.module(id);
    let mut r = Resources::default();
    for n in &m.nodes {
        if let NodeKind::Binary(BinaryOp::Mul, a, b) = n.kind {
            let (wa, wb) = (m.node(a).ty.width, m.node(b).ty.width);
            let constant = |x| matches!(m.node(x).kind, NodeKind::Const(_));
            if constant(a) || constant(b) {
                continue;
            }
            if wa.min(wb) <= LUT_MULT_BITS {
                r.lut_multipliers += 1;
            } else {
                r.dsp_multipliers += 1;
                r.dsp_tiles += u64::from(wa.div_ceil(18)) * u64::from(wb.div_ceil(18));
            }
        }
    }
    for mem in &m.mems {
        let bits = u64::from(mem.ty.width) * u64::from(mem.depth);
        if mem.write_ports.is_empty() {
            r.rom_bits += bits;
        } else {
            r.ram_bits += bits;
        }
    }
    r.register_bits += m.regs.iter().map(|g| u64::from(g.ty.width)).sum::<u64>();
    for inst in &m.instances {
        r += resources(design, inst.module);
    }
    r
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct BlockReport {
    /// Instance path below the top, e.g. `decoder/qkv`. Units on a pool have no instance of
    /// their own (no resources in their rows); the pool's row, `matrices`, holds them all.
    pub path: String,
    /// Runs per token (the decoder's blocks run once per layer).
    pub runs_per_token: usize,
    /// Cycles from its last input element to its last output element, at the report's
    /// position (0 for the pool, whose latency is each unit's).
    pub latency: u64,
    /// Its hardware.
    pub resources: Resources,
    /// For a matrix unit: multiply-accumulate lanes (0 when hardwired) and reuse factor.
    pub lanes: Option<usize>,
    /// For a matrix unit: times each weight multiplier is used per product.
    pub reuse: Option<usize>,
    /// For a matrix unit: bits of its weight ROM that pad a layer's weights to the widest
    /// layer's width (already inside `resources.rom_bits`).
    pub weight_padding_bits: Option<u64>,
}

/// Cycles per token at one position.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PositionCycles {
    /// KV-cache position of the token.
    pub pos: usize,
    /// Cycles from taking the token to knowing the next one.
    pub cycles: u64,
}

/// The report of a generated design.
#[derive(Debug, Clone, Serialize)]
pub struct DesignReport {
    /// Top module name.
    pub top: String,
    /// Decoder layers.
    pub layers: usize,
    /// KV-cache depth.
    pub max_seq: usize,
    /// Position the per-block latencies are given at.
    pub pos: usize,
    /// Per block.
    pub blocks: Vec<BlockReport>,
    /// The whole design.
    pub total: Resources,
    /// Bits of `total.rom_bits` that only pad narrower layers' weights to the widest layer's
    /// width in a shared weight ROM (mixed precision; see
    /// [`FixedWeightMatVec::weight_padding_bits`](crate::blocks::FixedWeightMatVec::weight_padding_bits)).
    pub weight_padding_bits: u64,
    /// Weight multiply-accumulates per token.
    pub weight_macs_per_token: u64,
    /// Weight multipliers (lanes of the ROM matrix units, constant products of hardwired ones).
    pub weight_multipliers: u64,
    /// `weight_macs_per_token / weight_multipliers`: no schedule does better.
    pub cycles_per_token_bound: u64,
    /// Cycles per token at the first, middle and last position.
    pub cycles_per_token: Vec<PositionCycles>,
}

impl DesignReport {
    /// The report of `core`, elaborated as `design`, with latencies at position `pos`.
    pub fn new(core: &LlamaCore, design: &Design, pos: usize) -> DesignReport {
        let top = design.top_module();
        let child = |module: ModuleId, name: &str| {
            design
                .module(module)
                .instances
                .iter()
                .find(|i| i.name == name)
                .map(|i| i.module)
        };
        let res = |path: &[&str]| {
            let mut id = design.top;
            for p in path {
                match child(id, &format!("u_{p}")) {
                    Some(c) => id = c,
                    None => return Resources::default(),
                }
            }
            resources(design, id)
        };
        let d = &core.decoder;
        let layers = d.layers();
        let mut blocks = Vec::new();
        let mut row = |path: &str, runs, latency, mv: Option<&crate::blocks::FixedWeightMatVec>| {
            let parts: Vec<&str> = path.split('/').collect();
            blocks.push(BlockReport {
                path: path.to_string(),
                runs_per_token: runs,
                latency,
                resources: res(&parts),
                lanes: mv.map(|m| m.store.lanes().unwrap_or(0)),
                reuse: mv.map(|m| m.reuse()),
                weight_padding_bits: mv.map(|m| m.weight_padding_bits()),
            });
        };
        row("embedding", 1, core.embedding.latency(), None);
        row("decoder/attn_norm", layers, d.attn_norm.latency(), None);
        row("decoder/qkv", layers, d.qkv.latency(), Some(&d.qkv));
        row("decoder/attention", layers, d.attention.latency(pos), None);
        row(
            "decoder/o_proj",
            layers,
            d.o_proj.latency(),
            Some(&d.o_proj),
        );
        row(
            "decoder/residual_attn",
            layers,
            d.residual_attn.latency(),
            None,
        );
        row("decoder/ffn_norm", layers, d.ffn_norm.latency(), None);
        row(
            "decoder/gate_up",
            layers,
            d.gate_up.latency(),
            Some(&d.gate_up),
        );
        row("decoder/swiglu", layers, d.swiglu.latency(), None);
        row("decoder/down", layers, d.down.latency(), Some(&d.down));
        row(
            "decoder/residual_ffn",
            layers,
            d.residual_ffn.latency(),
            None,
        );
        row("final_norm", 1, core.final_norm.latency(), None);
        row("lm_head", 1, core.lm_head.latency(), Some(&core.lm_head));
        row("argmax", 1, core.argmax.latency(), None);
        let pool = core.pool();
        if pool.is_some() {
            row("matrices", 4 * layers + 1, 0, None);
        }
        if let (Some(pool), Some(b)) = (&pool, blocks.last_mut()) {
            b.lanes = Some(pool.lanes());
        }
        let weight_padding_bits = blocks.iter().filter_map(|b| b.weight_padding_bits).sum();
        let max = core.max_seq();
        let mut positions = vec![0, max / 2, max - 1];
        positions.dedup();
        DesignReport {
            top: top.name.clone(),
            layers,
            max_seq: max,
            pos,
            blocks,
            total: resources(design, design.top),
            weight_padding_bits,
            weight_macs_per_token: core.weight_macs_per_token(),
            weight_multipliers: core.weight_multipliers(),
            cycles_per_token_bound: core.cycles_per_token_bound(),
            cycles_per_token: positions
                .into_iter()
                .map(|p| PositionCycles {
                    pos: p,
                    cycles: core.cycles_per_token(p),
                })
                .collect(),
        }
    }
}

fn bits(b: u64) -> String {
    match b {
        b if b >= 1 << 23 => format!("{:.1} Mib", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 13 => format!("{:.1} Kib", b as f64 / 1024.0),
        b => format!("{b} b"),
    }
}

impl fmt::Display for DesignReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} layer(s), KV cache {} positions; latencies at position {}",
            self.top, self.layers, self.max_seq, self.pos
        )?;
        writeln!(
            f,
            "{:<22} {:>5} {:>9} {:>6} {:>7} {:>5} {:>9} {:>9} {:>9} {:>9}",
            "block", "runs", "latency", "lanes", "reuse", "DSP×", "DSP tiles", "LUT×", "ROM", "RAM"
        )?;
        for b in &self.blocks {
            let r = &b.resources;
            writeln!(
                f,
                "{:<22} {:>5} {:>9} {:>6} {:>7} {:>5} {:>9} {:>9} {:>9} {:>9}",
                b.path,
                b.runs_per_token,
                b.latency,
                b.lanes.map_or("-".into(), |l| if l == 0 {
                    "wired".into()
                } else {
                    l.to_string()
                }),
                b.reuse.map_or("-".into(), |r| r.to_string()),
                r.dsp_multipliers,
                r.dsp_tiles,
                r.lut_multipliers,
                bits(r.rom_bits),
                bits(r.ram_bits),
            )?;
        }
        let t = &self.total;
        writeln!(
            f,
            "total: {} DSP-sized multipliers ({} tiles), {} LUT-sized, ROM {}, RAM {}, {} register bits",
            t.dsp_multipliers,
            t.dsp_tiles,
            t.lut_multipliers,
            bits(t.rom_bits),
            bits(t.ram_bits),
            t.register_bits
        )?;
        if self.weight_padding_bits > 0 {
            writeln!(
                f,
                "ROM includes {} of padding: layers with narrower weights than the widest \
                 share its ROM width, sign-extended",
                bits(self.weight_padding_bits)
            )?;
        }
        let cycles: Vec<String> = self
            .cycles_per_token
            .iter()
            .map(|c| format!("{} at position {}", c.cycles, c.pos))
            .collect();
        writeln!(f, "cycles per token: {}", cycles.join(", "))?;
        write!(
            f,
            "bound: {} weight MACs per token / {} weight multipliers = {} cycles per token",
            self.weight_macs_per_token, self.weight_multipliers, self.cycles_per_token_bound
        )
    }
}
