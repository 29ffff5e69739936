// C kernel: a sieve of Eratosthenes over 32 M odd-only flags, repeated; the loops run
// in one activation of `main`. Prints the prime count and a checksum of the primes.

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT (64u << 20)
#define REPEAT 4

int main(void) {
    // flags[i] stands for the odd number 2i + 1.
    uint8_t *flags = malloc(LIMIT / 2);
    uint32_t count = 0, checksum = 0;
    for (int r = 0; r < REPEAT; r++) {
        memset(flags, 0, LIMIT / 2);
        for (uint32_t i = 1; (2 * i + 1) * (2 * i + 1) < LIMIT; i++) {
            if (flags[i]) continue;
            uint32_t p = 2 * i + 1;
            for (uint32_t j = (p * p) / 2; j < LIMIT / 2; j += p) flags[j] = 1;
        }
        count = 1;  // 2
        checksum = 2;
        for (uint32_t i = 1; i < LIMIT / 2; i++)
            if (!flags[i]) {
                count++;
                checksum = checksum * 31 + (2 * i + 1);
            }
    }
    printf("primes below %u: %u, checksum %08x\n", LIMIT, count, checksum);
    free(flags);
    return 0;
}
