//! A serial link in the DSL: [`UartTx`] and [`UartRx`], 8 data bits, no parity, one stop bit
//! (8N1), at a baud rate set by the clock and a divisor computed at elaboration.
//!
//! The bit period is `round(clock_hz / baud)` cycles; at 25 MHz and 115200 baud that is 217
//! cycles, 0.03 % off the exact 217.01, far inside the few percent a UART tolerates.

use hardwire_hdl::prelude::*;

/// Cycles per bit for `clock_hz` and `baud`, rounded to nearest.
pub fn cycles_per_bit(clock_hz: u64, baud: u32) -> u64 {
    (clock_hz + u64::from(baud) / 2) / u64::from(baud)
}

/// Where [`UartRx`] is in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RxState {
    /// Waiting for a falling edge.
    Idle,
    /// In the start bit, up to its middle.
    Start,
    /// Sampling the eight data bits, each in its middle.
    Data,
    /// Sampling the stop bit.
    Stop,
}

impl States for RxState {
    const ALL: &'static [Self] = &[RxState::Idle, RxState::Start, RxState::Data, RxState::Stop];
}

/// The transmitter: `tx` idles high; when `valid` is high while `ready` is, `data` goes out as
/// a start bit (0), eight data bits least significant first, and a stop bit (1).
///
/// Ports: `data` (8), `valid` → `ready`, `tx`. Throughput: one byte per 10 bit periods;
/// `ready` is low while a byte is on the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UartTx {
    /// The clock frequency.
    pub clock_hz: u64,
    /// Bits per second (115200 by default in the board top).
    pub baud: u32,
}

impl Block for UartTx {
    fn name(&self) -> String {
        format!("uart_tx_{}", cycles_per_bit(self.clock_hz, self.baud))
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let period = cycles_per_bit(self.clock_hz, self.baud);
        if period < 2 {
            m.bad_parameter(format!(
                "a {} Hz clock is too slow for {} baud: at least 2 cycles per bit are needed",
                self.clock_hz, self.baud
            ));
            return;
        }
        let data = m.input("data", Type::unsigned(8));
        let valid = m.input("valid", Type::BOOL);
        let busy = m.reg("busy", Type::BOOL).reset(0);
        // Cycles into the current bit, and bits of the frame sent; both wrap back to 0 at the
        // end of the frame, so they rest at 0 while idle.
        let baud = m.counter("count", period);
        let sent = m.counter("sent", 10);
        // The frame, shifted out from bit 0; ones shift in, so an idle line is high.
        let frame = m.reg("frame", Type::unsigned(10)).reset(0x3ff);
        let one = m.lit(1, Type::BOOL);
        m.when(!busy.q(), || {
            m.when(valid, || {
                busy.next(one);
                frame.next(one.concat(data).concat(!one));
            });
        })
        .otherwise(|| {
            baud.incr();
            m.when(baud.is_last(), || {
                frame.next(one.concat(frame.q().bits(9, 1)));
                sent.incr();
                m.when(sent.is_last(), || busy.next(!one));
            });
        });
        m.output("ready", !busy.q());
        m.output("tx", frame.q().bit(0));
    }
}

/// The receiver: `rx` passes two synchronising flip-flops; a falling edge starts a frame,
/// which is checked in the middle of the start bit (a glitch shorter than half a bit is
/// ignored) and sampled in the middle of each data bit. A byte with a good stop bit appears
/// on `data` with `valid` high for one cycle; one with a bad stop bit is dropped.
///
/// Ports: `rx` → `data` (8), `valid`. Latency: about 9.5 bit periods from the start edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UartRx {
    /// The clock frequency.
    pub clock_hz: u64,
    /// Bits per second.
    pub baud: u32,
}

impl Block for UartRx {
    fn name(&self) -> String {
        format!("uart_rx_{}", cycles_per_bit(self.clock_hz, self.baud))
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let period = cycles_per_bit(self.clock_hz, self.baud);
        if period < 4 {
            m.bad_parameter(format!(
                "a {} Hz clock is too slow to receive {} baud: at least 4 cycles per bit are \
                 needed",
                self.clock_hz, self.baud
            ));
            return;
        }
        let rx_pin = m.input("rx", Type::BOOL);
        let sync0 = m.reg("sync0", Type::BOOL).reset(1);
        let sync1 = m.reg("sync1", Type::BOOL).reset(1);
        sync0.next(rx_pin);
        sync1.next(sync0.q());
        let rx = sync1.q();

        let state = m.fsm("state", RxState::Idle);
        // Cycles into the current bit (0 while idle), and data bits received.
        let count = m.counter("count", period);
        let bits = m.counter("bits", 8);
        let shift = m.reg("shift", Type::unsigned(8)).reset(0);
        let valid = m.reg("valid_q", Type::BOOL).reset(0);
        let middle_of_start = count.q().eq((period / 2 - 1) as i64);
        valid.next(m.lit(0, Type::BOOL));
        m.when(state.is(RxState::Idle), || {
            m.when(!rx, || state.goto(RxState::Start))
        })
        .otherwise(|| count.incr());
        m.when(state.is(RxState::Start) & middle_of_start, || {
            count.clear();
            // Still low in the middle of the start bit: a frame; else a glitch.
            m.when(rx, || state.goto(RxState::Idle))
                .otherwise(|| state.goto(RxState::Data));
        });
        m.when(state.is(RxState::Data) & count.is_last(), || {
            shift.next(rx.concat(shift.q().bits(7, 1)));
            bits.incr();
            m.when(bits.is_last(), || state.goto(RxState::Stop));
        });
        m.when(state.is(RxState::Stop) & count.is_last(), || {
            state.goto(RxState::Idle);
            valid.next(rx); // a byte with a bad stop bit is dropped
        });
        m.output("data", shift.q());
        m.output("valid", valid.q());
    }
}
