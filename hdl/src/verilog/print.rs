//! Prints the syntax tree as Verilog text, deterministically: the same tree gives the same
//! bytes.

use super::ast::{Expr, Item, Stmt, VModule};
use std::fmt::Write;

fn range(width: u32) -> String {
    if width == 1 {
        String::new()
    } else {
        format!("[{}:0] ", width - 1)
    }
}

/// The text of one module, ending in a newline.
pub fn module(m: &VModule) -> String {
    let mut s = String::new();
    let params = if m.params.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = m
            .params
            .iter()
            .map(|(n, v)| format!("    parameter {n} = {v}"))
            .collect();
        format!(" #(\n{}\n)", list.join(",\n"))
    };
    if m.ports.is_empty() {
        let _ = writeln!(s, "module {}{params};", m.name);
    } else {
        let _ = writeln!(s, "module {}{params} (", m.name);
        for (i, p) in m.ports.iter().enumerate() {
            let dir = if p.input { "input " } else { "output" };
            let comma = if i + 1 < m.ports.len() { "," } else { "" };
            let _ = writeln!(s, "    {dir} wire {}{}{comma}", range(p.width), p.name);
        }
        s.push_str(");\n");
    }
    for item in &m.items {
        print_item(&mut s, item);
    }
    s.push_str("endmodule\n");
    s
}

fn print_item(s: &mut String, item: &Item) {
    match item {
        Item::Comment(c) => {
            let _ = writeln!(s, "    // {c}");
        }
        Item::Wire { name, width } => {
            let _ = writeln!(s, "    wire {}{name};", range(*width));
        }
        Item::Reg {
            name,
            width,
            attribute,
            init,
        } => {
            if let Some((k, v)) = attribute {
                let _ = writeln!(s, "    (* {k} = \"{v}\" *)");
            }
            match init {
                Some(v) => {
                    let _ = writeln!(s, "    reg {}{name} = {};", range(*width), expr(v));
                }
                None => {
                    let _ = writeln!(s, "    reg {}{name};", range(*width));
                }
            }
        }
        Item::Memory {
            name,
            width,
            depth,
            attribute,
            init_file,
        } => {
            if let Some((k, v)) = attribute {
                let _ = writeln!(s, "    (* {k} = \"{v}\" *)");
            }
            let _ = writeln!(s, "    reg {}{name} [0:{}];", range(*width), depth - 1);
            if let Some(f) = init_file {
                let _ = writeln!(s, "    initial $readmemh(\"{f}\", {name});");
            }
        }
        Item::Assign { lhs, rhs } => {
            let _ = writeln!(s, "    assign {lhs} = {};", expr(rhs));
        }
        Item::AlwaysPosedge {
            clock,
            async_reset,
            body,
        } => {
            let _ = match async_reset {
                None => writeln!(s, "    always @(posedge {clock}) begin"),
                Some((rst, low)) => {
                    let edge = if *low { "negedge" } else { "posedge" };
                    writeln!(s, "    always @(posedge {clock} or {edge} {rst}) begin")
                }
            };
            for st in body {
                print_stmt(s, st, 2);
            }
            s.push_str("    end\n");
        }
        Item::Formal {
            clock,
            reset,
            checks,
        } => {
            s.push_str("`ifdef FORMAL\n");
            if let Some((r, low)) = reset {
                let asserted = if *low { "!" } else { "" };
                let _ = writeln!(s, "    initial assume ({asserted}{r});");
            }
            let _ = writeln!(s, "    always @(posedge {clock}) begin");
            let indent = match reset {
                Some((r, low)) => {
                    let released = if *low { "" } else { "!" };
                    let _ = writeln!(s, "        if ({released}{r}) begin");
                    "            "
                }
                None => "        ",
            };
            for (keyword, label, cond) in checks {
                let _ = writeln!(s, "{indent}{label}: {keyword} ({});", expr(cond));
            }
            if reset.is_some() {
                s.push_str("        end\n");
            }
            s.push_str("    end\n`endif\n");
        }
        Item::Instance {
            module,
            params,
            name,
            connections,
        } => {
            let params = if params.is_empty() {
                String::new()
            } else {
                let list: Vec<String> = params.iter().map(|(n, v)| format!(".{n}({v})")).collect();
                format!(" #({})", list.join(", "))
            };
            let _ = writeln!(s, "    {module}{params} {name} (");
            for (i, (port, e)) in connections.iter().enumerate() {
                let comma = if i + 1 < connections.len() { "," } else { "" };
                let _ = writeln!(s, "        .{port}({}){comma}", expr(e));
            }
            s.push_str("    );\n");
        }
    }
}

fn print_stmt(s: &mut String, st: &Stmt, depth: usize) {
    let pad = "    ".repeat(depth);
    match st {
        Stmt::NonBlocking { lhs, rhs } => {
            let _ = writeln!(s, "{pad}{} <= {};", expr(lhs), expr(rhs));
        }
        Stmt::If {
            cond,
            then,
            otherwise,
        } => {
            let _ = writeln!(s, "{pad}if ({}) begin", expr(cond));
            for t in then {
                print_stmt(s, t, depth + 1);
            }
            if otherwise.is_empty() {
                let _ = writeln!(s, "{pad}end");
            } else {
                let _ = writeln!(s, "{pad}end else begin");
                for t in otherwise {
                    print_stmt(s, t, depth + 1);
                }
                let _ = writeln!(s, "{pad}end");
            }
        }
    }
}

/// The text of an expression. Operands of operators are names, literals or selects, so
/// no precedence questions arise beyond the one operator printed.
pub fn expr(e: &Expr) -> String {
    match e {
        Expr::Ident(n) => n.clone(),
        Expr::Literal { width, hex } => format!("{width}'h{hex}"),
        Expr::Index(n, i) => format!("{n}[{i}]"),
        Expr::Slice(n, hi, lo) => format!("{n}[{hi}:{lo}]"),
        Expr::MemIndex(n, a) => format!("{n}[{}]", expr(a)),
        Expr::Concat(parts) => {
            let p: Vec<String> = parts.iter().map(expr).collect();
            format!("{{{}}}", p.join(", "))
        }
        Expr::Repeat(n, e) => format!("{{{n}{{{}}}}}", expr(e)),
        Expr::Unary(op, a) => format!("{op}{}", expr(a)),
        Expr::Binary(a, op, b) => format!("{} {op} {}", operand(a), operand(b)),
        Expr::Ternary(c, a, b) => format!("{} ? {} : {}", operand(c), operand(a), operand(b)),
        Expr::Signed(a) => format!("$signed({})", expr(a)),
    }
}

/// An operand of an operator: parenthesised when it is itself an operation.
fn operand(e: &Expr) -> String {
    match e {
        Expr::Binary(..) | Expr::Ternary(..) => format!("({})", expr(e)),
        _ => expr(e),
    }
}
