//! Multi-word arithmetic for values wider than 64 bits, on slots of the state vector.
//!
//! Destinations never overlap sources (every node and temporary has its own slot), so each
//! routine reads and writes the state by index without copying. Results are masked to their
//! width so values stay canonical.

use crate::instr::{top, words, ArithOp, BitOp, CmpOp, ReduceOp, Slot, WideOp};

/// Word `j` of the `w`-bit value at `a`, extended past its top (sign-extended when `signed`).
#[inline]
fn word(st: &[u64], a: Slot, w: u32, signed: bool, j: usize) -> u64 {
    let n = words(w);
    let negative = signed && (st[a as usize + (w as usize - 1) / 64] >> ((w - 1) % 64)) & 1 == 1;
    if j < n - 1 {
        st[a as usize + j]
    } else if j == n - 1 {
        let x = st[a as usize + j];
        if negative {
            x | !top(w)
        } else {
            x
        }
    } else if negative {
        u64::MAX
    } else {
        0
    }
}

/// Values of 65 to 128 bits (the common wide case: a product of two 40-bit values, a wide
/// accumulator) computed as `u128` instead of word by word. False if `op` is not one.
#[inline]
fn exec_u128(op: &WideOp, st: &mut [u64]) -> bool {
    let get =
        |st: &[u64], s: Slot| u128::from(st[s as usize]) | (u128::from(st[s as usize + 1]) << 64);
    let put = |st: &mut [u64], s: Slot, w: u32, v: u128| {
        let v = if w >= 128 { v } else { v & ((1u128 << w) - 1) };
        st[s as usize] = v as u64;
        st[s as usize + 1] = (v >> 64) as u64;
    };
    let two = |w: u32| w > 64 && w <= 128;
    match *op {
        WideOp::Arith { op, d, a, b, w } if two(w) => {
            let (x, y) = (get(st, a), get(st, b));
            let v = match op {
                ArithOp::Add => x.wrapping_add(y),
                ArithOp::Sub => x.wrapping_sub(y),
                ArithOp::Mul => x.wrapping_mul(y),
            };
            put(st, d, w, v);
        }
        WideOp::Ext {
            d,
            dw,
            a,
            aw,
            signed,
        } if two(dw) && aw <= 128 => {
            let x = if aw <= 64 {
                u128::from(st[a as usize])
            } else {
                get(st, a)
            };
            let s = 128 - aw;
            let x = if signed {
                ((x << s) as i128 >> s) as u128
            } else {
                x
            };
            put(st, d, dw, x);
        }
        WideOp::Cmp {
            op,
            d,
            a,
            b,
            w,
            signed,
        } if two(w) => {
            let (x, y) = (get(st, a), get(st, b));
            let s = 128 - w;
            let ord = if signed {
                ((x << s) as i128 >> s).cmp(&((y << s) as i128 >> s))
            } else {
                x.cmp(&y)
            };
            st[d as usize] = match op {
                CmpOp::Eq => ord.is_eq(),
                CmpOp::Ne => ord.is_ne(),
                CmpOp::Lt => ord.is_lt(),
                CmpOp::Le => ord.is_le(),
            } as u64;
        }
        _ => return false,
    }
    true
}

fn mask_top(st: &mut [u64], d: Slot, w: u32) {
    st[d as usize + words(w) - 1] &= top(w);
}

/// Executes one wide operation.
pub(crate) fn exec(op: &WideOp, st: &mut [u64]) {
    if exec_u128(op, st) {
        return;
    }
    match *op {
        WideOp::Ext {
            d,
            dw,
            a,
            aw,
            signed,
        } => {
            for j in 0..words(dw) {
                st[d as usize + j] = word(st, a, aw, signed, j);
            }
            mask_top(st, d, dw);
        }
        WideOp::Arith { op, d, a, b, w } => {
            let n = words(w);
            let (d, a, b) = (d as usize, a as usize, b as usize);
            match op {
                ArithOp::Add => {
                    let mut carry = false;
                    for j in 0..n {
                        let (s1, c1) = st[a + j].overflowing_add(st[b + j]);
                        let (s2, c2) = s1.overflowing_add(carry as u64);
                        st[d + j] = s2;
                        carry = c1 || c2;
                    }
                }
                ArithOp::Sub => {
                    let mut borrow = false;
                    for j in 0..n {
                        let (s1, b1) = st[a + j].overflowing_sub(st[b + j]);
                        let (s2, b2) = s1.overflowing_sub(borrow as u64);
                        st[d + j] = s2;
                        borrow = b1 || b2;
                    }
                }
                ArithOp::Mul => {
                    st[d..d + n].fill(0);
                    for i in 0..n {
                        let x = u128::from(st[a + i]);
                        let mut carry = 0u128;
                        for j in 0..n - i {
                            let t = u128::from(st[d + i + j]) + x * u128::from(st[b + j]) + carry;
                            st[d + i + j] = t as u64;
                            carry = t >> 64;
                        }
                    }
                }
            }
            mask_top(st, d as Slot, w);
        }
        WideOp::Bitwise { op, d, a, b, w } => {
            let (d, a, b) = (d as usize, a as usize, b as usize);
            for j in 0..words(w) {
                st[d + j] = match op {
                    BitOp::And => st[a + j] & st[b + j],
                    BitOp::Or => st[a + j] | st[b + j],
                    BitOp::Xor => st[a + j] ^ st[b + j],
                };
            }
        }
        WideOp::Not { d, a, w } => {
            for j in 0..words(w) {
                st[d as usize + j] = !st[a as usize + j];
            }
            mask_top(st, d, w);
        }
        WideOp::Neg { d, a, w } => {
            let mut borrow = false;
            for j in 0..words(w) {
                let (s1, b1) = 0u64.overflowing_sub(st[a as usize + j]);
                let (s2, b2) = s1.overflowing_sub(borrow as u64);
                st[d as usize + j] = s2;
                borrow = b1 || b2;
            }
            mask_top(st, d, w);
        }
        WideOp::Cmp {
            op,
            d,
            a,
            b,
            w,
            signed,
        } => {
            let n = words(w);
            let flip = |j: usize| {
                if signed && j == n - 1 {
                    1u64 << ((w - 1) % 64)
                } else {
                    0
                }
            };
            let mut ord = std::cmp::Ordering::Equal;
            for j in (0..n).rev() {
                let x = st[a as usize + j] ^ flip(j);
                let y = st[b as usize + j] ^ flip(j);
                if x != y {
                    ord = x.cmp(&y);
                    break;
                }
            }
            st[d as usize] = match op {
                CmpOp::Eq => ord.is_eq(),
                CmpOp::Ne => ord.is_ne(),
                CmpOp::Lt => ord.is_lt(),
                CmpOp::Le => ord.is_le(),
            } as u64;
        }
        WideOp::Shl { d, a, amt, w } => {
            let k = st[amt as usize];
            let n = words(w);
            if k >= u64::from(w) {
                st[d as usize..d as usize + n].fill(0);
                return;
            }
            let (ws, bs) = ((k / 64) as usize, (k % 64) as u32);
            for j in 0..n {
                let lo = if j >= ws { st[a as usize + j - ws] } else { 0 };
                let below = if j > ws && bs > 0 {
                    st[a as usize + j - ws - 1] >> (64 - bs)
                } else {
                    0
                };
                st[d as usize + j] = (lo << bs) | below;
            }
            mask_top(st, d, w);
        }
        WideOp::Shr {
            d,
            a,
            amt,
            w,
            signed,
        } => {
            let n = words(w);
            let k = st[amt as usize].min(u64::from(w));
            let (ws, bs) = ((k / 64) as usize, (k % 64) as u32);
            for j in 0..n {
                let lo = word(st, a, w, signed, j + ws);
                let hi = if bs > 0 {
                    word(st, a, w, signed, j + ws + 1) << (64 - bs)
                } else {
                    0
                };
                st[d as usize + j] = (lo >> bs) | hi;
            }
            mask_top(st, d, w);
        }
        WideOp::Clamp { d, a, aw } => {
            let n = words(aw);
            let high = st[a as usize + 1..a as usize + n].iter().any(|x| *x != 0);
            st[d as usize] = if high { u64::MAX } else { st[a as usize] };
        }
        WideOp::Slice { d, dw, a, aw, lo } => {
            for j in 0..words(dw) {
                let bit = lo as usize + 64 * j;
                let (wi, bs) = (bit / 64, (bit % 64) as u32);
                let x = word(st, a, aw, false, wi) >> bs;
                let y = if bs > 0 {
                    word(st, a, aw, false, wi + 1) << (64 - bs)
                } else {
                    0
                };
                st[d as usize + j] = x | y;
            }
            mask_top(st, d, dw);
        }
        WideOp::Zero { d, w } => st[d as usize..d as usize + words(w)].fill(0),
        WideOp::Insert { d, dw, a, aw, off } => {
            let dn = words(dw);
            for j in 0..words(aw) {
                let v = st[a as usize + j];
                let pos = off as usize + 64 * j;
                let (wi, bs) = (pos / 64, (pos % 64) as u32);
                if wi < dn {
                    st[d as usize + wi] |= v << bs;
                }
                if bs > 0 && wi + 1 < dn {
                    st[d as usize + wi + 1] |= v >> (64 - bs);
                }
            }
            mask_top(st, d, dw);
        }
        WideOp::Reduce { op, d, a, w } => {
            let n = words(w);
            let v = &st[a as usize..a as usize + n];
            st[d as usize] = match op {
                ReduceOp::And => v[..n - 1].iter().all(|x| *x == u64::MAX) && v[n - 1] == top(w),
                ReduceOp::Or => v.iter().any(|x| *x != 0),
                ReduceOp::Xor => v.iter().map(|x| x.count_ones()).sum::<u32>() & 1 == 1,
            } as u64;
        }
        WideOp::Mux { d, s, a, b, w } => {
            let src = if st[s as usize] != 0 { a } else { b } as usize;
            let n = words(w);
            st.copy_within(src..src + n, d as usize);
        }
    }
}
