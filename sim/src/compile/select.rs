//! Instruction selection: the instructions for each combinational node.

use hardwire_hdl::ir::{BinaryOp, UnaryOp};

use super::levelize::{describe, operands};
use super::{ms, sx, Class, Compiler, Opnd};
use crate::error::SimError;
use crate::flatten::{FlatId, FlatKind};
use crate::fuse::{field_operands, field_or_self, forward_slice, narrow_mul, truncated_addsub};
use crate::instr::{ArithOp, BitOp, CmpOp, Instr, ReduceOp, WideOp};

impl Compiler<'_> {
    pub(super) fn node(&mut self, node: FlatId) -> Result<(), SimError> {
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
            BinaryOp::Mul if narrow_mul(self.flat, &self.rep, node).is_some() => {
                let d = dest!();
                self.mul(node, d, ms(w), class);
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
}
