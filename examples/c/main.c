/* examples/c/main.c: a C program that runs examples/mlp.tsr compiled ahead of time.
 *
 * Build and run it with examples/c/build.sh (it compiles the model with
 * `tessera compile`, builds the runtime library, and links the three). The inputs and
 * weights are filled with a deterministic pattern (fill() below), so tests/aot.rs can
 * recompute the expected output with the reference interpreter.
 *
 * Usage: mlp_demo [BATCH]   (default 3)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mlp.h" /* generated: declares tessera_mlp; includes tessera_runtime.h */

/* p[i] = (((i * 7 + salt) % 17) / 17 - 0.5) * scale, computed in float. */
static void fill(float *p, int64_t n, int64_t salt, float scale) {
    for (int64_t i = 0; i < n; i++) {
        p[i] = ((float)((i * 7 + salt) % 17) / 17.0f - 0.5f) * scale;
    }
}

/* A tensor descriptor over freshly allocated, pattern-filled f32 data. */
static TsrTensor tensor(int64_t *sizes, uint32_t rank, int64_t salt, float scale) {
    int64_t n = 1;
    for (uint32_t d = 0; d < rank; d++) {
        n *= sizes[d];
    }
    float *data = malloc((size_t)n * sizeof(float));
    if (data == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    fill(data, n, salt, scale);
    TsrTensor t = {data, TSR_F32, rank, sizes};
    return t;
}

int main(int argc, char **argv) {
    int64_t batch = argc > 1 ? atoll(argv[1]) : 3;
    if (batch < 1) {
        fprintf(stderr, "usage: %s [BATCH >= 1]\n", argv[0]);
        return 2;
    }
    int64_t xs[] = {batch, 784}, w1s[] = {784, 1024}, b1s[] = {1024}, w2s[] = {1024, 1024},
            b2s[] = {1024}, w3s[] = {1024, 10}, b3s[] = {10};
    TsrTensor x = tensor(xs, 2, 1, 1.0f);
    TsrTensor w1 = tensor(w1s, 2, 2, 0.1f), b1 = tensor(b1s, 1, 3, 0.1f);
    TsrTensor w2 = tensor(w2s, 2, 4, 0.1f), b2 = tensor(b2s, 1, 5, 0.1f);
    TsrTensor w3 = tensor(w3s, 2, 6, 0.1f), b3 = tensor(b3s, 1, 7, 0.1f);

    /* The output's shape (f32[B, 10]) for these inputs, to allocate it. */
    int64_t outs[2];
    int32_t rc = tessera_mlp_output_sizes(&x, &w1, &b1, &w2, &b2, &w3, &b3, outs);
    if (rc != TSR_OK) {
        fprintf(stderr, "tessera_mlp_output_sizes failed: %s: %s\n", tsr_error_name(rc),
                tsr_last_error());
        return 1;
    }
    printf("output: [%lld, %lld]\n", (long long)outs[0], (long long)outs[1]);
    TsrTensor out = tensor(outs, 2, 0, 0.0f);

    rc = tessera_mlp(&x, &w1, &b1, &w2, &b2, &w3, &b3, &out);
    if (rc != TSR_OK) {
        fprintf(stderr, "tessera_mlp failed: %s: %s\n", tsr_error_name(rc), tsr_last_error());
        return 1;
    }
    const float *y = out.data;
    for (int64_t r = 0; r < batch; r++) {
        printf("row %lld:", (long long)r);
        for (int c = 0; c < 10; c++) {
            printf(" %.9g", y[r * 10 + c]);
        }
        printf("\n");
    }

    /* Arguments are checked: a weight of the wrong shape is an error code and a message,
     * not a crash. */
    int64_t bad_sizes[] = {783, 1024};
    TsrTensor bad = {w1.data, TSR_F32, 2, bad_sizes};
    rc = tessera_mlp(&x, &bad, &b1, &w2, &b2, &w3, &b3, &out);
    printf("wrong shape: %s: %s\n", tsr_error_name(rc), tsr_last_error());
    return rc == TSR_SHAPE_MISMATCH ? 0 : 1;
}
