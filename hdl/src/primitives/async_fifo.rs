//! [`AsyncFifo`]: a queue between two clock domains.

use crate::builder::{Block, ModuleBuilder, Signal, Stream};
use crate::ir::{Reset, Type};

use super::Synchronizer;

/// A first-in first-out queue of `depth` entries of `ty` from the clock domain `write` to
/// the clock domain `read` (connect them with [`Instance::domain`](crate::Instance::domain)).
/// The entries sit in a memory written in one domain and read in the other (a dual-clock
/// block RAM); the write and read pointers cross as Gray codes, one bit changing per step,
/// through two-flop [`Synchronizer`]s, so a pointer seen on the other side is always one the
/// pointer really held, at worst an older one. That makes `in_ready` and `out_valid`
/// pessimistic, never wrong.
///
/// Ports: the valid/ready stream `in` (`in_valid`, `in`, `in_ready`), in domain `write`;
/// the valid/ready stream `out` (`out_valid`, `out`, `out_ready`), in domain `read`. Each
/// domain has its own synchronous reset (`write_rst`, `read_rst`); reset both together.
/// Latency: an entry written on a `write` edge reaches `out` after two to three `read`
/// edges. Throughput: one entry per edge on each side while it is neither full nor empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncFifo {
    /// One entry.
    pub ty: Type,
    /// Entries, a power of two from 2.
    pub depth: u32,
}

/// `b ^ (b >> 1)`.
fn gray<'a>(b: Signal<'a>) -> Signal<'a> {
    b ^ (b >> 1)
}

impl Block for AsyncFifo {
    fn name(&self) -> String {
        format!("async_fifo_{}x{}", self.depth, self.ty)
            .replace(['<', '>'], "")
            .to_lowercase()
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        if self.depth < 2 || !self.depth.is_power_of_two() {
            m.bad_parameter(format!(
                "an asynchronous FIFO's depth is a power of two from 2 (its pointers are Gray \
                 codes), not {}",
                self.depth
            ));
            return;
        }
        let a = self.depth.trailing_zeros();
        let ptr = Type::unsigned(a + 1);
        let write = m.domain("write", Reset::SYNC);
        let read = m.domain("read", Reset::SYNC);
        let mem = m.memory("entries", self.ty, self.depth);
        let sync = Synchronizer {
            width: a + 1,
            stages: 2,
        };
        // The Gray pointers each side publishes, declared first so each side can read the
        // other's through its synchroniser.
        let (wgray_out, rgray_out) = (m.wire("wgray_out", ptr), m.wire("rgray_out", ptr));

        let input = m.stream_input("in", Stream::with_ready(self.ty));
        m.in_domain(write, || {
            let wbin = m.reg("wbin", ptr).reset(0);
            let wgray = m.reg("wgray", ptr).reset(0);
            let rq = m.instance("u_sync_rptr", &sync);
            rq.input("d", rgray_out);
            // Full: the pointers differ in their top two Gray bits and agree below.
            let flip = m.lit(3 << (a - 1), ptr);
            let full = wgray.q().eq(rq.output("q") ^ flip);
            input.accept(!full);
            let push = input.fires();
            mem.write(wbin.q().bits(a - 1, 0), input.payload, push);
            let next = wbin.q().wrapping_add(push.extend(a + 1));
            wbin.next(next);
            wgray.next(gray(next));
            m.assign(wgray_out, wgray.q());
        });
        m.in_domain(read, || {
            let rbin = m.reg("rbin", ptr).reset(0);
            let rgray = m.reg("rgray", ptr).reset(0);
            let wq = m.instance("u_sync_wptr", &sync);
            wq.input("d", wgray_out);
            let valid = rgray.q().ne(wq.output("q"));
            let out_ready = m.input("out_ready", Type::BOOL);
            let pop = valid & out_ready;
            let next = rbin.q().wrapping_add(pop.extend(a + 1));
            rbin.next(next);
            rgray.next(gray(next));
            m.assign(rgray_out, rgray.q());
            // The head's word is read on every edge at the pointer it will have, so it is
            // at `out` when the pointer gets there (and re-read while the queue is empty).
            let head = mem.read(next.bits(a - 1, 0));
            m.output("out_valid", valid);
            m.output("out", head);
        });
    }
}
