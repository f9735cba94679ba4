//! Compilation of a flattened design into straight-line instructions.
//!
//! Three steps: aliases (wires, casts, same-width resizes, ports crossing the hierarchy)
//! are resolved to the node that computes the value, so they cost nothing; the live
//! combinational nodes are put in one topological order (a loop is reported by name);
//! then each node gets a slot in the state vector and one or a few instructions.
//! Nodes whose operands are all constant are computed once, at construction.

use std::collections::HashMap;

use hardwire_hdl::ir::{BinaryOp, Type, UnaryOp};
use hardwire_hdl::Bits;

use crate::error::SimError;
use crate::flatten::{Flat, FlatId, FlatKind};
use crate::fuse::{
    deps, field, field_operands, field_or_self, forward_slice, narrow_addsub, truncated_addsub,
    view,
};
use crate::instr::{words, ArithOp, BitOp, CmpOp, EdgeOp, Instr, ReduceOp, Slot, WideOp, ALWAYS};

/// Storage and ports of one memory.
#[derive(Debug, Clone)]
pub(crate) struct MemLayout {
    pub name: String,
    pub ty: Type,
    pub depth: u32,
    /// Words per entry.
    pub words: u32,
    /// The initial contents, `depth * words` words.
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
    /// The rest of the combinational instructions (values only peeked or traced), run after
    /// `comb` when something looks at them.
    pub obs: Vec<Instr>,
    /// Side table for [`Instr::Wide`].
    pub wide: Vec<WideOp>,
    /// The clock edge, in commit order.
    pub edge: Vec<EdgeOp>,
    /// `(q, reset value slot, words)` for every register with a reset.
    pub resets: Vec<(Slot, Slot, u32)>,
    pub mems: Vec<MemLayout>,
    /// The slot holding each flattened node's value (after alias resolution); `None` for
    /// dead nodes nobody reads.
    pub slot_of: Vec<Option<Slot>>,
    pub rst: Option<Slot>,
}

/// How a slot's value behaves, which decides where its instructions go and whether an edge
/// input must be staged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Set by poke.
    Input,
    /// Never changes after construction.
    Const,
    /// Changed by the clock edge (register or memory read data).
    State,
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

/// Resolves every alias to the node that computes its value.
fn resolve_aliases(flat: &Flat) -> Result<Vec<FlatId>, SimError> {
    let n = flat.nodes.len();
    const UNSET: FlatId = FlatId::MAX;
    let mut rep = vec![UNSET; n];
    let mut on_path = vec![false; n];
    let mut path = Vec::new();
    for start in 0..n {
        let mut cur = start as FlatId;
        let target = loop {
            if rep[cur as usize] != UNSET {
                break rep[cur as usize];
            }
            let node = &flat.nodes[cur as usize];
            let next = match &node.kind {
                FlatKind::Alias(t) => Some(*t),
                FlatKind::Resize(a) if flat.nodes[*a as usize].ty.width == node.ty.width => {
                    Some(*a)
                }
                FlatKind::Concat(parts) if parts.len() == 1 => Some(parts[0]),
                _ => None,
            };
            match next {
                None => break cur,
                Some(t) => {
                    if flat.nodes[t as usize].ty.width != node.ty.width {
                        return Err(SimError::BadDesign(format!(
                            "{} is {} but is driven by a value of {} bits",
                            describe(flat, cur),
                            node.ty,
                            flat.nodes[t as usize].ty.width
                        )));
                    }
                    if on_path[cur as usize] {
                        let from = path.iter().position(|p| *p == cur).unwrap_or(0);
                        return Err(SimError::CombLoop(
                            path[from..].iter().map(|p| describe(flat, *p)).collect(),
                        ));
                    }
                    on_path[cur as usize] = true;
                    path.push(cur);
                    cur = t;
                }
            }
        };
        for p in path.drain(..) {
            on_path[p as usize] = false;
            rep[p as usize] = target;
        }
        rep[cur as usize] = target;
    }
    Ok(rep)
}

/// A name for a node in messages: a signal name if one points at it.
fn describe(flat: &Flat, node: FlatId) -> String {
    flat.signals
        .iter()
        .find(|s| s.node == node)
        .map(|s| format!("`{}`", s.path()))
        .unwrap_or_else(|| format!("an unnamed node #{node}"))
}

/// A name for a computing node: every signal that is another name for it.
fn describe_rep(flat: &Flat, rep: &[FlatId], node: FlatId) -> String {
    let names: Vec<String> = flat
        .signals
        .iter()
        .filter(|s| rep[s.node as usize] == node)
        .map(|s| format!("`{}`", s.path()))
        .collect();
    if names.is_empty() {
        format!("an unnamed node #{node}")
    } else {
        names.join(" = ")
    }
}

fn operands(kind: &FlatKind, out: &mut Vec<FlatId>) {
    out.clear();
    match kind {
        FlatKind::Input | FlatKind::Const(_) | FlatKind::RegQ | FlatKind::MemRead => {}
        FlatKind::Alias(a)
        | FlatKind::Unary(_, a)
        | FlatKind::Slice(a, _)
        | FlatKind::Resize(a) => out.push(*a),
        FlatKind::Binary(_, a, b) => out.extend([*a, *b]),
        FlatKind::Mux(s, a, b) => out.extend([*s, *a, *b]),
        FlatKind::Concat(parts) => out.extend_from_slice(parts),
    }
}

/// The live computing nodes in an order where operands come first.
fn levelize(flat: &Flat, rep: &[FlatId]) -> Result<Vec<FlatId>, SimError> {
    let mut roots: Vec<FlatId> = flat.signals.iter().map(|s| s.node).collect();
    roots.extend(flat.inputs.iter().map(|(_, n)| *n));
    for r in &flat.regs {
        roots.push(r.next);
        roots.extend(r.enable);
        roots.push(r.q);
    }
    for m in &flat.mems {
        for p in &m.read_ports {
            roots.extend([p.addr, p.data]);
            roots.extend(p.enable);
        }
        for p in &m.write_ports {
            roots.extend([p.addr, p.data, p.enable]);
        }
    }
    // 0 unvisited, 1 on the DFS stack, 2 done.
    let mut mark = vec![0u8; flat.nodes.len()];
    let mut order = Vec::new();
    let mut stack: Vec<(FlatId, usize)> = Vec::new();
    let mut ops = Vec::new();
    for root in roots {
        let root = rep[root as usize];
        if mark[root as usize] != 0 {
            continue;
        }
        mark[root as usize] = 1;
        stack.push((root, 0));
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            operands(&flat.nodes[node as usize].kind, &mut ops);
            if *next < ops.len() {
                let op = rep[ops[*next] as usize];
                *next += 1;
                match mark[op as usize] {
                    0 => {
                        mark[op as usize] = 1;
                        stack.push((op, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|(n, _)| *n == op).unwrap_or(0);
                        let names = stack[from..]
                            .iter()
                            .map(|(n, _)| describe_rep(flat, rep, *n))
                            .collect();
                        return Err(SimError::CombLoop(names));
                    }
                    _ => {}
                }
            } else {
                mark[node as usize] = 2;
                order.push(node);
                stack.pop();
            }
        }
    }
    Ok(order)
}

/// The nodes a register or memory port reads, directly or through logic: what a clock edge
/// needs settled. The rest is only observed (by peeks and waveforms) and computed on demand.
fn feeds_state(flat: &Flat, rep: &[FlatId]) -> Vec<bool> {
    let mut seen = vec![false; flat.nodes.len()];
    let mut stack: Vec<FlatId> = Vec::new();
    for r in &flat.regs {
        stack.push(r.next);
        stack.extend(r.enable);
    }
    let port = |n: FlatId| field_or_self(flat, rep, n).base;
    for m in &flat.mems {
        for p in &m.read_ports {
            stack.push(port(p.addr));
            stack.extend(p.enable);
        }
        for p in &m.write_ports {
            stack.extend([port(p.addr), p.data, port(p.enable)]);
        }
    }
    let mut ops = Vec::new();
    while let Some(n) = stack.pop() {
        let n = rep[n as usize];
        if std::mem::replace(&mut seen[n as usize], true) {
            continue;
        }
        deps(flat, rep, n, &mut ops);
        stack.extend_from_slice(&ops);
    }
    seen
}

/// Reorders a topological order level by level (a node's level is one more than its
/// deepest operand's), and within a level by kind of operation. Any order within a level is
/// valid; grouping alike instructions makes the executor's dispatch branch predictable,
/// which on wide, regular logic (multiplier arrays, adder trees) is most of its cost.
fn group_by_level(flat: &Flat, rep: &[FlatId], order: Vec<FlatId>) -> Vec<FlatId> {
    let mut level = vec![0u32; flat.nodes.len()];
    let mut ops = Vec::new();
    for &n in &order {
        operands(&flat.nodes[n as usize].kind, &mut ops);
        level[n as usize] = ops
            .iter()
            .map(|o| level[rep[*o as usize] as usize] + 1)
            .max()
            .unwrap_or(0);
    }
    let kind_key = |n: FlatId| -> (u32, u32) {
        let node = &flat.nodes[n as usize];
        let wide = u32::from(node.ty.width > 64);
        let k = match &node.kind {
            FlatKind::Binary(op, ..) => 100 + *op as u32,
            FlatKind::Unary(op, _) => 200 + *op as u32,
            FlatKind::Mux(..) => 300,
            FlatKind::Slice(..) => 301,
            FlatKind::Concat(..) => 302,
            FlatKind::Resize(..) => 303,
            _ => 0,
        };
        (wide, k)
    };
    let mut keyed: Vec<(u32, (u32, u32), usize, FlatId)> = order
        .iter()
        .enumerate()
        .map(|(i, &n)| (level[n as usize], kind_key(n), i, n))
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(.., n)| n).collect()
}

/// Staging copies already made: (slot, words) -> copy.
type Staged = HashMap<(Slot, u32), Slot>;

struct Compiler<'a> {
    flat: &'a Flat,
    rep: Vec<FlatId>,
    state: Vec<u64>,
    class_of: Vec<Class>,
    slot_of: Vec<Option<Slot>>,
    init: Vec<Instr>,
    comb: Vec<Instr>,
    obs: Vec<Instr>,
    wide: Vec<WideOp>,
    /// Whether each node feeds a register or memory port (else it is only observed).
    feeds_state: Vec<bool>,
    /// Whether the node being compiled feeds state: its instructions go to `comb`, else to
    /// `obs`.
    cur_core: bool,
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
        wide: Vec::new(),
        feeds_state: Vec::new(),
        cur_core: true,
        ext_cache: HashMap::new(),
    };
    c.feeds_state = feeds_state(flat, &c.rep);
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
            let s = c.alloc(n.ty.width, Class::State);
            c.slot_of[node as usize] = Some(s);
        }
    }
    for &node in &order {
        c.cur_core = c.feeds_state[node as usize];
        c.node(node)?;
    }
    c.cur_core = true;
    let (edge, resets, mems) = c.edge()?;
    // Aliases share their target's slot.
    let mut slot_of = c.slot_of.clone();
    for (i, s) in slot_of.iter_mut().enumerate() {
        *s = c.slot_of[c.rep[i] as usize];
    }
    let rst = flat.rst.and_then(|r| slot_of[r as usize]);
    Ok(Program {
        state: c.state,
        init: c.init,
        comb: c.comb,
        obs: c.obs,
        wide: c.wide,
        edge,
        resets,
        mems,
        slot_of,
        rst,
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
            Prog::Core => self.comb.push(i),
            Prog::Obs => self.obs.push(i),
        }
    }

    fn emit_wide(&mut self, class: Class, op: WideOp) {
        self.wide.push(op);
        let i = Instr::Wide((self.wide.len() - 1) as u32);
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
        let (op, a, b) = narrow_addsub(flat, &self.rep, sum).expect("callers check the shape");
        let (ta, tb) = (flat.nodes[a as usize].ty, flat.nodes[b as usize].ty);
        let (va, vb) = (view(flat, &self.rep, a, ta), view(flat, &self.rep, b, tb));
        let (sa, sb) = (
            self.opnd(va.base).slot + va.word,
            self.opnd(vb.base).slot + vb.word,
        );
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

    fn node(&mut self, node: FlatId) -> Result<(), SimError> {
        let flat = self.flat;
        let n = &flat.nodes[node as usize];
        let ty = n.ty;
        let w = ty.width;
        if w == 0 {
            return Err(SimError::BadDesign(format!(
                "{} has zero width",
                describe(flat, node)
            )));
        }
        match &n.kind {
            FlatKind::Input | FlatKind::RegQ | FlatKind::MemRead => return Ok(()),
            FlatKind::Const(b) => {
                let s = self.alloc_const(b);
                self.slot_of[node as usize] = Some(s);
                return Ok(());
            }
            FlatKind::Alias(_) => unreachable!("aliases are resolved before compiling"),
            _ => {}
        }
        let mut ops = Vec::new();
        operands(&n.kind, &mut ops);
        let opnds: Vec<Opnd> = ops.iter().map(|o| self.opnd(*o)).collect();
        let class = if opnds.iter().all(|o| o.class == Class::Const) {
            Class::Const
        } else {
            Class::Comb
        };
        let narrow = w <= 64 && opnds.iter().all(|o| o.ty.width <= 64);
        // Temporaries for extended operands come before the destination, so allocate lazily.
        macro_rules! dest {
            () => {{
                let d = self.alloc(w, class);
                self.slot_of[node as usize] = Some(d);
                d
            }};
        }
        if let Some([x, y]) = field_operands(flat, &self.rep, node) {
            let (fx, fy) = (
                field_or_self(flat, &self.rep, x),
                field_or_self(flat, &self.rep, y),
            );
            let a = self.opnd(fx.base).slot + fx.word;
            let b = self.opnd(fy.base).slot + fy.word;
            let (la, lb) = (fx.lo, fy.lo);
            let d = dest!();
            let i = match &n.kind {
                FlatKind::Binary(BinaryOp::And, ..) => Instr::AndF {
                    d,
                    a,
                    b,
                    la,
                    lb,
                    ms: ms(w),
                },
                FlatKind::Binary(BinaryOp::Or, ..) => Instr::OrF {
                    d,
                    a,
                    b,
                    la,
                    lb,
                    ms: ms(w),
                },
                FlatKind::Binary(..) => Instr::XorF {
                    d,
                    a,
                    b,
                    la,
                    lb,
                    ms: ms(w),
                },
                _ => {
                    let (wx, wy) = (
                        flat.nodes[x as usize].ty.width,
                        flat.nodes[y as usize].ty.width,
                    );
                    Instr::Concat2F {
                        d,
                        a,
                        b,
                        la,
                        lb,
                        sh: wy as u8,
                        ma: ms(wx),
                        mb: ms(wy),
                    }
                }
            };
            self.emit(class, i);
            return Ok(());
        }
        match &n.kind {
            FlatKind::Unary(op, _) => {
                let a = opnds[0];
                match op {
                    UnaryOp::Not | UnaryOp::Neg if narrow => {
                        let d = dest!();
                        let i = if *op == UnaryOp::Not {
                            let a = self.extend(a, w);
                            Instr::Not { d, a, ms: ms(w) }
                        } else {
                            Instr::Neg {
                                d,
                                a: a.slot,
                                sa: sx(a.ty),
                                ms: ms(w),
                            }
                        };
                        self.emit(class, i);
                    }
                    UnaryOp::Not | UnaryOp::Neg => {
                        let a = self.extend(a, w);
                        let d = dest!();
                        let op = if *op == UnaryOp::Not {
                            WideOp::Not { d, a, w }
                        } else {
                            WideOp::Neg { d, a, w }
                        };
                        self.emit_wide(class, op);
                    }
                    UnaryOp::ReduceAnd | UnaryOp::ReduceOr | UnaryOp::ReduceXor => {
                        let d = dest!();
                        let aw = a.ty.width;
                        if aw <= 64 {
                            let i = match op {
                                UnaryOp::ReduceAnd => Instr::RedAnd {
                                    d,
                                    a: a.slot,
                                    ms: ms(aw),
                                },
                                UnaryOp::ReduceOr => Instr::RedOr { d, a: a.slot },
                                _ => Instr::RedXor { d, a: a.slot },
                            };
                            self.emit(class, i);
                        } else {
                            let op = match op {
                                UnaryOp::ReduceAnd => ReduceOp::And,
                                UnaryOp::ReduceOr => ReduceOp::Or,
                                _ => ReduceOp::Xor,
                            };
                            self.emit_wide(
                                class,
                                WideOp::Reduce {
                                    op,
                                    d,
                                    a: a.slot,
                                    w: aw,
                                },
                            );
                        }
                    }
                }
            }
            FlatKind::Binary(op, _, _) => {
                self.binary(node, *op, opnds[0], opnds[1], class, narrow)?
            }
            FlatKind::Mux(..) => {
                let s = self.narrow(opnds[0]);
                let a = self.extend(opnds[1], w);
                let b = self.extend(opnds[2], w);
                let d = dest!();
                if w <= 64 {
                    self.emit(class, Instr::Mux { d, s, a, b });
                } else {
                    self.emit_wide(class, WideOp::Mux { d, s, a, b, w });
                }
            }
            FlatKind::Slice(src, lo) => {
                let (src, lo) = forward_slice(flat, &self.rep, *src, *lo, w);
                let a = self.opnd(src);
                if lo == 0 && a.ty.width == w {
                    self.slot_of[node as usize] = Some(a.slot);
                    return Ok(());
                }
                let d = dest!();
                self.slice_into(class, d, w, a, lo);
            }
            FlatKind::Concat(_) => {
                let total: u32 = opnds.iter().map(|o| o.ty.width).sum();
                if total != w {
                    return Err(SimError::BadDesign(format!(
                        "{} is {w} bits but concatenates {total}",
                        describe(flat, node)
                    )));
                }
                let d = dest!();
                if narrow {
                    let k = opnds.len();
                    let last = opnds[k - 1];
                    let prev = opnds[k - 2];
                    let mut off = last.ty.width;
                    self.emit(
                        class,
                        Instr::Concat2 {
                            d,
                            a: prev.slot,
                            b: last.slot,
                            sh: off as u8,
                        },
                    );
                    off += prev.ty.width;
                    for part in opnds[..k - 2].iter().rev() {
                        self.emit(
                            class,
                            Instr::OrShl {
                                d,
                                a: part.slot,
                                sh: off as u8,
                            },
                        );
                        off += part.ty.width;
                    }
                } else {
                    self.emit_wide(class, WideOp::Zero { d, w });
                    let mut off = 0;
                    for part in opnds.iter().rev() {
                        self.emit_wide(
                            class,
                            WideOp::Insert {
                                d,
                                dw: w,
                                a: part.slot,
                                aw: part.ty.width,
                                off,
                            },
                        );
                        off += part.ty.width;
                    }
                }
            }
            FlatKind::Resize(_) if truncated_addsub(flat, &self.rep, node).is_some() => {
                let sum = truncated_addsub(flat, &self.rep, node).expect("checked by the guard");
                let d = dest!();
                self.addsub(sum, d, ms(w), class);
            }
            FlatKind::Resize(_) if w < opnds[0].ty.width && w <= 64 => {
                let a = opnds[0];
                let d = dest!();
                self.slice_into(class, d, w, a, 0);
            }
            FlatKind::Resize(_) => {
                let a = opnds[0];
                let d = dest!();
                if narrow {
                    self.emit(
                        class,
                        Instr::Ext {
                            d,
                            a: a.slot,
                            sa: sx(a.ty),
                            ms: ms(w),
                        },
                    );
                } else {
                    self.emit_wide(
                        class,
                        WideOp::Ext {
                            d,
                            dw: w,
                            a: a.slot,
                            aw: a.ty.width,
                            signed: a.ty.signed,
                        },
                    );
                }
            }
            FlatKind::Input
            | FlatKind::Const(_)
            | FlatKind::Alias(_)
            | FlatKind::RegQ
            | FlatKind::MemRead => {
                unreachable!("handled above")
            }
        }
        Ok(())
    }

    fn binary(
        &mut self,
        node: FlatId,
        op: BinaryOp,
        a: Opnd,
        b: Opnd,
        class: Class,
        narrow: bool,
    ) -> Result<(), SimError> {
        let w = self.flat.nodes[node as usize].ty.width;
        macro_rules! dest {
            () => {{
                let d = self.alloc(w, class);
                self.slot_of[node as usize] = Some(d);
                d
            }};
        }
        match op {
            BinaryOp::Add | BinaryOp::Sub if narrow => {
                let d = dest!();
                self.addsub(node, d, ms(w), class);
            }
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul => {
                if narrow {
                    let d = dest!();
                    let (sa, sb, ms) = (sx(a.ty), sx(b.ty), ms(w));
                    let (a, b) = (a.slot, b.slot);
                    let i = match op {
                        BinaryOp::Add => Instr::Add {
                            d,
                            a,
                            b,
                            sa,
                            sb,
                            ms,
                        },
                        BinaryOp::Sub => Instr::Sub {
                            d,
                            a,
                            b,
                            sa,
                            sb,
                            ms,
                        },
                        _ => Instr::Mul {
                            d,
                            a,
                            b,
                            sa,
                            sb,
                            ms,
                        },
                    };
                    self.emit(class, i);
                } else {
                    let a = self.extend(a, w);
                    let b = self.extend(b, w);
                    let d = dest!();
                    let op = match op {
                        BinaryOp::Add => ArithOp::Add,
                        BinaryOp::Sub => ArithOp::Sub,
                        _ => ArithOp::Mul,
                    };
                    self.emit_wide(class, WideOp::Arith { op, d, a, b, w });
                }
            }
            BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => {
                let a = self.extend(a, w);
                let b = self.extend(b, w);
                let d = dest!();
                if w <= 64 {
                    let i = match op {
                        BinaryOp::And => Instr::And { d, a, b },
                        BinaryOp::Or => Instr::Or { d, a, b },
                        _ => Instr::Xor { d, a, b },
                    };
                    self.emit(class, i);
                } else {
                    let op = match op {
                        BinaryOp::And => BitOp::And,
                        BinaryOp::Or => BitOp::Or,
                        _ => BitOp::Xor,
                    };
                    self.emit_wide(class, WideOp::Bitwise { op, d, a, b, w });
                }
            }
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le => {
                let cw = a.ty.width.max(b.ty.width);
                let signed = a.ty.signed;
                if cw <= 64 {
                    let d = dest!();
                    let (sa, sb) = (sx(a.ty), sx(b.ty));
                    let (a, b) = (a.slot, b.slot);
                    let i = match (op, signed) {
                        (BinaryOp::Eq, _) => Instr::Eq { d, a, b, sa, sb },
                        (BinaryOp::Ne, _) => Instr::Ne { d, a, b, sa, sb },
                        (BinaryOp::Lt, false) => Instr::LtU { d, a, b },
                        (BinaryOp::Le, false) => Instr::LeU { d, a, b },
                        (BinaryOp::Lt, true) => Instr::LtS { d, a, b, sa, sb },
                        _ => Instr::LeS { d, a, b, sa, sb },
                    };
                    self.emit(class, i);
                } else {
                    let ea = self.extend(a, cw);
                    let eb = self.extend(b, cw);
                    let d = dest!();
                    let op = match op {
                        BinaryOp::Eq => CmpOp::Eq,
                        BinaryOp::Ne => CmpOp::Ne,
                        BinaryOp::Lt => CmpOp::Lt,
                        _ => CmpOp::Le,
                    };
                    self.emit_wide(
                        class,
                        WideOp::Cmp {
                            op,
                            d,
                            a: ea,
                            b: eb,
                            w: cw,
                            signed,
                        },
                    );
                }
            }
            BinaryOp::Shl | BinaryOp::Shr => {
                let left = op == BinaryOp::Shl;
                let signed = a.ty.signed && !left;
                let av = self.extend(a, w);
                let a = Opnd {
                    slot: av,
                    ty: a.ty.with_width(w),
                    class: a.class,
                };
                // A constant amount becomes an immediate (the common case after multiplier
                // expansion).
                let konst =
                    match &self.flat.nodes[self.rep[self.node_operand(node, 1)] as usize].kind {
                        FlatKind::Const(k) => Some(if k.words()[1..].iter().any(|x| *x != 0) {
                            u64::MAX
                        } else {
                            k.to_u64()
                        }),
                        _ => None,
                    };
                if w <= 64 {
                    if let Some(k) = konst {
                        let d = dest!();
                        let i = if k >= u64::from(w) {
                            if signed {
                                Instr::ShrCS {
                                    d,
                                    a: a.slot,
                                    sa: sx(a.ty),
                                    sh: 63,
                                    ms: ms(w),
                                }
                            } else {
                                Instr::Zero { d }
                            }
                        } else if left {
                            Instr::ShlC {
                                d,
                                a: a.slot,
                                sh: k as u8,
                                ms: ms(w),
                            }
                        } else if signed {
                            Instr::ShrCS {
                                d,
                                a: a.slot,
                                sa: sx(a.ty),
                                sh: k as u8,
                                ms: ms(w),
                            }
                        } else {
                            Instr::ShrCU {
                                d,
                                a: a.slot,
                                sh: k as u8,
                            }
                        };
                        self.emit(class, i);
                        return Ok(());
                    }
                }
                let amt = self.narrow(b);
                let d = dest!();
                let wb = w as u8;
                if w <= 64 {
                    let i = if left {
                        Instr::Shl {
                            d,
                            a: a.slot,
                            b: amt,
                            w: wb,
                        }
                    } else if signed {
                        Instr::ShrS {
                            d,
                            a: a.slot,
                            b: amt,
                            w: wb,
                        }
                    } else {
                        Instr::ShrU {
                            d,
                            a: a.slot,
                            b: amt,
                            w: wb,
                        }
                    };
                    self.emit(class, i);
                } else if left {
                    self.emit_wide(
                        class,
                        WideOp::Shl {
                            d,
                            a: a.slot,
                            amt,
                            w,
                        },
                    );
                } else {
                    self.emit_wide(
                        class,
                        WideOp::Shr {
                            d,
                            a: a.slot,
                            amt,
                            w,
                            signed,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// Operand `i` of a node, before alias resolution.
    fn node_operand(&self, node: FlatId, i: usize) -> usize {
        let mut ops = Vec::new();
        operands(&self.flat.nodes[node as usize].kind, &mut ops);
        ops[i] as usize
    }

    /// A slot for an edge input that is stable while the edge commits: state that the edge
    /// overwrites is copied first.
    fn stable(&mut self, op: Opnd, w: u32, edge: &mut Vec<EdgeOp>, staged: &mut Staged) -> Slot {
        let s = self.extend(op, w);
        self.stage(s, words(w) as u32, edge, staged)
    }

    /// `s` itself if the edge does not overwrite it, else a copy taken before the commit.
    fn stage(&mut self, s: Slot, n: u32, edge: &mut Vec<EdgeOp>, staged: &mut Staged) -> Slot {
        if self.class_of[s as usize] != Class::State {
            return s;
        }
        if let Some(t) = staged.get(&(s, n)) {
            return *t;
        }
        let t = self.alloc(64 * n, Class::Comb);
        edge.push(EdgeOp::Stage { d: t, a: s, n });
        staged.insert((s, n), t);
        t
    }

    /// A memory port's address or enable as `(slot, lo, ms)`: the value is
    /// `(slot >> lo) & (u64::MAX >> ms)`, so a slice of a word costs no instruction.
    fn port_field(
        &mut self,
        node: FlatId,
        edge: &mut Vec<EdgeOp>,
        staged: &mut Staged,
    ) -> (Slot, u8, u8) {
        let flat = self.flat;
        let w = flat.nodes[node as usize].ty.width;
        if let (true, Some(f)) = (w <= 64, field(flat, &self.rep, node)) {
            let slot = self.opnd(f.base).slot + f.word;
            return (self.stage(slot, 1, edge, staged), f.lo, ms(w));
        }
        let op = self.opnd(node);
        let s = self.narrow(op);
        (self.stage(s, 1, edge, staged), 0, 0)
    }

    #[allow(clippy::type_complexity)]
    fn edge(&mut self) -> Result<(Vec<EdgeOp>, Vec<(Slot, Slot, u32)>, Vec<MemLayout>), SimError> {
        let flat = self.flat;
        let mut stage = Vec::new();
        let mut staged = HashMap::new();
        let mut reads = Vec::new();
        let mut regs = Vec::new();
        let mut writes = Vec::new();
        let mut resets = Vec::new();
        let mut mems = Vec::new();
        // Every register's inputs, before any staging: (q, next, enable, words).
        let mut ins: Vec<(Slot, Slot, Slot, u32)> = Vec::new();
        for reg in &flat.regs {
            let w = reg.ty.width;
            let q = self.slot_of[reg.q as usize].expect("registers are live");
            let next = self.opnd(reg.next);
            let next = self.extend(next, w);
            let en = match reg.enable {
                Some(e) => {
                    let e = self.opnd(e);
                    self.narrow(e)
                }
                None => ALWAYS,
            };
            let n = words(w) as u32;
            ins.push((q, next, en, n));
            if let Some(r) = &reg.reset {
                let r = self.alloc_const(&r.resize(w, false));
                resets.push((q, r, n));
            }
        }
        // A one-word register reading another one's output (a shift register, a pipeline
        // of valid bits) needs no staging copy if it commits first: order them readers
        // first. What a cycle of such reads leaves unordered is staged.
        let q_of: HashMap<Slot, usize> = ins
            .iter()
            .enumerate()
            .filter(|(_, r)| r.3 == 1)
            .map(|(i, r)| (r.0, i))
            .collect();
        let sources = |r: &(Slot, Slot, Slot, u32)| -> Vec<usize> {
            [r.1, r.2]
                .into_iter()
                .filter_map(|s| q_of.get(&s).copied())
                .collect()
        };
        let mut readers = vec![0usize; ins.len()];
        for (i, r) in ins.iter().enumerate().filter(|(_, r)| r.3 == 1) {
            for s in sources(r).into_iter().filter(|s| *s != i) {
                readers[s] += 1;
            }
        }
        let mut ready: Vec<usize> = (0..ins.len())
            .filter(|&i| ins[i].3 == 1 && readers[i] == 0)
            .collect();
        let mut placed = vec![false; ins.len()];
        let mut order = Vec::new();
        while let Some(i) = ready.pop() {
            placed[i] = true;
            order.push(i);
            for s in sources(&ins[i]).into_iter().filter(|s| *s != i) {
                readers[s] -= 1;
                if readers[s] == 0 {
                    ready.push(s);
                }
            }
        }
        order.extend((0..ins.len()).filter(|&i| !placed[i]));
        let one = self.alloc_const(&Bits::from_u64(1, 1));
        for i in order {
            let (q, next, en, n) = ins[i];
            let direct = |s: Slot| placed[i] && q_of.contains_key(&s);
            let next = if direct(next) {
                next
            } else {
                self.stage(next, n, &mut stage, &mut staged)
            };
            let en = match en {
                ALWAYS if n == 1 => one,
                ALWAYS => ALWAYS,
                en if direct(en) => en,
                en => self.stage(en, 1, &mut stage, &mut staged),
            };
            regs.push(if n == 1 {
                EdgeOp::Reg { q, next, en }
            } else {
                EdgeOp::RegWide { q, next, en, n }
            });
        }
        for (m, mem) in flat.mems.iter().enumerate() {
            let w = mem.ty.width;
            let words = words(w) as u32;
            let m = m as u32;
            for rp in &mem.read_ports {
                let (addr, alo, ams) = self.port_field(rp.addr, &mut stage, &mut staged);
                let en = match rp.enable {
                    Some(e) => {
                        let e = self.opnd(e);
                        let e = self.narrow(e);
                        self.stable(
                            Opnd {
                                slot: e,
                                ty: Type::BOOL,
                                class: self.class_of[e as usize],
                            },
                            1,
                            &mut stage,
                            &mut staged,
                        )
                    }
                    None => ALWAYS,
                };
                let data = self.slot_of[rp.data as usize].expect("read ports are live");
                reads.push(EdgeOp::MemRead {
                    mem: m,
                    data,
                    addr,
                    en,
                    alo,
                    ams,
                });
            }
            for wp in &mem.write_ports {
                let (addr, alo, ams) = self.port_field(wp.addr, &mut stage, &mut staged);
                let data = self.opnd(wp.data);
                let data = self.stable(data, w, &mut stage, &mut staged);
                let (en, elo, _) = self.port_field(wp.enable, &mut stage, &mut staged);
                writes.push(EdgeOp::MemWrite {
                    mem: m,
                    addr,
                    data,
                    en,
                    alo,
                    ams,
                    elo,
                });
            }
            let mut init = vec![0u64; mem.depth as usize * words as usize];
            if let Some(words_init) = &mem.init {
                for (i, v) in words_init.iter().take(mem.depth as usize).enumerate() {
                    let v = v.resize(w, false);
                    let base = i * words as usize;
                    init[base..base + words as usize].copy_from_slice(v.words());
                }
            }
            mems.push(MemLayout {
                name: mem.name.clone(),
                ty: mem.ty,
                depth: mem.depth,
                words,
                init,
            });
        }
        let mut edge = stage;
        edge.extend(reads);
        edge.extend(regs);
        edge.extend(writes);
        Ok((edge, resets, mems))
    }
}
