//! Alias resolution, levelization and the split between logic the clock edge needs and
//! logic that is only observed.

use crate::error::SimError;
use crate::flatten::{Flat, FlatId, FlatKind};
use crate::fuse::{deps, field_or_self};
use crate::sum::Range;

/// Resolves every alias to the node that computes its value.
pub(super) fn resolve_aliases(flat: &Flat) -> Result<Vec<FlatId>, SimError> {
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
pub(super) fn describe(flat: &Flat, node: FlatId) -> String {
    flat.signals
        .iter()
        .find(|s| s.node == node)
        .map(|s| format!("`{}`", s.path()))
        .unwrap_or_else(|| format!("an unnamed node #{node}"))
}

/// A name for a computing node: every signal that is another name for it.
pub(super) fn describe_rep(flat: &Flat, rep: &[FlatId], node: FlatId) -> String {
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

pub(super) fn operands(kind: &FlatKind, out: &mut Vec<FlatId>) {
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
pub(super) fn levelize(flat: &Flat, rep: &[FlatId]) -> Result<Vec<FlatId>, SimError> {
    let mut roots: Vec<FlatId> = flat.signals.iter().map(|s| s.node).collect();
    roots.extend(flat.inputs.iter().map(|(_, n)| *n));
    roots.extend(flat.checks.iter().map(|c| c.cond));
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
pub(super) fn feeds_state(flat: &Flat, rep: &[FlatId], ranges: &[Option<Range>]) -> Vec<bool> {
    let mut seen = vec![false; flat.nodes.len()];
    // Checks are sampled at every edge, like the registers' inputs.
    let mut stack: Vec<FlatId> = flat.checks.iter().map(|c| c.cond).collect();
    // So are local domains' computed resets.
    stack.extend(
        flat.domains
            .iter()
            .filter(|d| d.local)
            .filter_map(|d| d.rst),
    );
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
        deps(flat, rep, ranges, n, &mut ops);
        stack.extend_from_slice(&ops);
    }
    seen
}

/// Reorders a topological order level by level (a node's level is one more than its
/// deepest operand's), and within a level by kind of operation. Any order within a level is
/// valid; grouping alike instructions makes the executor's dispatch branch predictable,
/// which on wide, regular logic (multiplier arrays, adder trees) is most of its cost.
pub(super) fn group_by_level(flat: &Flat, rep: &[FlatId], order: Vec<FlatId>) -> Vec<FlatId> {
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
