//! Memories: ROM and RAM with synchronous reads, emitted so synthesis maps them to block RAM.

use super::module::{ModuleBuilder, Signal};
use crate::bits::Bits;
use crate::diagnostic::{Code, Loc};
use std::sync::Arc;

use crate::ir::{Mem, MemId, MemImage, MemInit, MemStyle, NodeKind, ReadPort, Type, WritePort};

/// A memory being built: add read ports with [`Memory::read`] and write ports with
/// [`Memory::write`]. Reads are synchronous (data one cycle after the address) and see the
/// contents from before a same-edge write.
#[derive(Clone, Copy)]
pub struct Memory<'a> {
    m: &'a ModuleBuilder<'a>,
    id: MemId,
}

impl<'e> ModuleBuilder<'e> {
    /// Declares a memory of `depth` words of type `ty`, initially zero.
    #[track_caller]
    pub fn memory(&self, name: &str, ty: Type, depth: u32) -> Memory<'_> {
        let loc = Loc::caller();
        self.claim_name(name, "a memory", loc);
        let ty = self.check_width(&format!("memory `{name}`"), ty, loc);
        if depth == 0 {
            self.error(
                Code::BadParameter,
                loc,
                format!("memory `{name}` has depth 0"),
            );
        }
        let mut d = self.data.borrow_mut();
        let id = MemId(d.module.mems.len() as u32);
        d.module.mems.push(Mem {
            name: name.to_string(),
            ty,
            depth: depth.max(1),
            init: None,
            read_ports: Vec::new(),
            write_ports: Vec::new(),
            style: MemStyle::Auto,
            loc,
        });
        Memory { m: self, id }
    }
}

impl<'a> Memory<'a> {
    fn with<R>(&self, f: impl FnOnce(&mut Mem) -> R) -> R {
        f(&mut self.m.data.borrow_mut().module.mems[self.id.0 as usize])
    }

    /// Sets the initial contents from integers (wrapped to the word width); there must be
    /// exactly `depth` of them.
    #[track_caller]
    pub fn init(self, words: &[i64]) -> Self {
        let width = self.with(|m| m.ty.width);
        let bits = words
            .iter()
            .map(|w| Bits::from_i128((*w).into(), width))
            .collect();
        self.init_at(bits, Loc::caller())
    }

    /// Sets the initial contents from bit vectors of the word width.
    #[track_caller]
    pub fn init_bits(self, words: Vec<Bits>) -> Self {
        self.init_at(words, Loc::caller())
    }

    fn init_at(self, words: Vec<Bits>, loc: Loc) -> Self {
        let (name, ty, depth) = self.with(|m| (m.name.clone(), m.ty, m.depth));
        if words.len() != depth as usize {
            self.m.error(
                Code::BadParameter,
                loc,
                format!(
                    "memory `{name}` has depth {depth} but {} initial words were given",
                    words.len()
                ),
            );
        } else if let Some(w) = words.iter().find(|w| w.width() != ty.width) {
            self.m.error(
                Code::WidthMismatch,
                loc,
                format!(
                    "memory `{name}` holds {ty} words but an initial word has {} bits",
                    w.width()
                ),
            );
        } else {
            self.with(|m| m.init = Some(MemInit::Words(words)));
        }
        self
    }

    /// Sets the initial contents to an image that makes the words on demand (see
    /// [`MemImage`]): the design refers to it instead of holding the words.
    #[track_caller]
    pub fn init_image(self, image: Arc<dyn MemImage>) -> Self {
        let loc = Loc::caller();
        let (name, ty, depth) = self.with(|m| (m.name.clone(), m.ty, m.depth));
        if (image.depth(), image.width()) != (depth, ty.width) {
            self.m.error(
                Code::BadParameter,
                loc,
                format!(
                    "memory `{name}` holds {depth} words of {ty} but its image makes {} of {} bits",
                    image.depth(),
                    image.width()
                ),
            );
        } else {
            self.with(|m| m.init = Some(MemInit::Image(image)));
        }
        self
    }

    /// Sets the mapping hint for synthesis.
    pub fn style(self, style: MemStyle) -> Self {
        self.with(|m| m.style = style);
        self
    }

    fn check_addr(&self, addr: Signal<'a>, loc: Loc) {
        if addr.ty.signed {
            let name = self.with(|m| m.name.clone());
            self.m.error(
                Code::SignMismatch,
                loc,
                format!(
                    "the address `{}` of memory `{name}` is signed; `.as_unsigned()` it",
                    self.m.describe(addr.id)
                ),
            );
        }
    }

    /// A read port that reads on every edge; its data follows the address by one cycle.
    #[track_caller]
    pub fn read(&self, addr: Signal<'a>) -> Signal<'a> {
        self.read_at(addr, None, Loc::caller())
    }

    /// A read port that loads only when `enable` is high and holds its data otherwise.
    #[track_caller]
    pub fn read_enabled(&self, addr: Signal<'a>, enable: Signal<'a>) -> Signal<'a> {
        let loc = Loc::caller();
        self.m.check_bool("a memory read enable", enable, loc);
        self.read_at(addr, Some(enable.id), loc)
    }

    fn read_at(&self, addr: Signal<'a>, enable: Option<crate::ir::NodeId>, loc: Loc) -> Signal<'a> {
        self.check_addr(addr, loc);
        let domain = self.m.use_domain();
        let (port, ty) = self.with(|m| {
            m.read_ports.push(ReadPort {
                addr: addr.id,
                enable,
                domain,
            });
            (m.read_ports.len() as u32 - 1, m.ty)
        });
        self.m.signal(NodeKind::MemRead(self.id, port), ty, loc)
    }

    /// A write port: on edges where `enable` is high (and, inside [`ModuleBuilder::when`],
    /// the scope's condition holds), `data` is written at `addr`.
    #[track_caller]
    pub fn write(&self, addr: Signal<'a>, data: Signal<'a>, enable: Signal<'a>) {
        let loc = Loc::caller();
        self.check_addr(addr, loc);
        self.m.check_bool("a memory write enable", enable, loc);
        let (name, ty) = self.with(|m| (m.name.clone(), m.ty));
        if data.ty != ty {
            self.m.error(
                Code::WidthMismatch,
                loc,
                format!(
                    "memory `{name}` holds {ty} words but `{}` is {}",
                    self.m.describe(data.id),
                    data.ty
                ),
            );
            return;
        }
        let enable = self.m.guarded(Some(enable.id), loc).unwrap_or(enable.id);
        let domain = self.m.use_domain();
        self.with(|m| {
            m.write_ports.push(WritePort {
                addr: addr.id,
                data: data.id,
                enable,
                domain,
            })
        });
    }
}
