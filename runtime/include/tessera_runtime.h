/* tessera_runtime.h: the C ABI of the Tessera runtime (crate runtime/, tessera-runtime).
 *
 * Hand-written; runtime/tests/c_abi.rs compiles a C program against this header, links
 * the static library and checks that every `tsr_` function of src/capi.rs is declared here
 * and that the constants match the Rust ones.
 *
 * Conventions: functions returning int32_t return a TSR_* error code (TSR_OK is 0) and, on
 * failure, set a per-thread message read with tsr_last_error(). No function crashes on a
 * null pointer; none lets a Rust panic cross into C.
 */
#ifndef TESSERA_RUNTIME_H
#define TESSERA_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this ABI; compare with tsr_abi_version(). */
#define TSR_ABI_VERSION 1u

/* Dtype codes (TsrTensor.dtype). 0 is not a dtype. */
#define TSR_F32 1u    /* IEEE binary32 */
#define TSR_F16 2u    /* IEEE binary16, raw 16 bits */
#define TSR_BF16 3u   /* bfloat16, raw 16 bits */
#define TSR_F8E4M3 4u /* OCP FP8 E4M3, one byte */
#define TSR_F8E5M2 5u /* OCP FP8 E5M2, one byte */
#define TSR_I8 6u
#define TSR_I32 7u
#define TSR_BOOL 8u   /* one byte, 0 or 1 */

/* Error codes. */
#define TSR_OK 0
#define TSR_BAD_ARGUMENT 1    /* null pointer, malformed descriptor, bad argument */
#define TSR_SHAPE_MISMATCH 2  /* rank or size differs, or a symbol bound twice differently */
#define TSR_DTYPE_MISMATCH 3
#define TSR_OUT_OF_MEMORY 4
#define TSR_INTERNAL 5        /* a runtime or generated-code bug */
#define TSR_TASK_PANICKED 6   /* a task of a parallel grid panicked */
#define TSR_CANCELLED 7       /* cancelled between kernel launches (Rust API only for now) */

/* Largest accepted rank. */
#define TSR_MAX_RANK 32u

/* Symbolic sizes in tsr_check_tensor's expected sizes: slot k is TSR_SYM(k) = -1 - k. */
#define TSR_SYM(k) (-1 - (int64_t)(k))
/* Initial value of every slot of a symbol table. */
#define TSR_UNBOUND (-1)

/* A dense row-major tensor (24 bytes on 64-bit targets). The runtime never owns what it
 * points to. `data` may be null only when some size is 0; it must be aligned to the
 * element size. `sizes` has `rank` non-negative entries and may be null when rank is 0. */
typedef struct TsrTensor {
    void *data;
    uint32_t dtype;
    uint32_t rank;
    const int64_t *sizes;
} TsrTensor;

/* Opaque 64-byte-aligned arena for intermediates. */
typedef struct TsrArena TsrArena;

/* A task of tsr_parallel_for: returns 0, or an error code to stop the grid. */
typedef int32_t (*TsrTaskFn)(void *ctx, uint64_t task);

/* Runtime version string ("0.1.0"), static. */
const char *tsr_version(void);
/* TSR_ABI_VERSION of the linked runtime. */
uint32_t tsr_abi_version(void);

/* This thread's last error message ("" if none); valid until the next runtime call on
 * this thread. A success does not clear it. */
const char *tsr_last_error(void);
/* "OK", "BAD_ARGUMENT", ... or "UNKNOWN"; static. */
const char *tsr_error_name(int32_t code);
/* Sets the last error (message may be null) and returns code (TSR_INTERNAL if code is 0 or
 * unknown). For generated code that detects a failure itself. */
int32_t tsr_set_error(int32_t code, const char *message);

/* An arena of `size` bytes (0 allowed), or NULL with the last error set. */
TsrArena *tsr_arena_new(uint64_t size);
/* Frees an arena; NULL is a no-op. */
void tsr_arena_free(TsrArena *arena);
/* Grows the arena to at least `size` bytes; growing moves its data. */
int32_t tsr_arena_reserve(TsrArena *arena, uint64_t size);
/* The 64-byte-aligned base (non-null for a live arena, even of size 0); NULL for NULL. */
void *tsr_arena_data(TsrArena *arena);
/* The size in bytes; 0 for NULL. */
uint64_t tsr_arena_size(const TsrArena *arena);

/* Threads that grids run on from now on; 0 restores the default (the environment
 * variable TESSERA_NUM_THREADS, else the number of available cores). With the environment
 * variable TESSERA_PIN_THREADS=1, worker w is bound to the w-th CPU the process may use and
 * each calling thread to the first. */
int32_t tsr_set_num_threads(uint32_t n);
/* Threads that grids run on (starting the pool if needed); 0 on failure. */
uint32_t tsr_get_num_threads(void);

/* Calls task(ctx, i) for every i < n_tasks, split into contiguous ranges over the pool's
 * threads (the caller included), and returns when all have returned. A non-zero return
 * stops the grid; the lowest failing index's code is returned with the message that task
 * set with tsr_set_error. Called from inside a task, it runs the grid serially. */
int32_t tsr_parallel_for(uint64_t n_tasks, TsrTaskFn task, void *ctx);

/* Checks the argument of parameter `param` (name for messages, may be NULL): a well-formed
 * descriptor of dtype `expected_dtype` whose sizes match expected_sizes[0..expected_rank],
 * where a size >= 0 is fixed and TSR_SYM(k) is slot k of symbols[0..n_symbols]: an
 * unbound slot (< 0) is bound to the actual size, a bound one must equal it. On failure
 * nothing is bound and the message names the parameter and dimension, with symbols named
 * by symbol_names[k] (the array may be NULL, an entry may be NULL). */
int32_t tsr_check_tensor(const TsrTensor *tensor, const char *param, uint32_t expected_dtype,
                         uint32_t expected_rank, const int64_t *expected_sizes,
                         int64_t *symbols, uint32_t n_symbols,
                         const char *const *symbol_names);

/* A compiled kernel (see runtime/src/exec.rs for its contract). */
typedef void (*TsrKernelFn)(uint8_t *const *buffers, const int64_t *sizes, uint8_t *frame,
                            uint64_t first, uint64_t last);

/* Runs a compiled function: what the entry points of a `tessera compile` artifact call.
 * `plan` is the artifact's static plan (plan_len bytes), `kernels` its kernel table, `args`
 * the inputs then the outputs. Every argument is checked (dtype, rank, sizes, symbolic
 * sizes bound consistently) before anything runs. */
int32_t tsr_plan_run(const uint8_t *plan, uint64_t plan_len, const TsrKernelFn *kernels,
                     uint32_t n_kernels, const TsrTensor *const *args, uint32_t n_args);

/* The shapes of a compiled function's outputs for these inputs (only the inputs'
 * descriptors are read): output 0's sizes, then output 1's, ... into sizes[0..n_sizes],
 * n_sizes being the sum of the outputs' ranks. Inputs are checked as tsr_plan_run does. */
int32_t tsr_plan_output_sizes(const uint8_t *plan, uint64_t plan_len,
                              const TsrTensor *const *inputs, uint32_t n_inputs,
                              int64_t *sizes, uint32_t n_sizes);

/* Scalar helpers that compiled kernels call (dtype arguments are TSR_* codes). */
float tsr_exp_f32(float x);
float tsr_log_f32(float x);
float tsr_rsqrt_f32(float x);
float tsr_tanh_f32(float x);
float tsr_sigmoid_f32(float x);
float tsr_gelu_f32(float x);
float tsr_gelu_tanh_f32(float x);
float tsr_silu_f32(float x);
float tsr_erf_f32(float x);
float tsr_pow_f32(float a, float b);
uint32_t tsr_cast_bits(uint32_t bits, uint32_t from, uint32_t to);
float tsr_widen_bits(uint32_t bits, uint32_t code);
float tsr_round_arith(float x, uint32_t code);
uint32_t tsr_narrow_bits(float x, uint32_t code);
/* The n f16 values (bits) at src widened exactly to float at dst (vcvtph2ps with F16C);
 * returns 0. */
uint32_t tsr_widen_f16_run(const uint16_t *src, float *dst, uint64_t n);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_RUNTIME_H */
