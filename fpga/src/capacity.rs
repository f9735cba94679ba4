//! What a part can hold on chip, for sizing a model across devices (the scale report): the
//! parts the flows build for, and large UltraScale+ parts and Alveo cards, as data with the
//! document each figure comes from.
//!
//! On-chip memory is block RAM plus UltraRAM: where a hardwired model's weights and KV cache
//! live. HBM is listed but not counted as on chip: weights read from it are fetched, which is
//! what hardwiring avoids.

use serde::Serialize;

use crate::part::Part;

/// One part's capacity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capacity {
    /// Part or card name.
    pub name: &'static str,
    /// Look-up tables.
    pub luts: u64,
    /// Hard multipliers (18×18 on ECP5, DSP48E1/DSP48E2 slices on AMD parts).
    pub dsps: u64,
    /// Block RAM bits.
    pub bram_bits: u64,
    /// UltraRAM bits (0 where there is none).
    pub uram_bits: u64,
    /// In-package HBM bytes (0 where there is none); not counted as on chip.
    pub hbm_bytes: u64,
    /// Where the figures come from.
    pub source: &'static str,
}

impl Capacity {
    /// Bits a model can keep on chip: block RAM and UltraRAM.
    pub fn on_chip_bits(&self) -> u64 {
        self.bram_bits + self.uram_bits
    }

    fn of(p: &Part, source: &'static str) -> Capacity {
        Capacity {
            name: p.name,
            luts: p.resources.luts,
            dsps: p.resources.dsps,
            bram_bits: p.bram_bits(),
            uram_bits: 0,
            hbm_bytes: 0,
            source,
        }
    }
}

const GIB: u64 = 1 << 30;

/// The parts the scale report sizes a model for, smallest first.
pub fn parts() -> Vec<Capacity> {
    // The Alveo U280's XCU280 (the VU37P's fabric): 1,304K LUTs, 9,024 DSP slices, 70.9 Mb
    // block RAM (2,016 × 36 Kb), 270 Mb UltraRAM (960 × 288 Kb), 8 GB HBM2.
    let u280 = Capacity {
        name: "Alveo U280 (XCU280)",
        luts: 1_304_000,
        dsps: 9_024,
        bram_bits: 2_016 * 36 * 1024,
        uram_bits: 960 * 288 * 1024,
        hbm_bytes: 8 * GIB,
        source: "AMD Alveo U280 data sheet, DS963; XMP103 (Virtex UltraScale+ HBM table, VU37P)",
    };
    vec![
        Capacity::of(
            &Part::lfe5u_85f(),
            "Lattice ECP5 family data sheet, FPGA-DS-02012",
        ),
        Capacity::of(
            &Part::xc7a100t(),
            "AMD 7 Series FPGAs data sheet overview, DS180",
        ),
        u280.clone(),
        Capacity {
            // The Alveo U55C's XCU55C (the VU47P's fabric): the U280's, with 16 GB HBM2.
            name: "Alveo U55C (XCU55C)",
            hbm_bytes: 16 * GIB,
            source:
                "AMD Alveo U55C data sheet, DS978; XMP103 (Virtex UltraScale+ HBM table, VU47P)",
            ..u280
        },
        Capacity {
            // UltraScale+ product selection guide (XMP103): 1,728K CLB LUTs, 12,288 DSP slices,
            // 94.5 Mb block RAM (2,688 × 36 Kb), 360 Mb UltraRAM (1,280 × 288 Kb).
            name: "XCVU13P",
            luts: 1_728_000,
            dsps: 12_288,
            bram_bits: 2_688 * 36 * 1024,
            uram_bits: 1_280 * 288 * 1024,
            hbm_bytes: 0,
            source:
                "AMD UltraScale+ FPGA product selection guide, XMP103 (Virtex UltraScale+ table)",
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    #[test]
    fn capacities_match_their_data_sheets_totals() {
        let p = parts();
        // 94.5 Mb and 360 Mb, as the selection guide states them (Mb = 2^20 bits).
        let vu13p = p.iter().find(|c| c.name == "XCVU13P").unwrap();
        assert_eq!(
            (vu13p.bram_bits as f64 / MB as f64, vu13p.uram_bits / MB),
            (94.5, 360)
        );
        let u280 = p.iter().find(|c| c.name.starts_with("Alveo U280")).unwrap();
        assert_eq!((u280.bram_bits as f64 / MB as f64).round(), 71.0);
        assert_eq!(u280.uram_bits / MB, 270);
        assert!(p
            .windows(2)
            .all(|w| w[0].on_chip_bits() <= w[1].on_chip_bits()));
    }
}
