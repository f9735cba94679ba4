//! FPGA parts as data: the resources a design is checked against before and after place and
//! route.

use serde::{Deserialize, Serialize};

/// The device family, which decides the flow (yosys `synth_ecp5` + nextpnr + ecppack, or
/// Vivado / yosys `synth_xilinx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Family {
    /// Lattice ECP5: 4-input LUTs, `MULT18X18D` multipliers, `DP16KD` 18 Kbit block RAMs.
    Ecp5,
    /// AMD/Xilinx 7-series: 6-input LUTs, `DSP48E1` slices, 36 Kbit block RAMs.
    Xilinx7,
}

/// Counts of the four resources a hardwired transformer spends: LUTs, flip-flops, DSP
/// multipliers and block RAMs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Look-up tables (LUT4s on ECP5, LUT6s on 7-series); on ECP5 a carry cell `CCU2C`
    /// counts as the two LUT4s it occupies.
    pub luts: u64,
    /// Flip-flops.
    pub ffs: u64,
    /// Hard multipliers (`MULT18X18D` on ECP5, `DSP48E1` on 7-series).
    pub dsps: u64,
    /// Block RAMs (`DP16KD` 18 Kbit on ECP5, `RAMB36E1` 36 Kbit on 7-series; two 18 Kbit
    /// halves count as one).
    pub bram_blocks: u64,
}

impl Resources {
    /// The resources in a fixed order, with the names used in reports.
    pub fn named(&self) -> [(&'static str, u64); 4] {
        [
            ("LUTs", self.luts),
            ("flip-flops", self.ffs),
            ("DSP blocks", self.dsps),
            ("block RAMs", self.bram_blocks),
        ]
    }
}

/// `N LUTs, N flip-flops, N DSP blocks, N block RAMs`.
impl std::fmt::Display for Resources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (name, n)) in self.named().iter().enumerate() {
            write!(f, "{}{n} {name}", if i == 0 { "" } else { ", " })?;
        }
        Ok(())
    }
}

/// One FPGA part: its name as the vendor tools spell it, its family, its resources and what
/// nextpnr needs to target it.
///
/// ```
/// use hardwire_fpga::Part;
/// let p = Part::lfe5u_85f();
/// assert_eq!(p.resources.dsps, 156);
/// assert_eq!(p.bram_bits(), 208 * 18 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Part {
    /// Full part number, e.g. `LFE5U-85F-6BG381C`.
    pub name: &'static str,
    /// Device family.
    pub family: Family,
    /// What the part offers.
    pub resources: Resources,
    /// Inputs per LUT (4 on ECP5, 6 on 7-series).
    pub lut_inputs: u32,
    /// Bits in one block RAM.
    pub bram_block_bits: u64,
    /// nextpnr-ecp5's device option without dashes (`85k`, `um5g-85k`); empty for Xilinx.
    pub nextpnr_device: &'static str,
    /// Package as nextpnr (`CABGA381`) or Vivado (inside `name`) spells it.
    pub package: &'static str,
    /// Speed grade.
    pub speed: u32,
}

impl Part {
    /// The Lattice LFE5U-85F in the 381-ball BGA, speed grade 6 (the ULX3S's FPGA). Figures
    /// from Lattice's ECP5 family data sheet (FPGA-DS-02012): 83,640 LUT4s (and as many
    /// flip-flops), 156 18x18 multipliers, 208 sysMEM blocks of 18 Kbit.
    pub fn lfe5u_85f() -> Part {
        Part {
            name: "LFE5U-85F-6BG381C",
            family: Family::Ecp5,
            resources: Resources {
                luts: 83_640,
                ffs: 83_640,
                dsps: 156,
                bram_blocks: 208,
            },
            lut_inputs: 4,
            bram_block_bits: 18 * 1024,
            nextpnr_device: "85k",
            package: "CABGA381",
            speed: 6,
        }
    }

    /// The AMD/Xilinx Artix-7 XC7A100T in the CSG324 package, speed grade -1 (the Arty
    /// A7-100T's FPGA). Figures from the 7-series product table (DS180): 63,400 LUT6s,
    /// 126,800 flip-flops, 240 DSP48E1 slices, 135 block RAMs of 36 Kbit.
    pub fn xc7a100t() -> Part {
        Part {
            name: "xc7a100tcsg324-1",
            family: Family::Xilinx7,
            resources: Resources {
                luts: 63_400,
                ffs: 126_800,
                dsps: 240,
                bram_blocks: 135,
            },
            lut_inputs: 6,
            bram_block_bits: 36 * 1024,
            nextpnr_device: "",
            package: "CSG324",
            speed: 1,
        }
    }

    /// Total block RAM bits.
    pub fn bram_bits(&self) -> u64 {
        self.resources.bram_blocks * self.bram_block_bits
    }

    /// Checks `used` against what the part offers. The error names every resource that is
    /// over, with the numbers, and the knobs that shrink a design.
    pub fn check_fit(&self, used: &Resources) -> Result<(), DoesNotFit> {
        let over: Vec<Overuse> = used
            .named()
            .iter()
            .zip(self.resources.named())
            .filter(|((_, u), (_, a))| u > a)
            .map(|((kind, u), (_, a))| Overuse {
                resource: kind.to_string(),
                used: *u,
                available: a,
            })
            .collect();
        if over.is_empty() {
            Ok(())
        } else {
            Err(DoesNotFit {
                part: self.name.to_string(),
                over,
                used: *used,
                available: self.resources,
            })
        }
    }
}

/// One resource a design needs more of than the part has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overuse {
    /// Which resource (`LUTs`, `flip-flops`, `DSP blocks`, `block RAMs`).
    pub resource: String,
    /// How many the design needs.
    pub used: u64,
    /// How many the part has.
    pub available: u64,
}

/// A design too large for its part, with the numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoesNotFit {
    /// The part's name.
    pub part: String,
    /// The resources that are over.
    pub over: Vec<Overuse>,
    /// Everything the design needs.
    pub used: Resources,
    /// Everything the part has.
    pub available: Resources,
}

impl std::fmt::Display for DoesNotFit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the design does not fit the {}:", self.part)?;
        for o in &self.over {
            write!(
                f,
                " {} {} of {} ({:.0}%);",
                o.resource,
                o.used,
                o.available,
                percent(o.used, o.available)
            )?;
        }
        write!(
            f,
            " to make it smaller, raise the reuse factor (fewer multipliers, each used more \
             often), lower the weight bits, or build fewer layers or rows"
        )
    }
}

impl std::error::Error for DoesNotFit {}

/// `used` as a percentage of `available` (infinite when nothing is available and something
/// is used).
pub fn percent(used: u64, available: u64) -> f64 {
    if available == 0 {
        if used == 0 {
            0.0
        } else {
            f64::INFINITY
        }
    } else {
        used as f64 * 100.0 / available as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_design_over_the_part_names_each_resource_with_its_numbers() {
        let part = Part::lfe5u_85f();
        let used = Resources {
            luts: 100_000,
            ffs: 10,
            dsps: 200,
            bram_blocks: 0,
        };
        let e = part.check_fit(&used).unwrap_err();
        assert_eq!(e.over.len(), 2);
        let text = e.to_string();
        assert!(text.contains("LUTs 100000 of 83640 (120%)"), "{text}");
        assert!(text.contains("DSP blocks 200 of 156 (128%)"), "{text}");
        assert!(text.contains("reuse factor"), "{text}");
        assert!(part.check_fit(&Resources::default()).is_ok());
    }
}
