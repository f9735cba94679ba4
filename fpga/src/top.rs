//! The board top: a design under test put on a board's pins.
//!
//! Three pieces, the first two written in the DSL (in `hardwire-blocks`):
//!
//! - [`ResetSync`]: the reset button, synchronised to the clock through a chain of
//!   flip-flops with no reset of their own, which also holds reset for the length of the
//!   chain after configuration (flip-flops power up at 0 on ECP5 and 7-series);
//! - [`BoardHarness`]: the design behind a 115200-baud serial link: bytes from the host
//!   shift into a register that feeds the design's inputs, and every output is registered and
//!   folded by XOR onto the LEDs and onto a digest byte sent back for each byte received.
//!   Every input and output bit therefore reaches a pin, so synthesis keeps the whole design,
//!   and timing is measured register to register. A token-stream core (the whole model)
//!   goes behind a [`TokenLink`] instead, which speaks the
//!   token protocol over the same serial line ([`token_link_top`]);
//! - the pin-level module `<board>_top`, built from the Verilog syntax tree, because the
//!   DSL's registers all share the implicit `rst`, and the design's reset must be the
//!   synchronised one, not a pin. It takes any block with the ports `uart_rx` → `uart_tx`,
//!   `led` ([`board_top_with`], [`board_top_of_design`]).

use hardwire_hdl::ir::Direction;
use hardwire_hdl::prelude::*;
use hardwire_hdl::verilog::ast::{Expr, Item, VModule, VPort};
use hardwire_hdl::verilog::{print, Verilog};
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
    /// An ECP5 `EHXPLLL` at this many MHz: the top instantiates `ecp5_pll`, which
    /// [`crate::flow::ecp5::Ecp5Flow::with_pll`] generates, and holds reset until it locks.
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

/// The Verilog of `design` on `board`'s pins, clocked by the board's oscillator: the
/// harness, the reset synchroniser and the pin-level top `<board id>_top` whose port names
/// are those of the board's constraint file.
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
    board_top_with(board, &harness, plan)
}

/// A token-stream core on `board`'s pins behind the token protocol: `link` (its clock set
/// from `plan`) with its status on the LEDs ([`TokenLinkPins`]), the reset synchroniser and
/// the pin-level top.
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
    board_top_with(board, &pins, plan)
}

/// The pin-level top around `block`, a block that already talks to the board: its ports are
/// `uart_rx` → `uart_tx` and `led` (the board's LED count), as those of [`BoardHarness`] and
/// [`TokenLinkPins`].
pub fn board_top_with<B: Block + PartialEq + Clone + 'static>(
    board: &Board,
    block: &B,
    plan: ClockPlan,
) -> Result<Verilog, HdlError> {
    Ok(board_top_of_design(board, &Design::elaborate(block)?, plan))
}

/// [`board_top_with`] for a block already elaborated (a large core takes seconds to
/// elaborate, and the estimate reads the same design).
///
/// Panics when the design's top lacks one of the ports `uart_rx`, `uart_tx` and `led`.
pub fn board_top_of_design(board: &Board, design: &Design, plan: ClockPlan) -> Verilog {
    let ports = &design.top_module().ports;
    for (name, dir, width) in [
        ("uart_rx", Direction::Input, 1),
        ("uart_tx", Direction::Output, 1),
        ("led", Direction::Output, board.pins.leds.1),
    ] {
        assert!(
            ports
                .iter()
                .any(|p| p.name == name && p.dir == dir && p.ty.width == width),
            "the board top needs a block with the {dir:?} port `{name}` of {width} bits, as \
             BoardHarness and TokenLinkPins have; `{}` has none",
            design.top_module().name
        );
    }
    let sync = ResetSync {
        active_low: board.pins.reset_active_low,
        stages: 3,
    };
    let hv = Verilog::from_design(design);
    let sv =
        Verilog::from_design(&Design::elaborate(&sync).expect("the reset synchroniser elaborates"));
    let mut files = sv.files.clone();
    let models = hv.models;
    for f in hv.files {
        if !files.iter().any(|(n, _)| *n == f.0) {
            files.push(f);
        }
    }
    let pins = &board.pins;
    let top = format!("{}_top", board.id);
    let port = |input, width, name: &str| VPort {
        input,
        width,
        name: name.to_string(),
    };
    let conn = |port: &str, e: Expr| (port.to_string(), e);
    let pll = matches!(plan, ClockPlan::Pll { .. });
    let clk = || Expr::ident(if pll { "clk" } else { pins.clock });
    // Behind a PLL, reset also holds until it locks.
    let button = match (pll, pins.reset_active_low) {
        (false, _) => Expr::ident(pins.reset),
        (true, true) => Expr::binary(Expr::ident(pins.reset), "&", Expr::ident("locked")),
        (true, false) => Expr::binary(
            Expr::ident(pins.reset),
            "|",
            Expr::Unary("~", Box::new(Expr::ident("locked"))),
        ),
    };
    let mut clocking = Vec::new();
    if let ClockPlan::Pll { mhz } = plan {
        clocking = vec![
            Item::Comment(format!("{mhz} MHz from the board clock through an EHXPLLL")),
            Item::Wire {
                name: "clk".into(),
                width: 1,
            },
            Item::Wire {
                name: "locked".into(),
                width: 1,
            },
            Item::Instance {
                module: "ecp5_pll".into(),
                params: Vec::new(),
                name: "u_pll".into(),
                connections: vec![
                    conn("clkin", Expr::ident(pins.clock)),
                    conn("clkout0", Expr::ident("clk")),
                    conn("locked", Expr::ident("locked")),
                ],
            },
        ];
    }
    let module = VModule {
        name: top.clone(),
        params: Vec::new(),
        ports: vec![
            port(true, 1, pins.clock),
            port(true, 1, pins.reset),
            port(true, 1, pins.uart_rx),
            port(false, 1, pins.uart_tx),
            port(false, pins.leds.1, pins.leds.0),
        ],
        items: clocking
            .into_iter()
            .chain([
                Item::Comment(format!(
                    "{}: pins as named in constraints/{}",
                    board.name, board.constraints_file
                )),
                Item::Wire {
                    name: "rst".into(),
                    width: 1,
                },
                Item::Instance {
                    module: sv.top.clone(),
                    params: Vec::new(),
                    name: "u_reset".into(),
                    connections: vec![
                        conn("clk", clk()),
                        // The synchroniser's flip-flops have no reset; its `rst` is unused.
                        conn(
                            "rst",
                            Expr::Literal {
                                width: 1,
                                hex: "0".into(),
                            },
                        ),
                        conn("button", button),
                        conn("rst_out", Expr::ident("rst")),
                    ],
                },
                Item::Instance {
                    module: hv.top.clone(),
                    params: Vec::new(),
                    name: "u_design".into(),
                    connections: vec![
                        conn("clk", clk()),
                        conn("rst", Expr::ident("rst")),
                        conn("uart_rx", Expr::ident(pins.uart_rx)),
                        conn("led", Expr::ident(pins.leds.0)),
                        conn("uart_tx", Expr::ident(pins.uart_tx)),
                    ],
                },
            ])
            .collect(),
    };
    files.insert(files.len(), (format!("{top}.v"), print::module(&module)));
    // `.hex` memory files stay after the `.v` files, as `Verilog` lists them.
    files.sort_by_key(|(n, _)| !n.ends_with(".v"));
    Verilog { files, models, top }
}
