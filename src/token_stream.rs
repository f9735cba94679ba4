//! Driving a [`LlamaCore`](crate::blocks::LlamaCore)'s token streams in simulation: a prompt
//! in, greedy tokens out, with the cycles each token took.

use hardwire_sim::cosim::Recorder;
use hardwire_sim::SimError;
use serde::Serialize;

/// What a run of the core produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRun {
    /// The generated token ids.
    pub tokens: Vec<u32>,
    /// For every token the core took (prompt, then fed-back generated ones): the cycle it was
    /// taken, counted from the cycle after `start`.
    pub taken_at: Vec<u64>,
    /// The cycle each generated token was offered (`out_valid`).
    pub offered_at: Vec<u64>,
    /// Cycles from `start` to the last token.
    pub cycles: u64,
}

impl TokenRun {
    /// Cycles per token at each position: from taking a token to knowing the next (as
    /// [`LlamaCore::cycles_per_token`](crate::blocks::LlamaCore::cycles_per_token) counts them).
    pub fn cycles_per_token(&self) -> Vec<u64> {
        let mut marks = self.taken_at.clone();
        marks.extend(self.offered_at.last());
        marks.sort_unstable();
        marks.windows(2).map(|w| w[1] - w[0] - 1).collect()
    }
}

/// Runs `prompt` through a core elaborated from a [`LlamaCore`](crate::blocks::LlamaCore) in
/// `bench` (just out of reset): pulses `start`, sends the prompt with `max_new`, takes every
/// generated token at once (`out_ready` high), and stops after `out_last` (or, for
/// `max_new == 0`, when the core is ready again). `progress` hears each generated token.
///
/// Gives up with [`SimError::Timeout`] when no token moves for `patience` cycles.
pub fn run_prompt(
    bench: &mut Recorder,
    prompt: &[u32],
    max_new: u16,
    patience: u64,
    mut progress: impl FnMut(u32),
) -> Result<TokenRun, SimError> {
    let start_cycle = bench.cycles() as u64;
    let (in_ready, out_valid, out_token, out_last) = (
        bench.signal("in_ready")?,
        bench.signal("out_valid")?,
        bench.signal("out_token")?,
        bench.signal("out_last")?,
    );
    bench.set("out_ready", 1)?;
    bench.set("max_new", i64::from(max_new))?;
    bench.set("start", 1)?;
    bench.step();
    bench.set("start", 0)?;
    let mut run = TokenRun {
        tokens: Vec::new(),
        taken_at: Vec::new(),
        offered_at: Vec::new(),
        cycles: 0,
    };
    let mut next = 0;
    let mut idle = 0u64;
    loop {
        let now = bench.cycles() as u64 - start_cycle - 1;
        if next < prompt.len() {
            bench.set("in_valid", 1)?;
            bench.set("in_token", i64::from(prompt[next]))?;
            bench.set("in_last", i64::from(next + 1 == prompt.len()))?;
        } else {
            bench.set("in_valid", 0)?;
        }
        let ready = bench.read(in_ready) == 1;
        if ready && next < prompt.len() {
            run.taken_at.push(now);
            next += 1;
            idle = 0;
        } else if ready && max_new == 0 && next == prompt.len() && !run.taken_at.is_empty() {
            run.cycles = now;
            break;
        }
        if bench.read(out_valid) == 1 {
            let token = bench.read(out_token) as u32;
            run.tokens.push(token);
            run.offered_at.push(now);
            progress(token);
            idle = 0;
            if bench.read(out_last) == 1 {
                bench.step();
                run.cycles = now + 1;
                break;
            }
            // The core takes its own token back on this cycle.
            run.taken_at.push(now);
        }
        idle += 1;
        if idle > patience {
            return Err(SimError::Timeout(patience));
        }
        bench.step();
    }
    Ok(run)
}
