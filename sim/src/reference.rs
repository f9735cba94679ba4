//! The reference interpreter: the IR's semantics written as plainly as possible, bit by bit
//! on [`Bits`], with the hierarchy kept and every node evaluated on demand. It is slow on
//! purpose: it shares no code and no tricks with the compiled simulator (multiplication is
//! sign-and-magnitude shift-and-add, comparison is bit by bit from the top), so agreement
//! between the two is evidence that both are right.

use std::collections::HashMap;

use hardwire_hdl::ir::{BinaryOp, Design, Direction, ModuleId, NodeId, NodeKind, Type, UnaryOp};
use hardwire_hdl::Bits;

use crate::error::SimError;

/// Bits as booleans, least significant first.
fn to_vec(b: &Bits) -> Vec<bool> {
    (0..b.width()).map(|i| b.bit(i)).collect()
}

fn from_vec(v: &[bool]) -> Bits {
    let mut words = vec![0u64; v.len().div_ceil(64).max(1)];
    for (i, bit) in v.iter().enumerate() {
        if *bit {
            words[i / 64] |= 1 << (i % 64);
        }
    }
    Bits::from_words(&words, v.len() as u32)
}

/// `v` of type `ty` extended or truncated to `w` bits.
fn ext(v: &Bits, ty: Type, w: u32) -> Vec<bool> {
    to_vec(&v.resize(w, ty.signed))
}

fn add_vec(a: &[bool], b: &[bool], carry_in: bool) -> Vec<bool> {
    let mut carry = carry_in;
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let s = x ^ y ^ carry;
            carry = (x & y) | (x & carry) | (y & carry);
            s
        })
        .collect()
}

fn negate(a: &[bool]) -> Vec<bool> {
    let inv: Vec<bool> = a.iter().map(|x| !x).collect();
    add_vec(&inv, &vec![false; a.len()], true)
}

/// The magnitude of `v` (read with `ty`) as an unsigned vector of `w` bits, and its sign.
fn magnitude(v: &Bits, ty: Type, w: u32) -> (Vec<bool>, bool) {
    let negative = ty.signed && v.bit(ty.width - 1);
    let wide = to_vec(&v.resize(w, ty.signed));
    if negative {
        (negate(&wide), true)
    } else {
        (wide, false)
    }
}

/// Exact product, truncated to `w` bits: the magnitudes multiplied by shift-and-add, then
/// the sign applied.
fn mul(a: &Bits, ta: Type, b: &Bits, tb: Type, w: u32) -> Vec<bool> {
    let full = ta.width + tb.width + 2;
    let (ma, na) = magnitude(a, ta, full);
    let (mb, nb) = magnitude(b, tb, full);
    let mut acc = vec![false; full as usize];
    for (i, bit) in mb.iter().enumerate() {
        if *bit {
            let mut shifted = vec![false; full as usize];
            shifted[i..].copy_from_slice(&ma[..full as usize - i]);
            acc = add_vec(&acc, &shifted, false);
        }
    }
    if na != nb {
        acc = negate(&acc);
    }
    let sign = *acc.last().expect("at least one bit");
    (0..w as usize)
        .map(|i| acc.get(i).copied().unwrap_or(sign))
        .collect()
}

/// `a < b` (and `a == b`) for two values read with their types, compared as integers.
fn compare(a: &Bits, ta: Type, b: &Bits, tb: Type) -> (bool, bool) {
    let w = ta.width.max(tb.width) + 1;
    let x = ext(a, ta, w);
    let y = ext(b, tb, w);
    let (sx, sy) = (x[w as usize - 1], y[w as usize - 1]);
    if sx != sy {
        return (sx, false);
    }
    for i in (0..w as usize).rev() {
        if x[i] != y[i] {
            return (y[i], false);
        }
    }
    (false, true)
}

/// The value of a shift amount, saturated.
fn amount(v: &Bits) -> u64 {
    let mut n = 0u64;
    for i in (0..v.width()).rev() {
        if v.bit(i) {
            if i >= 63 {
                return u64::MAX;
            }
            n |= 1 << i;
        }
    }
    n
}

/// One instance's state.
#[derive(Debug, Clone)]
struct Inst {
    module: ModuleId,
    regs: Vec<Bits>,
    mems: Vec<Vec<Bits>>,
    read_data: Vec<Vec<Bits>>,
    children: Vec<Inst>,
}

impl Inst {
    fn new(design: &Design, module: ModuleId) -> Inst {
        let m = design.module(module);
        Inst {
            module,
            regs: m.regs.iter().map(|r| Bits::zero(r.ty.width)).collect(),
            mems: m
                .mems
                .iter()
                .map(|mem| match mem.init.as_ref().map(|i| i.to_words()) {
                    Some(init) => (0..mem.depth as usize)
                        .map(|i| {
                            init.get(i)
                                .map(|b| b.resize(mem.ty.width, false))
                                .unwrap_or(Bits::zero(mem.ty.width))
                        })
                        .collect(),
                    None => vec![Bits::zero(mem.ty.width); mem.depth as usize],
                })
                .collect(),
            read_data: m
                .mems
                .iter()
                .map(|mem| vec![Bits::zero(mem.ty.width); mem.read_ports.len()])
                .collect(),
            children: m
                .instances
                .iter()
                .map(|i| Inst::new(design, i.module))
                .collect(),
        }
    }
}

/// A slow reference simulator: same semantics and testbench shape as
/// [`Simulator`](crate::Simulator), computed node by node on [`Bits`].
#[derive(Debug, Clone)]
pub struct Reference<'d> {
    design: &'d Design,
    root: Inst,
    inputs: HashMap<String, Bits>,
    rst: bool,
    memo: HashMap<(Vec<u32>, u32), Bits>,
}

impl<'d> Reference<'d> {
    /// A reference simulation of `design`'s top module, inputs and state at zero.
    ///
    /// # Panics
    /// When a module has more than one clock domain: the reference models one clock, and
    /// multi-clock designs are checked against models of their own (`sim/tests/domains.rs`).
    pub fn new(design: &'d Design) -> Self {
        assert!(
            design.modules.iter().all(|m| m.domains.len() == 1),
            "the reference interpreter models one clock domain"
        );
        let top = design.top_module();
        let inputs = top
            .inputs()
            .map(|p| (p.name.clone(), Bits::zero(p.ty.width)))
            .collect();
        Reference {
            design,
            root: Inst::new(design, design.top),
            inputs,
            rst: false,
            memo: HashMap::new(),
        }
    }

    /// Sets a top-level input (or `rst`); the value is resized to the port.
    pub fn poke(&mut self, name: &str, v: &Bits) -> Result<(), SimError> {
        self.memo.clear();
        if name == "rst" && self.design.top_module().clocked {
            self.rst = v.bit(0);
            return Ok(());
        }
        let port = self
            .design
            .top_module()
            .port(name)
            .ok_or_else(|| SimError::UnknownSignal(name.to_string()))?;
        if port.dir != Direction::Input {
            return Err(SimError::NotAnInput(name.to_string()));
        }
        self.inputs
            .insert(name.to_string(), v.resize(port.ty.width, false));
        Ok(())
    }

    fn inst(&self, path: &[u32]) -> &Inst {
        path.iter()
            .fold(&self.root, |i, c| &i.children[*c as usize])
    }

    /// The value of a named port, register or wire (with an instance path below the top).
    pub fn peek(&mut self, name: &str) -> Result<Bits, SimError> {
        let unknown = || SimError::UnknownSignal(name.to_string());
        let parts: Vec<&str> = name.split('.').collect();
        let mut path = Vec::new();
        let mut module = self.design.top_module();
        for inst_name in &parts[..parts.len() - 1] {
            let i = module
                .instances
                .iter()
                .position(|i| i.name == *inst_name)
                .ok_or_else(unknown)?;
            path.push(i as u32);
            module = self.design.module(module.instances[i].module);
        }
        let leaf = parts[parts.len() - 1];
        if leaf == "rst" && path.is_empty() && module.clocked {
            return Ok(Bits::from_u64(self.rst as u64, 1));
        }
        if let Some(p) = module.port(leaf) {
            return Ok(self.eval(&path, p.node));
        }
        if let Some(r) = module.regs.iter().position(|r| r.name == leaf) {
            return Ok(self.inst(&path).regs[r].clone());
        }
        let wire = module
            .nodes
            .iter()
            .position(|n| matches!(&n.kind, NodeKind::Wire { name, .. } if name == leaf));
        let wire = wire.ok_or_else(unknown)?;
        Ok(self.eval(&path, NodeId(wire as u32)))
    }

    /// One clock edge with the IR's semantics.
    pub fn step(&mut self) {
        let mut next = self.root.clone();
        self.edge(&mut Vec::new(), &mut next);
        self.root = next;
        self.memo.clear();
    }

    fn edge(&mut self, path: &mut Vec<u32>, next: &mut Inst) {
        let design = self.design;
        let module = design.module(next.module);
        for (r, reg) in module.regs.iter().enumerate() {
            let load = match reg.enable {
                Some(e) => self.eval(path, e).bit(0),
                None => true,
            };
            if let (true, Some(v)) = (self.rst, &reg.reset) {
                next.regs[r] = v.resize(reg.ty.width, false);
            } else if load {
                let nx = reg.next.expect("checked designs drive every register");
                let v = self.eval(path, nx);
                next.regs[r] = v.resize(reg.ty.width, module.node(nx).ty.signed);
            }
        }
        for (m, mem) in module.mems.iter().enumerate() {
            for (p, rp) in mem.read_ports.iter().enumerate() {
                let enabled = match rp.enable {
                    Some(e) => self.eval(path, e).bit(0),
                    None => true,
                };
                if enabled {
                    let a = amount(&self.eval(path, rp.addr));
                    let cur = &self.inst(path).mems[m];
                    next.read_data[m][p] = cur
                        .get(a as usize)
                        .cloned()
                        .unwrap_or(Bits::zero(mem.ty.width));
                }
            }
            for wp in &mem.write_ports {
                if self.eval(path, wp.enable).bit(0) {
                    let a = amount(&self.eval(path, wp.addr));
                    let v = self.eval(path, wp.data).resize(mem.ty.width, false);
                    if let Some(slot) = next.mems[m].get_mut(a as usize) {
                        *slot = v;
                    }
                }
            }
        }
        for (c, child) in next.children.iter_mut().enumerate() {
            path.push(c as u32);
            self.edge(path, child);
            path.pop();
        }
    }

    /// One word of a memory (with an instance path below the top).
    pub fn peek_mem(&self, name: &str, addr: u64) -> Result<Bits, SimError> {
        let (path, m) = self.find_mem(name, addr)?;
        let mut inst = &self.root;
        for &i in &path {
            inst = &inst.children[i];
        }
        Ok(inst.mems[m][addr as usize].clone())
    }

    /// Overwrites one word of a memory, as [`Simulator::poke_mem`](crate::Simulator::poke_mem)
    /// does (the value is resized to the memory's width).
    pub fn poke_mem(&mut self, name: &str, addr: u64, v: &Bits) -> Result<(), SimError> {
        let (path, m) = self.find_mem(name, addr)?;
        let mut inst = &mut self.root;
        for &i in &path {
            inst = &mut inst.children[i];
        }
        let width = self.design.module(inst.module).mems[m].ty.width;
        inst.mems[m][addr as usize] = v.resize(width, false);
        Ok(())
    }

    /// The instance path (child indices) and memory index of `name`, with `addr` in range.
    fn find_mem(&self, name: &str, addr: u64) -> Result<(Vec<usize>, usize), SimError> {
        let parts: Vec<&str> = name.split('.').collect();
        let mut inst = &self.root;
        let mut path = Vec::new();
        for inst_name in &parts[..parts.len() - 1] {
            let module = self.design.module(inst.module);
            let i = module.instances.iter().position(|i| i.name == *inst_name);
            let i = i.ok_or_else(|| SimError::UnknownMemory(name.to_string()))?;
            path.push(i);
            inst = &inst.children[i];
        }
        let module = self.design.module(inst.module);
        let m = module
            .mems
            .iter()
            .position(|m| m.name == parts[parts.len() - 1]);
        let m = m.ok_or_else(|| SimError::UnknownMemory(name.to_string()))?;
        let depth = module.mems[m].depth;
        if addr >= u64::from(depth) {
            return Err(SimError::AddressOutOfRange {
                name: name.to_string(),
                addr,
                depth,
            });
        }
        Ok((path, m))
    }

    /// The value of node `id` in the instance at `path`.
    fn eval(&mut self, path: &[u32], id: NodeId) -> Bits {
        if let Some(v) = self.memo.get(&(path.to_vec(), id.0)) {
            return v.clone();
        }
        let design = self.design;
        let inst = self.inst(path);
        let module = design.module(inst.module);
        let node = module.node(id);
        let w = node.ty.width;
        let ty_of = |n: NodeId| module.node(n).ty;
        let v = match &node.kind {
            // Read as 0, as the native simulator reads it.
            NodeKind::Clock(_) => Bits::zero(1),
            NodeKind::Input(p) => {
                let port = &module.ports[*p as usize];
                if path.is_empty() {
                    self.inputs[&port.name].clone()
                } else {
                    let parent = &path[..path.len() - 1];
                    let pmod = design.module(self.inst(parent).module);
                    let conn =
                        pmod.instances[path[path.len() - 1] as usize].connections[*p as usize];
                    self.eval(parent, conn.expect("checked designs connect every input"))
                }
            }
            NodeKind::Const(b) => b.resize(w, false),
            NodeKind::Wire { driver, .. } => {
                self.eval(path, driver.expect("checked designs drive every wire"))
            }
            NodeKind::RegQ(r) => inst.regs[r.0 as usize].clone(),
            NodeKind::MemRead(m, p) => inst.read_data[m.0 as usize][*p as usize].clone(),
            NodeKind::InstOut(i, p) => {
                let child = design.module(module.instances[i.0 as usize].module);
                let mut cpath = path.to_vec();
                cpath.push(i.0);
                self.eval(&cpath, child.ports[*p as usize].node)
            }
            NodeKind::Unary(op, a) => {
                let ta = ty_of(*a);
                let va = self.eval(path, *a);
                let bits = to_vec(&va);
                match op {
                    UnaryOp::Not => {
                        from_vec(&bits.iter().map(|b| !b).collect::<Vec<_>>()).resize(w, false)
                    }
                    UnaryOp::Neg => from_vec(&negate(&ext(&va, ta, w))),
                    UnaryOp::ReduceAnd => Bits::from_u64(bits.iter().all(|b| *b) as u64, 1),
                    UnaryOp::ReduceOr => Bits::from_u64(bits.iter().any(|b| *b) as u64, 1),
                    UnaryOp::ReduceXor => {
                        Bits::from_u64(bits.iter().filter(|b| **b).count() as u64 % 2, 1)
                    }
                }
            }
            NodeKind::Binary(op, a, b) => {
                let (ta, tb) = (ty_of(*a), ty_of(*b));
                let (va, vb) = (self.eval(path, *a), self.eval(path, *b));
                let bool_bits = |x: bool| Bits::from_u64(x as u64, 1);
                match op {
                    BinaryOp::Add => from_vec(&add_vec(&ext(&va, ta, w), &ext(&vb, tb, w), false)),
                    BinaryOp::Sub => {
                        let nb: Vec<bool> = ext(&vb, tb, w).iter().map(|x| !x).collect();
                        from_vec(&add_vec(&ext(&va, ta, w), &nb, true))
                    }
                    BinaryOp::Mul => from_vec(&mul(&va, ta, &vb, tb, w)),
                    BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => {
                        let (x, y) = (ext(&va, ta, w), ext(&vb, tb, w));
                        let f = |p: bool, q: bool| match op {
                            BinaryOp::And => p & q,
                            BinaryOp::Or => p | q,
                            _ => p ^ q,
                        };
                        from_vec(&x.iter().zip(&y).map(|(p, q)| f(*p, *q)).collect::<Vec<_>>())
                    }
                    BinaryOp::Eq => bool_bits(compare(&va, ta, &vb, tb).1),
                    BinaryOp::Ne => bool_bits(!compare(&va, ta, &vb, tb).1),
                    BinaryOp::Lt => bool_bits(compare(&va, ta, &vb, tb).0),
                    BinaryOp::Le => {
                        let (lt, eq) = compare(&va, ta, &vb, tb);
                        bool_bits(lt || eq)
                    }
                    BinaryOp::Shl | BinaryOp::Shr => {
                        let n = amount(&vb);
                        let x = ext(&va, ta, w);
                        let fill = *op == BinaryOp::Shr && ta.signed && x[w as usize - 1];
                        let out: Vec<bool> = (0..u64::from(w))
                            .map(|i| {
                                if *op == BinaryOp::Shl {
                                    i.checked_sub(n).is_some_and(|j| x[j as usize])
                                } else {
                                    i.checked_add(n)
                                        .filter(|j| *j < u64::from(w))
                                        .map_or(fill, |j| x[j as usize])
                                }
                            })
                            .collect();
                        from_vec(&out)
                    }
                }
            }
            NodeKind::Mux(s, a, b) => {
                let pick = if self.eval(path, *s).bit(0) { *a } else { *b };
                let ta = ty_of(pick);
                let v = self.eval(path, pick);
                from_vec(&ext(&v, ta, w))
            }
            NodeKind::Slice(a, lo) => {
                let va = self.eval(path, *a);
                from_vec(&(0..w).map(|i| va.bit(lo + i)).collect::<Vec<_>>())
            }
            NodeKind::Concat(parts) => {
                let mut out = Vec::new();
                for p in parts.iter().rev() {
                    out.extend(to_vec(&self.eval(path, *p)));
                }
                from_vec(&out)
            }
            NodeKind::Resize(a) => {
                let ta = ty_of(*a);
                let va = self.eval(path, *a);
                from_vec(&ext(&va, ta, w))
            }
            NodeKind::Cast(a) => self.eval(path, *a),
        };
        self.memo.insert((path.to_vec(), id.0), v.clone());
        v
    }
}
