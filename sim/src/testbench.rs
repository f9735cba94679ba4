//! The testbench API: build a simulator from a design, poke inputs, peek any named signal,
//! step the clock, and trace waveforms.

use std::collections::HashMap;
use std::io::Write;

use hardwire_hdl::ir::{CheckKind, Design, Reset, ResetKind, Type};
use hardwire_hdl::{Bits, Loc};

use crate::access::in_bounds;
use crate::activity::{Activity, Evaluation};
use crate::clocks::Schedule;
use crate::commit::{run_edge, Edge, MemStore};
use crate::compile::{compile, MemLayout};
use crate::error::SimError;
use crate::exec::{run_active, run_comb, Code};
use crate::flatten::flatten;
use crate::instr::{top, words, Instr, Side, Slot};
use crate::partition::partition;
use crate::vcd::{VcdClock, VcdVar, VcdWriter};

/// A handle to a top-level input, for pokes in hot loops without a name lookup.
///
/// Get one with [`Simulator::input`]; use it with [`Simulator::set`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputId {
    slot: Slot,
    ty: Type,
}

impl InputId {
    /// The input's width and signedness.
    pub fn ty(&self) -> Type {
        self.ty
    }
}

/// A handle to any named signal, for peeks in hot loops without a name lookup.
///
/// Get one with [`Simulator::signal`]; use it with [`Simulator::get`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalId {
    slot: Slot,
    ty: Type,
}

impl SignalId {
    /// The signal's width and signedness.
    pub fn ty(&self) -> Type {
        self.ty
    }
}

#[derive(Debug, Clone, Copy)]
struct Named {
    slot: Slot,
    ty: Type,
    input: bool,
}

/// A compiled, cycle-based simulation of a design's top module.
///
/// The hierarchy is flattened and the combinational logic compiled to a flat instruction
/// list (small operations folded into the instructions that read them), so a cycle costs a
/// pass over that list and no allocation. Combinational values settle lazily: a
/// [`peek`](Self::peek) after a [`poke`](Self::poke) sees the settled result; a run of
/// [`step`](Self::step)s settles once per cycle, and only the logic that registers and
/// memories read (what is only peeked or traced settles when looked at).
///
/// One [`step`](Self::step) is one rising edge of the implicit clock, with the semantics of
/// [`hardwire_hdl::ir`]: registers and read ports load from the values settled before the
/// edge, memories are read-first, and while `rst` is high registers with a reset value load
/// it. Registers of a domain without reset start at their reset value (a power-up value, as
/// the Verilog gives them); other registers, and memories without initial contents, start
/// at zero.
///
/// Names are those of ports, registers and wires, with instance paths below the top
/// (`u_child.acc`); memories are reached with [`peek_mem`](Self::peek_mem) and
/// [`poke_mem`](Self::poke_mem). The crate documentation has a worked example.
pub struct Simulator {
    state: Vec<u64>,
    /// The combinational program in partitions, for skipping idle logic.
    comb: Code,
    /// The same program in the compiler's order as one partition, for evaluating
    /// everything (its runs of alike instructions are longer).
    all: Code,
    /// Which partitions of `comb` must run before the next edge.
    activity: Activity,
    obs: Code,
    side: Side,
    edge: Edge,
    /// The top module's clock domains.
    clocks: Vec<Clock>,
    /// Whether some domain resets asynchronously.
    any_async: bool,
    /// Whether some local domain resets asynchronously, from a computed value.
    local_async: bool,
    /// When each clock rises.
    schedule: Schedule,
    /// The domains whose clocks rose at the last edge, one bit each.
    rose: u64,
    mems: Vec<MemStore>,
    mem_layouts: Vec<MemLayout>,
    mem_names: HashMap<String, usize>,
    names: HashMap<String, Named>,
    /// `comb` has not run since the inputs or state changed.
    dirty: bool,
    /// `obs` has not run since the inputs or state changed.
    obs_dirty: bool,
    cycle: u64,
    vcd: Option<VcdWriter<Box<dyn Write + Send>>>,
    vcd_vars: Vec<VcdVar>,
    top_name: String,
    checks: Vec<SimCheck>,
    /// The first assertion or assumption that failed.
    failed: Option<SimError>,
}

/// A check of the design, sampled before every edge out of reset.
#[derive(Debug)]
struct SimCheck {
    kind: CheckKind,
    name: String,
    loc: Loc,
    slot: Slot,
    /// For a cover: the edges it held on.
    hits: u64,
    /// The domain whose edges sample it.
    domain: usize,
}

/// A clock domain of the top module at run time.
#[derive(Debug)]
struct Clock {
    name: String,
    reset: Reset,
    /// Its reset input.
    rst: Option<Slot>,
    /// With several clocks: the input that enables the domain's registers on its edges.
    tick: Option<Slot>,
    /// `(q, reset value, words)` of its registers with a reset.
    resets: Vec<(Slot, Slot, u32)>,
    /// The top domain whose edges it steps on (its own index for a top domain).
    root: u32,
    /// Its reset is computed in the design, not set from outside.
    local: bool,
}

impl Clock {
    fn in_reset(&self, state: &[u64]) -> bool {
        self.rst
            .is_some_and(|r| (state[r as usize] & 1 != 0) != self.reset.active_low)
    }

    /// Loads every register of the domain with its reset value.
    fn load_resets(&self, state: &mut [u64]) {
        for &(q, r, n) in &self.resets {
            let (q, r, n) = (q as usize, r as usize, n as usize);
            state.copy_within(r..r + n, q);
        }
    }
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("top", &self.top_name)
            .field("cycle", &self.cycle)
            .field("instructions", &self.comb.instrs().len())
            .field("runs", &self.comb.runs())
            .field("partitions", &self.comb.parts())
            .field("register_copies", &self.edge.copies().0)
            .field("staging_copies", &self.edge.copies().1)
            .field("state_words", &self.state.len())
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Compiles `design` (its top module, with every instance inlined) for simulation.
    ///
    /// Fails on a design the hdl checks would reject (an undriven wire, a combinational
    /// loop, a malformed node), naming the signals involved.
    pub fn new(design: &Design) -> Result<Self, SimError> {
        let flat = flatten(design)?;
        let mut prog = compile(&flat)?;
        let mut state = prog.state;
        if !in_bounds(&prog.init, &prog.side, state.len())
            || !in_bounds(&prog.comb, &prog.side, state.len())
            || !in_bounds(&prog.obs, &prog.side, state.len())
        {
            return Err(SimError::BadDesign(
                "internal error: an instruction names a slot outside the state".into(),
            ));
        }
        let shapes: Vec<(usize, u64)> = prog
            .mems
            .iter()
            .map(|m| (m.words as usize, u64::from(m.depth)))
            .collect();
        let mut edge = Edge::new(&prog.edge, state.len(), &shapes).ok_or_else(|| {
            SimError::BadDesign(
                "internal error: the clock edge names a slot outside the state".into(),
            )
        })?;
        run_comb(&Code::new(prog.init), &prog.side, &mut state);
        let mut parts = partition(
            &prog.comb,
            &prog.comb_inst,
            &prog.side,
            &edge.item_inputs(),
            state.len(),
        );
        let comb = Code::partitioned(std::mem::take(&mut parts.instrs), &parts.ends);
        let all = Code::new(prog.comb);
        let activity = Activity::new(
            parts,
            &state,
            edge.items(),
            edge.mem_readers(prog.mems.len()),
            comb.instrs().len() as u64,
        );
        edge.segment(|a, b| activity.same_readers(a, b));
        let mut names = HashMap::new();
        let mut vcd_vars = Vec::new();
        for (name, node) in &flat.inputs {
            let slot = prog.slot_of[*node as usize].expect("inputs are live");
            let ty = flat.nodes[*node as usize].ty;
            names.insert(
                name.clone(),
                Named {
                    slot,
                    ty,
                    input: true,
                },
            );
            if Some(*node) == flat.domains.first().and_then(|d| d.rst) {
                vcd_vars.push(VcdVar {
                    scope: Vec::new(),
                    name: name.clone(),
                    slot,
                    width: ty.width,
                    labels: Vec::new(),
                });
            }
        }
        for sig in &flat.signals {
            let slot = prog.slot_of[sig.node as usize].expect("named signals are live");
            let ty = flat.nodes[sig.node as usize].ty;
            let path = sig.path();
            if names.contains_key(&path) && !(sig.scope.is_empty() && names[&path].input) {
                continue;
            }
            names.entry(path).or_insert(Named {
                slot,
                ty,
                input: false,
            });
            vcd_vars.push(VcdVar {
                scope: sig.scope.clone(),
                name: sig.name.clone(),
                slot,
                width: ty.width,
                labels: sig.labels.clone(),
            });
        }
        let checks = flat
            .checks
            .iter()
            .map(|c| SimCheck {
                kind: c.kind,
                name: c.name.clone(),
                loc: c.loc,
                slot: prog.slot_of[c.cond as usize].expect("checks are live"),
                hits: 0,
                domain: c.domain as usize,
            })
            .collect();
        // The contents move to the stores; the layouts keep the shape.
        let mems = prog
            .mems
            .iter_mut()
            .map(|m| MemStore {
                words: m.words as usize,
                depth: u64::from(m.depth),
                data: std::mem::take(&mut m.init),
            })
            .collect();
        let slot = |n: Option<u32>| n.and_then(|n| prog.slot_of[n as usize]);
        let clocks: Vec<Clock> = flat
            .domains
            .iter()
            .zip(std::mem::take(&mut prog.resets))
            .map(|(d, resets)| Clock {
                name: d.name.clone(),
                reset: d.reset,
                rst: slot(d.rst),
                tick: slot(d.tick),
                resets,
                root: d.root,
                local: d.local,
            })
            .collect();
        if clocks.len() > 64 {
            return Err(SimError::BadDesign(format!(
                "{} clock domains; the simulator steps up to 64",
                clocks.len()
            )));
        }
        let mem_names = prog
            .mems
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        Ok(Simulator {
            state,
            comb,
            all,
            activity,
            obs: Code::new(prog.obs),
            side: prog.side,
            edge,
            any_async: clocks
                .iter()
                .any(|c| c.reset.kind == ResetKind::Async && c.rst.is_some()),
            local_async: clocks
                .iter()
                .any(|c| c.reset.kind == ResetKind::Async && c.rst.is_some() && c.local),
            clocks,
            schedule: Schedule::for_design(design),
            rose: 0,
            mems,
            mem_layouts: prog.mems,
            mem_names,
            names,
            dirty: true,
            obs_dirty: true,
            cycle: 0,
            vcd: None,
            vcd_vars,
            top_name: design.top_module().name.clone(),
            checks,
            failed: None,
        })
    }

    /// Edges taken so far.
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// Instructions run per cycle (those that registers and memories depend on): a measure
    /// of the design's simulation cost. Logic that is only observed runs when peeked.
    pub fn instruction_count(&self) -> usize {
        self.comb.instrs().len()
    }

    /// Instructions evaluated since the simulator was built: with idle logic skipped, fewer
    /// than [`instruction_count`](Self::instruction_count) per cycle.
    pub fn instructions_evaluated(&self) -> u64 {
        self.activity.evaluated
    }

    /// How many instructions of each kind run per cycle, most frequent first: for tuning
    /// the compiler, not a stable interface.
    #[doc(hidden)]
    pub fn instruction_mix(&self) -> Vec<(String, usize)> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for i in self.comb.instrs() {
            let name = match i {
                Instr::Wide(k) => format!("Wide::{:?}", self.side.wide[*k as usize]),
                other => format!("{other:?}"),
            };
            let kind = name.split([' ', '(']).next().unwrap_or("").to_string();
            *counts.entry(kind).or_default() += 1;
        }
        let mut v: Vec<_> = counts.into_iter().collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.1));
        v
    }

    /// Settles what the next edge needs.
    #[inline]
    fn settle_core(&mut self) {
        if self.dirty {
            if self.any_async {
                self.hold_async_resets();
            }
            if self.activity.tracking() {
                run_active(&self.comb, &self.side, &mut self.state, &mut self.activity);
            } else {
                run_comb(&self.all, &self.side, &mut self.state);
                self.activity.ran_all();
            }
            // A reset computed from what just settled acts at once, and what its registers
            // feed settles again.
            if self.local_async && self.hold_async_resets() {
                run_comb(&self.all, &self.side, &mut self.state);
                self.activity.ran_all();
            }
            self.dirty = false;
        }
    }

    /// Settles everything, for a peek or a waveform sample.
    #[inline]
    fn settle(&mut self) {
        self.settle_core();
        if self.obs_dirty {
            run_comb(&self.obs, &self.side, &mut self.state);
            self.obs_dirty = false;
        }
    }

    fn touch(&mut self) {
        self.dirty = true;
        self.obs_dirty = true;
    }

    /// `words` words of state from `slot` were set from outside.
    fn poked(&mut self, slot: usize, words: usize) {
        self.activity.wake(slot as Slot, words);
        self.touch();
    }

    /// How to choose the logic evaluated each cycle: [`Evaluation::Adaptive`] by default.
    /// [`Evaluation::All`] is the plain path that skipping is tested against.
    pub fn set_evaluation(&mut self, evaluation: Evaluation) {
        self.activity.set_policy(evaluation);
        self.touch();
    }

    /// One rising clock edge: settle, record the waveform if tracing, sample the design's
    /// checks (out of reset), then commit every register and memory port (and the reset
    /// values while `rst` is high). With several clock domains, the next edge in time: the
    /// domains whose clocks rise then commit, the others hold.
    #[inline]
    pub fn step(&mut self) {
        let last_edge = (self.schedule.time_ps(), self.rose);
        let ticking = self.advance_clocks();
        self.rose = ticking;
        if self.vcd.is_some() {
            self.settle();
            self.dump_vcd(last_edge);
        } else {
            self.settle_core();
        }
        if !self.checks.is_empty() {
            self.sample_checks(ticking);
        }
        // Synchronous resets are sampled with the edge, before it changes what drives them.
        let mut resetting = 0u64;
        for (i, c) in self.clocks.iter().enumerate() {
            if c.reset.kind == ResetKind::Sync
                && ticking & (1 << c.root) != 0
                && c.in_reset(&self.state)
            {
                resetting |= 1 << i;
            }
        }
        let (edge, st, mems, act) = (
            &self.edge,
            &mut self.state,
            &mut self.mems,
            &mut self.activity,
        );
        if act.tracking() {
            run_edge::<true>(edge, st, mems, act);
        } else {
            run_edge::<false>(edge, st, mems, act);
        }
        for (i, c) in self.clocks.iter().enumerate() {
            let now = match c.reset.kind {
                ResetKind::None => false,
                ResetKind::Sync => resetting & (1 << i) != 0,
                ResetKind::Async => c.in_reset(&self.state),
            };
            if now {
                self.activity.wake_all();
                c.load_resets(&mut self.state);
            }
        }
        self.activity.end_cycle();
        self.cycle += 1;
        self.touch();
    }

    /// Moves time to the next rising edge and returns the domains whose clocks rise then,
    /// one bit each, after setting their tick inputs.
    #[inline]
    fn advance_clocks(&mut self) -> u64 {
        let rising = self.schedule.advance();
        if self.schedule.several() {
            for i in 0..self.clocks.len() {
                let Some(tick) = self.clocks[i].tick else {
                    continue;
                };
                // A local domain's tick is its root's.
                let v = (rising >> self.clocks[i].root) & 1;
                if self.state[tick as usize] != v {
                    self.state[tick as usize] = v;
                    self.poked(tick as usize, 1);
                }
            }
        }
        rising
    }

    /// Registers of a domain with an asynchronous reset take their reset values as soon as
    /// it is asserted, before anything reads them. Returns whether any did.
    fn hold_async_resets(&mut self) -> bool {
        let mut any = false;
        for c in &self.clocks {
            if c.reset.kind == ResetKind::Async && c.in_reset(&self.state) {
                c.load_resets(&mut self.state);
                self.activity.wake_all();
                any = true;
            }
        }
        any
    }

    /// Sets the period of the clock of domain `name` (`sync` for the default one), from its
    /// next edge on; every clock starts at [`DEFAULT_PERIOD_PS`](crate::DEFAULT_PERIOD_PS), its first edge one period
    /// after time 0.
    pub fn set_period(&mut self, name: &str, period_ps: u64) -> Result<(), SimError> {
        if let Some(c) = self.clocks.iter().find(|c| c.name == name && c.local) {
            return Err(SimError::BadDesign(format!(
                "domain `{name}` is clocked inside the design: it steps on the edges of \
                 `{}`, whose period sets its own",
                self.clocks[c.root as usize].name
            )));
        }
        self.schedule.set_period(name, period_ps)
    }

    /// The time of the last edge, in picoseconds.
    pub fn time_ps(&self) -> u64 {
        self.schedule.time_ps()
    }

    /// The domains whose clocks rose at the last edge (local domains with the clock they
    /// are carried from).
    pub fn rose(&self) -> Vec<&str> {
        self.clocks
            .iter()
            .filter(|c| self.rose & (1 << c.root) != 0)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// The clock domains: the top module's, then the local domains of instances (as
    /// `u_child.name`).
    pub fn domains(&self) -> Vec<String> {
        self.clocks.iter().map(|c| c.name.clone()).collect()
    }

    fn sample_checks(&mut self, ticking: u64) {
        let (clocks, state) = (&self.clocks, &self.state);
        for c in &mut self.checks {
            let clock = &clocks[c.domain];
            if ticking & (1 << clock.root) == 0 || clock.in_reset(state) {
                continue;
            }
            let holds = state[c.slot as usize] & 1 != 0;
            match c.kind {
                CheckKind::Cover => c.hits += u64::from(holds),
                CheckKind::Assert | CheckKind::Assume if !holds && self.failed.is_none() => {
                    self.failed = Some(SimError::CheckFailed {
                        kind: c.kind.keyword(),
                        name: c.name.clone(),
                        cycle: self.cycle,
                        loc: c.loc.to_string(),
                    });
                }
                _ => {}
            }
        }
    }

    /// The first assertion or assumption of the design that failed so far, as an error
    /// ([`SimError::CheckFailed`]); `Ok` while every one has held. [`run_until`](Self::run_until)
    /// stops with this error as soon as one fails.
    pub fn checks(&self) -> Result<(), SimError> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Each cover of the design (hierarchical name) with the number of edges it held on.
    pub fn covers(&self) -> Vec<(String, u64)> {
        self.checks
            .iter()
            .filter(|c| c.kind == CheckKind::Cover)
            .map(|c| (c.name.clone(), c.hits))
            .collect()
    }

    /// `n` clock edges.
    pub fn run(&mut self, n: u64) {
        for _ in 0..n {
            self.step();
        }
    }

    /// Steps until `cond` holds, checking it before each edge; returns the edges taken (0 if
    /// it already holds), or [`SimError::Timeout`] after `max_cycles` edges without it, or
    /// the design's first failed check ([`SimError::CheckFailed`]).
    pub fn run_until(
        &mut self,
        mut cond: impl FnMut(&mut Self) -> bool,
        max_cycles: u64,
    ) -> Result<u64, SimError> {
        let mut taken = 0;
        loop {
            self.checks()?;
            if cond(self) {
                return Ok(taken);
            }
            if taken == max_cycles {
                return Err(SimError::Timeout(max_cycles));
            }
            self.step();
            taken += 1;
        }
    }

    /// Holds `rst` (and every other domain's reset input) asserted for `cycles` edges, then
    /// releases it. (Local domains reset as their design drives them.)
    pub fn reset(&mut self, cycles: u64) -> Result<(), SimError> {
        let resets: Vec<(Slot, bool)> = self
            .clocks
            .iter()
            .filter(|c| !c.local)
            .filter_map(|c| Some((c.rst?, c.reset.active_low)))
            .collect();
        if resets.is_empty() {
            return Err(SimError::NotClocked);
        }
        for asserted in [true, false] {
            for &(rst, low) in &resets {
                self.state[rst as usize] = u64::from(asserted != low);
                self.poked(rst as usize, 1);
            }
            if asserted {
                self.run(cycles);
            }
        }
        Ok(())
    }

    fn named(&self, name: &str) -> Result<Named, SimError> {
        self.names
            .get(name)
            .copied()
            .ok_or_else(|| SimError::UnknownSignal(name.to_string()))
    }

    /// A handle to the top-level input `name` (a port, or `rst`).
    pub fn input(&self, name: &str) -> Result<InputId, SimError> {
        let n = self.named(name)?;
        if !n.input {
            return Err(SimError::NotAnInput(name.to_string()));
        }
        Ok(InputId {
            slot: n.slot,
            ty: n.ty,
        })
    }

    /// A handle to any named signal: a port, register or wire, with an instance path such as
    /// `u_child.acc` below the top.
    pub fn signal(&self, name: &str) -> Result<SignalId, SimError> {
        let n = self.named(name)?;
        Ok(SignalId {
            slot: n.slot,
            ty: n.ty,
        })
    }

    /// Sets an input from a handle; the value is truncated to the input's width (for a
    /// signed input, pass the two's-complement bits, e.g. `-3i64 as u64`). Wider inputs
    /// get `v` zero-extended. No checks: this is the fast path.
    #[inline]
    pub fn set(&mut self, input: InputId, v: u64) {
        let s = input.slot as usize;
        let n = words(input.ty.width);
        self.state[s] = if n == 1 { v & top(input.ty.width) } else { v };
        self.state[s + 1..s + n].fill(0);
        self.poked(s, n);
    }

    /// Sets a (typically wide) input from little-endian words, without allocating: missing
    /// words are zero, extra words ignored, and the top word is truncated to the width.
    #[inline]
    pub fn set_words(&mut self, input: InputId, value: &[u64]) {
        let s = input.slot as usize;
        let n = words(input.ty.width);
        for i in 0..n {
            self.state[s + i] = value.get(i).copied().unwrap_or(0);
        }
        self.state[s + n - 1] &= top(input.ty.width);
        self.poked(s, n);
    }

    /// The low 64 bits of a signal from a handle (settling first if needed).
    #[inline]
    pub fn get(&mut self, signal: SignalId) -> u64 {
        self.settle();
        self.state[signal.slot as usize]
    }

    /// A signal's value from a handle as an integer, sign-extended when the signal is signed
    /// (its low 64 bits for wider signals). No checks: the fast path.
    #[inline]
    pub fn get_i64(&mut self, signal: SignalId) -> i64 {
        let v = self.get(signal);
        let w = signal.ty.width;
        if signal.ty.signed && w < 64 {
            ((v << (64 - w)) as i64) >> (64 - w)
        } else {
            v as i64
        }
    }

    /// A signal's value from a handle as little-endian words (canonical: bits above the
    /// width are zero), without allocating.
    #[inline]
    pub fn get_words(&mut self, signal: SignalId) -> &[u64] {
        self.settle();
        let s = signal.slot as usize;
        &self.state[s..s + words(signal.ty.width)]
    }

    /// A signal's value from a handle, as a [`Bits`] of its width.
    pub fn get_bits(&mut self, signal: SignalId) -> Bits {
        self.settle();
        let s = signal.slot as usize;
        Bits::from_words(&self.state[s..s + words(signal.ty.width)], signal.ty.width)
    }

    /// Sets the top-level input `name` to the bit pattern `v`, which must fit its width (for
    /// a signed input, the two's-complement bits; see [`poke_i64`](Self::poke_i64)).
    pub fn poke(&mut self, name: &str, v: u64) -> Result<(), SimError> {
        let input = self.input(name)?;
        let w = input.ty.width;
        if w < 64 && v >> w != 0 {
            return Err(too_wide(name, input.ty, v.to_string()));
        }
        self.set(input, v);
        Ok(())
    }

    /// Sets the top-level input `name` to the integer `v`, which must be in its range
    /// (`-2^(w-1) .. 2^(w-1)` signed, `0 .. 2^w` unsigned).
    pub fn poke_i64(&mut self, name: &str, v: i64) -> Result<(), SimError> {
        let input = self.input(name)?;
        let w = input.ty.width;
        let fits = if input.ty.signed {
            w >= 64 || (-(1i128 << (w - 1))..(1i128 << (w - 1))).contains(&i128::from(v))
        } else {
            v >= 0 && (w >= 64 || (v as u64) >> w == 0)
        };
        if !fits {
            return Err(too_wide(name, input.ty, v.to_string()));
        }
        self.set_bits_unchecked(input, &Bits::from_i128(i128::from(v), w));
        Ok(())
    }

    /// Sets the top-level input `name` from a bit vector; bits set above the input's width
    /// are an error.
    pub fn poke_bits(&mut self, name: &str, v: &Bits) -> Result<(), SimError> {
        let input = self.input(name)?;
        let w = input.ty.width;
        if v.width() > w && v.resize(w, false).resize(v.width(), false) != *v {
            return Err(too_wide(name, input.ty, format!("{v}")));
        }
        self.set_bits_unchecked(input, &v.resize(w, false));
        Ok(())
    }

    fn set_bits_unchecked(&mut self, input: InputId, v: &Bits) {
        let s = input.slot as usize;
        let n = words(input.ty.width);
        self.state[s..s + n].copy_from_slice(&v.words()[..n]);
        self.poked(s, n);
    }

    /// The value of the named signal as an unsigned number (its bits; a signed signal's
    /// two's-complement pattern). Signals wider than 64 bits need [`peek_bits`](Self::peek_bits).
    pub fn peek(&mut self, name: &str) -> Result<u64, SimError> {
        let n = self.named(name)?;
        if n.ty.width > 64 {
            return Err(SimError::TooWideForPeek {
                name: name.to_string(),
                width: n.ty.width,
            });
        }
        self.settle();
        Ok(self.state[n.slot as usize])
    }

    /// The value of the named signal as an integer: sign-extended when the signal is signed.
    /// Fails if it does not fit an `i64`.
    pub fn peek_i64(&mut self, name: &str) -> Result<i64, SimError> {
        let n = self.named(name)?;
        let b = self.peek_bits(name)?;
        let v = if n.ty.signed {
            b.to_i128()
        } else {
            b.to_u128() as i128
        };
        let wide =
            n.ty.width > 128 && b.resize(128, n.ty.signed).resize(n.ty.width, n.ty.signed) != b;
        i64::try_from(v)
            .ok()
            .filter(|_| !wide)
            .ok_or(SimError::TooWideForPeek {
                name: name.to_string(),
                width: n.ty.width,
            })
    }

    /// The value of the named signal as a [`Bits`] of its width; works for any width.
    pub fn peek_bits(&mut self, name: &str) -> Result<Bits, SimError> {
        let n = self.named(name)?;
        Ok(self.get_bits(SignalId {
            slot: n.slot,
            ty: n.ty,
        }))
    }

    /// Every named signal: ports, registers and wires with their instance paths, sorted.
    pub fn signal_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.names.keys().cloned().collect();
        v.sort();
        v
    }

    fn mem(&self, name: &str, addr: u64) -> Result<usize, SimError> {
        let m = *self
            .mem_names
            .get(name)
            .ok_or_else(|| SimError::UnknownMemory(name.to_string()))?;
        let layout = &self.mem_layouts[m];
        if addr >= u64::from(layout.depth) {
            return Err(SimError::AddressOutOfRange {
                name: name.to_string(),
                addr,
                depth: layout.depth,
            });
        }
        Ok(m)
    }

    /// One word of the memory `name` (with its instance path, like `u_cache.kv`).
    pub fn peek_mem(&self, name: &str, addr: u64) -> Result<Bits, SimError> {
        let m = self.mem(name, addr)?;
        let store = &self.mems[m];
        let base = addr as usize * store.words;
        Ok(Bits::from_words(
            &store.data[base..base + store.words],
            self.mem_layouts[m].ty.width,
        ))
    }

    /// Overwrites one word of the memory `name`, as a testbench backdoor (the read ports
    /// see it from the next edge, as for a write port).
    pub fn poke_mem(&mut self, name: &str, addr: u64, v: &Bits) -> Result<(), SimError> {
        let m = self.mem(name, addr)?;
        let ty = self.mem_layouts[m].ty;
        if v.width() > ty.width && v.resize(ty.width, false).resize(v.width(), false) != *v {
            return Err(too_wide(name, ty, format!("{v}")));
        }
        let v = v.resize(ty.width, false);
        let store = &mut self.mems[m];
        let base = addr as usize * store.words;
        store.data[base..base + store.words].copy_from_slice(v.words());
        self.activity.wake_mem(m as u32);
        Ok(())
    }

    /// Starts writing a VCD waveform of every named signal (with instances as `$scope`s and
    /// a `clk`) to `out`, one sample per cycle and only changes; GTKWave reads it. The clock
    /// period is 10 time units of 1 ns, the rising edge at the start of each cycle. With
    /// several clocks, time is in picoseconds and each clock input rises at its own edges
    /// (at the periods set when tracing starts).
    /// Call [`flush_vcd`](Self::flush_vcd) (or drop the simulator) to write the last cycle.
    pub fn trace_vcd(&mut self, out: impl Write + Send + 'static) -> Result<(), SimError> {
        let clocked = self.clocks.first().is_some_and(|c| c.rst.is_some());
        let several = self
            .schedule
            .live()
            .map(|(i, name, period_ps)| VcdClock {
                name,
                bit: i as u32,
                period_ps,
            })
            .collect();
        let writer = VcdWriter::new(
            Box::new(out) as Box<dyn Write + Send>,
            &self.top_name,
            self.vcd_vars.clone(),
            clocked,
            several,
        )?;
        self.vcd = Some(writer);
        Ok(())
    }

    /// Writes the current cycle's values to the waveform and flushes it.
    pub fn flush_vcd(&mut self) -> Result<(), SimError> {
        if self.vcd.is_some() {
            self.settle();
            let (cycle, edge) = (self.cycle, (self.schedule.time_ps(), self.rose));
            let state = &self.state;
            if let Some(v) = self.vcd.as_mut() {
                v.sample(cycle, edge, state)?;
                v.flush()?;
            }
        }
        Ok(())
    }

    /// Samples the waveform: the values that followed the edge at `edge` (its time and the
    /// clocks that rose).
    fn dump_vcd(&mut self, edge: (u64, u64)) {
        let cycle = self.cycle;
        if let Some(v) = self.vcd.as_mut() {
            // A failing trace must not stop the simulation; the error surfaces at flush.
            v.sample(cycle, edge, &self.state).ok();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.flush_vcd().ok();
    }
}

fn too_wide(name: &str, ty: Type, value: String) -> SimError {
    SimError::ValueTooWide {
        name: name.to_string(),
        width: ty.width,
        signed: ty.signed,
        value,
    }
}
