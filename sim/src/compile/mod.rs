//! Compilation of a flattened design into straight-line instructions.
//!
//! Three steps: aliases (wires, casts, same-width resizes, ports crossing the hierarchy)
//! are resolved to the node that computes the value, so they cost nothing; the live
//! combinational nodes are put in one topological order (a loop is reported by name);
//! then each node gets a slot in the state vector and one or a few instructions
//! ([`select`]), and the clock edge becomes a list of commits ([`edge`]).
//! Nodes whose operands are all constant are computed once, at construction.

mod edge;
mod levelize;
mod select;

use std::collections::HashMap;

use hardwire_hdl::ir::{BinaryOp, Type};
use hardwire_hdl::Bits;

use crate::error::SimError;
use crate::flatten::{Flat, FlatId, FlatKind};
use crate::fuse::{narrow_addsub, narrow_mul, view, View};
use crate::instr::{words, EdgeOp, Instr, Side, Slot, SumOp, SumTerm, WideOp};
use crate::sum::{ranges, sum_terms, Range};
use levelize::{feeds_state, group_by_level, levelize, resolve_aliases};

/// Storage and ports of one memory.
#[derive(Debug, Clone)]
pub(crate) struct MemLayout {
    pub name: String,
    pub ty: Type,
    pub depth: u32,
    /// Words per entry.
    pub words: u32,
    /// The initial contents, `depth * words` words (moved to the simulator's store).
    pub init: Vec<u64>,
}

/// A compiled design.
#[derive(Debug, Clone)]
pub(crate) struct Program {
    /// The state at time zero: constants set, everything else zero (run `init` on it).
    pub state: Vec<u64>,
    /// Instructions computing the constant-only nodes, run once.
    pub init: Vec<Instr>,
    /// The combinational instructions that registers and memory ports depend on, in
    /// topological order: run before every edge.
    pub comb: Vec<Instr>,
    /// For each instruction of `comb`, the instance whose logic it computes
    /// ([`EDGE_LOGIC`] for what the edge's ports need): the hint for activity partitions.
    pub comb_inst: Vec<u32>,
    /// The rest of the combinational instructions (values only peeked or traced), run after
    /// `comb` when something looks at them.
    pub obs: Vec<Instr>,
    /// Side tables for [`Instr::Wide`] and [`Instr::Sum`].
    pub side: Side,
    /// The clock edge, in commit order.
    pub edge: Vec<EdgeOp>,
    /// Per clock domain, `(q, reset value slot, words)` for every register with a reset.
    pub resets: Vec<Vec<(Slot, Slot, u32)>>,
    pub mems: Vec<MemLayout>,
    /// The slot holding each flattened node's value (after alias resolution); `None` for
    /// dead nodes nobody reads.
    pub slot_of: Vec<Option<Slot>>,
}

/// The instance number given to logic that the clock edge's ports need (an extended
/// address, say) rather than a node.
pub(crate) const EDGE_LOGIC: u32 = u32::MAX;

/// How a slot's value behaves, which decides where its instructions go and whether an edge
/// input must be staged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Set by poke.
    Input,
    /// Never changes after construction.
    Const,
    /// A register output: changed by the clock edge.
    State,
    /// Memory read data: changed by the clock edge, before the registers.
    MemData,
    /// Computed by the combinational program.
    Comb,
}

/// An operand: the slot holding it and the type the reader sees it as.
#[derive(Debug, Clone, Copy)]
struct Opnd {
    slot: Slot,
    ty: Type,
    class: Class,
}

fn ms(width: u32) -> u8 {
    (64 - width) as u8
}

/// The sign-extension shift of an operand (see the [`crate::instr`] encoding).
fn sx(ty: Type) -> u8 {
    if ty.signed {
        (64 - ty.width) as u8
    } else {
        0
    }
}

/// Staging copies already made: (slot, words) -> copy.
type Staged = HashMap<(Slot, u32), Slot>;

struct Compiler<'a> {
    flat: &'a Flat<'a>,
    rep: Vec<FlatId>,
    state: Vec<u64>,
    class_of: Vec<Class>,
    slot_of: Vec<Option<Slot>>,
    init: Vec<Instr>,
    comb: Vec<Instr>,
    obs: Vec<Instr>,
    side: Side,
    /// Value ranges, for folding adder trees exactly (see [`crate::sum`]).
    ranges: Vec<Option<Range>>,
    /// A constant zero, once some sum needs padding.
    zero: Option<Slot>,
    /// Whether each node feeds a register or memory port (else it is only observed).
    feeds_state: Vec<bool>,
    /// Whether the node being compiled feeds state: its instructions go to `comb`, else to
    /// `obs`.
    cur_core: bool,
    /// The instance of the node being compiled.
    cur_inst: u32,
    comb_inst: Vec<u32>,
    /// Extensions already emitted: (slot, type, width, program) -> slot.
    ext_cache: HashMap<(Slot, Type, u32, Prog), Slot>,
}

/// Which program an instruction lands in; each may read what an earlier one computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Prog {
    Init,
    Core,
    Obs,
}

/// Compiles a flattened design.
pub(crate) fn compile(flat: &Flat) -> Result<Program, SimError> {
    let rep = resolve_aliases(flat)?;
    let order = group_by_level(flat, &rep, levelize(flat, &rep)?);
    let mut c = Compiler {
        flat,
        rep,
        state: Vec::new(),
        class_of: Vec::new(),
        slot_of: vec![None; flat.nodes.len()],
        init: Vec::new(),
        comb: Vec::new(),
        obs: Vec::new(),
        side: Side::default(),
        ranges: Vec::new(),
        zero: None,
        feeds_state: Vec::new(),
        cur_core: true,
        cur_inst: 0,
        comb_inst: Vec::new(),
        ext_cache: HashMap::new(),
    };
    c.ranges = ranges(flat, &c.rep, &order);
    c.feeds_state = feeds_state(flat, &c.rep, &c.ranges);
    // Inputs first, then state, so the hot data sits together; then the computed nodes in
    // evaluation order, each followed by its temporaries.
    for (_, node) in &flat.inputs {
        let r = c.rep[*node as usize];
        if c.slot_of[r as usize].is_none() {
            let s = c.alloc(flat.nodes[r as usize].ty.width, Class::Input);
            c.slot_of[r as usize] = Some(s);
        }
    }
    for &node in &order {
        let n = &flat.nodes[node as usize];
        if matches!(n.kind, FlatKind::RegQ | FlatKind::MemRead) {
            let class = if matches!(n.kind, FlatKind::RegQ) {
                Class::State
            } else {
                Class::MemData
            };
            let s = c.alloc(n.ty.width, class);
            c.slot_of[node as usize] = Some(s);
        }
    }
    for &node in &order {
        c.cur_core = c.feeds_state[node as usize];
        c.cur_inst = flat.nodes[node as usize].inst;
        c.node(node)?;
    }
    c.cur_core = true;
    c.cur_inst = EDGE_LOGIC;
    let (edge, resets, mems) = c.edge()?;
    // Aliases share their target's slot.
    let mut slot_of = c.slot_of.clone();
    for (i, s) in slot_of.iter_mut().enumerate() {
        *s = c.slot_of[c.rep[i] as usize];
    }
    Ok(Program {
        state: c.state,
        init: c.init,
        comb: c.comb,
        comb_inst: c.comb_inst,
        obs: c.obs,
        side: c.side,
        edge,
        resets,
        mems,
        slot_of,
    })
}

impl Compiler<'_> {
    fn alloc(&mut self, width: u32, class: Class) -> Slot {
        let s = self.state.len() as Slot;
        for _ in 0..words(width) {
            self.state.push(0);
            self.class_of.push(class);
        }
        s
    }

    fn alloc_const(&mut self, value: &Bits) -> Slot {
        let s = self.alloc(value.width(), Class::Const);
        for (i, w) in value.words().iter().enumerate() {
            self.state[s as usize + i] = *w;
        }
        s
    }

    fn opnd(&self, node: FlatId) -> Opnd {
        let r = self.rep[node as usize];
        let slot = self.slot_of[r as usize]
            .expect("operands are compiled before their readers (topological order)");
        Opnd {
            slot,
            ty: self.flat.nodes[node as usize].ty,
            class: self.class_of[slot as usize],
        }
    }

    fn prog(&self, class: Class) -> Prog {
        match (class, self.cur_core) {
            (Class::Const, _) => Prog::Init,
            (_, true) => Prog::Core,
            (_, false) => Prog::Obs,
        }
    }

    fn emit(&mut self, class: Class, i: Instr) {
        match self.prog(class) {
            Prog::Init => self.init.push(i),
            Prog::Core => {
                self.comb.push(i);
                self.comb_inst.push(self.cur_inst);
            }
            Prog::Obs => self.obs.push(i),
        }
    }

    fn emit_wide(&mut self, class: Class, op: WideOp) {
        self.side.wide.push(op);
        let i = Instr::Wide((self.side.wide.len() - 1) as u32);
        self.emit(class, i);
    }

    /// `op` resized (by its own signedness) to `w` bits; a new slot unless it already is.
    fn extend(&mut self, op: Opnd, w: u32) -> Slot {
        if op.ty.width == w {
            return op.slot;
        }
        let class = if op.class == Class::Const {
            Class::Const
        } else {
            Class::Comb
        };
        let prog = self.prog(class);
        // A value computed by an earlier-running program can be reused.
        for p in [Prog::Init, Prog::Core, Prog::Obs] {
            if let Some(s) = self.ext_cache.get(&(op.slot, op.ty, w, p)) {
                return *s;
            }
            if p == prog {
                break;
            }
        }
        let key = (op.slot, op.ty, w, prog);
        if w < op.ty.width && w <= 64 {
            // A truncation is a slice of the low bits.
            let d = self.alloc(w, class);
            self.slice_into(class, d, w, op, 0);
            self.ext_cache.insert(key, d);
            return d;
        }
        let d = self.alloc(w, class);
        if w <= 64 && op.ty.width <= 64 {
            self.emit(
                class,
                Instr::Ext {
                    d,
                    a: op.slot,
                    sa: sx(op.ty),
                    ms: ms(w),
                },
            );
        } else {
            self.emit_wide(
                class,
                WideOp::Ext {
                    d,
                    dw: w,
                    a: op.slot,
                    aw: op.ty.width,
                    signed: op.ty.signed,
                },
            );
        }
        self.ext_cache.insert(key, d);
        d
    }

    /// `d = a ± b` for the narrow add or subtract `sum`, masked by `ms` (which may be
    /// narrower than the sum: a truncation folded in), its operands read through views.
    fn addsub(&mut self, sum: FlatId, d: Slot, ms: u8, class: Class) {
        let flat = self.flat;
        if let Some(terms) = sum_terms(flat, &self.rep, &self.ranges, sum) {
            let zero = match self.zero {
                Some(z) => z,
                None => {
                    let z = self.alloc_const(&Bits::zero(1));
                    self.zero = Some(z);
                    z
                }
            };
            let mut op = SumOp {
                d,
                ms,
                terms: [SumTerm {
                    slot: zero,
                    ..SumTerm::default()
                }; 4],
            };
            for (slot, t) in op.terms.iter_mut().zip(&terms) {
                let base = self.opnd(t.base).slot + t.word;
                *slot = SumTerm {
                    slot: base,
                    p1: t.p1,
                    p2: t.p2,
                    k: t.k,
                    neg: t.neg,
                };
            }
            self.side.sums.push(op);
            let i = Instr::Sum((self.side.sums.len() - 1) as u32);
            self.emit(class, i);
            return;
        }
        let (op, a, b) = narrow_addsub(flat, &self.rep, sum).expect("callers check the shape");
        let (ta, tb) = (flat.nodes[a as usize].ty, flat.nodes[b as usize].ty);
        let ((va, sa), (vb, sb)) = (self.viewed(a), self.viewed(b));
        let i = if va.is_plain(a) && vb.is_plain(b) {
            let (sa_, sb_) = (sx(ta), sx(tb));
            match op {
                BinaryOp::Add => Instr::Add {
                    d,
                    a: sa,
                    b: sb,
                    sa: sa_,
                    sb: sb_,
                    ms,
                },
                _ => Instr::Sub {
                    d,
                    a: sa,
                    b: sb,
                    sa: sa_,
                    sb: sb_,
                    ms,
                },
            }
        } else {
            let (va, vb) = (va.stages, vb.stages);
            match (op, ta.signed) {
                (BinaryOp::Add, true) => Instr::AddXS {
                    d,
                    a: sa,
                    b: sb,
                    va,
                    vb,
                    ms,
                },
                (BinaryOp::Add, false) => Instr::AddXU {
                    d,
                    a: sa,
                    b: sb,
                    va,
                    vb,
                    ms,
                },
                (_, true) => Instr::SubXS {
                    d,
                    a: sa,
                    b: sb,
                    va,
                    vb,
                    ms,
                },
                (_, false) => Instr::SubXU {
                    d,
                    a: sa,
                    b: sb,
                    va,
                    vb,
                    ms,
                },
            }
        };
        self.emit(class, i);
    }

    /// How a fused instruction reads operand `node` (see [`View`]), and the slot of the word
    /// it reads.
    fn viewed(&self, node: FlatId) -> (View, Slot) {
        let v = view(
            self.flat,
            &self.rep,
            node,
            self.flat.nodes[node as usize].ty,
        );
        (v, self.opnd(v.base).slot + v.word)
    }

    /// `d = a * b` for the narrow multiply `mul`, masked by `ms`, its operands read through
    /// views.
    fn mul(&mut self, mul: FlatId, d: Slot, ms: u8, class: Class) {
        let flat = self.flat;
        let (a, b) = narrow_mul(flat, &self.rep, mul).expect("callers check the shape");
        let (ta, tb) = (flat.nodes[a as usize].ty, flat.nodes[b as usize].ty);
        let ((va, sa), (vb, sb)) = (self.viewed(a), self.viewed(b));
        let i = if va.is_plain(a) && vb.is_plain(b) {
            Instr::Mul {
                d,
                a: sa,
                b: sb,
                sa: sx(ta),
                sb: sx(tb),
                ms,
            }
        } else if ta.signed {
            Instr::MulXS {
                d,
                a: sa,
                b: sb,
                va: va.stages,
                vb: vb.stages,
                ms,
            }
        } else {
            Instr::MulXU {
                d,
                a: sa,
                b: sb,
                va: va.stages,
                vb: vb.stages,
                ms,
            }
        };
        self.emit(class, i);
    }

    /// `d = a[lo .. lo + w]`, with the cheapest instruction for where the bits sit.
    fn slice_into(&mut self, class: Class, d: Slot, w: u32, a: Opnd, lo: u32) {
        let (word, bit) = (lo / 64, lo % 64);
        let inside = lo + w <= a.ty.width;
        if w <= 64 && inside && bit + w <= 64 {
            let a = a.slot + word;
            self.emit(
                class,
                Instr::Slice {
                    d,
                    a,
                    lo: bit as u8,
                    ms: ms(w),
                },
            );
        } else if w <= 64 && inside {
            let a = a.slot + word;
            self.emit(
                class,
                Instr::Slice2 {
                    d,
                    a,
                    lo: bit as u8,
                    ms: ms(w),
                },
            );
        } else {
            let aw = a.ty.width;
            self.emit_wide(
                class,
                WideOp::Slice {
                    d,
                    dw: w,
                    a: a.slot,
                    aw,
                    lo,
                },
            );
        }
    }

    /// A shift amount or address in one word.
    fn narrow(&mut self, op: Opnd) -> Slot {
        if op.ty.width <= 64 {
            return op.slot;
        }
        let class = if op.class == Class::Const {
            Class::Const
        } else {
            Class::Comb
        };
        let d = self.alloc(64, class);
        self.emit_wide(
            class,
            WideOp::Clamp {
                d,
                a: op.slot,
                aw: op.ty.width,
            },
        );
        d
    }
}
