/* abi_smoke.c: a C program using every entry point of tessera_runtime.h, linked against
 * the static library by runtime/tests/c_abi.rs, which compares its output line by line. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tessera_runtime.h"

static int32_t add_index(void *ctx, uint64_t i) {
    /* Each task writes its own slot: no data race, and every index is checked once. */
    uint64_t *slots = (uint64_t *)ctx;
    slots[i] += i + 1;
    return TSR_OK;
}

static int32_t fail_at_3(void *ctx, uint64_t i) {
    (void)ctx;
    if (i == 3) return tsr_set_error(TSR_SHAPE_MISMATCH, "tile 3 out of range");
    return TSR_OK;
}

int main(void) {
    printf("version %s abi %u header %u\n", tsr_version(), tsr_abi_version(), TSR_ABI_VERSION);
    printf("layout %zu %zu %zu %zu %zu\n", sizeof(TsrTensor), offsetof(TsrTensor, data),
           offsetof(TsrTensor, dtype), offsetof(TsrTensor, rank), offsetof(TsrTensor, sizes));
    printf("names %s %s %s\n", tsr_error_name(TSR_OK), tsr_error_name(TSR_DTYPE_MISMATCH),
           tsr_error_name(-7));

    /* Arena. */
    TsrArena *arena = tsr_arena_new(1000);
    void *base = tsr_arena_data(arena);
    printf("arena %llu aligned %d\n", (unsigned long long)tsr_arena_size(arena),
           (int)((uintptr_t)base % 64 == 0));
    memset(base, 1, 1000);
    /* One call per statement: C leaves the evaluation order of arguments unspecified. */
    int32_t rc = tsr_arena_reserve(arena, 4096);
    printf("reserve %d size %llu\n", rc, (unsigned long long)tsr_arena_size(arena));
    tsr_arena_free(arena);
    tsr_arena_free(NULL);
    rc = tsr_arena_reserve(NULL, 1);
    printf("null arena %d: %s\n", rc, tsr_last_error());

    /* Thread pool. */
    rc = tsr_set_num_threads(2);
    printf("threads %d %u\n", rc, tsr_get_num_threads());
    uint64_t slots[1000] = {0};
    rc = tsr_parallel_for(1000, add_index, slots);
    uint64_t sum = 0;
    int once = 1;
    for (int i = 0; i < 1000; i++) {
        sum += slots[i];
        once &= slots[i] == (uint64_t)i + 1;
    }
    printf("parallel_for %d sum %llu once %d\n", rc, (unsigned long long)sum, once);
    rc = tsr_parallel_for(10, fail_at_3, NULL);
    printf("failing grid %s: %s\n", tsr_error_name(rc), tsr_last_error());
    printf("null task %s\n", tsr_error_name(tsr_parallel_for(1, NULL, NULL)));

    /* Shape checks: f(x: f32[B, 3], y: f32[B]). */
    float xdata[6] = {0};
    float ydata[2] = {0};
    int64_t xsizes[2] = {2, 3};
    int64_t ysizes[1] = {4};
    TsrTensor x = {xdata, TSR_F32, 2, xsizes};
    TsrTensor y = {ydata, TSR_F32, 1, ysizes};
    const int64_t xexp[2] = {TSR_SYM(0), 3};
    const int64_t yexp[1] = {TSR_SYM(0)};
    const char *const names[1] = {"B"};
    int64_t symbols[1] = {TSR_UNBOUND};
    rc = tsr_check_tensor(&x, "x", TSR_F32, 2, xexp, symbols, 1, names);
    printf("check x %s B=%lld\n", tsr_error_name(rc), (long long)symbols[0]);
    rc = tsr_check_tensor(&y, "y", TSR_F32, 1, yexp, symbols, 1, names);
    printf("check y %s: %s\n", tsr_error_name(rc), tsr_last_error());
    rc = tsr_check_tensor(&x, "x", TSR_BF16, 2, xexp, symbols, 1, names);
    printf("check dtype %s: %s\n", tsr_error_name(rc), tsr_last_error());
    rc = tsr_check_tensor(NULL, "x", TSR_F32, 2, xexp, symbols, 1, names);
    printf("check null %s: %s\n", tsr_error_name(rc), tsr_last_error());
    TsrTensor garbage = {xdata, 99, 2, xsizes};
    rc = tsr_check_tensor(&garbage, "x", TSR_F32, 2, xexp, symbols, 1, names);
    printf("check garbage %s: %s\n", tsr_error_name(rc), tsr_last_error());
    return 0;
}
