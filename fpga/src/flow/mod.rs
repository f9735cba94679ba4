//! The flows from Verilog to a bitstream (or an estimate), and what they share: writing the
//! sources and reading yosys's cell statistics. Build directories appear only when complete
//! ([`crate::output_dir`]).

pub mod ecp5;
pub mod ecp5_multiplier;
pub mod xilinx;

use std::collections::BTreeMap;
use std::path::Path;

use hardwire_hdl::verilog::Verilog;

use crate::error::FpgaError;

/// Writes the design's files into `<staging>/rtl` and returns their relative paths (`rtl/x.v`)
/// for the tools, which run from the build directory (YoWASP cannot open absolute `/tmp`
/// paths).
pub(crate) fn write_rtl(verilog: &Verilog, staging: &Path) -> Result<Vec<String>, FpgaError> {
    let rtl = staging.join("rtl");
    verilog.write_to(&rtl).map_err(FpgaError::io(format!(
        "writing Verilog to {}",
        rtl.display()
    )))?;
    Ok(verilog.sources().map(|s| format!("rtl/{s}")).collect())
}

/// The cell counts by type from yosys's `stat -json` output.
pub(crate) fn read_yosys_stat(path: &Path) -> Result<BTreeMap<String, u64>, FpgaError> {
    let bad = |message: String| FpgaError::BadReport {
        what: "yosys's cell statistics".into(),
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path)
        .map_err(FpgaError::io(format!("reading {}", path.display())))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let cells = v
        .pointer("/design/num_cells_by_type")
        .and_then(|c| c.as_object())
        .ok_or_else(|| bad("no design.num_cells_by_type".into()))?;
    Ok(cells
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
        .collect())
}

/// The sum of the counts of the cell types for which `pick` holds.
pub(crate) fn count(cells: &BTreeMap<String, u64>, pick: impl Fn(&str) -> bool) -> u64 {
    cells.iter().filter(|(k, _)| pick(k)).map(|(_, n)| *n).sum()
}
