//! [`Replay`]: a vector collected in block RAM and played back whole, gap-free.

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::clog2;

/// Collects a vector of `n` elements as it arrives (gaps allowed) and, once the last is in,
/// plays it back one element per cycle: the residual stream between layers, or a vector made
/// while the unit that takes it is still busy with another.
///
/// Ports: stream `x` (`n` elements), stream `y` (the same `n`), both `Type::signed(bits)`;
/// `x_last`, high with the vector's last `x` element.
/// The next vector may start the cycle after the last `x`; it must not overtake the playback.
/// Latency: [`Replay::latency`] = `n + 2` cycles from the last `x` to the last `y` (the
/// playback, then the block RAM's read and the register after it).
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// Elements per vector.
    pub n: usize,
    /// Width of each signed element.
    pub bits: u32,
    /// Distinguishes the modules of different buffers (a Verilog identifier part).
    pub label: String,
}

impl Replay {
    /// Cycles from the last `x` element to the last `y` element.
    pub fn latency(&self) -> u64 {
        self.n as u64 + 2
    }
}

impl Block for Replay {
    fn name(&self) -> String {
        format!("replay_{}_{}x{}", self.label, self.n, self.bits)
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        if self.n == 0 || self.bits == 0 {
            m.bad_parameter(format!(
                "replay `{}` of {} elements of {} bits: both must be at least 1",
                self.label, self.n, self.bits
            ));
            return;
        }
        let ty = Type::signed(self.bits);
        let (valid, x) = m.stream_input("x", Stream::new(ty)).parts();
        let index = Type::unsigned(clog2(self.n).max(1));
        let last = (self.n - 1) as i64;
        let buffer = m.memory("buffer", ty, self.n as u32).style(MemStyle::Block);
        let wr = m.reg("wr_idx", index).reset(0);
        let wr_end = wr.q().eq(last);
        buffer.write(wr.q(), x, valid);
        wr.next_when(valid, wr_end.mux(m.lit(0, index), wr.q().wrapping_add(1)));
        let full = valid & wr_end;
        m.output("x_last", full);
        let replaying = m.reg("replaying", Type::BOOL).reset(0);
        let rd = m.reg("rd_idx", index).reset(0);
        let rd_end = rd.q().eq(last);
        rd.next_when(full, m.lit(0, index));
        rd.next_when(replaying.q() & !rd_end, rd.q().wrapping_add(1));
        replaying.next_when(replaying.q() & rd_end, m.lit(0, Type::BOOL));
        replaying.next_when(full, m.lit(1, Type::BOOL));
        // The block RAM's word registered before it leaves (its output is slow).
        let data = m.reg("data", ty);
        data.next(buffer.read(rd.q()));
        let read = m.reg("read", Type::BOOL).reset(0);
        read.next(replaying.q());
        let y_valid = m.reg("y_valid_q", Type::BOOL).reset(0);
        y_valid.next(read.q());
        m.stream_output("y", Source::new(y_valid.q(), data.q()));
    }
}
