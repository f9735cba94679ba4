//! The board top: a design under test put on a board's pins, all of it in the DSL, so it is
//! simulated, linted and estimated like any other design.
//!
//! - [`BoardTop`], the pin-level module `<board>_top`: the board's clock input (named as in
//!   its constraint file), optionally an ECP5 PLL ([`Ecp5Pll`]), and the clock domain `core`
//!   it drives, whose reset comes from the button through a [`ResetSync`] (held until the
//!   PLL locks). Inside `core` sits any block with the ports `uart_rx` → `uart_tx` and `led`;
//! - [`BoardHarness`] is such a block for a design under test: bytes from the host shift into
//!   a register that feeds the design's inputs, and every output is registered and folded by
//!   XOR onto the LEDs and onto a digest byte sent back for each byte received. Every input
//!   and output bit therefore reaches a pin, so synthesis keeps the whole design, and timing
//!   is measured register to register ([`board_top`]);
//! - a token-stream core (the whole model) goes behind a [`TokenLink`] instead, which speaks
//!   the token protocol over the same serial line ([`token_link_top`]).

use hardwire_hdl::ir::Param;
use hardwire_hdl::prelude::*;
use hardwire_hdl::verilog::Verilog;
use hardwire_hdl::HdlError;

use crate::board::Board;
use crate::error::FpgaError;
use crate::part::Family;
use hardwire_blocks::token_link::{TokenLink, TokenLinkPins};
use hardwire_blocks::{BoardHarness, ResetSync};

/// A clock frequency in MHz as a flag gives it (`--pll-mhz`, `--freq`): finite, above 0 and
/// at most 1000 (no FPGA fabric runs faster; a part's own limits are checked where the part is
/// known, as in [`ClockPlan::for_board`]).
pub fn parse_mhz(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1000.0 => Ok(f),
        _ => Err(format!(
            "`{s}` MHz is not a clock frequency (0 < f <= 1000)"
        )),
    }
}

/// Where the design's clock comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClockPlan {
    /// The board's oscillator, directly.
    Board,
    /// An ECP5 `EHXPLLL` at this many MHz: the top instantiates `ecp5_pll` ([`Ecp5Pll`]),
    /// which [`crate::flow::ecp5::Ecp5Flow::with_pll`] generates, and holds reset until it
    /// locks.
    Pll {
        /// Output frequency.
        mhz: f64,
    },
}

impl ClockPlan {
    /// Output range of the ECP5 `EHXPLLL` (CLKOP), in MHz (Lattice TN1263).
    pub const ECP5_PLL_MHZ: std::ops::RangeInclusive<f64> = 3.125..=400.0;

    /// The board clock, or a PLL at `mhz` when given: checked against what `board`'s family
    /// has (an `EHXPLLL` on ECP5; none yet elsewhere) and the PLL's output range.
    pub fn for_board(board: &Board, mhz: Option<f64>) -> Result<ClockPlan, FpgaError> {
        let Some(mhz) = mhz else {
            return Ok(ClockPlan::Board);
        };
        let unsupported = |why: String| FpgaError::Unsupported {
            what: format!("a {mhz} MHz PLL on the {}", board.name),
            why,
        };
        if board.part.family != Family::Ecp5 {
            return Err(unsupported(
                "PLLs are generated for ECP5 boards only so far".into(),
            ));
        }
        let range = Self::ECP5_PLL_MHZ;
        if !range.contains(&mhz) {
            return Err(unsupported(format!(
                "the EHXPLLL's output runs from {} to {} MHz",
                range.start(),
                range.end()
            )));
        }
        Ok(ClockPlan::Pll { mhz })
    }

    /// The design's clock frequency on `board`.
    pub fn clock_hz(&self, board: &Board) -> u64 {
        match *self {
            ClockPlan::Board => board.clock_hz,
            ClockPlan::Pll { mhz } => (mhz * 1e6).round() as u64,
        }
    }
}

/// The ECP5 PLL as `ecppll -n ecp5_pll` writes it for the flow
/// ([`crate::flow::ecp5::Ecp5Flow::with_pll`]): the external module `ecp5_pll` with the
/// clock input `clkin` and the outputs `clkout0` and `locked`. Its simulation model passes
/// the clock through and is locked at once, so in simulation the design behind it steps on
/// the board clock's edges; its frequency is for place and route to meet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ecp5Pll {
    /// The output frequency `ecppll` is asked for.
    pub mhz: f64,
}

impl Block for Ecp5Pll {
    fn name(&self) -> String {
        "ecp5_pll_model".into()
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        // The frequency is in the generated module, not a parameter of its instances.
        m.external("ecp5_pll", &[] as &[(&str, Param)]);
        let clkin = m.clock_input("clkin");
        m.output("clkout0", m.clock(clkin));
        m.output("locked", m.lit(1, Type::BOOL));
    }
}

/// The pin-level top `<board id>_top` around `block`, a block that already talks to the
/// board: its ports are `uart_rx` → `uart_tx` and `led` (the board's LED count), as those of
/// [`BoardHarness`] and [`TokenLinkPins`]. The top's ports are named as in the board's
/// constraint file; `block` runs in the domain `core`, clocked as `plan` says and reset
/// through a [`ResetSync`] from the button.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardTop<B> {
    /// The board whose pins the top has.
    pub board: Board,
    /// Where the clock comes from.
    pub plan: ClockPlan,
    /// What runs on it.
    pub block: B,
}

impl<B: Block + PartialEq + Clone + 'static> Block for BoardTop<B> {
    fn name(&self) -> String {
        format!("{}_top", self.board.id)
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let pins = &self.board.pins;
        let oscillator = m.clock_input(pins.clock);
        let mut button = m.input(pins.reset, Type::BOOL);
        let clock = match self.plan {
            ClockPlan::Board => m.clock(oscillator),
            ClockPlan::Pll { mhz } => {
                let pll = m.instance("u_pll", &Ecp5Pll { mhz });
                pll.domain("clkin", oscillator);
                // Reset also holds until the PLL locks.
                let locked = pll.output("locked");
                button = match pins.reset_active_low {
                    true => button & locked,
                    false => button | !locked,
                };
                pll.output("clkout0")
            }
        };
        let core = m.local_domain("core", clock, Reset::SYNC);
        let sync = ResetSync {
            active_low: pins.reset_active_low,
            stages: 3,
        };
        let u_reset = m.in_domain(core, || m.instance("u_reset", &sync));
        u_reset.input("button", button);
        m.drive_reset(core, u_reset.output("rst_out"));
        let u_design = m.in_domain(core, || m.instance("u_design", &self.block));
        u_design.input("uart_rx", m.input(pins.uart_rx, Type::BOOL));
        m.output(pins.uart_tx, u_design.output("uart_tx"));
        let led = u_design.output("led");
        if led.width() != pins.leds.1 {
            m.bad_parameter(format!(
                "`{}` drives {} LEDs through `led`, but the {} has {}",
                self.block.name(),
                led.width(),
                self.board.name,
                pins.leds.1
            ));
        }
        m.output(pins.leds.0, led);
    }
}

/// `design` on `board`'s pins behind a [`BoardHarness`], clocked by the board's oscillator.
pub fn board_top<B: Block + PartialEq + Clone + 'static>(
    board: &Board,
    design: B,
) -> Result<Verilog, HdlError> {
    board_top_clocked(board, design, ClockPlan::Board)
}

/// [`board_top`] with the clock from `plan`.
pub fn board_top_clocked<B: Block + PartialEq + Clone + 'static>(
    board: &Board,
    design: B,
    plan: ClockPlan,
) -> Result<Verilog, HdlError> {
    let harness = BoardHarness::new(design, board.pins.leds.1, plan.clock_hz(board))?;
    board_top_with(board, harness, plan)
}

/// A token-stream core on `board`'s pins behind the token protocol: `link` (its clock set
/// from `plan`) with its status on the LEDs ([`TokenLinkPins`]).
pub fn token_link_top<C: Block + PartialEq + Clone + 'static>(
    board: &Board,
    mut link: TokenLink<C>,
    plan: ClockPlan,
) -> Result<Verilog, HdlError> {
    link.clock_hz = plan.clock_hz(board);
    let pins = TokenLinkPins {
        link,
        leds: board.pins.leds.1,
    };
    board_top_with(board, pins, plan)
}

/// The Verilog of [`BoardTop`] around `block`. Fails, naming the port, when `block` lacks
/// one of `uart_rx`, `uart_tx` and `led` of the board's LED count.
pub fn board_top_with<B: Block + PartialEq + Clone + 'static>(
    board: &Board,
    block: B,
    plan: ClockPlan,
) -> Result<Verilog, HdlError> {
    let top = BoardTop {
        board: board.clone(),
        plan,
        block,
    };
    Ok(Verilog::from_design(&Design::elaborate(&top)?))
}
