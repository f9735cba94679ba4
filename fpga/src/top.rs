//! The board top: a design under test put on a board's pins.
//!
//! Three pieces, the first two written in the DSL:
//!
//! - [`ResetSync`]: the reset button, synchronised to the clock through a chain of
//!   flip-flops with no reset of their own, which also holds reset for the length of the
//!   chain after configuration (flip-flops power up at 0 on ECP5 and 7-series);
//! - [`BoardHarness`]: the design with every input fed from a shift register that the serial
//!   input line shifts into, and every output registered and folded by XOR onto the LEDs and
//!   the serial output line. Every input and output bit therefore reaches a pin, so synthesis
//!   keeps the whole design, and timing is measured register to register. It stands in for the
//!   UART link and protocol that come with the whole decoder;
//! - the pin-level module `<board>_top`, built from the Verilog syntax tree, because the
//!   DSL's registers all share the implicit `rst`, and the design's reset must be the
//!   synchronised one, not a pin.

use hardwire_hdl::ir::Direction;
use hardwire_hdl::prelude::*;
use hardwire_hdl::verilog::ast::{Expr, Item, VModule, VPort};
use hardwire_hdl::verilog::{print, Verilog};
use hardwire_hdl::HdlError;

use crate::board::Board;

/// A reset synchroniser: `rst_out` follows the button through `stages` flip-flops, so it is
/// asserted for `stages` cycles after configuration, while the button is pressed, and leaves
/// reset synchronously with the clock.
///
/// Ports: `button` (the raw pin), `rst_out` (active high). Latency: `stages` cycles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetSync {
    /// Whether the button reads 0 when pressed.
    pub active_low: bool,
    /// Flip-flops in the chain (at least 2 against metastability).
    pub stages: u32,
}

impl Block for ResetSync {
    fn name(&self) -> String {
        format!(
            "reset_sync_{}{}",
            self.stages,
            if self.active_low { "_n" } else { "" }
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        if self.stages < 2 {
            m.bad_parameter("a reset synchroniser needs at least 2 stages");
            return;
        }
        let button = m.input("button", Type::BOOL);
        let released = if self.active_low { button } else { !button };
        // The chain carries "ready": power-up zeros mean reset, as do a press's zeros.
        let mut ready = released;
        for i in 0..self.stages {
            let r = m.reg(&format!("ready{i}"), Type::BOOL);
            r.next(ready);
            ready = r.q();
        }
        m.output("rst_out", !ready);
    }
}

/// A design wrapped so that its every input and output reaches a pin (see the module
/// documentation). Built by [`BoardHarness::new`], which reads the design's ports.
///
/// Ports: `uart_rx` (serial input, shifted into the design's inputs one bit a cycle),
/// `led` (`leds` bits: the XOR fold of the registered outputs), `uart_tx` (their parity).
#[derive(Debug, Clone, PartialEq)]
pub struct BoardHarness<B> {
    /// The design under test.
    pub design: B,
    /// The design's inputs: name and width, in port order.
    pub inputs: Vec<(String, u32)>,
    /// The design's outputs: name and width, in port order.
    pub outputs: Vec<(String, u32)>,
    /// LEDs on the board.
    pub leds: u32,
}

impl<B: Block + PartialEq + Clone + 'static> BoardHarness<B> {
    /// Wraps `design` for a board with `leds` LEDs, elaborating it once to read its ports.
    pub fn new(design: B, leds: u32) -> Result<BoardHarness<B>, HdlError> {
        let d = Design::elaborate(&design)?;
        let ports = |dir| -> Vec<(String, u32)> {
            d.top_module()
                .ports
                .iter()
                .filter(|p| p.dir == dir)
                .map(|p| (p.name.clone(), p.ty.width))
                .collect()
        };
        Ok(BoardHarness {
            inputs: ports(Direction::Input),
            outputs: ports(Direction::Output),
            design,
            leds,
        })
    }
}

impl<B: Block + PartialEq + Clone + 'static> Block for BoardHarness<B> {
    fn name(&self) -> String {
        format!("harness_{}", self.design.name())
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let uart_rx = m.input("uart_rx", Type::BOOL);
        let u = m.instance("u_design", &self.design);
        let in_width: u32 = self.inputs.iter().map(|(_, w)| w).sum();
        if in_width > 0 {
            let stimulus = m.reg("stimulus", Type::unsigned(in_width)).reset(0);
            let shifted = if in_width == 1 {
                uart_rx
            } else {
                stimulus.q().bits(in_width - 2, 0).concat(uart_rx)
            };
            stimulus.next(shifted);
            let mut lo = 0;
            for (name, w) in &self.inputs {
                u.input(name, stimulus.q().bits(lo + w - 1, lo));
                lo += w;
            }
        }
        let outs: Vec<Signal<'_>> = self
            .outputs
            .iter()
            .rev()
            .map(|(name, _)| u.output(name).as_unsigned())
            .collect();
        let out_width: u32 = self.outputs.iter().map(|(_, w)| w).sum();
        let observed = m.reg("observed", Type::unsigned(out_width.max(1))).reset(0);
        if outs.is_empty() {
            observed.next(m.lit(0, Type::BOOL));
        } else {
            observed.next(m.concat(&outs));
        }
        let leds = self.leds.max(1);
        let mut folded = Vec::new();
        for i in (0..leds).rev() {
            let bits: Vec<Signal<'_>> = (i..out_width.max(1))
                .step_by(leds as usize)
                .map(|j| observed.q().bit(j))
                .collect();
            folded.push(if bits.is_empty() {
                m.lit(0, Type::BOOL)
            } else {
                m.concat(&bits).parity()
            });
        }
        let led = m.reg("led_q", Type::unsigned(leds)).reset(0);
        led.next(m.concat(&folded));
        let tx = m.reg("tx_q", Type::BOOL).reset(0);
        tx.next(led.q().parity());
        m.output("led", led.q());
        m.output("uart_tx", tx.q());
    }
}

/// The Verilog of `design` on `board`'s pins: the harness, the reset synchroniser and the
/// pin-level top `<board id>_top` whose port names are those of the board's constraint file.
pub fn board_top<B: Block + PartialEq + Clone + 'static>(
    board: &Board,
    design: B,
) -> Result<Verilog, HdlError> {
    let harness = BoardHarness::new(design, board.pins.leds.1)?;
    let sync = ResetSync {
        active_low: board.pins.reset_active_low,
        stages: 3,
    };
    let hv = Verilog::from_design(&Design::elaborate(&harness)?);
    let sv = Verilog::from_design(&Design::elaborate(&sync)?);
    let mut files = sv.files.clone();
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
    let clk = || Expr::ident(pins.clock);
    let module = VModule {
        name: top.clone(),
        ports: vec![
            port(true, 1, pins.clock),
            port(true, 1, pins.reset),
            port(true, 1, pins.uart_rx),
            port(false, 1, pins.uart_tx),
            port(false, pins.leds.1, pins.leds.0),
        ],
        items: vec![
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
                    conn("button", Expr::ident(pins.reset)),
                    conn("rst_out", Expr::ident("rst")),
                ],
            },
            Item::Instance {
                module: hv.top.clone(),
                name: "u_harness".into(),
                connections: vec![
                    conn("clk", clk()),
                    conn("rst", Expr::ident("rst")),
                    conn("uart_rx", Expr::ident(pins.uart_rx)),
                    conn("led", Expr::ident(pins.leds.0)),
                    conn("uart_tx", Expr::ident(pins.uart_tx)),
                ],
            },
        ],
    };
    files.insert(files.len(), (format!("{top}.v"), print::module(&module)));
    // `.hex` memory files stay after the `.v` files, as `Verilog` lists them.
    files.sort_by_key(|(n, _)| !n.ends_with(".v"));
    Ok(Verilog { files, top })
}
