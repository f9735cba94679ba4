//! What to turn when a core does not fit its part: the advice `fpga_build` and
//! `hardwire build` give after the estimate.

use hardwire_fpga::Resources;

/// The flags that shrink whichever resources `used` exceeds of `available`.
pub fn shrink_advice(used: &Resources, available: &Resources) -> String {
    let mut advice = Vec::new();
    if used.dsps > available.dsps || used.luts > available.luts || used.ffs > available.ffs {
        advice.push(
            "raise --reuse and --lm-head-reuse (fewer multiply-accumulate lanes: fewer DSPs, \
             LUTs and flip-flops; more cycles per token)",
        );
    }
    if used.bram_blocks > available.bram_blocks {
        advice.push("lower --layers (weights in ROM), --max-seq (the KV cache) or --weight-bits");
    }
    advice.push("or pick a larger board");
    advice.join("; ")
}
