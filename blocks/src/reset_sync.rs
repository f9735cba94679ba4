//! [`ResetSync`]: a reset button synchronised to the clock.

use hardwire_hdl::prelude::*;

/// A reset synchroniser: `rst_out` follows the button through `stages` flip-flops, so it is
/// asserted for `stages` cycles after configuration, while the button is pressed, and leaves
/// reset synchronously with the clock.
///
/// Its flip-flops have no reset (they make it) and power up at 0, as on ECP5 and 7-series,
/// so it can be clocked by the domain it resets.
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
        m.reset_less();
        let button = m.input("button", Type::BOOL);
        let released = if self.active_low { button } else { !button };
        // The chain carries "ready": power-up zeros mean reset, as do a press's zeros.
        let mut ready = released;
        for i in 0..self.stages {
            let r = m.reg(&format!("ready{i}"), Type::BOOL).reset(0);
            r.next(ready);
            ready = r.q();
        }
        m.output("rst_out", !ready);
    }
}
