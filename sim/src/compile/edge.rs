//! The clock edge: register, memory read and memory write commits, ordered so every input
//! is sampled before anything it depends on changes.

use std::collections::HashMap;

use hardwire_hdl::ir::Type;
use hardwire_hdl::Bits;

use super::{ms, Class, Compiler, MemLayout, Opnd, Staged};
use crate::error::SimError;
use crate::flatten::FlatId;
use crate::fuse::field;
use crate::instr::{words, EdgeOp, MemRead, MemWrite, Slot, ALWAYS};

impl Compiler<'_> {
    /// A memory port input that is stable while the edge commits (see [`Compiler::stage`]).
    fn stable(&mut self, op: Opnd, w: u32, edge: &mut Vec<EdgeOp>, staged: &mut Staged) -> Slot {
        let s = self.extend(op, w);
        self.stage(s, words(w) as u32, edge, staged, true)
    }

    /// `s` itself if the edge does not overwrite it before the reader commits, else a copy
    /// taken before anything commits. Memory ports (`port`) commit before registers, so
    /// they only need copies of memory read data; registers need copies of both (except
    /// of one-word registers ordered after them, which the caller handles).
    fn stage(
        &mut self,
        s: Slot,
        n: u32,
        edge: &mut Vec<EdgeOp>,
        staged: &mut Staged,
        port: bool,
    ) -> Slot {
        match self.class_of[s as usize] {
            Class::MemData => {}
            Class::State if !port => {}
            _ => return s,
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
            return (self.stage(slot, 1, edge, staged, true), f.lo, ms(w));
        }
        let op = self.opnd(node);
        let s = self.narrow(op);
        (self.stage(s, 1, edge, staged, true), 0, 0)
    }

    #[allow(clippy::type_complexity)]
    pub(super) fn edge(
        &mut self,
    ) -> Result<(Vec<EdgeOp>, Vec<Vec<(Slot, Slot, u32)>>, Vec<MemLayout>), SimError> {
        let flat = self.flat;
        let mut stage = Vec::new();
        let mut staged = HashMap::new();
        let mut reads = Vec::new();
        let mut regs = Vec::new();
        let mut writes = Vec::new();
        let mut resets = vec![Vec::new(); flat.domains.len()];
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
                resets[reg.domain as usize].push((q, r, n));
            }
            if let Some(v) = &reg.init {
                let v = v.resize(w, false);
                self.state[q as usize..][..n as usize].copy_from_slice(v.words());
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
                self.stage(next, n, &mut stage, &mut staged, false)
            };
            let en = match en {
                ALWAYS if n == 1 => one,
                ALWAYS => ALWAYS,
                en if direct(en) => en,
                en => self.stage(en, 1, &mut stage, &mut staged, false),
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
                reads.push(EdgeOp::MemRead(MemRead {
                    mem: m,
                    data,
                    addr,
                    en,
                    alo,
                    ams,
                    direct: false,
                }));
            }
            for wp in &mem.write_ports {
                let (addr, alo, ams) = self.port_field(wp.addr, &mut stage, &mut staged);
                let data = self.opnd(wp.data);
                let data = self.stable(data, w, &mut stage, &mut staged);
                let (en, elo, _) = self.port_field(wp.enable, &mut stage, &mut staged);
                writes.push(EdgeOp::MemWrite(MemWrite {
                    mem: m,
                    addr,
                    data,
                    en,
                    alo,
                    ams,
                    elo,
                    direct: false,
                }));
            }
            let mut init = vec![0u64; mem.depth as usize * words as usize];
            if let Some(words_init) = &mem.init {
                let mut slots = init.chunks_mut(words as usize);
                words_init.visit(|v| match slots.next() {
                    Some(slot) => {
                        slot.copy_from_slice(v.resize(w, false).words());
                        true
                    }
                    None => false,
                });
            }
            mems.push(MemLayout {
                name: mem.name.clone(),
                ty: mem.ty,
                depth: mem.depth,
                words,
                init,
            });
        }
        // Memory ports commit before registers, so they read register outputs in place.
        let mut edge = stage;
        edge.extend(reads);
        edge.extend(writes);
        edge.extend(regs);
        Ok((edge, resets, mems))
    }
}
