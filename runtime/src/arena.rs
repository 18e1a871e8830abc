//! The arena for intermediates: one 64-byte-aligned allocation of a planned size.
//!
//! The compiler's memory planner gives every intermediate of a function a byte offset (a
//! multiple of [`ALIGN`]) and the function a total size; at run time the entry point gets
//! one [`Arena`] of at least that size and addresses intermediates as `base + offset`. An
//! arena is reused across calls: [`Arena::reserve`] grows it only when a larger plan
//! comes, so steady-state calls allocate nothing. Contents are not cleared between calls.

use crate::buffer::{AlignedBuf, Element, ALIGN};
use crate::error::{Error, Result};

/// A reusable 64-byte-aligned scratch allocation.
#[derive(Debug)]
pub struct Arena {
    buf: AlignedBuf,
}

impl Arena {
    /// An arena of exactly `size` bytes (zeroed); `size == 0` allocates nothing.
    pub fn new(size: usize) -> Result<Arena> {
        Ok(Arena {
            buf: AlignedBuf::zeroed(size)?,
        })
    }

    /// The size in bytes.
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// Makes the arena at least `size` bytes. Growing replaces the allocation (the old
    /// contents are dropped, and pointers from [`Arena::base_ptr`] become invalid);
    /// otherwise nothing happens. On failure the arena is unchanged.
    pub fn reserve(&mut self, size: usize) -> Result<()> {
        if size > self.buf.len() {
            // Allocate first, so a failure leaves the old buffer in place.
            self.buf = AlignedBuf::zeroed(size)?;
        }
        Ok(())
    }

    /// The base address (aligned to [`ALIGN`], non-null even when empty) for generated
    /// code, which adds planned offsets to it.
    pub fn base_ptr(&mut self) -> *mut u8 {
        self.buf.as_mut_ptr()
    }

    fn check(&self, offset: usize, len: usize) -> Result<()> {
        if !offset.is_multiple_of(ALIGN) {
            return Err(Error::bad_argument(format!(
                "arena offset {offset} is not a multiple of {ALIGN}"
            )));
        }
        match offset.checked_add(len) {
            Some(end) if end <= self.buf.len() => Ok(()),
            _ => Err(Error::bad_argument(format!(
                "arena range {offset}..{offset}+{len} is outside the arena of {} bytes",
                self.buf.len()
            ))),
        }
    }

    /// The `len` bytes at `offset` (a multiple of [`ALIGN`]); out of bounds is an error.
    pub fn bytes(&self, offset: usize, len: usize) -> Result<&[u8]> {
        self.check(offset, len)?;
        Ok(&self.buf.as_slice()[offset..offset + len])
    }

    /// The `len` bytes at `offset`, mutably.
    pub fn bytes_mut(&mut self, offset: usize, len: usize) -> Result<&mut [u8]> {
        self.check(offset, len)?;
        Ok(&mut self.buf.as_mut_slice()[offset..offset + len])
    }

    /// `count` elements of `T` at `offset` (a multiple of [`ALIGN`], hence aligned for `T`).
    pub fn slice_mut<T: Element>(&mut self, offset: usize, count: usize) -> Result<&mut [T]> {
        let len = count
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| Error::bad_argument(format!("{count} elements overflow the arena")))?;
        let bytes = self.bytes_mut(offset, len)?;
        // SAFETY: `bytes` is in bounds, aligned to ALIGN (base and offset both are, and
        // ALIGN is a multiple of align_of::<T>() for every Element), initialised (zeroed at
        // allocation), exactly count * size_of::<T>() long and exclusively borrowed; every
        // bit pattern is a valid T (sealed `Element`).
        Ok(unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr() as *mut T, count) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_give_aligned_disjoint_slices() {
        let mut a = Arena::new(256).unwrap();
        assert_eq!(a.size(), 256);
        assert_eq!(a.base_ptr() as usize % ALIGN, 0);
        a.slice_mut::<f32>(0, 16).unwrap().fill(1.5);
        a.slice_mut::<i32>(64, 16).unwrap().fill(-2);
        a.slice_mut::<u8>(128, 128).unwrap().fill(9);
        assert!(a
            .bytes(0, 64)
            .unwrap()
            .chunks(4)
            .all(|c| c == 1.5f32.to_ne_bytes()));
        assert!(a
            .bytes(64, 64)
            .unwrap()
            .chunks(4)
            .all(|c| c == (-2i32).to_ne_bytes()));
        assert!(a.bytes(128, 128).unwrap().iter().all(|&b| b == 9));
        let p = a.slice_mut::<f32>(192, 1).unwrap().as_ptr();
        assert_eq!(p as usize % ALIGN, 0);
    }

    #[test]
    fn bounds_and_alignment_are_checked() {
        let mut a = Arena::new(128).unwrap();
        assert!(a.bytes(0, 128).is_ok());
        assert!(a.bytes(128, 0).is_ok());
        let e = a.bytes(64, 65).unwrap_err();
        assert_eq!(
            e.message,
            "arena range 64..64+65 is outside the arena of 128 bytes"
        );
        assert!(a.bytes(192, 0).is_err());
        let e = a.bytes_mut(4, 4).unwrap_err();
        assert_eq!(e.message, "arena offset 4 is not a multiple of 64");
        assert!(a.bytes(64, usize::MAX).is_err());
        assert!(a.slice_mut::<f32>(0, usize::MAX / 2).is_err());
        assert!(a.slice_mut::<f32>(0, 33).is_err());
    }

    #[test]
    fn reserve_grows_only_and_is_reused() {
        let mut a = Arena::new(64).unwrap();
        a.slice_mut::<u8>(0, 64).unwrap().fill(3);
        a.reserve(32).unwrap();
        assert_eq!(a.size(), 64);
        // Not growing keeps the contents: calls reuse the arena without allocating.
        assert!(a.bytes(0, 64).unwrap().iter().all(|&b| b == 3));
        a.reserve(4096).unwrap();
        assert_eq!(a.size(), 4096);
        assert_eq!(a.base_ptr() as usize % ALIGN, 0);
        assert!(a.reserve(usize::MAX).is_err());
        assert_eq!(
            a.size(),
            4096,
            "a failed reserve leaves the arena as it was"
        );
    }

    #[test]
    fn zero_size_arena() {
        let mut a = Arena::new(0).unwrap();
        assert_eq!(a.size(), 0);
        assert!(!a.base_ptr().is_null());
        assert_eq!(a.base_ptr() as usize % ALIGN, 0);
        assert!(a.bytes(0, 0).unwrap().is_empty());
        assert!(a.slice_mut::<f32>(0, 0).unwrap().is_empty());
        assert!(a.bytes(0, 1).is_err());
        a.reserve(0).unwrap();
        a.reserve(64).unwrap();
        assert_eq!(a.size(), 64);
    }
}
