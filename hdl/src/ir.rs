//! The checked hardware IR that the passes transform and that both the simulator and the
//! Verilog backend read.
//!
//! # Semantics
//!
//! A [`Design`] is a set of [`Module`]s, children before parents, and a top module. Every
//! register, memory port and check belongs to a clock [`Domain`] of its module. The default
//! domain, [`DomainId::SYNC`], has the implicit clock `clk` (rising edge) and synchronous,
//! active-high reset `rst`; a module has them when something in it uses that domain
//! ([`Module::clocked`]). Further domains have the inputs `<name>_clk` and, by their
//! [`Reset`], `<name>_rst` (active high) or `<name>_rst_n` (active low), synchronous or
//! asynchronous, unless named otherwise. An instance connects each of its child's domains to
//! one of the parent's ([`Instance::domains`]). A *local* domain is driven inside its module
//! ([`Drive::Local`]): its clock is a [`NodeKind::Clock`] of another domain, reached through
//! wires and ports (a PLL's simulation model passes its input clock through, so in
//! simulation a domain behind a PLL steps on the edges of the PLL's input), and its reset is
//! any one-bit value, sampled like an input's.
//!
//! Inside a module, values are [`Node`]s in an arena indexed by [`NodeId`]. Every node has a
//! [`Type`] (a width and a signedness) and the [`Loc`] of the user code that created it. Values
//! are two's complement where signed; every operation's result type follows the width rules on
//! [`BinaryOp`] and [`UnaryOp`], so the result is always exact (no silent truncation) except
//! where the user asked for it ([`NodeKind::Resize`], [`NodeKind::Slice`], shifts left).
//!
//! One clock cycle of a domain: combinational nodes settle from the inputs and the current
//! state; then, on the rising edge of the domain's clock, every register of the domain loads
//! its reset value if the domain's reset is asserted and it has one (an asynchronous reset
//! also applies between edges),
//! otherwise its next value if its enable is high (or it has none); every memory write port
//! with its enable high writes; and every memory read port with its enable high (or none)
//! loads the word at its address as it was *before* this edge's writes (read-first), so read
//! data appears one cycle after the address. Memory contents ignore reset. A read address at
//! or beyond the depth reads zero; a write there is ignored.

mod mem_init;
mod text;

pub use mem_init::{MemImage, MemInit};

use crate::bits::Bits;
use crate::diagnostic::Loc;

/// Index of a module in [`Design::modules`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleId(pub u32);

/// Index of a node in [`Module::nodes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

/// Index of a clock domain in [`Module::domains`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainId(pub u32);

impl DomainId {
    /// The default domain: clock `clk`, synchronous active-high reset `rst`.
    pub const SYNC: DomainId = DomainId(0);
}

/// When a domain's reset acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResetKind {
    /// No reset input; registers keep their reset values only as initial values.
    None,
    /// Sampled on the clock edge.
    Sync,
    /// Acts as soon as it is asserted, released on the clock edge (by the design's own
    /// synchroniser, which is the user's to provide).
    Async,
}

/// A domain's reset: when it acts and its polarity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reset {
    /// When it acts.
    pub kind: ResetKind,
    /// Asserted low (`<name>_rst_n`).
    pub active_low: bool,
}

impl Reset {
    /// Synchronous, active high: the default domain's.
    pub const SYNC: Reset = Reset {
        kind: ResetKind::Sync,
        active_low: false,
    };
    /// Asynchronous, active high.
    pub const ASYNC: Reset = Reset {
        kind: ResetKind::Async,
        active_low: false,
    };
    /// No reset input.
    pub const NONE: Reset = Reset {
        kind: ResetKind::None,
        active_low: false,
    };

    /// The same reset, asserted low.
    pub const fn active_low(self) -> Reset {
        Reset {
            kind: self.kind,
            active_low: true,
        }
    }
}

/// A clock domain: the registers, memory ports and checks clocked by one clock.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Domain {
    /// The name: `sync` for the default domain, a Verilog identifier otherwise.
    pub name: String,
    /// Its reset.
    pub reset: Reset,
    /// Where its clock and reset come from.
    pub drive: Drive,
}

/// Where a domain's clock and reset come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Drive {
    /// Inputs of the module, by these names: the clock, and the reset when the domain has
    /// one. A parent clocks them by [`Instance::domains`].
    Ports {
        /// The clock input.
        clock: String,
        /// The reset input.
        reset: Option<String>,
    },
    /// Nodes of the module: a clock (a [`NodeKind::Clock`] reached through wires and ports,
    /// such as a PLL's output) and the reset when the domain has one. Verilog names them
    /// `<name>_clk` and `<name>_rst` (`_rst_n` when active low).
    Local {
        /// The clock.
        clock: NodeId,
        /// The reset, a one-bit wire.
        reset: Option<NodeId>,
    },
}

impl Domain {
    /// The default domain.
    pub fn sync() -> Domain {
        Domain {
            name: "sync".into(),
            reset: Reset::SYNC,
            drive: Drive::Ports {
                clock: "clk".into(),
                reset: Some("rst".into()),
            },
        }
    }

    /// A domain clocked and reset through the inputs `<name>_clk` and `<name>_rst`
    /// (`<name>_rst_n` when active low; none without reset).
    pub fn with_ports(name: &str, reset: Reset) -> Domain {
        Domain {
            name: name.to_string(),
            reset,
            drive: Drive::Ports {
                clock: format!("{name}_clk"),
                reset: Domain::reset_name(name, reset),
            },
        }
    }

    /// `<name>_rst` or `<name>_rst_n` by polarity; none without reset.
    pub(crate) fn reset_name(name: &str, reset: Reset) -> Option<String> {
        match (reset.kind, reset.active_low) {
            (ResetKind::None, _) => None,
            (_, false) => Some(format!("{name}_rst")),
            (_, true) => Some(format!("{name}_rst_n")),
        }
    }

    /// Whether the clock and reset are inputs of the module.
    pub fn is_local(&self) -> bool {
        matches!(self.drive, Drive::Local { .. })
    }
}

/// Index of a register in [`Module::regs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegId(pub u32);

/// Index of a memory in [`Module::mems`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemId(pub u32);

/// Index of an instance in [`Module::instances`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstId(pub u32);

/// The width and signedness of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Type {
    /// Width in bits, at least 1.
    pub width: u32,
    /// Whether the bits are read as two's complement.
    pub signed: bool,
}

impl Type {
    /// An unsigned type of `width` bits.
    pub const fn unsigned(width: u32) -> Self {
        Type {
            width,
            signed: false,
        }
    }

    /// A signed (two's complement) type of `width` bits.
    pub const fn signed(width: u32) -> Self {
        Type {
            width,
            signed: true,
        }
    }

    /// One unsigned bit.
    pub const BOOL: Type = Type::unsigned(1);

    /// The same signedness at another width.
    pub const fn with_width(self, width: u32) -> Self {
        Type {
            width,
            signed: self.signed,
        }
    }
}

impl std::fmt::Display for Type {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = if self.signed { "SInt" } else { "UInt" };
        write!(f, "{s}<{}>", self.width)
    }
}

/// A whole design: its modules, children before the parents that instantiate them.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    /// Every module, each once, in dependency order.
    pub modules: Vec<Module>,
    /// The top module (always the last one).
    pub top: ModuleId,
}

impl Design {
    /// The module with this id.
    pub fn module(&self, id: ModuleId) -> &Module {
        &self.modules[id.0 as usize]
    }

    /// The top module.
    pub fn top_module(&self) -> &Module {
        self.module(self.top)
    }

    /// Looks a module up by name.
    pub fn find(&self, name: &str) -> Option<ModuleId> {
        self.modules
            .iter()
            .position(|m| m.name == name)
            .map(|i| ModuleId(i as u32))
    }
}

/// Direction of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Driven from outside the module.
    Input,
    /// Driven by the module.
    Output,
}

/// A port of a module. Clock and reset are implicit and not listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// The name, a Verilog identifier.
    pub name: String,
    /// Input or output.
    pub dir: Direction,
    /// Width and signedness.
    pub ty: Type,
    /// For an input, its [`NodeKind::Input`] node; for an output, the [`NodeKind::Wire`]
    /// node whose driver is the output value.
    pub node: NodeId,
}

/// One module: ports, the node arena, state elements and instances.
#[derive(Debug, Clone, PartialEq)]
pub struct Module {
    /// The module name, unique in the design and a Verilog identifier.
    pub name: String,
    /// Ports in declaration order (inputs and outputs interleaved as declared).
    pub ports: Vec<Port>,
    /// The value arena.
    pub nodes: Vec<Node>,
    /// Registers.
    pub regs: Vec<Reg>,
    /// Memories.
    pub mems: Vec<Mem>,
    /// Instances of other modules.
    pub instances: Vec<Instance>,
    /// Assertions, assumptions and covers, sampled at each clock edge out of reset.
    pub checks: Vec<Check>,
    /// Whether the module has the implicit `clk` and `rst` inputs of the default domain.
    pub clocked: bool,
    /// Its clock domains: [`DomainId::SYNC`] first (always present), then any others, whose
    /// clock and reset inputs the module always has.
    pub domains: Vec<Domain>,
    /// For a module defined outside the design (a vendor primitive): which one. Its body is
    /// then only its simulation model.
    pub external: Option<External>,
    /// Fixed latencies between its streams, checked against its structure by
    /// `check-latency`.
    pub latencies: Vec<Latency>,
}

/// A fixed latency between two streams of a module: every transfer on the input `from`
/// comes out of `to` exactly `cycles` edges later. A stream `s` is named by its valid port
/// `s_valid` (`in_valid` for a block whose input bus is `x`, `x_valid` for an element
/// stream `x`); it has no `ready`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Latency {
    /// The output stream.
    pub to: String,
    /// The input stream.
    pub from: String,
    /// Edges from one to the other.
    pub cycles: u64,
    /// Where it was declared.
    pub loc: Loc,
}

impl Latency {
    /// The valid port of a stream.
    pub fn valid_port(stream: &str) -> String {
        format!("{stream}_valid")
    }
}

/// A parameter of an external module's instances, as Verilog prints it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Param {
    /// An integer, printed in decimal.
    Int(i64),
    /// A string, printed quoted.
    Str(String),
}

/// The module outside the design that a [`Module`] stands for: instances print as
/// `module #(.NAME(value), ...) name (...)`, and synthesis uses the vendor's definition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct External {
    /// The vendor's module name (`EHXPLLL`, `MMCME2_BASE`, `LUT4`).
    pub module: String,
    /// The instance parameters, in order.
    pub params: Vec<(String, Param)>,
}

impl Module {
    /// A module with nothing in it yet.
    pub fn empty(name: impl Into<String>, clocked: bool) -> Module {
        Module {
            name: name.into(),
            ports: Vec::new(),
            nodes: Vec::new(),
            regs: Vec::new(),
            mems: Vec::new(),
            instances: Vec::new(),
            checks: Vec::new(),
            clocked,
            domains: vec![Domain::sync()],
            external: None,
            latencies: Vec::new(),
        }
    }

    /// The domain with this id.
    pub fn domain(&self, id: DomainId) -> &Domain {
        &self.domains[id.0 as usize]
    }

    /// The Verilog name of a domain's clock: its input (`clk` for the default domain,
    /// `<name>_clk` by default otherwise), or the wire of a local domain.
    pub fn clock_port(&self, id: DomainId) -> String {
        let d = self.domain(id);
        match &d.drive {
            Drive::Ports { clock, .. } => clock.clone(),
            Drive::Local { .. } => format!("{}_clk", d.name),
        }
    }

    /// The Verilog name of a domain's reset, if it has one: its input (`rst` for the
    /// default domain, `<name>_rst` or `<name>_rst_n` by default otherwise), or the wire of a
    /// local domain.
    pub fn reset_port(&self, id: DomainId) -> Option<String> {
        let d = self.domain(id);
        match &d.drive {
            Drive::Ports { reset, .. } => reset.clone(),
            Drive::Local { .. } => Domain::reset_name(&d.name, d.reset),
        }
    }

    /// The domains whose clock (and reset) are inputs of this module, in port order: the
    /// default one when [`Module::clocked`], then every other not driven locally.
    pub fn domain_inputs(&self) -> impl Iterator<Item = DomainId> + '_ {
        (0..self.domains.len() as u32)
            .map(DomainId)
            .filter(|&d| (d != DomainId::SYNC || self.clocked) && !self.domain(d).is_local())
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0 as usize]
    }

    /// Input ports in order.
    pub fn inputs(&self) -> impl Iterator<Item = &Port> {
        self.ports.iter().filter(|p| p.dir == Direction::Input)
    }

    /// Output ports in order.
    pub fn outputs(&self) -> impl Iterator<Item = &Port> {
        self.ports.iter().filter(|p| p.dir == Direction::Output)
    }

    /// Looks a port up by name.
    pub fn port(&self, name: &str) -> Option<&Port> {
        self.ports.iter().find(|p| p.name == name)
    }
}

/// A value in a module.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What computes the value.
    pub kind: NodeKind,
    /// Its width and signedness.
    pub ty: Type,
    /// Where the user created it.
    pub loc: Loc,
}

/// Operations on one operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// Bitwise complement; same type.
    Not,
    /// Two's-complement negation of a signed value; one bit wider, so `-min` is exact.
    Neg,
    /// AND of all bits; one unsigned bit.
    ReduceAnd,
    /// OR of all bits; one unsigned bit.
    ReduceOr,
    /// XOR of all bits; one unsigned bit.
    ReduceXor,
}

/// Operations on two operands. Both operands must have the same signedness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// Sum; `max(wa, wb) + 1` bits, so it never overflows.
    Add,
    /// Difference; `max(wa, wb) + 1` bits. For unsigned operands the result wraps modulo
    /// `2^(max+1)` when negative.
    Sub,
    /// Product; `wa + wb` bits, exact.
    Mul,
    /// Bitwise AND; operands of equal width, same type.
    And,
    /// Bitwise OR; operands of equal width, same type.
    Or,
    /// Bitwise XOR; operands of equal width, same type.
    Xor,
    /// Equality; one unsigned bit. Operands of different widths are extended first.
    Eq,
    /// Inequality; one unsigned bit.
    Ne,
    /// Less than (signed or unsigned by the operands); one unsigned bit.
    Lt,
    /// Less than or equal; one unsigned bit.
    Le,
    /// Shift left by an unsigned amount; the width of the left operand (bits shifted out are
    /// lost: widen first to keep them).
    Shl,
    /// Shift right by an unsigned amount, arithmetic when the left operand is signed; the
    /// width of the left operand. The right operand may have any signedness and is read as
    /// unsigned.
    Shr,
}

/// What computes a node's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// The input port at this index of [`Module::ports`].
    Input(u32),
    /// A constant; its width equals the node's.
    Const(Bits),
    /// A named net. `driver` is `None` until assigned; the checks reject an undriven wire.
    Wire {
        /// The user's name.
        name: String,
        /// The value on the wire.
        driver: Option<NodeId>,
    },
    /// The current output of a register.
    RegQ(RegId),
    /// The data of a memory's read port (registered: it shows the word addressed on the
    /// previous edge).
    MemRead(MemId, u32),
    /// An output port of an instance: the index is into the child module's `ports`.
    InstOut(InstId, u32),
    /// A one-operand operation.
    Unary(UnaryOp, NodeId),
    /// A two-operand operation.
    Binary(BinaryOp, NodeId, NodeId),
    /// `sel ? a : b`; `sel` is one bit, `a` and `b` have the node's type.
    Mux(NodeId, NodeId, NodeId),
    /// Bits `lo .. lo + width` of the operand, unsigned.
    Slice(NodeId, u32),
    /// Concatenation, most significant part first (as in Verilog); unsigned.
    Concat(Vec<NodeId>),
    /// The operand extended (by its own signedness) or truncated to the node's width; the
    /// node has the operand's signedness.
    Resize(NodeId),
    /// The operand's bits read with the node's signedness (same width).
    Cast(NodeId),
    /// The clock of a domain of this module as a one-bit value, to hand to a child (a
    /// PLL's input), an output or a local domain. A clock is not data: it reaches only
    /// wires, ports and domains (the `check-clocks` pass), and the native simulator, which
    /// steps from edge to edge, reads it as 0.
    Clock(DomainId),
}

impl NodeKind {
    /// The nodes this one reads combinationally (registers, memory reads and instance
    /// outputs read none here: their inputs belong to the state element or child).
    pub fn operands(&self) -> Vec<NodeId> {
        match self {
            NodeKind::Input(_)
            | NodeKind::Const(_)
            | NodeKind::RegQ(_)
            | NodeKind::MemRead(..)
            | NodeKind::InstOut(..)
            | NodeKind::Clock(_) => Vec::new(),
            NodeKind::Wire { driver, .. } => driver.iter().copied().collect(),
            NodeKind::Unary(_, a)
            | NodeKind::Slice(a, _)
            | NodeKind::Resize(a)
            | NodeKind::Cast(a) => vec![*a],
            NodeKind::Binary(_, a, b) => vec![*a, *b],
            NodeKind::Mux(s, a, b) => vec![*s, *a, *b],
            NodeKind::Concat(parts) => parts.clone(),
        }
    }

    /// Rewrites every operand through `f`.
    pub fn map_operands(&mut self, mut f: impl FnMut(NodeId) -> NodeId) {
        match self {
            NodeKind::Input(_)
            | NodeKind::Const(_)
            | NodeKind::RegQ(_)
            | NodeKind::MemRead(..)
            | NodeKind::InstOut(..)
            | NodeKind::Clock(_) => {}
            NodeKind::Wire { driver, .. } => {
                if let Some(d) = driver {
                    *d = f(*d);
                }
            }
            NodeKind::Unary(_, a)
            | NodeKind::Slice(a, _)
            | NodeKind::Resize(a)
            | NodeKind::Cast(a) => *a = f(*a),
            NodeKind::Binary(_, a, b) => {
                *a = f(*a);
                *b = f(*b);
            }
            NodeKind::Mux(s, a, b) => {
                *s = f(*s);
                *a = f(*a);
                *b = f(*b);
            }
            NodeKind::Concat(parts) => parts.iter_mut().for_each(|p| *p = f(*p)),
        }
    }
}

/// A register in the implicit clock domain.
#[derive(Debug, Clone, PartialEq)]
pub struct Reg {
    /// The user's name.
    pub name: String,
    /// Width and signedness.
    pub ty: Type,
    /// The value loaded while `rst` is high; `None` for a register without reset (it starts
    /// at zero in simulation and is left uninitialised in Verilog).
    pub reset: Option<Bits>,
    /// The value loaded on each enabled edge.
    pub next: Option<NodeId>,
    /// Loads only when this one-bit node is high; `None` loads every edge.
    pub enable: Option<NodeId>,
    /// The clock domain.
    pub domain: DomainId,
    /// The first stage of a synchroniser: it samples a signal of another domain on purpose
    /// (the crossing check accepts it; synthesis is told with `ASYNC_REG`).
    pub synchronizer: bool,
    /// For a register that holds an enumeration (a state machine's state): the name of each
    /// value from 0 up, shown in waveforms and in the Verilog. Empty otherwise.
    pub labels: Vec<String>,
    /// Where the user created it.
    pub loc: Loc,
}

/// What a [`Check`] claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// The condition holds on every edge out of reset; simulation reports a violation and a
    /// formal proof shows none exists.
    Assert,
    /// The environment keeps the condition true: a formal proof only considers such inputs,
    /// and simulation reports a testbench that breaks it.
    Assume,
    /// The condition can happen: a formal cover run finds a trace to it, and simulation
    /// counts how often it did.
    Cover,
}

impl CheckKind {
    /// `assert`, `assume` or `cover`, as in SystemVerilog.
    pub fn keyword(self) -> &'static str {
        match self {
            CheckKind::Assert => "assert",
            CheckKind::Assume => "assume",
            CheckKind::Cover => "cover",
        }
    }
}

/// A property of a module, sampled at each rising edge of its domain's clock out of reset.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Assert, assume or cover.
    pub kind: CheckKind,
    /// The user's name for it, unique in the module.
    pub name: String,
    /// The domain whose clock samples it.
    pub domain: DomainId,
    /// A one-bit node: the condition (for a check made inside `when`, already combined with
    /// the scope's condition).
    pub cond: NodeId,
    /// Where the user wrote it.
    pub loc: Loc,
}

/// How a memory should be mapped by synthesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MemStyle {
    /// Let the synthesis tool decide.
    #[default]
    Auto,
    /// Block RAM (ECP5 DP16KD, Xilinx RAMB18/36).
    Block,
    /// LUTs (distributed RAM or logic).
    Distributed,
}

/// A synchronous-read port of a memory.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadPort {
    /// Word address, unsigned.
    pub addr: NodeId,
    /// Loads the read register only when high; `None` reads every edge.
    pub enable: Option<NodeId>,
    /// The clock domain of the read register.
    pub domain: DomainId,
}

/// A write port of a memory.
#[derive(Debug, Clone, PartialEq)]
pub struct WritePort {
    /// Word address, unsigned.
    pub addr: NodeId,
    /// The word to write; the memory's type.
    pub data: NodeId,
    /// Writes only when this one-bit node is high.
    pub enable: NodeId,
    /// The clock domain of the write.
    pub domain: DomainId,
}

/// A memory (RAM when it has write ports, ROM otherwise) with synchronous reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Mem {
    /// The user's name.
    pub name: String,
    /// Type of one word.
    pub ty: Type,
    /// Number of words.
    pub depth: u32,
    /// Initial contents (`depth` words); `None` starts at zero in simulation.
    pub init: Option<MemInit>,
    /// Read ports; each has a [`NodeKind::MemRead`] node with its data.
    pub read_ports: Vec<ReadPort>,
    /// Write ports.
    pub write_ports: Vec<WritePort>,
    /// The mapping hint for synthesis.
    pub style: MemStyle,
    /// Where the user created it.
    pub loc: Loc,
}

impl Mem {
    /// Bits of address needed for the depth.
    pub fn addr_width(&self) -> u32 {
        addr_width(self.depth)
    }
}

/// Bits of address needed to reach `depth` words (at least one).
pub fn addr_width(depth: u32) -> u32 {
    (32 - depth.saturating_sub(1).leading_zeros()).max(1)
}

/// An instance of another module. Its clock and reset are the parent's.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The instance name.
    pub name: String,
    /// The module instantiated (earlier in [`Design::modules`]).
    pub module: ModuleId,
    /// For each of the child's ports, in the child's port order: the parent node driving it
    /// for an input, `None` for an output (read it through [`NodeKind::InstOut`]).
    pub connections: Vec<Option<NodeId>>,
    /// For each of the child's domains, in order, the parent's domain that clocks it.
    pub domains: Vec<DomainId>,
    /// Where the user created it.
    pub loc: Loc,
}

impl Module {
    /// Rewrites every reference to a node — operands, drivers, register and memory inputs,
    /// instance connections and port nodes — through `f`.
    pub fn map_node_refs(&mut self, mut f: impl FnMut(NodeId) -> NodeId) {
        for n in &mut self.nodes {
            n.kind.map_operands(&mut f);
        }
        for r in &mut self.regs {
            r.next = r.next.map(&mut f);
            r.enable = r.enable.map(&mut f);
        }
        for m in &mut self.mems {
            for p in &mut m.read_ports {
                p.addr = f(p.addr);
                p.enable = p.enable.map(&mut f);
            }
            for p in &mut m.write_ports {
                p.addr = f(p.addr);
                p.data = f(p.data);
                p.enable = f(p.enable);
            }
        }
        for i in &mut self.instances {
            for c in i.connections.iter_mut().flatten() {
                *c = f(*c);
            }
        }
        for c in &mut self.checks {
            c.cond = f(c.cond);
        }
        for p in &mut self.ports {
            p.node = f(p.node);
        }
        for d in &mut self.domains {
            if let Drive::Local { clock, reset } = &mut d.drive {
                *clock = f(*clock);
                *reset = reset.map(&mut f);
            }
        }
    }

    /// The nodes that drive local domains' clocks and resets.
    pub fn domain_drivers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.domains
            .iter()
            .filter_map(|d| match d.drive {
                Drive::Local { clock, reset } => Some(std::iter::once(clock).chain(reset)),
                Drive::Ports { .. } => None,
            })
            .flatten()
    }

    /// The nodes in an order where every node comes after the nodes it reads
    /// combinationally within this module. Assumes no combinational loop (checked by
    /// `check-comb-loops`).
    pub fn topological_order(&self) -> Vec<NodeId> {
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut state = vec![0u8; self.nodes.len()];
        for start in 0..self.nodes.len() {
            if state[start] != 0 {
                continue;
            }
            let mut stack = vec![(NodeId(start as u32), false)];
            while let Some((id, expanded)) = stack.pop() {
                let s = &mut state[id.0 as usize];
                if expanded {
                    if *s == 1 {
                        *s = 2;
                        order.push(id);
                    }
                    continue;
                }
                if *s != 0 {
                    continue;
                }
                *s = 1;
                stack.push((id, true));
                for op in self.node(id).kind.operands() {
                    if state[op.0 as usize] == 0 {
                        stack.push((op, false));
                    }
                }
            }
        }
        order
    }

    /// Appends a node and returns its id.
    pub fn push_node(&mut self, kind: NodeKind, ty: Type, loc: Loc) -> NodeId {
        self.nodes.push(Node { kind, ty, loc });
        NodeId(self.nodes.len() as u32 - 1)
    }
}
