//! Pipelines: named stages declared up front, a valid bit carried through them, and values
//! delayed to the stage that reads them without a hand-written chain of registers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use super::memory::Memory;
use super::module::{ModuleBuilder, Signal};
use super::stream::Source;
use crate::diagnostic::{Code, Loc};
use crate::ir::{DomainId, NodeId, NodeKind};
use crate::primitives::SplitProduct;

/// A free-running pipeline (no stalls) being built.
///
/// ```
/// use hardwire_hdl::prelude::*;
///
/// /// `(a * b + c)`, one multiply stage and one add stage.
/// const STAGES: [&str; 2] = ["product", "sum"];
///
/// let design = Design::build("mul_add", |m| {
///     let valid = m.input("in_valid", Type::BOOL);
///     let (a, b, c) = (
///         m.input("a", Type::signed(8)),
///         m.input("b", Type::signed(8)),
///         m.input("c", Type::signed(16)),
///     );
///     let mut p = m.pipeline("mac", valid, &STAGES);
///     let product = p.keep("product", a * b);
///     let c = p.keep("c", c); // read a stage later: delayed automatically
///     p.stage("product");
///     let sum = p.keep("sum", (p.at(product) + p.at(c)).trunc(16));
///     p.stage("sum");
///     m.stream_output("y", p.source(p.at(sum)));
///     assert_eq!(p.finish(), STAGES.len() as u64);
/// })
/// .unwrap();
/// # let names: Vec<_> = design.top_module().regs.iter().map(|r| r.name.as_str()).collect();
/// # assert_eq!(names, ["mac_product_valid", "mac_product_product", "mac_product_c", "mac_sum_valid", "mac_sum_sum"]);
/// ```
///
/// A block's latency formula can then name the same `STAGES.len()` the structure is checked
/// against: elaboration fails if the build enters other stages than the ones declared, so the
/// two cannot drift apart. Reading a value of one stage together with a value of another
/// (without [`Pipeline::at`]) is reported with the stages and names involved.
pub struct Pipeline<'a> {
    m: &'a ModuleBuilder<'a>,
    id: u32,
    name: String,
    /// The declared stages after the entry (stage 0); stage `k` is `stages[k - 1]`.
    stages: Vec<String>,
    /// The stage being built.
    stage: usize,
    /// The valid bit of each stage entered so far.
    valid: Vec<Signal<'a>>,
    values: RefCell<Values<'a>>,
    /// The clock domain it was made in.
    domain: DomainId,
    loc: Loc,
}

#[derive(Default)]
struct Values<'a> {
    carried: Vec<Carried<'a>>,
    /// The stage of every node the pipeline made (a copy or a synchronous read).
    stage_of: HashMap<NodeId, (usize, String)>,
}

/// A value kept in a pipeline: its copy at each stage from its own on, made when first read.
struct Carried<'a> {
    name: String,
    from: usize,
    reset: bool,
    copies: Vec<Signal<'a>>,
}

/// A value kept in a [`Pipeline`], read at any later stage with [`Pipeline::at`].
#[derive(Clone, Copy, Debug)]
pub struct Staged {
    pipeline: u32,
    index: usize,
}

static NEXT_PIPELINE: AtomicU32 = AtomicU32::new(0);

/// Stages from [`Pipeline::keep_product`] to the earliest [`Pipeline::product`] of it: the
/// partial products registered beside the multipliers, then beside the adder.
pub const PRODUCT_STAGES: usize = 2;

impl<'e> ModuleBuilder<'e> {
    /// A pipeline entered by `valid`, whose stages after the entry are `stages`, in order.
    /// Its registers are named `<name>_<stage>_<value>`.
    #[track_caller]
    pub fn pipeline<'a>(&'a self, name: &str, valid: Signal<'a>, stages: &[&str]) -> Pipeline<'a> {
        let loc = Loc::caller();
        self.check_bool(&format!("the valid bit of pipeline `{name}`"), valid, loc);
        Pipeline {
            m: self,
            id: NEXT_PIPELINE.fetch_add(1, Ordering::Relaxed),
            name: name.to_string(),
            stages: stages.iter().map(|s| s.to_string()).collect(),
            stage: 0,
            valid: vec![valid],
            values: RefCell::default(),
            domain: self
                .data
                .borrow()
                .domains
                .last()
                .copied()
                .unwrap_or(DomainId::SYNC),
            loc,
        }
    }

    /// Runs `body` outside every `when` scope and in `domain`: a pipeline's registers load
    /// on every edge of its own clock, wherever (and whenever) the value they carry is read.
    fn in_pipeline<R>(&self, domain: DomainId, body: impl FnOnce() -> R) -> R {
        let scope = std::mem::take(&mut self.data.borrow_mut().scope);
        self.data.borrow_mut().domains.push(domain);
        let r = body();
        let mut d = self.data.borrow_mut();
        d.domains.pop();
        d.scope = scope;
        r
    }
}

impl<'a> Pipeline<'a> {
    /// The stage being built: 0 at the entry, `k` after the `k`-th [`Pipeline::stage`].
    pub fn depth(&self) -> u64 {
        self.stage as u64
    }

    /// The valid bit of the stage being built.
    pub fn valid(&self) -> Signal<'a> {
        self.valid[self.stage]
    }

    /// Keeps `value`, computed in this stage, for later stages; register copies are made
    /// only for the stages it is read in (and the ones between). Reported if `value` reads
    /// pipeline values of another stage.
    #[track_caller]
    pub fn keep(&self, name: &str, value: Signal<'a>) -> Staged {
        let loc = Loc::caller();
        self.check_stage(&format!("`{name}`"), value, loc);
        self.carry(name, value, self.stage, false)
    }

    /// Keeps the flag `valid & cond`: like [`Pipeline::keep`], but its registers reset to 0,
    /// so it can be read as a valid bit of its own (a `first` or `last` tag).
    #[track_caller]
    pub fn flag(&self, name: &str, cond: Signal<'a>) -> Staged {
        let loc = Loc::caller();
        self.m.check_bool(&format!("flag `{name}`"), cond, loc);
        self.check_stage(&format!("flag `{name}`"), cond, loc);
        self.carry(name, self.valid() & cond, self.stage, true)
    }

    /// A synchronous read of `memory` at `addr` (from this stage): its data belongs to the
    /// next stage.
    #[track_caller]
    pub fn read(&self, name: &str, memory: &Memory<'a>, addr: Signal<'a>) -> Staged {
        let loc = Loc::caller();
        self.check_stage(&format!("the address of `{name}`"), addr, loc);
        let data = memory.read(addr);
        self.carry(name, data, self.stage + 1, false)
    }

    /// Keeps `a * b`, computed in this stage, as its partial products ([`SplitProduct`]): one
    /// multiplier block each, registered twice (inside the multiplier block, then beside the
    /// adder: FPGA multiplier blocks sit in their own columns, and a wire from one to far
    /// logic costs as much as the multiply) before a stage at least
    /// [`PRODUCT_STAGES`] later adds them up with [`Pipeline::product`]. No stage then holds a
    /// multiplier and an adder, or a multiplier and a long wire.
    #[track_caller]
    pub fn keep_product(&self, name: &str, a: Signal<'a>, b: Signal<'a>) -> SplitProduct<Staged> {
        let loc = Loc::caller();
        self.check_stage(&format!("`{name}`"), a, loc);
        self.check_stage(&format!("`{name}`"), b, loc);
        // The partials are registered where they are made: they belong to the next stage.
        let next = self.stage + 1;
        let parts = self.m.in_pipeline(self.domain, || {
            SplitProduct::registered(&self.value_name(name, next), a, b)
        });
        parts.map(|i, part| self.carry(&format!("{name}_p{i}"), part, next, false))
    }

    /// The product kept by [`Pipeline::keep_product`], as seen in the stage being built: its
    /// partial products added.
    #[track_caller]
    pub fn product(&self, product: &SplitProduct<Staged>) -> Signal<'a> {
        let loc = Loc::caller();
        let kept = product.parts().first().and_then(|p| {
            let values = self.values.borrow();
            let c = values.carried.get(p.value.index)?;
            (p.value.pipeline == self.id).then(|| (c.from, c.name.clone()))
        });
        if let Some((from, name)) = kept {
            // The partials were kept from the stage after `keep_product`'s.
            if self.stage + 1 < from + PRODUCT_STAGES {
                self.m.error(
                    Code::StageMismatch,
                    loc,
                    format!(
                        "the product `{}` of pipeline `{}` is read {} stage(s) after \
                         keep_product; its partial products are registered twice, so read it \
                         {PRODUCT_STAGES} stages later",
                        name.trim_end_matches("_p0"),
                        self.name,
                        (self.stage + 1).saturating_sub(from)
                    ),
                );
            }
        }
        product.clone().map(|_, part| self.at(part)).sum()
    }

    fn carry(&self, name: &str, value: Signal<'a>, from: usize, reset: bool) -> Staged {
        let mut values = self.values.borrow_mut();
        values
            .stage_of
            .insert(value.id, (from, self.value_name(name, from)));
        values.carried.push(Carried {
            name: name.to_string(),
            from,
            reset,
            copies: vec![value],
        });
        Staged {
            pipeline: self.id,
            index: values.carried.len() - 1,
        }
    }

    /// `value` as seen in the stage being built: the value itself in its own stage, otherwise
    /// its register copy.
    #[track_caller]
    pub fn at(&self, value: Staged) -> Signal<'a> {
        let loc = Loc::caller();
        let mut values = self.values.borrow_mut();
        let Some(c) = values
            .carried
            .get(value.index)
            .filter(|_| value.pipeline == self.id)
        else {
            drop(values);
            self.m.error(
                Code::StageMismatch,
                loc,
                format!(
                    "a value of another pipeline was read in pipeline `{}`",
                    self.name
                ),
            );
            return self.valid();
        };
        if c.from > self.stage {
            let message = format!(
                "`{}` belongs to stage {} of pipeline `{}`, which is not built yet (this is \
                 stage {}); read it after `stage(\"{}\")`",
                c.name,
                c.from,
                self.name,
                self.stage,
                self.stages.get(c.from - 1).map_or("extra", String::as_str)
            );
            let first = c.copies[0];
            drop(values);
            self.m.error(Code::StageMismatch, loc, message);
            return first;
        }
        let from = c.from;
        while values.carried[value.index].copies.len() <= self.stage - from {
            let c = &values.carried[value.index];
            let stage = from + c.copies.len();
            let (prev, reset, name) = (c.copies[stage - from - 1], c.reset, c.name.clone());
            let q = self.register(&mut values, &name, stage, prev, reset, self.loc);
            values.carried[value.index].copies.push(q);
        }
        values.carried[value.index].copies[self.stage - from]
    }

    /// Enters the next declared stage, which must be `name`: every value kept so far is
    /// readable in it through [`Pipeline::at`].
    #[track_caller]
    pub fn stage(&mut self, name: &str) {
        let loc = Loc::caller();
        match self.stages.get(self.stage) {
            Some(expected) if expected == name => {}
            expected => {
                let message = match expected {
                    Some(e) => format!(
                        "pipeline `{}` enters stage `{name}` where its declared stages have \
                         `{e}` (stage {}); declare the stages in the order they are built",
                        self.name,
                        self.stage + 1
                    ),
                    None => format!(
                        "pipeline `{}` enters stage `{name}` after its last declared stage; \
                         add `{name}` to its stages (and so to its latency)",
                        self.name
                    ),
                };
                self.m.error(Code::StageMismatch, loc, message);
            }
        }
        let prev = self.valid();
        self.stage += 1;
        let valid = self.register(
            &mut self.values.borrow_mut(),
            "valid",
            self.stage,
            prev,
            true,
            loc,
        );
        self.valid.push(valid);
    }

    /// The register carrying `prev` into `stage` as `value`, reset to 0 if `reset`, in the
    /// pipeline's domain and outside any `when` scope; recorded as of that stage.
    fn register(
        &self,
        values: &mut Values<'a>,
        value: &str,
        stage: usize,
        prev: Signal<'a>,
        reset: bool,
        loc: Loc,
    ) -> Signal<'a> {
        let name = self.value_name(value, stage);
        let q = self.m.in_pipeline(self.domain, || {
            let r = self.m.reg_at(&name, prev.ty(), loc);
            let r = if reset { r.reset(0) } else { r };
            r.next(prev);
            r.q()
        });
        values.stage_of.insert(q.id, (stage, name));
        q
    }

    /// The stream leaving the stage being built: its valid bit and `payload`, which must
    /// belong to this stage.
    #[track_caller]
    pub fn source(&self, payload: Signal<'a>) -> Source<'a> {
        self.check_stage("the payload", payload, Loc::caller());
        Source::new(self.valid(), payload)
    }

    /// Ends the pipeline: reports declared stages that were never entered, and returns the
    /// depth, its latency in cycles.
    #[track_caller]
    pub fn finish(self) -> u64 {
        if self.stage < self.stages.len() {
            self.m.error(
                Code::StageMismatch,
                Loc::caller(),
                format!(
                    "pipeline `{}` declares {} stages but was built with {}: stage `{}` was \
                     never entered",
                    self.name,
                    self.stages.len(),
                    self.stage,
                    self.stages[self.stage]
                ),
            );
        }
        self.depth()
    }

    fn value_name(&self, value: &str, stage: usize) -> String {
        match stage {
            0 => format!("{}_{value}", self.name),
            s => format!(
                "{}_{}_{value}",
                self.name,
                self.stages.get(s - 1).map_or("extra", String::as_str)
            ),
        }
    }

    /// Reports `value` if it reads pipeline values of a stage other than this one.
    fn check_stage(&self, what: &str, value: Signal<'a>, loc: Loc) {
        let values = self.values.borrow();
        if values.stage_of.is_empty() {
            return;
        }
        let data = self.m.data.borrow();
        let mut seen = std::collections::HashSet::new();
        let mut todo = vec![value.id];
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let Some((stage, name)) = values.stage_of.get(&id) {
                if *stage != self.stage {
                    let message = format!(
                        "{what} in stage {} of pipeline `{}` reads `{name}` of stage {stage}; \
                         keep the value and read it with `at`, which delays it to this stage",
                        self.stage, self.name
                    );
                    drop(data);
                    self.m.error(Code::StageMismatch, loc, message);
                    return;
                }
                continue;
            }
            match &data.module.node(id).kind {
                NodeKind::Wire { .. } => {
                    for a in data.wire_assigns.get(&id).into_iter().flatten() {
                        todo.push(a.value);
                        todo.extend(a.cond);
                    }
                }
                kind => todo.extend(kind.operands()),
            }
        }
    }
}
