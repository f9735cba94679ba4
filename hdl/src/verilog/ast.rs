//! A small Verilog-2005 syntax tree: just what the backend emits, printed by [`super::print`].

/// One module.
#[derive(Debug, Clone, PartialEq)]
pub struct VModule {
    /// Module name.
    pub name: String,
    /// Parameters with their default values as Verilog text (a simulation model's).
    pub params: Vec<(String, String)>,
    /// Ports in order.
    pub ports: Vec<VPort>,
    /// Body items in order.
    pub items: Vec<Item>,
}

/// A port declaration (`input wire [7:0] x`).
#[derive(Debug, Clone, PartialEq)]
pub struct VPort {
    /// True for `input`, false for `output`.
    pub input: bool,
    /// Width in bits.
    pub width: u32,
    /// Name.
    pub name: String,
}

/// A module body item.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `// text`
    Comment(String),
    /// `wire [w-1:0] name;`
    Wire { name: String, width: u32 },
    /// `(* attr *) reg [w-1:0] name = init;`
    Reg {
        name: String,
        width: u32,
        /// A synthesis attribute, `(key, value)`.
        attribute: Option<(String, String)>,
        /// The power-up value (for a domain without reset).
        init: Option<Expr>,
    },
    /// `(* attr *) reg [w-1:0] name [0:depth-1];` with an optional `$readmemh` file.
    Memory {
        name: String,
        width: u32,
        depth: u32,
        attribute: Option<(String, String)>,
        init_file: Option<String>,
    },
    /// `assign lhs = rhs;`
    Assign { lhs: String, rhs: Expr },
    /// `always @(posedge clock)`, or `always @(posedge clock or posedge/negedge reset)` for
    /// an asynchronous reset.
    AlwaysPosedge {
        clock: String,
        /// An asynchronous reset: its input and whether it is asserted low.
        async_reset: Option<(String, bool)>,
        body: Vec<Stmt>,
    },
    /// Properties for yosys' formal front end, inside `` `ifdef FORMAL ``: reset (its input
    /// and whether it is asserted low) is assumed on the first cycle, and each `(keyword,
    /// label, condition)` is checked on every rising edge of `clock` while reset is not
    /// asserted.
    Formal {
        clock: String,
        reset: Option<(String, bool)>,
        checks: Vec<(&'static str, String, Expr)>,
    },
    /// `module #(.PARAM(value), ...) name (.port(expr), ...);`
    Instance {
        module: String,
        /// Parameters with their values as Verilog text.
        params: Vec<(String, String)>,
        name: String,
        connections: Vec<(String, Expr)>,
    },
}

/// A statement inside an `always` block.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `if (cond) ... else ...`
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Vec<Stmt>,
    },
    /// `lhs <= rhs;`
    NonBlocking { lhs: Expr, rhs: Expr },
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A net name.
    Ident(String),
    /// A sized hexadecimal literal `w'hdigits`.
    Literal { width: u32, hex: String },
    /// `name[bit]`
    Index(String, u32),
    /// `name[hi:lo]`
    Slice(String, u32, u32),
    /// `mem[addr]`
    MemIndex(String, Box<Expr>),
    /// `{a, b}`
    Concat(Vec<Expr>),
    /// `{n{e}}`
    Repeat(u32, Box<Expr>),
    /// `op e` (`~`, `-`, `&`, `|`, `^`)
    Unary(&'static str, Box<Expr>),
    /// `a op b`
    Binary(Box<Expr>, &'static str, Box<Expr>),
    /// `c ? a : b`
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `$signed(e)`
    Signed(Box<Expr>),
}

impl Expr {
    /// A name.
    pub fn ident(name: impl Into<String>) -> Expr {
        Expr::Ident(name.into())
    }

    /// `a op b`.
    pub fn binary(a: Expr, op: &'static str, b: Expr) -> Expr {
        Expr::Binary(Box::new(a), op, Box::new(b))
    }
}
