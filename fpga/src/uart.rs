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

fn counter_width(limit: u64) -> u32 {
    64 - limit.max(1).leading_zeros()
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
        let cw = counter_width(period - 1);
        let busy = m.reg("busy", Type::BOOL).reset(0);
        let count = m.reg("count", Type::unsigned(cw)).reset(0);
        let sent = m.reg("sent", Type::unsigned(4)).reset(0);
        // The frame, shifted out from bit 0; ones shift in, so an idle line is high.
        let frame = m.reg("frame", Type::unsigned(10)).reset(0x3ff);
        let start = valid & !busy.q();
        let tick = busy.q() & count.q().eq(period as i64 - 1);
        count.next_when(busy.q(), (count.q() + 1).trunc(cw));
        count.next_when(tick | start, m.lit(0, Type::unsigned(cw)));
        frame.next_when(tick, m.lit(1, Type::BOOL).concat(frame.q().bits(9, 1)));
        frame.next_when(
            start,
            m.lit(1, Type::BOOL)
                .concat(data)
                .concat(m.lit(0, Type::BOOL)),
        );
        sent.next_when(tick, (sent.q() + 1).trunc(4));
        sent.next_when(start, m.lit(0, Type::unsigned(4)));
        busy.next_when(tick & sent.q().eq(9), m.lit(0, Type::BOOL));
        busy.next_when(start, m.lit(1, Type::BOOL));
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

        let cw = counter_width(period - 1);
        let busy = m.reg("busy", Type::BOOL).reset(0);
        let count = m.reg("count", Type::unsigned(cw)).reset(0);
        // 0: start bit, 1..=8: data bits, 9: stop bit.
        let index = m.reg("index", Type::unsigned(4)).reset(0);
        let shift = m.reg("shift", Type::unsigned(8)).reset(0);
        let valid = m.reg("valid_q", Type::BOOL).reset(0);

        let half = m.lit((period / 2 - 1) as i64, Type::unsigned(cw));
        let full = m.lit((period - 1) as i64, Type::unsigned(cw));
        let limit = index.q().eq(0).mux(half, full);
        let sample = busy.q() & count.q().eq(limit);
        let begin = !busy.q() & !rx;

        count.next_when(busy.q(), (count.q() + 1).trunc(cw));
        count.next_when(sample | begin, m.lit(0, Type::unsigned(cw)));
        index.next_when(sample, (index.q() + 1).trunc(4));
        index.next_when(begin, m.lit(0, Type::unsigned(4)));
        let data_bit = sample & index.q().ne(0) & index.q().ne(9);
        shift.next_when(data_bit, rx.concat(shift.q().bits(7, 1)));
        let false_start = sample & index.q().eq(0) & rx;
        let stop = sample & index.q().eq(9);
        busy.next_when(false_start | stop, m.lit(0, Type::BOOL));
        busy.next_when(begin, m.lit(1, Type::BOOL));
        valid.next(stop & rx);
        m.output("data", shift.q());
        m.output("valid", valid.q());
    }
}
