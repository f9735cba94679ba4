//! # hardwire-fpga
//!
//! Boards, parts and FPGA flows for hardwire designs:
//!
//! - [`Part`] and [`Board`]: the ULX3S (ECP5 LFE5U-85F, the default) and the Arty A7-100T
//!   (Artix-7), with their resources and constraint files;
//! - [`toolchain`]: finds yosys, nextpnr-ecp5 and ecppack on `PATH`, or installs the YoWASP
//!   builds from PyPI into the project cache on first use;
//! - [`flow`]: the ECP5 flow (yosys `synth_ecp5` → nextpnr-ecp5 → ecppack → `.bit`) and the
//!   Xilinx flow (Vivado, or a yosys `synth_xilinx` estimate without it), each producing a
//!   [`BuildReport`] with utilisation and Fmax;
//! - [`top`]: the board top that puts a design on the board's pins, behind the serial link
//!   and reset synchroniser of `hardwire-blocks`;
//! - [`estimate`]: resources predicted from the IR before synthesis;
//! - [`formal`]: the design's assertions and covers checked by SymbiYosys;
//! - [`output_dir`]: output directories written whole, that never replace what hardwire did
//!   not write.
//!
//! ```no_run
//! use hardwire_fpga::{flow::ecp5::Ecp5Flow, toolchain::Ecp5Toolchain, Board};
//! # fn verilog() -> hardwire_hdl::verilog::Verilog { unimplemented!() }
//! let board = Board::ulx3s();
//! let tools = Ecp5Toolchain::find(&Default::default())?;
//! let report = Ecp5Flow::new(&board).run(&verilog(), "target/ulx3s".as_ref(), &tools)?;
//! println!("{}", report.summary());
//! # Ok::<(), hardwire_fpga::FpgaError>(())
//! ```

pub mod board;
pub mod capacity;
pub mod child;
pub mod error;
pub mod estimate;
pub mod flow;
pub mod formal;
pub mod output_dir;
pub mod part;
pub mod progress;
pub mod report;
pub mod toolchain;
pub mod top;

pub use board::{Board, BoardPins};
pub use error::FpgaError;
pub use part::{DoesNotFit, Family, Part, Resources};
pub use progress::Progress;
pub use report::BuildReport;
