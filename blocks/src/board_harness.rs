//! [`BoardHarness`]: any design behind a serial link, so that its every input and output
//! reaches a board's pins.

use hardwire_hdl::ir::Direction;
use hardwire_hdl::prelude::*;
use hardwire_hdl::HdlError;

use crate::uart::{UartRx, UartTx};

/// A design wrapped so that its every input and output reaches a pin, through the serial
/// link (see the module documentation). Built by [`BoardHarness::new`], which reads the
/// design's ports.
///
/// The host sends bytes at `baud`; each byte a [`UartRx`] receives shifts into the low end
/// of the `stimulus` register, whose bits feed the design's inputs in port order (the first
/// input in the lowest bits). Every cycle the design's outputs are registered (`observed`,
/// the first output in the lowest bits) and folded by XOR onto 8 bits (`digest`, bit `i` is
/// the parity of observed bits `i`, `i + 8`, ...) and onto the LEDs likewise. [`ANSWER_DELAY`]
/// cycles after each byte arrives, when the design's pipeline has long settled, a
/// [`UartTx`] sends `digest` back: one byte back per byte in.
///
/// Ports: `uart_rx` → `led` (`leds` bits), `uart_tx`.
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
    /// The clock, for the UART's bit period.
    pub clock_hz: u64,
    /// Serial bits per second.
    pub baud: u32,
}

/// Cycles from a received byte to the answer's start: longer than any pipeline here.
pub const ANSWER_DELAY: u32 = 255;

impl<B: Block + PartialEq + Clone + 'static> BoardHarness<B> {
    /// Wraps `design` for a board with `leds` LEDs and a `clock_hz` clock, at 115200 baud,
    /// elaborating the design once to read its ports.
    pub fn new(design: B, leds: u32, clock_hz: u64) -> Result<BoardHarness<B>, HdlError> {
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
            clock_hz,
            baud: 115_200,
        })
    }
}

/// `bits` folded by XOR onto `width` bits: bit `i` is the parity of bits `i`, `i + width`, ...
fn xor_fold<'a>(m: &'a ModuleBuilder<'a>, bits: Signal<'a>, width: u32) -> Signal<'a> {
    let folded: Vec<Signal<'a>> = (0..width)
        .rev()
        .map(|i| {
            let taps: Vec<Signal<'a>> = (i..bits.width())
                .step_by(width as usize)
                .map(|j| bits.bit(j))
                .collect();
            if taps.is_empty() {
                m.lit(0, Type::BOOL)
            } else {
                m.concat(&taps).parity()
            }
        })
        .collect();
    m.concat(&folded)
}

impl<B: Block + PartialEq + Clone + 'static> Block for BoardHarness<B> {
    fn name(&self) -> String {
        format!("harness_{}", self.design.name())
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let uart_rx = m.input("uart_rx", Type::BOOL);
        let rx = m.instance(
            "u_rx",
            &UartRx {
                clock_hz: self.clock_hz,
                baud: self.baud,
            },
        );
        rx.input("rx", uart_rx);
        let byte = rx.output("data");
        let got = rx.output("valid");

        let u = m.instance("u_design", &self.design);
        let in_width: u32 = self.inputs.iter().map(|(_, w)| w).sum();
        if in_width > 0 {
            let stimulus = m.reg("stimulus", Type::unsigned(in_width)).reset(0);
            let shifted = if in_width <= 8 {
                byte.bits(in_width - 1, 0)
            } else {
                stimulus.q().bits(in_width - 9, 0).concat(byte)
            };
            stimulus.next_when(got, shifted);
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
        let led = m.reg("led_q", Type::unsigned(self.leds.max(1))).reset(0);
        led.next(xor_fold(m, observed.q(), self.leds.max(1)));
        let digest = m.reg("digest", Type::unsigned(8)).reset(0);
        digest.next(xor_fold(m, observed.q(), 8));

        // Answer each byte ANSWER_DELAY cycles after it arrives.
        let countdown = m.reg("countdown", Type::unsigned(8)).reset(0);
        let pending = m.reg("pending", Type::BOOL).reset(0);
        let tx = m.instance(
            "u_tx",
            &UartTx {
                clock_hz: self.clock_hz,
                baud: self.baud,
            },
        );
        let accepted = pending.q() & tx.output("ready");
        countdown.next_when(countdown.q().ne(0), countdown.q().wrapping_sub(1));
        countdown.next_when(got, m.lit(i64::from(ANSWER_DELAY), Type::unsigned(8)));
        pending.next_when(accepted, m.lit(0, Type::BOOL));
        pending.next_when(countdown.q().eq(1), m.lit(1, Type::BOOL));
        tx.input("data", digest.q());
        tx.input("valid", pending.q());
        m.output("led", led.q());
        m.output("uart_tx", tx.output("tx"));
    }
}
