//! The scale report: what a model's core takes at a chosen precision and reuse, and what it
//! takes to hold on FPGAs. Every figure comes from the core's own sizing (the blocks' ROM
//! plans, KV-cache depth and latency formulas, the same ones elaboration uses), without
//! elaborating it, so it runs for Llama 3.1 8B in seconds.
//!
//! The device split keeps every weight and the KV cache on chip (block RAM and UltraRAM; HBM
//! would be fetched from, which hardwiring avoids). The model's memories are taken in decode
//! order: the embedding, then per layer its matrix units (each with its share of the KV cache
//! on the unit that feeds attention), then the LM head, and poured into devices one after
//! another; a unit larger than a device is cut by rows across several. A boundary between two
//! devices carries, per token, the vector entering the next unit and the residual stream
//! beside it; a cut inside a unit carries the unit's input to the next part (the parts split
//! its rows) and that part's outputs back. Tokens/s is the clock over the cycles per token:
//! the devices take turns on one token, as the layers do on one device; link latency is not
//! modelled.

use std::fmt;

use hardwire_fpga::capacity::{parts, Capacity};
use hardwire_hdl::passes::csd_digits;
use hardwire_model::fixed::FixedModel;
use serde::Serialize;

use crate::blocks::LlamaCore;

/// One memory-holding unit of the core.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleBlock {
    /// `embedding`, `qkv`, `o_proj`, `gate_up`, `down` or `lm_head`.
    pub name: &'static str,
    /// Runs per token.
    pub runs_per_token: usize,
    /// Output rows and input columns of one run.
    pub rows: usize,
    /// Input columns.
    pub cols: usize,
    /// Weights over every layer.
    pub weights: u64,
    /// Weight multipliers (multiply-accumulate lanes; a pool's, shared, for a unit on one);
    /// 0 for the embedding (a lookup).
    pub multipliers: u64,
    /// ROM bits over every layer: weights, scales, shifts, as the block builds them. For a
    /// unit on a pool, its share: its blocks of the pool's lanes at its own widths (the pool
    /// gives every unit the widest multiplier and shift fields, so its ROMs can be a little
    /// larger).
    pub rom_bits: u64,
    /// Cycles from its last input to its last output.
    pub latency: u64,
}

/// How a model fits one kind of part.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceFit {
    /// The part, with its figures and their source.
    pub part: Capacity,
    /// Devices needed to keep every weight and the KV cache on chip.
    pub devices: u64,
    /// Whole decoder layers one device holds (0: a layer spans several devices).
    pub layers_per_device: u64,
    /// Devices one layer spans, when it does not fit one.
    pub devices_per_layer: f64,
    /// Bytes per token crossing all device boundaries together.
    pub boundary_bytes_per_token: u64,
    /// Bytes per token across the busiest boundary.
    pub max_boundary_bytes_per_token: u64,
    /// Tokens/s at the clock (the cycles per token at the last cache position).
    pub tokens_per_second: f64,
    /// Link bandwidth the busiest boundary needs at that rate, bytes/s.
    pub link_bytes_per_second: f64,
}

/// The fully hardwired variant (`--reuse 1`): every weight a constant product.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Hardwired {
    /// Nonzero weights (each a constant product; zeros cost nothing).
    pub nonzero_weights: u64,
    /// Adders: per row of every group, one less than its nonzero canonical-signed-digit
    /// terms (each nonzero digit of each weight is a shifted copy of the input).
    pub csd_adders: u64,
}

/// The scale report.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    /// Decoder layers.
    pub layers: usize,
    /// Weights in the core (embedding, layers, LM head; a tied head counted twice, as the
    /// hardware holds it twice).
    pub weights: u64,
    /// Average weight width in bits.
    pub weight_bits: f64,
    /// KV-cache depth the report sizes.
    pub max_seq: usize,
    /// Clock the rates are given at, MHz.
    pub clock_mhz: f64,
    /// The memory-holding units.
    pub blocks: Vec<ScaleBlock>,
    /// ROM bits of the whole core.
    pub rom_bits: u64,
    /// KV-cache bits at `max_seq`.
    pub kv_cache_bits: u64,
    /// Weight multipliers.
    pub weight_multipliers: u64,
    /// Cycles per token at the first and the last cache position.
    pub cycles_per_token: [u64; 2],
    /// What the multipliers bound it to.
    pub cycles_per_token_bound: u64,
    /// Tokens/s at the clock, first and last position.
    pub tokens_per_second: [f64; 2],
    /// Per part.
    pub devices: Vec<DeviceFit>,
    /// The fully hardwired variant.
    pub hardwired: Hardwired,
}

/// One item poured into devices: bits, the bytes entering it, and the bytes its parts send
/// back when it is cut (its outputs).
struct Item {
    bits: u64,
    in_bytes: u64,
    out_bytes: u64,
    layer: Option<usize>,
}

impl ScaleReport {
    /// The report of `core` (built from `model`) at `clock_mhz`.
    pub fn new(core: &LlamaCore, model: &FixedModel, clock_mhz: f64) -> ScaleReport {
        let d = &core.decoder;
        let layers = d.layers();
        let n = model.numerics;
        let mv = |name, runs, b: &crate::blocks::FixedWeightMatVec| {
            let m = &b.matrices[0];
            ScaleBlock {
                name,
                runs_per_token: runs,
                rows: m.rows,
                cols: m.cols,
                weights: b.matrices.iter().map(|m| m.weights.len() as u64).sum(),
                multipliers: b.multipliers() as u64,
                rom_bits: b.rom_bits(),
                latency: b.latency(),
            }
        };
        let e = &core.embedding.matrix;
        let mut blocks = vec![ScaleBlock {
            name: "embedding",
            runs_per_token: 1,
            rows: e.rows,
            cols: e.cols,
            weights: e.weights.len() as u64,
            multipliers: 0,
            rom_bits: core.embedding.rom_bits(),
            latency: core.embedding.latency(),
        }];
        for (name, b) in d.matvecs() {
            blocks.push(mv(name, layers, b));
        }
        blocks.push(mv("lm_head", 1, &core.lm_head));
        let weights: u64 = blocks.iter().map(|b| b.weights).sum();
        let (bits, count) = model.matrices().iter().fold((0.0, 0.0), |(b, n), (_, m)| {
            let len = m.weights.len() as f64;
            (b + len * f64::from(m.weight_bits), n + len)
        });
        let weight_bits = bits / count;
        let kv_cache_bits = d.attention.kv_cache_bits();
        let last = core.max_seq() - 1;
        let cycles_per_token = [core.cycles_per_token(0), core.cycles_per_token(last)];
        let rate = |c: u64| clock_mhz * 1e6 / c as f64;
        // Decode order: the embedding, each layer's units (the KV cache with qkv), the head.
        let h = model.config.hidden_size;
        let bytes = |count: usize, bits: u32| (count as u64 * u64::from(bits)).div_ceil(8);
        let resid = bytes(h, n.resid.bits);
        let mut items = vec![Item {
            bits: blocks[0].rom_bits,
            in_bytes: 4,
            out_bytes: resid,
            layer: None,
        }];
        for l in 0..layers {
            for b in &blocks[1..blocks.len() - 1] {
                let kv = if b.name == "qkv" {
                    kv_cache_bits / layers as u64
                } else {
                    0
                };
                let (in_bits, out_bits) = if b.name == "down" {
                    (n.prod.bits, n.resid.bits)
                } else {
                    (n.act.bits, n.act.bits)
                };
                items.push(Item {
                    bits: b.rom_bits / layers as u64 + kv,
                    in_bytes: bytes(b.cols, in_bits) + resid,
                    out_bytes: bytes(b.rows, out_bits),
                    layer: Some(l),
                });
            }
        }
        let head = blocks.last().unwrap();
        items.push(Item {
            bits: head.rom_bits,
            in_bytes: bytes(h, n.act.bits),
            out_bytes: bytes(head.rows, n.act.bits),
            layer: None,
        });
        let layer_bits: u64 = items
            .iter()
            .filter(|i| i.layer == Some(0))
            .map(|i| i.bits)
            .sum();
        let devices = parts()
            .into_iter()
            .map(|part| {
                let (devices, crossings) = pour(&items, part.on_chip_bits());
                let cap = part.on_chip_bits();
                DeviceFit {
                    devices,
                    layers_per_device: cap / layer_bits.max(1),
                    devices_per_layer: layer_bits as f64 / cap as f64,
                    boundary_bytes_per_token: crossings.iter().sum(),
                    max_boundary_bytes_per_token: crossings.iter().copied().max().unwrap_or(0),
                    tokens_per_second: rate(cycles_per_token[1]),
                    link_bytes_per_second: crossings.iter().copied().max().unwrap_or(0) as f64
                        * rate(cycles_per_token[1]),
                    part,
                }
            })
            .collect();
        ScaleReport {
            layers,
            weights,
            weight_bits,
            max_seq: core.max_seq(),
            clock_mhz,
            rom_bits: blocks.iter().map(|b| b.rom_bits).sum(),
            weight_multipliers: core.weight_multipliers(),
            blocks,
            kv_cache_bits,
            cycles_per_token,
            cycles_per_token_bound: core.cycles_per_token_bound(),
            tokens_per_second: cycles_per_token.map(rate),
            devices,
            hardwired: hardwired(model),
        }
    }
}

/// Pours `items` into devices of `cap` bits in order; returns the devices used and the bytes
/// each boundary carries per token.
fn pour(items: &[Item], cap: u64) -> (u64, Vec<u64>) {
    let cap = cap.max(1);
    let (mut devices, mut free) = (1u64, cap);
    let mut crossings = Vec::new();
    for it in items {
        if it.bits <= free {
            free -= it.bits;
            continue;
        }
        if it.bits <= cap {
            // The next device takes it whole: its input (and the residual) crosses.
            devices += 1;
            free = cap - it.bits;
            crossings.push(it.in_bytes);
            continue;
        }
        // Cut by rows over fresh devices: each cut passes the input on and the outputs back.
        let parts = it.bits.div_ceil(cap);
        crossings.push(it.in_bytes);
        for _ in 1..parts {
            crossings.push(it.in_bytes + it.out_bytes);
        }
        devices += parts;
        free = parts * cap - it.bits;
    }
    (devices, crossings)
}

/// CSD adders of every matrix hardwired: per row and group, the nonzero digits of its weights
/// less one.
fn hardwired(model: &FixedModel) -> Hardwired {
    let mut h = Hardwired {
        nonzero_weights: 0,
        csd_adders: 0,
    };
    // A weight of 4 bits or so has few digits: count them once per value.
    let digits: Vec<u64> = (-128i128..128)
        .map(|v| csd_digits(v).len() as u64)
        .collect();
    let mut buf = Vec::new();
    for (_, m) in model.matrices() {
        for r in 0..m.rows {
            let row = m.weights.rows_in(r, 1, &mut buf);
            for g in row.chunks(m.group_size.max(1)) {
                let terms: u64 = g.iter().map(|&w| digits[(w as i16 + 128) as usize]).sum();
                h.nonzero_weights += g.iter().filter(|&&w| w != 0).count() as u64;
                h.csd_adders += terms.saturating_sub(1);
            }
        }
        // One matrix's mapped pages resident at a time, not the whole model's.
        m.release();
    }
    h
}

/// A count with a decimal prefix: `12.3 G`, `4.5 M`, `678 k`, `9`.
fn si(n: u64, unit: &str) -> String {
    let x = n as f64;
    match x {
        x if x >= 1e9 => format!("{:.2} G{unit}", x / 1e9),
        x if x >= 1e6 => format!("{:.2} M{unit}", x / 1e6),
        x if x >= 1e4 => format!("{:.1} k{unit}", x / 1e3),
        _ if unit.is_empty() => n.to_string(),
        _ => format!("{n} {unit}"),
    }
}

fn gbit(bits: u64) -> String {
    si(bits, "b")
}

impl fmt::Display for ScaleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "scale: {} layers, {} weights at {:.2} bits, KV cache of {} positions, {} MHz",
            self.layers,
            si(self.weights, ""),
            self.weight_bits,
            self.max_seq,
            self.clock_mhz
        )?;
        writeln!(
            f,
            "  {:<10} {:>5} {:>13} {:>14} {:>12} {:>10}",
            "unit", "runs", "rows x cols", "weights", "multipliers", "ROM"
        )?;
        for b in &self.blocks {
            writeln!(
                f,
                "  {:<10} {:>5} {:>13} {:>14} {:>12} {:>10}",
                b.name,
                b.runs_per_token,
                format!("{}x{}", b.rows, b.cols),
                si(b.weights, ""),
                si(b.multipliers, ""),
                gbit(b.rom_bits)
            )?;
        }
        writeln!(
            f,
            "  total: {} ROM, {} KV cache, {} weight multipliers (bits: decimal prefixes, 1 Mb = 10^6)",
            gbit(self.rom_bits),
            gbit(self.kv_cache_bits),
            si(self.weight_multipliers, "")
        )?;
        writeln!(
            f,
            "  cycles per token {} (first position) to {} (last), bound {}: {:.1} to {:.1} tokens/s",
            self.cycles_per_token[0],
            self.cycles_per_token[1],
            self.cycles_per_token_bound,
            self.tokens_per_second[0],
            self.tokens_per_second[1]
        )?;
        writeln!(
            f,
            "  {:<22} {:>10} {:>8} {:>14} {:>12} {:>12}",
            "part", "on chip", "devices", "layers/device", "max cut B/tok", "link"
        )?;
        for d in &self.devices {
            let per = if d.layers_per_device > 0 {
                d.layers_per_device.to_string()
            } else {
                format!("1 per {:.1}", d.devices_per_layer)
            };
            writeln!(
                f,
                "  {:<22} {:>10} {:>8} {:>14} {:>12} {:>12}",
                d.part.name,
                gbit(d.part.on_chip_bits()),
                d.devices,
                per,
                d.max_boundary_bytes_per_token,
                si(d.link_bytes_per_second as u64, "B/s")
            )?;
        }
        write!(
            f,
            "  hardwired (--reuse 1): {} nonzero weights, {} CSD adders",
            si(self.hardwired.nonzero_weights, ""),
            si(self.hardwired.csd_adders, "")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::DesignReport;
    use hardwire_hdl::ir::Design;
    use hardwire_model::fixed::NumericConfig;
    use hardwire_model::quant::{QuantPolicy, QuantSpec};
    use hardwire_model::{LlamaConfig, LlamaWeights};

    /// The report's sizes are the elaborated design's: every ROM and the KV cache.
    #[test]
    fn the_scale_report_counts_what_elaboration_builds() {
        let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 1).unwrap();
        let spec = QuantSpec {
            bits: 4,
            group_size: Some(16),
            offset: true,
        };
        let model =
            FixedModel::new(&w, &QuantPolicy::uniform(spec), NumericConfig::tiny(), 16).unwrap();
        // Units of their own: a pooled unit's ROM is its share of the pool's (see ScaleBlock).
        let core = LlamaCore::separate(&model, 256, 512);
        let design = Design::elaborate(&core).unwrap();
        let report = DesignReport::new(&core, &design, 0);
        let scale = ScaleReport::new(&core, &model, 100.0);
        let elaborated = |path: &str| {
            report
                .blocks
                .iter()
                .find(|b| b.path == path)
                .unwrap_or_else(|| panic!("{path}"))
                .resources
        };
        for b in &scale.blocks {
            let path = match b.name {
                "embedding" | "lm_head" => b.name.to_string(),
                name => format!("decoder/{name}"),
            };
            assert_eq!(b.rom_bits, elaborated(&path).rom_bits, "{path}");
        }
        // The KV caches are the attention block's RAM but for its small buffers.
        let att = elaborated("decoder/attention").ram_bits;
        assert!(
            scale.kv_cache_bits <= att && att - scale.kv_cache_bits < 8192,
            "{att}"
        );
        assert_eq!(scale.cycles_per_token[0], core.cycles_per_token(0));
        // Every hardwired weight is a product: the adders follow its CSD digits.
        let q = &model.layers[0].wq;
        assert!(scale.hardwired.nonzero_weights > q.weights.len() as u64);
        assert!(scale.hardwired.csd_adders >= scale.hardwired.nonzero_weights / 2);
    }

    #[test]
    fn pouring_cuts_what_does_not_fit() {
        let item = |bits| Item {
            bits,
            in_bytes: 10,
            out_bytes: 3,
            layer: None,
        };
        // 4 + 4 fit one device of 10; the third goes to a second; 25 takes three more.
        let (n, cuts) = pour(&[item(4), item(4), item(4), item(25)], 10);
        assert_eq!((n, cuts), (5, vec![10, 10, 13, 13]));
    }
}
