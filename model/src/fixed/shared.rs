//! Read-only slices that clones share: owned, or read in place from a mapped weight store
//! ([`crate::store`]). The golden model's packed weights and multipliers, the hardware blocks
//! made from them and the ROM images written from those all refer to one copy, and a mapped
//! one can give its pages back ([`Shared::release`]) once a pass over the model is done with
//! it.

use memmap2::Mmap;
use std::sync::{Arc, OnceLock};

/// What a store section holds in place: plain integers, every bit pattern valid, stored
/// little-endian.
pub trait Word:
    Copy + std::fmt::Debug + PartialEq + Send + Sync + 'static + sealed::Sealed
{
}
impl Word for u8 {}
impl Word for i32 {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for i32 {}
}

/// A shared `[T]` (see the module docs).
#[derive(Clone)]
pub struct Shared<T: Word> {
    inner: Inner<T>,
    /// The largest magnitude of the elements, found on first use and shared by clones (the
    /// elements never change).
    largest: Arc<OnceLock<u32>>,
}

#[derive(Clone)]
enum Inner<T> {
    Owned(Arc<[T]>),
    /// `len` elements at byte `start` of a mapped store file.
    Mapped {
        map: Arc<Mmap>,
        start: usize,
        len: usize,
    },
}

impl<T: Word> Shared<T> {
    fn new(inner: Inner<T>) -> Self {
        Shared {
            inner,
            largest: Arc::default(),
        }
    }

    /// `len` elements at byte `start` of `map`, read in place; `None` when they lie past its
    /// end, are not aligned for `T`, or (on a big-endian machine) `T` is wider than a byte, so
    /// the caller reads them instead.
    pub(crate) fn mapped(map: Arc<Mmap>, start: usize, len: usize) -> Option<Self> {
        let size = std::mem::size_of::<T>();
        let end = len.checked_mul(size)?.checked_add(start)?;
        let in_place = cfg!(target_endian = "little") || size == 1;
        let aligned = (map.as_ptr() as usize + start).is_multiple_of(std::mem::align_of::<T>());
        (end <= map.len() && aligned && in_place).then_some(Shared::new(Inner::Mapped {
            map,
            start,
            len,
        }))
    }

    /// Whether the elements are read from a mapped store rather than owned.
    pub fn is_mapped(&self) -> bool {
        matches!(self.inner, Inner::Mapped { .. })
    }

    /// Drops the mapped pages of these elements from the process's resident set (they stay in
    /// the page cache, and the next read maps them in again); owned ones are left alone.
    pub fn release(&self) {
        if let Inner::Mapped { map, start, len } = &self.inner {
            crate::bytes::release_pages(map, *start, len * std::mem::size_of::<T>());
        }
    }
}

impl Shared<i32> {
    /// The largest `|x|` of the elements (0 when there are none): one pass on first use, then
    /// remembered by every clone.
    pub fn largest_magnitude(&self) -> u32 {
        *self
            .largest
            .get_or_init(|| self.iter().fold(0, |a, &x| a.max(x.unsigned_abs())))
    }
}

impl<T: Word> std::ops::Deref for Shared<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match &self.inner {
            Inner::Owned(v) => v,
            // SAFETY: `mapped` checked that the elements lie inside the map and are aligned
            // for `T`, and `T` is a plain integer (every bit pattern valid) stored in the
            // machine's byte order. The map is read-only and its file never changes (see
            // `store::read`).
            Inner::Mapped { map, start, len } => unsafe {
                std::slice::from_raw_parts(map.as_ptr().add(*start).cast::<T>(), *len)
            },
        }
    }
}

impl<T: Word> Default for Shared<T> {
    fn default() -> Self {
        Shared::new(Inner::Owned(Arc::from([])))
    }
}

impl<T: Word> From<Vec<T>> for Shared<T> {
    fn from(v: Vec<T>) -> Self {
        Shared::new(Inner::Owned(v.into()))
    }
}

impl<T: Word> From<&[T]> for Shared<T> {
    fn from(v: &[T]) -> Self {
        Shared::new(Inner::Owned(v.into()))
    }
}

impl<T: Word> FromIterator<T> for Shared<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Shared::new(Inner::Owned(iter.into_iter().collect()))
    }
}

impl<T: Word> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: Word> PartialEq for Shared<T> {
    /// Equal when they hold the same elements, wherever held.
    fn eq(&self, o: &Self) -> bool {
        **self == **o
    }
}
