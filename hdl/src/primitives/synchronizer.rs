//! [`Synchronizer`]: a signal of another clock domain brought into this one.

use crate::builder::{Block, ModuleBuilder};
use crate::ir::Type;

/// A chain of `stages` flip-flops in the block's (default) domain sampling `d`, a signal of
/// another domain: the first may go metastable, the others give it a cycle each to settle.
/// Every stage is marked as a synchroniser (`ASYNC_REG`), so the crossing check accepts the
/// first one's read of the other domain.
///
/// Only for single bits, or for values of which at most one bit changes between two samples
/// (a Gray-coded counter, as in [`AsyncFifo`](super::AsyncFifo)); anything wider needs a
/// handshake or a FIFO, or the bits may arrive from different samples.
///
/// Ports: `d` (`UInt<width>`), `q` (`UInt<width>`). Latency: `stages` edges of this domain's
/// clock after the value is stable. The stages have no reset and start at zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synchronizer {
    /// Bits carried.
    pub width: u32,
    /// Flip-flops in the chain, at least 2.
    pub stages: u32,
}

impl Block for Synchronizer {
    fn name(&self) -> String {
        format!("sync_{}x{}", self.stages, self.width)
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        if self.stages < 2 {
            m.bad_parameter(format!(
                "a synchroniser needs at least 2 stages against metastability, not {}",
                self.stages
            ));
            return;
        }
        let mut q = m.input("d", Type::unsigned(self.width));
        for i in 0..self.stages {
            let stage = m.reg(&format!("stage{i}"), q.ty()).synchronizer();
            stage.next(q);
            q = stage.q();
        }
        m.output("q", q);
    }
}
