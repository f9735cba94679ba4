//! [`DecoderBlock`]: one Llama decoder layer (or several, run one after another on the same
//! hardware) composed from the streaming blocks.

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::clog2;
use hardwire_model::fixed::{FixedMatrix, FixedModel, Format, PackedWeights};

use super::{Attention, FixedWeightMatVec, ResidualAdd, RmsNorm, SwiGlu, WeightStore};

/// A decoder layer: `h = x + o_proj(attention(rope(qkv(norm(x)))))`,
/// `y = h + down(swiglu(gate_up(norm(h))))`, every stage one streaming block.
///
/// The sub-blocks hold every layer's constants, chosen by the `layer` input, so the layers of a
/// model run one after another on one set of units (weights in ROMs; the KV cache holds every
/// layer). Q, K and V come out of one fused matrix (Q and K rows in rotation-pair order);
/// gate and up out of another, their rows interleaved so [`SwiGlu`] sees each pair on
/// consecutive elements.
///
/// Ports: `layer`, `pos`, stream `x` (the residual stream, `hidden` elements) → stream `y`.
/// Latency: [`DecoderBlock::latency`]`(pos)`, the sum of the stages' latencies: they form one
/// chain in which every stage finishes a fixed number of cycles after its last input.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderBlock {
    /// Attention RMSNorm.
    pub attn_norm: RmsNorm,
    /// Q, K and V projections, fused.
    pub qkv: FixedWeightMatVec,
    /// RoPE, KV cache, scores, softmax, weighted sum.
    pub attention: Attention,
    /// Output projection.
    pub o_proj: FixedWeightMatVec,
    /// First residual add.
    pub residual_attn: ResidualAdd,
    /// FFN RMSNorm.
    pub ffn_norm: RmsNorm,
    /// Gate and up projections, rows interleaved.
    pub gate_up: FixedWeightMatVec,
    /// SiLU(gate) × up.
    pub swiglu: SwiGlu,
    /// Down projection.
    pub down: FixedWeightMatVec,
    /// Second residual add.
    pub residual_ffn: ResidualAdd,
}

/// Rows of several matrices with the same columns, group size and output width, as one new
/// matrix: `rows` gives each row as (index into `parts`, row of that matrix), in order; per-row
/// multipliers and shifts follow their rows. Weight widths may differ (the widest holds them
/// all); a symmetric matrix stacked with affine ones gets zero offsets.
pub(crate) fn stack_rows(
    parts: &[&FixedMatrix],
    rows: impl IntoIterator<Item = (usize, usize)>,
) -> FixedMatrix {
    let first = parts[0];
    assert!(
        parts.iter().all(|m| m.cols == first.cols
            && m.group_size == first.group_size
            && m.out_bits == first.out_bits),
        "stacked matrices share their columns, groups and output width"
    );
    let affine = parts.iter().any(|m| !m.offset_mults.is_empty());
    let groups = first.groups_per_row();
    let mut out = FixedMatrix {
        rows: 0,
        cols: first.cols,
        group_size: first.group_size,
        weight_bits: parts.iter().map(|m| m.weight_bits).max().unwrap_or(1),
        weights: PackedWeights::new(0, first.cols, &[]),
        mults: Default::default(),
        shifts: Vec::new(),
        out_bits: first.out_bits,
        offset_mults: Default::default(),
    };
    let (mut weights, mut mults, mut offset_mults) = (Vec::new(), Vec::new(), Vec::new());
    for (part, r) in rows {
        let m = parts[part];
        weights.extend_from_slice(&m.weights.row(r));
        mults.extend_from_slice(&m.mults[r * groups..(r + 1) * groups]);
        out.shifts.push(m.shifts[r]);
        if affine {
            if m.offset_mults.is_empty() {
                offset_mults.extend(std::iter::repeat_n(0, groups));
            } else {
                offset_mults.extend_from_slice(&m.offset_mults[r * groups..(r + 1) * groups]);
            }
        }
        out.rows += 1;
    }
    for m in parts {
        m.release();
    }
    out.weights = PackedWeights::new(out.rows, out.cols, &weights);
    (out.mults, out.offset_mults) = (mults.into(), offset_mults.into());
    out
}

/// A stacked copy of a streamed model's rows moved off the heap ([`FixedMatrix::spilled`]): at
/// Llama 3.1 8B size the Q/K/V and gate/up copies take 3.4 GB. A model held in memory keeps
/// its copies there, and so does a failed spill (a full temporary directory): the copy is the
/// same, only on the heap.
fn off_heap(m: FixedMatrix, streamed: bool) -> FixedMatrix {
    if streamed {
        m.spilled().unwrap_or(m)
    } else {
        m
    }
}

/// Rows of `heads` heads of `head_dim` in rotation-pair order: `0, h/2, 1, h/2 + 1, …` per head.
pub fn rotation_pair_order(heads: usize, head_dim: usize) -> Vec<usize> {
    let half = head_dim / 2;
    (0..heads)
        .flat_map(|h| (0..half).flat_map(move |i| [h * head_dim + i, h * head_dim + half + i]))
        .collect()
}

impl DecoderBlock {
    /// The decoder of `model`, all its layers on one set of units, each matrix's weights
    /// stored as `store(rows, cols)` says.
    pub fn from_model(
        model: &FixedModel,
        store: impl Fn(usize, usize) -> WeightStore,
    ) -> DecoderBlock {
        let c = &model.config;
        let n = model.numerics;
        let (act, resid, acc) = (n.act, n.resid, n.acc_bits);
        let (hd, heads, kv_heads) = (c.head_dim(), c.num_attention_heads, c.num_key_value_heads);
        let q_order = rotation_pair_order(heads, hd);
        let k_order = rotation_pair_order(kv_heads, hd);
        let inter = c.intermediate_size;
        let ls = &model.layers;
        let streamed = ls.first().is_some_and(|l| l.wq.weights.is_mapped());
        let matvec = |matrices: Vec<FixedMatrix>, input: Format, label: &str| {
            let (rows, cols) = (matrices[0].rows, matrices[0].cols);
            FixedWeightMatVec {
                matrices,
                input_bits: input.bits,
                acc_bits: acc,
                store: store(rows, cols),
                label: label.into(),
            }
        };
        let qkv = ls
            .iter()
            .map(|l| {
                let rows = q_order
                    .iter()
                    .map(|&r| (0, r))
                    .chain(k_order.iter().map(|&r| (1, r)))
                    .chain((0..kv_heads * hd).map(|r| (2, r)));
                off_heap(stack_rows(&[&l.wq, &l.wk, &l.wv], rows), streamed)
            })
            .collect();
        let gate_up = ls
            .iter()
            .map(|l| {
                let interleaved = (0..inter).flat_map(|i| [(0, i), (1, i)]);
                off_heap(stack_rows(&[&l.w_gate, &l.w_up], interleaved), streamed)
            })
            .collect();
        DecoderBlock {
            attn_norm: RmsNorm {
                params: ls.iter().map(|l| l.attn_norm.clone()).collect(),
                input: resid,
                output: act,
                table: model.rsqrt_table.clone(),
                label: "attn_norm".into(),
            },
            qkv: matvec(qkv, act, "qkv"),
            attention: Attention {
                heads,
                kv_heads,
                head_dim: hd,
                max_seq: model.rope.max_seq,
                layers: ls.len(),
                act,
                score_scale: model.score_scale,
                rope: model.rope.clone(),
                exp: model.exp_table.clone(),
                recip: model.recip_table.clone(),
                label: "attn".into(),
            },
            o_proj: matvec(ls.iter().map(|l| l.wo.clone()).collect(), act, "o_proj"),
            residual_attn: ResidualAdd {
                n: c.hidden_size,
                format: resid,
                label: "attn".into(),
            },
            ffn_norm: RmsNorm {
                params: ls.iter().map(|l| l.ffn_norm.clone()).collect(),
                input: resid,
                output: act,
                table: model.rsqrt_table.clone(),
                label: "ffn_norm".into(),
            },
            gate_up: matvec(gate_up, act, "gate_up"),
            swiglu: SwiGlu {
                act,
                out: n.prod,
                table: model.silu_table.clone(),
            },
            down: matvec(
                ls.iter().map(|l| l.w_down.clone()).collect(),
                n.prod,
                "down",
            ),
            residual_ffn: ResidualAdd {
                n: c.hidden_size,
                format: resid,
                label: "ffn".into(),
            },
        }
    }

    /// Layers held.
    pub fn layers(&self) -> usize {
        self.attention.layers
    }

    /// Width of the `layer` input.
    pub fn layer_bits(&self) -> u32 {
        clog2(self.layers()).max(1)
    }

    /// Width of the `pos` input.
    pub fn pos_bits(&self) -> u32 {
        clog2(self.attention.max_seq).max(1)
    }

    /// Elements of the residual stream.
    pub fn hidden(&self) -> usize {
        self.residual_attn.n
    }

    /// Cycles from the last `x` element to the last `y` element at position `pos`.
    pub fn latency(&self, pos: usize) -> u64 {
        self.attn_norm.latency()
            + self.qkv.latency()
            + self.attention.latency(pos)
            + self.o_proj.latency()
            + self.residual_attn.latency()
            + self.ffn_norm.latency()
            + self.gate_up.latency()
            + self.swiglu.latency()
            + self.down.latency()
            + self.residual_ffn.latency()
    }

    /// The matrix units, named.
    pub fn matvecs(&self) -> [(&'static str, &FixedWeightMatVec); 4] {
        [
            ("qkv", &self.qkv),
            ("o_proj", &self.o_proj),
            ("gate_up", &self.gate_up),
            ("down", &self.down),
        ]
    }
}

impl Block for DecoderBlock {
    fn name(&self) -> String {
        format!(
            "decoder_{}l_{}x{}",
            self.layers(),
            self.hidden(),
            self.gate_up.matrices.first().map_or(0, |m| m.rows / 2)
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let resid = self.residual_attn.format.bits;
        let layer = m.input("layer", Type::unsigned(self.layer_bits()));
        let pos = m.input("pos", Type::unsigned(self.pos_bits()));
        let x = m.stream_input("x", Stream::new(Type::signed(resid)));
        let attn_norm = m.instance("u_attn_norm", &self.attn_norm);
        attn_norm.input("layer", layer);
        attn_norm.stream_input("x", x);
        let res_attn = m.instance("u_residual_attn", &self.residual_attn);
        res_attn.stream_input("x", x);
        let qkv = m.instance("u_qkv", &self.qkv);
        qkv.input("layer", layer);
        qkv.stream_input("x", attn_norm.stream_output("y"));
        let attention = m.instance("u_attention", &self.attention);
        attention.input("layer", layer);
        attention.input("pos", pos);
        attention.stream_input("qkv", qkv.stream_output("y"));
        let o_proj = m.instance("u_o_proj", &self.o_proj);
        o_proj.input("layer", layer);
        o_proj.stream_input("x", attention.stream_output("att"));
        res_attn.stream_input("d", o_proj.stream_output("y"));
        let ffn_norm = m.instance("u_ffn_norm", &self.ffn_norm);
        ffn_norm.input("layer", layer);
        ffn_norm.stream_input("x", res_attn.stream_output("y"));
        let res_ffn = m.instance("u_residual_ffn", &self.residual_ffn);
        res_ffn.stream_input("x", res_attn.stream_output("y"));
        let gate_up = m.instance("u_gate_up", &self.gate_up);
        gate_up.input("layer", layer);
        gate_up.stream_input("x", ffn_norm.stream_output("y"));
        let swiglu = m.instance("u_swiglu", &self.swiglu);
        swiglu.stream_input("x", gate_up.stream_output("y"));
        let down = m.instance("u_down", &self.down);
        down.input("layer", layer);
        down.stream_input("x", swiglu.stream_output("y"));
        res_ffn.stream_input("d", down.stream_output("y"));
        m.stream_output("y", res_ffn.stream_output("y"));
    }
}
