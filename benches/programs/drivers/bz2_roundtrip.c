// bzip2 round trip, for `cargo xtask compare --whole-process`: built against Debian's
// bzip2 1.0.8 library sources by scripts/build-debian-programs.sh.
//
// Generates INPUT_BYTES of compressible text deterministically (words drawn by a
// fixed linear congruential generator, so every run and every runtime sees the same
// bytes), compresses it with BZ2_bzBuffToBuffCompress, decompresses it, checks the
// round trip and prints the sizes and checksums.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bzlib.h"

#define INPUT_BYTES (1u << 20)

static const char *const WORDS[] = {
    "the",     "quick", "brown",  "fox",     "jumps",    "over",  "lazy",
    "dog",     "wasm",  "module", "function", "compile", "lazily", "tier",
    "runtime", "start", "up",     "of",      "a",        "real",  "program",
    "and",     "bzip2", "block",  "sort",    "huffman",  "table", "stream",
};

static uint32_t state = 12345;

static uint32_t next_random(void) {
    state = state * 1103515245u + 12345u;
    return state >> 8;
}

// Fills buf with words separated by spaces, a newline every few words, and now and
// then a number, so the text is compressible but not trivially so.
static void generate(unsigned char *buf, size_t len) {
    size_t at = 0;
    unsigned words_on_line = 0;
    while (at < len) {
        char piece[32];
        uint32_t r = next_random();
        int n;
        if (r % 11 == 0) {
            n = snprintf(piece, sizeof piece, "%u", (unsigned)(r % 100000));
        } else {
            n = snprintf(piece, sizeof piece, "%s", WORDS[r % (sizeof WORDS / sizeof *WORDS)]);
        }
        piece[n++] = (++words_on_line % 12 == 0) ? '\n' : ' ';
        for (int i = 0; i < n && at < len; i++) {
            buf[at++] = (unsigned char)piece[i];
        }
    }
}

// FNV-1a, 32 bits.
static uint32_t checksum(const unsigned char *buf, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ buf[i]) * 16777619u;
    }
    return h;
}

int main(void) {
    unsigned char *input = malloc(INPUT_BYTES);
    // bzip2's documented worst case: 1% larger plus 600 bytes.
    unsigned int packed_capacity = INPUT_BYTES + INPUT_BYTES / 100 + 600;
    char *packed = malloc(packed_capacity);
    char *unpacked = malloc(INPUT_BYTES);
    if (!input || !packed || !unpacked) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    generate(input, INPUT_BYTES);

    unsigned int packed_len = packed_capacity;
    int rc = BZ2_bzBuffToBuffCompress(packed, &packed_len, (char *)input, INPUT_BYTES, 9, 0, 0);
    if (rc != BZ_OK) {
        fprintf(stderr, "compress failed: %d\n", rc);
        return 1;
    }
    unsigned int unpacked_len = INPUT_BYTES;
    rc = BZ2_bzBuffToBuffDecompress(unpacked, &unpacked_len, packed, packed_len, 0, 0);
    if (rc != BZ_OK) {
        fprintf(stderr, "decompress failed: %d\n", rc);
        return 1;
    }
    if (unpacked_len != INPUT_BYTES || memcmp(unpacked, input, INPUT_BYTES) != 0) {
        fprintf(stderr, "round trip differs\n");
        return 1;
    }
    printf("input %u bytes, checksum %08x\n", INPUT_BYTES, (unsigned)checksum(input, INPUT_BYTES));
    printf("bzip2 -9: %u bytes (%.2f%%), checksum %08x\n", packed_len,
           100.0 * packed_len / INPUT_BYTES, (unsigned)checksum((unsigned char *)packed, packed_len));
    printf("round trip ok\n");
    free(input);
    free(packed);
    free(unpacked);
    return 0;
}
