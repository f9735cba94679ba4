//! A minimal way to write IR by hand for the tests, independent of the hdl builder: push
//! nodes, with result types computed by the IR's width rules; and a shared waveform sink.
#![allow(dead_code)]

use hardwire_hdl::ir::*;
use hardwire_hdl::{Bits, Loc};

/// A module under construction.
pub struct Mb {
    pub m: Module,
}

/// The result type of a binary operation, per the rules on [`BinaryOp`].
pub fn bin_type(op: BinaryOp, ta: Type, tb: Type) -> Type {
    match op {
        BinaryOp::Add | BinaryOp::Sub => Type {
            width: ta.width.max(tb.width) + 1,
            signed: ta.signed,
        },
        BinaryOp::Mul => Type {
            width: ta.width + tb.width,
            signed: ta.signed,
        },
        BinaryOp::And | BinaryOp::Or | BinaryOp::Xor | BinaryOp::Shl | BinaryOp::Shr => ta,
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le => Type::BOOL,
    }
}

impl Mb {
    pub fn new(name: &str, clocked: bool) -> Self {
        Mb {
            m: Module::empty(name, clocked),
        }
    }

    pub fn node(&mut self, kind: NodeKind, ty: Type) -> NodeId {
        self.m.nodes.push(Node {
            kind,
            ty,
            loc: Loc::caller(),
        });
        NodeId(self.m.nodes.len() as u32 - 1)
    }

    pub fn ty(&self, n: NodeId) -> Type {
        self.m.nodes[n.0 as usize].ty
    }

    pub fn input(&mut self, name: &str, ty: Type) -> NodeId {
        let n = self.node(NodeKind::Input(self.m.ports.len() as u32), ty);
        self.m.ports.push(Port {
            name: name.to_string(),
            dir: Direction::Input,
            ty,
            node: n,
        });
        n
    }

    pub fn output(&mut self, name: &str, driver: NodeId) -> NodeId {
        let ty = self.ty(driver);
        let n = self.wire(name, driver);
        self.m.ports.push(Port {
            name: name.to_string(),
            dir: Direction::Output,
            ty,
            node: n,
        });
        n
    }

    pub fn wire(&mut self, name: &str, driver: NodeId) -> NodeId {
        let ty = self.ty(driver);
        self.node(
            NodeKind::Wire {
                name: name.to_string(),
                driver: Some(driver),
            },
            ty,
        )
    }

    pub fn konst(&mut self, v: i128, ty: Type) -> NodeId {
        self.node(NodeKind::Const(Bits::from_i128(v, ty.width)), ty)
    }

    pub fn bin(&mut self, op: BinaryOp, a: NodeId, b: NodeId) -> NodeId {
        let ty = bin_type(op, self.ty(a), self.ty(b));
        self.node(NodeKind::Binary(op, a, b), ty)
    }

    pub fn un(&mut self, op: UnaryOp, a: NodeId) -> NodeId {
        let ta = self.ty(a);
        let ty = match op {
            UnaryOp::Not => ta,
            UnaryOp::Neg => Type {
                width: ta.width + 1,
                signed: ta.signed,
            },
            _ => Type::BOOL,
        };
        self.node(NodeKind::Unary(op, a), ty)
    }

    pub fn resize(&mut self, a: NodeId, width: u32) -> NodeId {
        let ty = self.ty(a).with_width(width);
        self.node(NodeKind::Resize(a), ty)
    }

    pub fn cast(&mut self, a: NodeId, signed: bool) -> NodeId {
        let ty = Type {
            width: self.ty(a).width,
            signed,
        };
        self.node(NodeKind::Cast(a), ty)
    }

    pub fn slice(&mut self, a: NodeId, lo: u32, width: u32) -> NodeId {
        self.node(NodeKind::Slice(a, lo), Type::unsigned(width))
    }

    pub fn concat(&mut self, parts: &[NodeId]) -> NodeId {
        let w = parts.iter().map(|p| self.ty(*p).width).sum();
        self.node(NodeKind::Concat(parts.to_vec()), Type::unsigned(w))
    }

    pub fn mux(&mut self, s: NodeId, a: NodeId, b: NodeId) -> NodeId {
        let ty = self.ty(a);
        self.node(NodeKind::Mux(s, a, b), ty)
    }

    /// A register; returns its id and its output node.
    pub fn reg(&mut self, name: &str, ty: Type, reset: Option<i128>) -> (RegId, NodeId) {
        self.m.regs.push(Reg {
            name: name.to_string(),
            ty,
            reset: reset.map(|v| Bits::from_i128(v, ty.width)),
            next: None,
            enable: None,
            domain: DomainId::SYNC,
            synchronizer: false,
            labels: Vec::new(),
            loc: Loc::caller(),
        });
        let r = RegId(self.m.regs.len() as u32 - 1);
        (r, self.node(NodeKind::RegQ(r), ty))
    }

    pub fn set_next(&mut self, r: RegId, next: NodeId, enable: Option<NodeId>) {
        self.m.regs[r.0 as usize].next = Some(next);
        self.m.regs[r.0 as usize].enable = enable;
    }

    pub fn mem(&mut self, name: &str, ty: Type, depth: u32, init: Option<Vec<Bits>>) -> MemId {
        self.m.mems.push(Mem {
            name: name.to_string(),
            ty,
            depth,
            init: init.map(hardwire_hdl::ir::MemInit::Words),
            read_ports: Vec::new(),
            write_ports: Vec::new(),
            style: MemStyle::Auto,
            loc: Loc::caller(),
        });
        MemId(self.m.mems.len() as u32 - 1)
    }

    /// A read port; returns its data node.
    pub fn read_port(&mut self, mem: MemId, addr: NodeId, enable: Option<NodeId>) -> NodeId {
        let m = &mut self.m.mems[mem.0 as usize];
        m.read_ports.push(ReadPort {
            addr,
            enable,
            domain: DomainId::SYNC,
        });
        let (p, ty) = (m.read_ports.len() as u32 - 1, m.ty);
        self.node(NodeKind::MemRead(mem, p), ty)
    }

    pub fn write_port(&mut self, mem: MemId, addr: NodeId, data: NodeId, enable: NodeId) {
        self.m.mems[mem.0 as usize].write_ports.push(WritePort {
            addr,
            data,
            enable,
            domain: DomainId::SYNC,
        });
    }

    /// An instance of `child` (a module already in `design`), with inputs connected by name.
    pub fn instance(
        &mut self,
        name: &str,
        child_id: ModuleId,
        child: &Module,
        inputs: &[(&str, NodeId)],
    ) -> InstId {
        let connections = child
            .ports
            .iter()
            .map(|p| match p.dir {
                Direction::Input => inputs.iter().find(|(n, _)| *n == p.name).map(|(_, id)| *id),
                Direction::Output => None,
            })
            .collect();
        self.m.instances.push(Instance {
            name: name.to_string(),
            module: child_id,
            domains: vec![DomainId::SYNC; child.domains.len()],
            connections,
            loc: Loc::caller(),
        });
        InstId(self.m.instances.len() as u32 - 1)
    }

    /// The output port `port` of instance `inst` as a node.
    pub fn inst_out(&mut self, inst: InstId, child: &Module, port: &str) -> NodeId {
        let p = child
            .ports
            .iter()
            .position(|p| p.name == port)
            .expect("port exists");
        self.node(NodeKind::InstOut(inst, p as u32), child.ports[p].ty)
    }
}

/// A design of one module.
pub fn single(m: Mb) -> Design {
    Design {
        modules: vec![m.m],
        top: ModuleId(0),
    }
}

/// A `Write` whose bytes a test can read after the simulator writing to it is dropped.
#[derive(Clone, Default)]
pub struct Shared(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
