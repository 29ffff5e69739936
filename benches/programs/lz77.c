// Short program: an LZ77 compression round trip (hash chains, greedy parsing with a
// bounded chain search) over generated semi-repetitive text; decompresses, checks
// the round trip and prints the sizes and a checksum of the compressed stream.
//
// Stream format: a token byte; < 0x80: that many + 1 literals follow; otherwise a
// match of length (token & 0x7f) + MIN_MATCH at the 16-bit little-endian distance
// that follows.

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 65535
#define MIN_MATCH 4
#define MAX_MATCH (0x7f + MIN_MATCH)
#define HASH_BITS 15
#define MAX_CHAIN 48

static uint32_t hash4(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return (v * 2654435761u) >> (32 - HASH_BITS);
}

static size_t flush_literals(uint8_t *out, size_t o, const uint8_t *lit, size_t n) {
    while (n > 0) {
        size_t run = n > 128 ? 128 : n;
        out[o++] = (uint8_t)(run - 1);
        memcpy(out + o, lit, run);
        o += run;
        lit += run;
        n -= run;
    }
    return o;
}

static size_t compress(const uint8_t *in, size_t len, uint8_t *out) {
    int32_t *head = malloc(sizeof(int32_t) << HASH_BITS);
    int32_t *prev = malloc(sizeof(int32_t) * len);
    for (size_t i = 0; i < (1u << HASH_BITS); i++) head[i] = -1;
    size_t o = 0, i = 0, lit_start = 0;
    while (i + MIN_MATCH <= len) {
        uint32_t h = hash4(in + i);
        size_t best_len = 0, best_dist = 0;
        int32_t cand = head[h];
        for (int chain = 0; cand >= 0 && chain < MAX_CHAIN; chain++) {
            size_t dist = i - (size_t)cand;
            if (dist > WINDOW) break;
            size_t max = len - i < MAX_MATCH ? len - i : MAX_MATCH;
            size_t n = 0;
            while (n < max && in[cand + n] == in[i + n]) n++;
            if (n > best_len) {
                best_len = n;
                best_dist = dist;
                if (n == max) break;
            }
            cand = prev[cand];
        }
        prev[i] = head[h];
        head[h] = (int32_t)i;
        if (best_len >= MIN_MATCH) {
            o = flush_literals(out, o, in + lit_start, i - lit_start);
            out[o++] = (uint8_t)(0x80 | (best_len - MIN_MATCH));
            out[o++] = (uint8_t)best_dist;
            out[o++] = (uint8_t)(best_dist >> 8);
            // Insert the skipped positions so later matches can find them.
            for (size_t k = 1; k < best_len && i + k + MIN_MATCH <= len; k++) {
                uint32_t hk = hash4(in + i + k);
                prev[i + k] = head[hk];
                head[hk] = (int32_t)(i + k);
            }
            i += best_len;
            lit_start = i;
        } else {
            i++;
        }
    }
    o = flush_literals(out, o, in + lit_start, len - lit_start);
    free(head);
    free(prev);
    return o;
}

// Returns the decompressed length, or (size_t)-1 on a malformed stream.
static size_t decompress(const uint8_t *in, size_t len, uint8_t *out, size_t cap) {
    size_t i = 0, o = 0;
    while (i < len) {
        uint8_t t = in[i++];
        if (t < 0x80) {
            size_t n = (size_t)t + 1;
            if (i + n > len || o + n > cap) return (size_t)-1;
            memcpy(out + o, in + i, n);
            i += n;
            o += n;
        } else {
            if (i + 2 > len) return (size_t)-1;
            size_t n = (size_t)(t & 0x7f) + MIN_MATCH;
            size_t dist = in[i] | (size_t)in[i + 1] << 8;
            i += 2;
            if (dist == 0 || dist > o || o + n > cap) return (size_t)-1;
            // Byte by byte: the source may overlap what is being written.
            for (size_t k = 0; k < n; k++, o++) out[o] = out[o - dist];
        }
    }
    return o;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_rand(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

static const char *const WORDS[] = {
    "alpha", "beta", "gamma", "delta", "function", "return", "module", "memory",
    "table", "global", "import", "export", "i32.add", "local.get", "call", "br_if",
    "{", "}", "(", ")", ";", "\n", "    ", "0x", "1234", "lazuli",
};

int main(void) {
    const size_t len = 1u << 20;
    uint8_t *text = malloc(len);
    size_t pos = 0;
    const size_t nwords = sizeof WORDS / sizeof WORDS[0];
    while (pos < len) {
        // Mostly words (compressible), sometimes a noisy byte run.
        if (next_rand() % 16 == 0) {
            for (int k = 0; k < 6 && pos < len; k++) text[pos++] = (uint8_t)next_rand();
        } else {
            const char *w = WORDS[next_rand() % nwords];
            for (size_t k = 0; w[k] && pos < len; k++) text[pos++] = (uint8_t)w[k];
            if (pos < len) text[pos++] = ' ';
        }
    }
    uint8_t *packed = malloc(len + len / 128 + 16);
    uint8_t *unpacked = malloc(len);
    size_t packed_len = compress(text, len, packed);
    size_t unpacked_len = decompress(packed, packed_len, unpacked, len);
    if (unpacked_len != len || memcmp(text, unpacked, len) != 0) {
        printf("round trip FAILED\n");
        return 1;
    }
    uint32_t h = 2166136261u;
    for (size_t k = 0; k < packed_len; k++) h = (h ^ packed[k]) * 16777619u;
    printf("%zu bytes -> %zu bytes (%.1f%%), round trip ok, checksum %08x\n", len, packed_len,
           100.0 * (double)packed_len / (double)len, h);
    free(text);
    free(packed);
    free(unpacked);
    return 0;
}
