// C kernel: dense double-precision matrix multiply (i-k-j order), repeated; the hot
// loop runs in one activation of `main`. Prints a checksum of the result.

#include <stdio.h>
#include <stdlib.h>

#define N 384
#define REPEAT 20

int main(void) {
    double *a = malloc(sizeof(double) * N * N);
    double *b = malloc(sizeof(double) * N * N);
    double *c = malloc(sizeof(double) * N * N);
    for (int i = 0; i < N * N; i++) {
        a[i] = (double)(i % 17) * 0.25 - 1.0;
        b[i] = (double)(i % 13) * 0.5 - 3.0;
    }
    double checksum = 0.0;
    for (int r = 0; r < REPEAT; r++) {
        for (int i = 0; i < N * N; i++) c[i] = 0.0;
        for (int i = 0; i < N; i++)
            for (int k = 0; k < N; k++) {
                double aik = a[i * N + k];
                for (int j = 0; j < N; j++) c[i * N + j] += aik * b[k * N + j];
            }
        // Feed the result back so no repetition can be skipped.
        a[r] = c[(r * 7919) % (N * N)] * 1e-6;
        checksum += c[r * N + r];
    }
    double total = 0.0;
    for (int i = 0; i < N * N; i++) total += c[i];
    printf("%dx%d x%d: trace-ish %.6f, sum %.6f\n", N, N, REPEAT, checksum, total);
    free(a);
    free(b);
    free(c);
    return 0;
}
