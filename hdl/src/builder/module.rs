//! [`ModuleBuilder`], the handle a block's `build` receives, and [`Signal`], a typed value in
//! the module being built.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};

use super::elaborate::Elaborator;
use crate::bits::Bits;
use crate::diagnostic::{Code, Diagnostic, Loc};
use crate::ir::{BinaryOp, Direction, Module, NodeId, NodeKind, Port, Type};

/// Builds one module. Every method that can be misused records an error with the caller's
/// source location instead of panicking; [`crate::Design::elaborate`] returns them all.
pub struct ModuleBuilder<'e> {
    pub(super) elab: &'e Elaborator,
    pub(super) data: RefCell<ModuleData>,
}

/// A pending assignment to a wire or register: `value` when `cond` holds (always if `None`).
#[derive(Clone, Copy)]
pub(super) struct Assign {
    pub cond: Option<NodeId>,
    pub value: NodeId,
    pub loc: Loc,
}

pub(super) struct ModuleData {
    pub module: Module,
    pub names: HashSet<String>,
    /// Per wire node: its assignments in program order.
    pub wire_assigns: BTreeMap<NodeId, Vec<Assign>>,
    /// Per register: its output node and its next-value assignments in program order.
    pub reg_assigns: Vec<(NodeId, Vec<Assign>)>,
    /// The conditions of the `when` scopes being built, innermost last, each already
    /// combined with the ones around it.
    pub scope: Vec<NodeId>,
    /// The domains of the `in_domain` calls being built, innermost last.
    pub domains: Vec<crate::ir::DomainId>,
    /// Instance domains not yet connected: `(instance, child domain index, the child's
    /// domain, where)`. At the end each goes to the parent's domain of its name.
    pub pending_domains: Vec<(crate::ir::InstId, usize, crate::ir::Domain, Loc)>,
    /// Misuse found so far.
    pub diagnostics: Vec<Diagnostic>,
}

/// A typed value in a module: an input, wire, register output, memory read, instance output,
/// constant or the result of an operation. Cheap to copy; operators build new nodes.
#[derive(Clone, Copy)]
pub struct Signal<'a> {
    pub(crate) m: &'a ModuleBuilder<'a>,
    pub(super) id: NodeId,
    pub(super) ty: Type,
}

impl std::fmt::Debug for Signal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signal({} {})", self.m.describe(self.id), self.ty)
    }
}

const VERILOG_KEYWORDS: &[&str] = &[
    "always",
    "and",
    "assign",
    "automatic",
    "begin",
    "buf",
    "case",
    "casex",
    "casez",
    "cell",
    "cmos",
    "config",
    "deassign",
    "default",
    "defparam",
    "design",
    "disable",
    "edge",
    "else",
    "end",
    "endcase",
    "endconfig",
    "endfunction",
    "endgenerate",
    "endmodule",
    "endprimitive",
    "endspecify",
    "endtable",
    "endtask",
    "event",
    "for",
    "force",
    "forever",
    "fork",
    "function",
    "generate",
    "genvar",
    "highz0",
    "highz1",
    "if",
    "ifnone",
    "incdir",
    "include",
    "initial",
    "inout",
    "input",
    "instance",
    "integer",
    "join",
    "large",
    "liblist",
    "library",
    "localparam",
    "macromodule",
    "medium",
    "module",
    "nand",
    "negedge",
    "nmos",
    "nor",
    "noshowcancelled",
    "not",
    "notif0",
    "notif1",
    "or",
    "output",
    "parameter",
    "pmos",
    "posedge",
    "primitive",
    "pull0",
    "pull1",
    "pulldown",
    "pullup",
    "pulsestyle_ondetect",
    "pulsestyle_onevent",
    "rcmos",
    "real",
    "realtime",
    "reg",
    "release",
    "repeat",
    "rnmos",
    "rpmos",
    "rtran",
    "rtranif0",
    "rtranif1",
    "scalared",
    "showcancelled",
    "signed",
    "small",
    "specify",
    "specparam",
    "strong0",
    "strong1",
    "supply0",
    "supply1",
    "table",
    "task",
    "time",
    "tran",
    "tranif0",
    "tranif1",
    "tri",
    "tri0",
    "tri1",
    "triand",
    "trior",
    "trireg",
    "unsigned",
    "use",
    "uwire",
    "vectored",
    "wait",
    "wand",
    "weak0",
    "weak1",
    "while",
    "wire",
    "wor",
    "xnor",
    "xor",
    // SystemVerilog words that Verilator and yosys also reserve.
    "bit",
    "byte",
    "int",
    "logic",
    "shortint",
    "longint",
    "string",
    "type",
    "var",
    "void",
];

/// Whether `name` can be used as-is as a Verilog identifier by a user (names starting with
/// `_` are kept for generated nets).
pub fn is_user_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !VERILOG_KEYWORDS.contains(&name)
        && name != "clk"
        && name != "rst"
}

impl<'e> ModuleBuilder<'e> {
    pub(super) fn new(elab: &'e Elaborator, name: String) -> Self {
        let module = Module::empty(name, false);
        ModuleBuilder {
            elab,
            data: RefCell::new(ModuleData {
                module,
                names: HashSet::new(),
                wire_assigns: BTreeMap::new(),
                reg_assigns: Vec::new(),
                scope: Vec::new(),
                domains: Vec::new(),
                pending_domains: Vec::new(),
                diagnostics: Vec::new(),
            }),
        }
    }

    /// The name of the module being built.
    pub fn name(&self) -> String {
        self.data.borrow().module.name.clone()
    }

    pub(super) fn error(&self, code: Code, loc: Loc, message: String) {
        let mut d = self.data.borrow_mut();
        let module = d.module.name.clone();
        d.diagnostics.push(Diagnostic {
            code,
            message,
            module,
            loc,
        });
    }

    pub(super) fn push(&self, kind: NodeKind, ty: Type, loc: Loc) -> NodeId {
        let mut d = self.data.borrow_mut();
        let id = NodeId(d.module.nodes.len() as u32);
        d.module.nodes.push(crate::ir::Node { kind, ty, loc });
        id
    }

    pub(super) fn signal(&self, kind: NodeKind, ty: Type, loc: Loc) -> Signal<'_> {
        let id = self.push(kind, ty, loc);
        Signal { m: self, id, ty }
    }

    /// A human name for a node in messages: the user's name where it has one, otherwise the
    /// operation that made it.
    pub(super) fn describe(&self, id: NodeId) -> String {
        let d = self.data.borrow();
        describe_node(&d.module, id)
    }

    /// Records `name` as used, reporting a bad or duplicate identifier.
    pub(super) fn claim_name(&self, name: &str, what: &str, loc: Loc) {
        if !is_user_identifier(name) {
            self.error(
                Code::BadName,
                loc,
                format!(
                    "`{name}` is not usable as the name of {what}: use a Verilog identifier \
                     that starts with a letter, is not a keyword, and is not `clk` or `rst` \
                     (those are the implicit clock and reset)"
                ),
            );
            return;
        }
        if !self.data.borrow_mut().names.insert(name.to_string()) {
            self.error(
                Code::BadName,
                loc,
                format!("the name `{name}` is used twice in this module; give {what} another name"),
            );
        }
    }

    pub(super) fn check_width(&self, what: &str, ty: Type, loc: Loc) -> Type {
        if ty.width == 0 {
            self.error(
                Code::BadParameter,
                loc,
                format!("{what} has width 0; widths start at 1"),
            );
            return ty.with_width(1);
        }
        ty
    }

    /// Reports a parameter that the block cannot build with (a weight that does not fit its
    /// bits, a size of zero, ...), at the caller's location. Elaboration then fails with it.
    #[track_caller]
    pub fn bad_parameter(&self, message: impl Into<String>) {
        self.error(Code::BadParameter, Loc::caller(), message.into());
    }

    /// Declares an input port.
    #[track_caller]
    pub fn input(&self, name: &str, ty: Type) -> Signal<'_> {
        self.input_at(name, ty, Loc::caller())
    }

    pub(super) fn input_at(&self, name: &str, ty: Type, loc: Loc) -> Signal<'_> {
        self.claim_name(name, "an input", loc);
        let ty = self.check_width(&format!("input `{name}`"), ty, loc);
        let index = self.data.borrow().module.ports.len() as u32;
        let s = self.signal(NodeKind::Input(index), ty, loc);
        self.data.borrow_mut().module.ports.push(Port {
            name: name.to_string(),
            dir: Direction::Input,
            ty,
            node: s.id,
        });
        s
    }

    /// Declares an output port driven by `value`.
    #[track_caller]
    pub fn output(&self, name: &str, value: Signal<'_>) {
        self.output_at(name, value, Loc::caller());
    }

    pub(super) fn output_at(&self, name: &str, value: Signal<'_>, loc: Loc) {
        let w = self.output_wire_at(name, value.ty, loc);
        self.assign_at(w, value, None, loc);
    }

    /// Declares an output port to be driven later with [`ModuleBuilder::assign`].
    #[track_caller]
    pub fn output_wire(&self, name: &str, ty: Type) -> Signal<'_> {
        self.output_wire_at(name, ty, Loc::caller())
    }

    pub(super) fn output_wire_at(&self, name: &str, ty: Type, loc: Loc) -> Signal<'_> {
        self.claim_name(name, "an output", loc);
        let ty = self.check_width(&format!("output `{name}`"), ty, loc);
        let w = self.new_wire(name, ty, loc);
        self.data.borrow_mut().module.ports.push(Port {
            name: name.to_string(),
            dir: Direction::Output,
            ty,
            node: w.id,
        });
        w
    }

    fn new_wire(&self, name: &str, ty: Type, loc: Loc) -> Signal<'_> {
        let s = self.signal(
            NodeKind::Wire {
                name: name.to_string(),
                driver: None,
            },
            ty,
            loc,
        );
        self.data.borrow_mut().wire_assigns.insert(s.id, Vec::new());
        s
    }

    /// Declares a named wire, to be driven with [`ModuleBuilder::assign`] (possibly after it is
    /// read, which is how feedback through registers is described).
    #[track_caller]
    pub fn wire(&self, name: &str, ty: Type) -> Signal<'_> {
        self.wire_at(name, ty, Loc::caller())
    }

    pub(super) fn wire_at(&self, name: &str, ty: Type, loc: Loc) -> Signal<'_> {
        self.claim_name(name, "a wire", loc);
        let ty = self.check_width(&format!("wire `{name}`"), ty, loc);
        self.new_wire(name, ty, loc)
    }

    /// Gives `value` a name: a wire driven by it, which keeps the name in the Verilog and in
    /// waveforms.
    #[track_caller]
    pub fn name_signal<'a>(&'a self, name: &str, value: Signal<'a>) -> Signal<'a> {
        let loc = Loc::caller();
        self.claim_name(name, "a wire", loc);
        let w = self.new_wire(name, value.ty, loc);
        self.assign_at(w, value, None, loc);
        w
    }

    /// Drives a wire or output with `value` (its default, when conditional assignments follow).
    #[track_caller]
    pub fn assign(&self, target: Signal<'_>, value: Signal<'_>) {
        self.assign_at(target, value, None, Loc::caller());
    }

    /// Drives a wire or output with `value` whenever `cond` is high. Later assignments take
    /// priority over earlier ones; the wire needs an unconditional [`ModuleBuilder::assign`]
    /// for the remaining cases, so no latch is ever implied.
    #[track_caller]
    pub fn assign_when(&self, target: Signal<'_>, cond: Signal<'_>, value: Signal<'_>) {
        let loc = Loc::caller();
        self.check_bool("the condition of an assignment", cond, loc);
        self.assign_at(target, value, Some(cond.id), loc);
    }

    /// `cond` (none: always) narrowed to the `when` scopes around the caller.
    pub(super) fn guarded(&self, cond: Option<NodeId>, loc: Loc) -> Option<NodeId> {
        let scope = self.data.borrow().scope.last().copied();
        match (scope, cond) {
            (None, c) => c,
            (Some(s), None) => Some(s),
            (Some(s), Some(c)) => {
                Some(self.push(NodeKind::Binary(BinaryOp::And, s, c), Type::BOOL, loc))
            }
        }
    }

    pub(super) fn check_bool(&self, what: &str, cond: Signal<'_>, loc: Loc) {
        if cond.ty.width != 1 {
            self.error(
                Code::WidthMismatch,
                loc,
                format!(
                    "{what} must be 1 bit wide, but `{}` is {}; compare it or reduce it with \
                     `.any()` first",
                    self.describe(cond.id),
                    cond.ty
                ),
            );
        }
    }

    pub(super) fn assign_at(
        &self,
        target: Signal<'_>,
        value: Signal<'_>,
        cond: Option<NodeId>,
        loc: Loc,
    ) {
        let cond = self.guarded(cond, loc);
        let target_name = self.describe(target.id);
        let is_wire = matches!(
            self.data.borrow().module.node(target.id).kind,
            NodeKind::Wire { .. }
        );
        if !is_wire {
            self.error(
                Code::DriveNonWire,
                loc,
                format!(
                    "`{target_name}` cannot be assigned: only wires and outputs are driven with \
                     `assign`; inputs are driven from outside, registers through `next`"
                ),
            );
            return;
        }
        if value.ty != target.ty {
            self.error(
                Code::WidthMismatch,
                loc,
                format!(
                    "cannot assign `{}` ({}) to `{target_name}` ({}); convert with `.resize()`, \
                     `.trunc()`, `.as_signed()` or `.as_unsigned()` first",
                    self.describe(value.id),
                    value.ty,
                    target.ty
                ),
            );
            return;
        }
        let mut d = self.data.borrow_mut();
        let Some(assigns) = d.wire_assigns.get_mut(&target.id) else {
            return;
        };
        // Under the same condition (none, or the same `when` branch) the first assignment
        // would never show.
        let previous = assigns.iter().find(|a| a.cond == cond).map(|a| a.loc);
        assigns.push(Assign {
            cond,
            value: value.id,
            loc,
        });
        drop(d);
        if let Some(first) = previous {
            let scope = if cond.is_some() {
                " under the same condition (the same `when` branch)"
            } else {
                ""
            };
            self.error(
                Code::MultiplyDriven,
                loc,
                format!(
                    "`{target_name}` is driven twice{scope}: it was already assigned at \
                     {first}; use `assign_when` for a conditional override"
                ),
            );
        }
    }

    /// A constant of type `ty` from a signed integer (wrapping to the width).
    #[track_caller]
    pub fn lit(&self, value: i64, ty: Type) -> Signal<'_> {
        let loc = Loc::caller();
        let ty = self.check_width("a constant", ty, loc);
        self.constant_at(Bits::from_i128(value.into(), ty.width), ty, loc)
    }

    /// A constant from bits of any width.
    #[track_caller]
    pub fn constant(&self, value: Bits, signed: bool) -> Signal<'_> {
        let ty = Type {
            width: value.width().max(1),
            signed,
        };
        let value = value.resize(ty.width, false);
        self.constant_at(value, ty, Loc::caller())
    }

    pub(super) fn constant_at(&self, value: Bits, ty: Type, loc: Loc) -> Signal<'_> {
        self.signal(NodeKind::Const(value), ty, loc)
    }

    /// Concatenation, most significant part first; unsigned.
    #[track_caller]
    pub fn concat<'a>(&'a self, parts: &[Signal<'a>]) -> Signal<'a> {
        let loc = Loc::caller();
        if parts.is_empty() {
            self.error(
                Code::BadParameter,
                loc,
                "concat needs at least one part".into(),
            );
            return self.constant_at(Bits::zero(1), Type::BOOL, loc);
        }
        let width = parts.iter().map(|p| p.ty.width).sum();
        self.signal(
            NodeKind::Concat(parts.iter().map(|p| p.id).collect()),
            Type::unsigned(width),
            loc,
        )
    }
}

pub(crate) fn describe_node(module: &Module, id: NodeId) -> String {
    let node = module.node(id);
    match &node.kind {
        NodeKind::Input(p) => module.ports[*p as usize].name.clone(),
        NodeKind::Wire { name, .. } => name.clone(),
        NodeKind::RegQ(r) => module.regs[r.0 as usize].name.clone(),
        NodeKind::MemRead(mem, port) => format!("{}.read{port}", module.mems[mem.0 as usize].name),
        NodeKind::InstOut(inst, port) => {
            format!("{}.out{port}", module.instances[inst.0 as usize].name)
        }
        NodeKind::Const(b) => format!("{b}"),
        NodeKind::Clock(d) => module.clock_port(*d),
        kind => {
            let op = match kind {
                NodeKind::Unary(op, _) => format!("{op:?}"),
                NodeKind::Binary(op, ..) => format!("{op:?}"),
                NodeKind::Mux(..) => "mux".into(),
                NodeKind::Slice(..) => "slice".into(),
                NodeKind::Concat(..) => "concat".into(),
                NodeKind::Resize(..) => "resize".into(),
                _ => "cast".into(),
            };
            format!("{} result created at {}", op.to_lowercase(), node.loc)
        }
    }
}
