//! [`BuildReport`]: what a flow found — resources used of available, Fmax against the target,
//! where the bitstream is — as JSON and as a short human summary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::FpgaError;
use crate::part::{percent, Resources};

/// Used and available counts of one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// How many the design uses.
    pub used: u64,
    /// How many the part has.
    pub available: u64,
}

impl Usage {
    /// `used` as a percentage of `available`.
    pub fn percent(&self) -> f64 {
        percent(self.used, self.available)
    }
}

/// Utilisation in the four resources that matter for hardwired weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Utilisation {
    /// LUTs (LUT4s on ECP5, counting each carry cell as two; LUT6s on 7-series).
    pub luts: Usage,
    /// Flip-flops.
    pub ffs: Usage,
    /// DSP multipliers.
    pub dsps: Usage,
    /// Block RAMs.
    pub bram_blocks: Usage,
}

impl Utilisation {
    /// Pairs `used` with `available`.
    pub fn new(used: &Resources, available: &Resources) -> Utilisation {
        let u = |used, available| Usage { used, available };
        Utilisation {
            luts: u(used.luts, available.luts),
            ffs: u(used.ffs, available.ffs),
            dsps: u(used.dsps, available.dsps),
            bram_blocks: u(used.bram_blocks, available.bram_blocks),
        }
    }

    /// The used counts.
    pub fn used(&self) -> Resources {
        Resources {
            luts: self.luts.used,
            ffs: self.ffs.used,
            dsps: self.dsps.used,
            bram_blocks: self.bram_blocks.used,
        }
    }
}

/// Time spent in one stage of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTime {
    /// The stage (`synthesis`, `place and route`, `packing`).
    pub stage: String,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The result of a flow, written as `report.json` in the build directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildReport {
    /// Board id (`ulx3s`).
    pub board: String,
    /// Part name.
    pub part: String,
    /// Top module.
    pub top: String,
    /// Which flow ran (`ecp5`, `vivado`, `yosys-xilinx-estimate`).
    pub flow: String,
    /// True when the figures are a synthesis estimate, not placed and routed.
    pub estimate: bool,
    /// Tool name → version line.
    pub tools: BTreeMap<String, String>,
    /// Where the tools came from.
    pub tool_source: String,
    /// The clock the design was placed and routed for.
    pub target_mhz: f64,
    /// The highest clock the routed design supports, when routed.
    pub fmax_mhz: Option<f64>,
    /// Whether Fmax reaches the target, when routed.
    pub timing_met: Option<bool>,
    /// Resources used of available.
    pub utilisation: Utilisation,
    /// Cells by type after synthesis.
    pub cells: BTreeMap<String, u64>,
    /// Placement seed.
    pub seed: u64,
    /// The bitstream's file name in the build directory, when one was written.
    pub bitstream: Option<String>,
    /// Time per stage.
    pub stages: Vec<StageTime>,
    /// The build directory.
    pub dir: PathBuf,
}

impl BuildReport {
    /// Reads a `report.json`.
    pub fn load(path: &Path) -> Result<BuildReport, FpgaError> {
        let text = std::fs::read_to_string(path)
            .map_err(FpgaError::io(format!("reading {}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| FpgaError::BadReport {
            what: "the build report".into(),
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The bitstream's full path, when there is one.
    pub fn bitstream_path(&self) -> Option<PathBuf> {
        self.bitstream.as_ref().map(|b| self.dir.join(b))
    }

    /// What to change when timing is missed, or `None` when it is met (or not known).
    pub fn timing_advice(&self) -> Option<String> {
        match (self.timing_met, self.fmax_mhz) {
            (Some(false), Some(f)) => Some(format!(
                "timing is NOT met: Fmax {f:.1} MHz is below the {:.1} MHz target; lower the \
                 clock, or shorten the logic between registers: lower the weight bits (fewer \
                 nonzero digits per weight), raise the reuse factor, or build fewer rows",
                self.target_mhz
            )),
            _ => None,
        }
    }

    /// A few lines for a person: resources used of available, Fmax, timing, where things are.
    pub fn summary(&self) -> String {
        let u = &self.utilisation;
        let line = |name: &str, x: &Usage| {
            format!(
                "  {name:<11} {:>7} of {:>7} ({:.1}%)\n",
                x.used,
                x.available,
                x.percent()
            )
        };
        let mut s = format!(
            "{} on {} ({}){}:\n",
            self.top,
            self.board,
            self.part,
            if self.estimate {
                ", ESTIMATE from synthesis only (not placed and routed)"
            } else {
                ""
            }
        );
        s += &line("LUTs", &u.luts);
        s += &line("flip-flops", &u.ffs);
        s += &line("DSPs", &u.dsps);
        s += &line("block RAMs", &u.bram_blocks);
        match (self.fmax_mhz, self.timing_met) {
            (Some(f), Some(met)) => {
                s += &format!(
                    "  Fmax        {f:.1} MHz at a {:.1} MHz target: timing {}\n",
                    self.target_mhz,
                    if met { "met" } else { "NOT met" }
                )
            }
            _ => s += "  Fmax        not known (not placed and routed)\n",
        }
        if let Some(a) = self.timing_advice() {
            s += &format!("  {a}\n");
        }
        match self.bitstream_path() {
            Some(b) => s += &format!("  bitstream   {}\n", b.display()),
            None => s += "  bitstream   none\n",
        }
        s += &format!(
            "  reports     {} (logs beside it)\n",
            self.dir.join("report.json").display()
        );
        s
    }
}

#[cfg(test)]
mod tests {
    /// Stage times and Fmax read back exactly as written (CI once saw 1.3091837530000001 come
    /// back as 1.309183753 with serde_json's default float parser).
    #[test]
    fn floats_round_trip_through_json() {
        for x in [1.3091837530000001f64, 137.79798889160156, 0.1, 1e-9] {
            let back: f64 = serde_json::from_str(&serde_json::to_string(&x).unwrap()).unwrap();
            assert_eq!(back, x);
        }
    }
}
