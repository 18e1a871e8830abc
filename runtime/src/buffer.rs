//! The tensor descriptor of the C ABI, safe views over it, and 64-byte-aligned buffers.
//!
//! A tensor crosses the C ABI as a [`TsrTensor`]: a data pointer, a dtype code, a rank and a
//! pointer to `rank` sizes. The data is dense and row-major (the last dimension is
//! contiguous); there are no strides. The runtime never owns what a descriptor points to.
//!
//! [`TensorRef`] and [`TensorMut`] are checked views: building one validates everything that
//! can be validated without reading the data (null pointers, rank, dtype code, sizes,
//! alignment, overflow of the byte count); what cannot be validated (that the pointers are
//! live and large enough) is the contract of the `unsafe` constructor.

use std::alloc::{self, Layout};
use std::ffi::c_void;
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::dtype::{describe_code, DType};
use crate::error::{Error, ErrorCode, Result};

/// Alignment in bytes of [`AlignedBuf`], the arena and arena offsets (one cache line, and
/// enough for any vector load).
pub const ALIGN: usize = 64;

/// The largest rank a descriptor may have; a larger one is taken as a corrupt descriptor
/// rather than read.
pub const MAX_RANK: u32 = 32;

/// The C ABI tensor descriptor (`TsrTensor` in `include/tessera_runtime.h`).
///
/// Layout (24 bytes on 64-bit targets, no padding): `data` at 0, `dtype` at 8, `rank` at 12,
/// `sizes` at 16.
///
/// - `data`: the first element; may be null only when the tensor has no elements. Must be
///   aligned to the element size.
/// - `dtype`: a [`DType`] code.
/// - `rank`: the number of dimensions, at most [`MAX_RANK`]; 0 is a scalar (one element).
/// - `sizes`: `rank` non-negative sizes, outermost first; may be null when `rank` is 0.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TsrTensor {
    /// The first element (dense, row-major).
    pub data: *mut c_void,
    /// A [`DType`] code.
    pub dtype: u32,
    /// Number of dimensions.
    pub rank: u32,
    /// `rank` sizes, outermost first.
    pub sizes: *const i64,
}

/// Element types that a view can be read as: plain data in which every bit pattern is a
/// valid value and whose size and alignment equal the dtype's size. Sealed.
pub trait Element: Copy + 'static + sealed::Sealed {
    /// Whether tensors of `dtype` can be viewed as `[Self]` (`u16` reads the raw bits of
    /// `f16`/`bf16`, `u8` those of the fp8 formats and `bool`).
    fn accepts(dtype: DType) -> bool;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for i32 {}
    impl Sealed for i8 {}
    impl Sealed for u16 {}
    impl Sealed for u8 {}
}

impl Element for f32 {
    fn accepts(dtype: DType) -> bool {
        dtype == DType::F32
    }
}
impl Element for i32 {
    fn accepts(dtype: DType) -> bool {
        dtype == DType::I32
    }
}
impl Element for i8 {
    fn accepts(dtype: DType) -> bool {
        dtype == DType::I8
    }
}
impl Element for u16 {
    fn accepts(dtype: DType) -> bool {
        matches!(dtype, DType::F16 | DType::BF16)
    }
}
impl Element for u8 {
    fn accepts(dtype: DType) -> bool {
        matches!(dtype, DType::F8E4M3 | DType::F8E5M2 | DType::Bool)
    }
}

/// The number of elements of a dense tensor with these sizes; an error for a negative size
/// or when the byte count of `elem_size`-byte elements overflows `isize`.
pub fn checked_numel(sizes: &[i64], elem_size: usize) -> Result<usize> {
    let mut n: usize = 1;
    for (d, &s) in sizes.iter().enumerate() {
        let s = usize::try_from(s)
            .map_err(|_| Error::bad_argument(format!("dimension {d} has negative size {s}")))?;
        n = n.checked_mul(s).ok_or_else(|| too_large(sizes))?;
    }
    match n.checked_mul(elem_size) {
        Some(bytes) if bytes <= isize::MAX as usize => Ok(n),
        _ => Err(too_large(sizes)),
    }
}

fn too_large(sizes: &[i64]) -> Error {
    Error::out_of_memory(format!(
        "a tensor of sizes {sizes:?} does not fit in memory"
    ))
}

/// What a validated descriptor says: dtype, sizes and element count.
struct Checked<'a> {
    dtype: DType,
    sizes: &'a [i64],
    numel: usize,
}

/// Validates `desc` as far as possible without touching its data.
///
/// # Safety
/// `desc` must be null or point to a readable `TsrTensor`; if its rank is at most
/// [`MAX_RANK`] and its `sizes` is non-null, `sizes` must point to `rank` readable `i64`s
/// that stay unchanged for `'a`.
unsafe fn check_desc<'a>(desc: *const TsrTensor) -> Result<(TsrTensor, Checked<'a>)> {
    // SAFETY: forwarded.
    let (d, c) = unsafe { check_header(desc) }?;
    if c.numel > 0 {
        if d.data.is_null() {
            return Err(Error::bad_argument(format!(
                "descriptor data is null but sizes {:?} are not empty",
                c.sizes
            )));
        }
        if !(d.data as usize).is_multiple_of(c.dtype.size_bytes()) {
            return Err(Error::bad_argument(format!(
                "descriptor data {:p} is not aligned to the {}-byte {} elements",
                d.data,
                c.dtype.size_bytes(),
                c.dtype
            )));
        }
    }
    Ok((d, c))
}

/// The dtype and sizes of the descriptor at `desc`, checked as [`TensorRef::from_raw`]
/// checks them, but not its data pointer, which is not read: for callers that only need
/// shapes (`tsr_plan_output_sizes`).
///
/// # Safety
/// `desc` must be null or point to a readable `TsrTensor` whose `sizes` (when non-null and
/// `rank <= MAX_RANK`) points to `rank` readable `i64`s that stay unchanged for `'a`.
pub unsafe fn descriptor_shape<'a>(desc: *const TsrTensor) -> Result<(DType, &'a [i64])> {
    // SAFETY: forwarded.
    let (_, c) = unsafe { check_header(desc) }?;
    Ok((c.dtype, c.sizes))
}

/// The first byte and the length in bytes of the data the descriptor at `desc` describes
/// (the length 0 for an empty tensor), its header checked as [`descriptor_shape`] does; the
/// data is not read.
///
/// # Safety
/// As [`descriptor_shape`].
pub unsafe fn descriptor_extent(desc: *const TsrTensor) -> Result<(usize, usize)> {
    // SAFETY: forwarded.
    let (d, c) = unsafe { check_header(desc) }?;
    Ok((d.data as usize, c.numel * c.dtype.size_bytes()))
}

/// [`check_desc`] but for the data pointer.
///
/// # Safety
/// As [`descriptor_shape`].
unsafe fn check_header<'a>(desc: *const TsrTensor) -> Result<(TsrTensor, Checked<'a>)> {
    // SAFETY: the caller guarantees `desc` is null or readable; `as_ref` handles null.
    let d = unsafe { desc.as_ref() }
        .copied()
        .ok_or_else(|| Error::bad_argument("tensor descriptor is null"))?;
    let dtype = DType::from_code(d.dtype)
        .ok_or_else(|| Error::bad_argument(format!("descriptor has {}", describe_code(d.dtype))))?;
    if d.rank > MAX_RANK {
        return Err(Error::bad_argument(format!(
            "descriptor has rank {} (at most {MAX_RANK}); is it initialised?",
            d.rank
        )));
    }
    let sizes: &'a [i64] = if d.rank == 0 {
        &[]
    } else if d.sizes.is_null() {
        return Err(Error::bad_argument(format!(
            "descriptor of rank {} has null sizes",
            d.rank
        )));
    } else if d.sizes.align_offset(std::mem::align_of::<i64>()) != 0 {
        return Err(Error::bad_argument(
            "descriptor sizes pointer is misaligned",
        ));
    } else {
        // SAFETY: non-null, aligned, and the caller guarantees `rank` readable i64s that
        // stay unchanged for 'a; rank <= MAX_RANK keeps the length small.
        unsafe { std::slice::from_raw_parts(d.sizes, d.rank as usize) }
    };
    let numel = checked_numel(sizes, dtype.size_bytes())?;
    Ok((
        d,
        Checked {
            dtype,
            sizes,
            numel,
        },
    ))
}

fn view_error<T: Element>(dtype: DType) -> Error {
    Error::new(
        ErrorCode::DtypeMismatch,
        format!(
            "a {dtype} tensor cannot be viewed as {}",
            std::any::type_name::<T>()
        ),
    )
}

/// A checked read-only view of a tensor described by a [`TsrTensor`].
#[derive(Clone, Copy, Debug)]
pub struct TensorRef<'a> {
    data: *const u8,
    dtype: DType,
    sizes: &'a [i64],
    numel: usize,
    _data: PhantomData<&'a [u8]>,
}

impl<'a> TensorRef<'a> {
    /// Validates `desc` and views it.
    ///
    /// # Safety
    /// `desc` must be null or point to a readable `TsrTensor` whose `sizes` (when non-null
    /// and `rank <= MAX_RANK`) points to `rank` readable `i64`s, and whose `data` (when the
    /// checks pass) points to `numel * elem_size` readable bytes; none of this may be
    /// written by anyone else for `'a`.
    pub unsafe fn from_raw(desc: *const TsrTensor) -> Result<TensorRef<'a>> {
        // SAFETY: forwarded from this function's contract.
        let (d, c) = unsafe { check_desc(desc) }?;
        Ok(TensorRef {
            data: d.data as *const u8,
            dtype: c.dtype,
            sizes: c.sizes,
            numel: c.numel,
            _data: PhantomData,
        })
    }

    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The sizes, outermost first.
    pub fn sizes(&self) -> &'a [i64] {
        self.sizes
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.numel
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        if self.numel == 0 {
            return &[];
        }
        // SAFETY: `from_raw` checked data is non-null for a non-empty tensor and the byte
        // count fits in isize; its contract makes the bytes readable and unaliased by
        // writers for 'a.
        unsafe { std::slice::from_raw_parts(self.data, self.numel * self.dtype.size_bytes()) }
    }

    /// The elements as `[T]`; a dtype mismatch is an error.
    pub fn as_slice<T: Element>(&self) -> Result<&'a [T]> {
        if !T::accepts(self.dtype) {
            return Err(view_error::<T>(self.dtype));
        }
        if self.numel == 0 {
            return Ok(&[]);
        }
        // SAFETY: T accepts the dtype, so size_of::<T>() == align_of::<T>() == the element
        // size; `from_raw` checked the alignment; every bit pattern is a valid T (sealed
        // `Element`); readability is as in `as_bytes`.
        Ok(unsafe { std::slice::from_raw_parts(self.data as *const T, self.numel) })
    }
}

/// A checked mutable view of a tensor described by a [`TsrTensor`].
#[derive(Debug)]
pub struct TensorMut<'a> {
    data: *mut u8,
    dtype: DType,
    sizes: &'a [i64],
    numel: usize,
    _data: PhantomData<&'a mut [u8]>,
}

impl<'a> TensorMut<'a> {
    /// Validates `desc` and views it mutably.
    ///
    /// # Safety
    /// As [`TensorRef::from_raw`], and the data must be writable and not accessed through
    /// any other pointer for `'a`.
    pub unsafe fn from_raw(desc: *const TsrTensor) -> Result<TensorMut<'a>> {
        // SAFETY: forwarded from this function's contract.
        let (d, c) = unsafe { check_desc(desc) }?;
        Ok(TensorMut {
            data: d.data as *mut u8,
            dtype: c.dtype,
            sizes: c.sizes,
            numel: c.numel,
            _data: PhantomData,
        })
    }

    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The sizes, outermost first.
    pub fn sizes(&self) -> &'a [i64] {
        self.sizes
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.numel
    }

    /// The raw bytes, mutably.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        if self.numel == 0 {
            return &mut [];
        }
        // SAFETY: as `TensorRef::as_bytes`, plus exclusive access for 'a from the contract
        // of `from_raw`, re-borrowed through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.data, self.numel * self.dtype.size_bytes()) }
    }

    /// The elements as `[T]`, mutably; a dtype mismatch is an error.
    pub fn as_slice_mut<T: Element>(&mut self) -> Result<&mut [T]> {
        if !T::accepts(self.dtype) {
            return Err(view_error::<T>(self.dtype));
        }
        if self.numel == 0 {
            return Ok(&mut []);
        }
        // SAFETY: as `TensorRef::as_slice`, with exclusive access through `&mut self`.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.data as *mut T, self.numel) })
    }
}

/// An owned, zero-initialised byte buffer aligned to [`ALIGN`] bytes.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: AlignedBuf owns its allocation exclusively, like Vec<u8>; shared access only
// hands out `&[u8]`.
unsafe impl Send for AlignedBuf {}
// SAFETY: as for Send: `&AlignedBuf` only gives read access.
unsafe impl Sync for AlignedBuf {}

/// A zero-sized type with the buffer alignment, whose dangling pointer is the (aligned,
/// non-null) data pointer of empty buffers.
#[repr(align(64))]
struct Aligned64;
const _: () = assert!(std::mem::align_of::<Aligned64>() == ALIGN);

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes; `len == 0` allocates nothing.
    pub fn zeroed(len: usize) -> Result<AlignedBuf> {
        if len == 0 {
            return Ok(AlignedBuf {
                ptr: NonNull::<Aligned64>::dangling().cast(),
                len: 0,
            });
        }
        let layout = Layout::from_size_align(len, ALIGN)
            .map_err(|_| Error::out_of_memory(format!("cannot allocate {len} bytes")))?;
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw)
            .ok_or_else(|| Error::out_of_memory(format!("allocation of {len} bytes failed")))?;
        Ok(AlignedBuf { ptr, len })
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first byte (aligned to [`ALIGN`], non-null even when empty).
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// The first byte, for writing.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr is valid for len initialised (zeroed) bytes, or dangling-but-aligned
        // with len 0; `&self` prevents concurrent writes.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The bytes, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as `as_slice`, with exclusive access through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: allocated in `zeroed` with exactly this layout (which was valid then)
            // and not freed before.
            unsafe {
                alloc::dealloc(
                    self.ptr.as_ptr(),
                    Layout::from_size_align_unchecked(self.len, ALIGN),
                )
            }
        }
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .finish()
    }
}

/// An owned dense tensor in an [`AlignedBuf`], for Rust callers of compiled code (the JIT,
/// tests): it hands out a [`TsrTensor`] describing itself.
#[derive(Debug)]
pub struct HostTensor {
    buf: AlignedBuf,
    dtype: DType,
    sizes: Vec<i64>,
}

impl HostTensor {
    /// A zero-filled tensor.
    pub fn zeros(dtype: DType, sizes: &[i64]) -> Result<HostTensor> {
        let numel = checked_numel(sizes, dtype.size_bytes())?;
        let buf = AlignedBuf::zeroed(numel * dtype.size_bytes())?;
        Ok(HostTensor {
            buf,
            dtype,
            sizes: sizes.to_vec(),
        })
    }

    /// A tensor holding a copy of `data`, which must have as many elements as `sizes` say.
    pub fn from_slice<T: Element>(dtype: DType, sizes: &[i64], data: &[T]) -> Result<HostTensor> {
        if !T::accepts(dtype) {
            return Err(view_error::<T>(dtype));
        }
        let mut t = HostTensor::zeros(dtype, sizes)?;
        let dst = t.as_slice_mut::<T>()?;
        if dst.len() != data.len() {
            return Err(Error::new(
                ErrorCode::ShapeMismatch,
                format!(
                    "sizes {sizes:?} need {} elements, got {}",
                    dst.len(),
                    data.len()
                ),
            ));
        }
        dst.copy_from_slice(data);
        Ok(t)
    }

    /// A tensor holding a copy of `bytes`, the storage form of its elements (little-endian),
    /// which must be exactly as long as `sizes` say.
    pub fn from_bytes(dtype: DType, sizes: &[i64], bytes: &[u8]) -> Result<HostTensor> {
        let mut t = HostTensor::zeros(dtype, sizes)?;
        let dst = t.buf.as_mut_slice();
        if dst.len() != bytes.len() {
            return Err(Error::new(
                ErrorCode::ShapeMismatch,
                format!(
                    "sizes {sizes:?} of {} need {} bytes, got {}",
                    dtype.name(),
                    dst.len(),
                    bytes.len()
                ),
            ));
        }
        dst.copy_from_slice(bytes);
        Ok(t)
    }

    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The sizes.
    pub fn sizes(&self) -> &[i64] {
        &self.sizes
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.as_slice()
    }

    /// The elements as `[T]`.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        if !T::accepts(self.dtype) {
            return Err(view_error::<T>(self.dtype));
        }
        let bytes = self.buf.as_slice();
        let n = bytes.len() / std::mem::size_of::<T>();
        // SAFETY: the buffer is 64-byte aligned and holds n initialised elements of the
        // dtype's size, which equals size_of::<T>(); any bit pattern is a valid T.
        Ok(unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const T, n) })
    }

    /// The elements as `[T]`, mutably.
    pub fn as_slice_mut<T: Element>(&mut self) -> Result<&mut [T]> {
        if !T::accepts(self.dtype) {
            return Err(view_error::<T>(self.dtype));
        }
        let bytes = self.buf.as_mut_slice();
        let n = bytes.len() / std::mem::size_of::<T>();
        // SAFETY: as `as_slice`, with exclusive access through `&mut self`.
        Ok(unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr() as *mut T, n) })
    }

    /// A descriptor of this tensor. Its pointers stay valid while `self` lives (moving a
    /// `HostTensor` does not move its heap data); write through it only while no Rust
    /// borrow of `self` is alive.
    pub fn descriptor(&mut self) -> TsrTensor {
        TsrTensor {
            data: self.buf.as_mut_ptr() as *mut c_void,
            dtype: self.dtype.code(),
            rank: self.sizes.len() as u32,
            sizes: if self.sizes.is_empty() {
                std::ptr::null()
            } else {
                self.sizes.as_ptr()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(data: *mut c_void, dtype: u32, sizes: &[i64]) -> TsrTensor {
        TsrTensor {
            data,
            dtype,
            rank: sizes.len() as u32,
            sizes: sizes.as_ptr(),
        }
    }

    #[test]
    fn layout_is_pinned() {
        assert_eq!(std::mem::size_of::<TsrTensor>(), 24);
        assert_eq!(std::mem::offset_of!(TsrTensor, data), 0);
        assert_eq!(std::mem::offset_of!(TsrTensor, dtype), 8);
        assert_eq!(std::mem::offset_of!(TsrTensor, rank), 12);
        assert_eq!(std::mem::offset_of!(TsrTensor, sizes), 16);
    }

    #[test]
    fn aligned_buf_is_aligned_zeroed_and_handles_zero() {
        for len in [0usize, 1, 63, 64, 65, 1000] {
            let mut b = AlignedBuf::zeroed(len).unwrap();
            assert_eq!(b.len(), len);
            assert_eq!(b.is_empty(), len == 0);
            assert_eq!(b.as_ptr() as usize % ALIGN, 0);
            assert!(b.as_slice().iter().all(|&x| x == 0));
            b.as_mut_slice().iter_mut().for_each(|x| *x = 7);
            assert!(b.as_slice().iter().all(|&x| x == 7));
        }
    }

    #[test]
    fn aligned_buf_too_large_is_an_error() {
        let e = AlignedBuf::zeroed(usize::MAX).unwrap_err();
        assert_eq!(e.code, ErrorCode::OutOfMemory);
    }

    #[test]
    fn views_read_and_write() {
        let mut t =
            HostTensor::from_slice(DType::F32, &[2, 3], &[1f32, 2., 3., 4., 5., 6.]).unwrap();
        let d = t.descriptor();
        // SAFETY: `d` describes `t`, which outlives the views and is not otherwise touched.
        let mut m = unsafe { TensorMut::from_raw(&d) }.unwrap();
        assert_eq!(m.sizes(), &[2, 3]);
        assert_eq!(m.numel(), 6);
        assert_eq!(m.dtype(), DType::F32);
        m.as_slice_mut::<f32>().unwrap()[5] = 60.0;
        assert_eq!(m.as_bytes_mut().len(), 24);
        assert_eq!(
            m.as_slice_mut::<i32>().unwrap_err().code,
            ErrorCode::DtypeMismatch
        );
        // SAFETY: as above; the mutable view is no longer used.
        let r = unsafe { TensorRef::from_raw(&d) }.unwrap();
        assert_eq!(r.as_slice::<f32>().unwrap(), &[1., 2., 3., 4., 5., 60.]);
        assert_eq!(r.as_bytes().len(), 24);
        assert_eq!(
            r.as_slice::<u16>().unwrap_err().code,
            ErrorCode::DtypeMismatch
        );
        assert_eq!(t.as_slice::<f32>().unwrap()[5], 60.0);
    }

    #[test]
    fn raw_bit_views_of_narrow_types() {
        let t = HostTensor::from_slice(DType::BF16, &[2], &[0x3f80u16, 0x4000]).unwrap();
        assert_eq!(t.as_slice::<u16>().unwrap(), &[0x3f80, 0x4000]);
        let t = HostTensor::from_slice(DType::Bool, &[3], &[1u8, 0, 1]).unwrap();
        assert_eq!(t.as_bytes(), &[1, 0, 1]);
        assert!(HostTensor::from_slice(DType::F16, &[1], &[1u8]).is_err());
        let e = HostTensor::from_slice(DType::I32, &[2, 2], &[1i32, 2, 3]).unwrap_err();
        assert_eq!(e.code, ErrorCode::ShapeMismatch);
    }

    #[test]
    fn scalars_and_empty_tensors() {
        let mut s = HostTensor::from_slice(DType::I32, &[], &[42i32]).unwrap();
        let d = s.descriptor();
        assert!(d.sizes.is_null());
        // SAFETY: `d` describes `s`, alive for the view.
        let r = unsafe { TensorRef::from_raw(&d) }.unwrap();
        assert_eq!(r.as_slice::<i32>().unwrap(), &[42]);

        let sizes = [0i64, 5];
        let d = desc(std::ptr::null_mut(), DType::F32.code(), &sizes);
        // SAFETY: `sizes` lives across the call; data is never read (no elements).
        let r = unsafe { TensorRef::from_raw(&d) }.unwrap();
        assert_eq!(r.numel(), 0);
        assert!(r.as_slice::<f32>().unwrap().is_empty());
        assert!(r.as_bytes().is_empty());
        let mut e = HostTensor::zeros(DType::I8, &[3, 0]).unwrap();
        assert!(e.as_slice_mut::<i8>().unwrap().is_empty());
    }

    #[test]
    fn bad_descriptors_are_errors_not_crashes() {
        let mut x = [0f32; 4];
        let data = x.as_mut_ptr() as *mut c_void;
        let check = |d: &TsrTensor| {
            // SAFETY: every descriptor below points to live memory or null.
            unsafe { TensorRef::from_raw(d) }.map(|_| ()).unwrap_err()
        };
        // SAFETY: a null descriptor is allowed by the contract.
        let e = unsafe { TensorRef::from_raw(std::ptr::null()) }.unwrap_err();
        assert_eq!(e.message, "tensor descriptor is null");

        let e = check(&desc(data, 0, &[4]));
        assert_eq!(e.message, "descriptor has invalid dtype code 0");
        let e = check(&desc(std::ptr::null_mut(), 1, &[4]));
        assert_eq!(e.code, ErrorCode::BadArgument);
        assert!(e.message.contains("data is null"), "{e}");
        let e = check(&TsrTensor {
            data,
            dtype: 1,
            rank: 2,
            sizes: std::ptr::null(),
        });
        assert_eq!(e.message, "descriptor of rank 2 has null sizes");
        let e = check(&TsrTensor {
            data,
            dtype: 1,
            rank: 1000,
            sizes: std::ptr::null(),
        });
        assert!(e.message.contains("rank 1000"), "{e}");
        let e = check(&desc(data, 1, &[-1]));
        assert_eq!(e.message, "dimension 0 has negative size -1");
        let e = check(&desc(data, 1, &[i64::MAX, 4]));
        assert_eq!(e.code, ErrorCode::OutOfMemory);
        let misaligned = (x.as_mut_ptr() as *mut u8).wrapping_add(1) as *mut c_void;
        let e = check(&desc(misaligned, 1, &[2]));
        assert!(e.message.contains("not aligned"), "{e}");
    }

    #[test]
    fn numel_overflow() {
        assert_eq!(checked_numel(&[], 4).unwrap(), 1);
        assert_eq!(checked_numel(&[2, 3, 4], 4).unwrap(), 24);
        assert_eq!(checked_numel(&[0, i64::MAX], 4).unwrap(), 0);
        assert!(checked_numel(&[1 << 62], 4).is_err());
        assert!(checked_numel(&[1 << 31, 1 << 31, 4], 1).is_err());
    }
}
