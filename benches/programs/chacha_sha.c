// Short program: a crypto round trip. Encrypts a generated message with ChaCha20
// (RFC 8439 block function), authenticates the ciphertext with HMAC-SHA-256,
// verifies and decrypts it, and prints the tag. Checks the primitives against the
// RFC 8439 2.3.2 and FIPS 180-2 ("abc") test vectors first.

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

#define QR(a, b, c, d)                                              \
    a += b, d = rotl(d ^ a, 16), c += d, b = rotl(b ^ c, 12),       \
    a += b, d = rotl(d ^ a, 8), c += d, b = rotl(b ^ c, 7)

static void chacha_block(const uint32_t key[8], uint32_t counter, const uint32_t nonce[3],
                         uint8_t out[64]) {
    uint32_t s[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
    memcpy(s + 4, key, 32);
    s[12] = counter;
    memcpy(s + 13, nonce, 12);
    uint32_t x[16];
    memcpy(x, s, sizeof x);
    for (int i = 0; i < 10; i++) {
        QR(x[0], x[4], x[8], x[12]);
        QR(x[1], x[5], x[9], x[13]);
        QR(x[2], x[6], x[10], x[14]);
        QR(x[3], x[7], x[11], x[15]);
        QR(x[0], x[5], x[10], x[15]);
        QR(x[1], x[6], x[11], x[12]);
        QR(x[2], x[7], x[8], x[13]);
        QR(x[3], x[4], x[9], x[14]);
    }
    for (int i = 0; i < 16; i++) {
        uint32_t v = x[i] + s[i];
        out[4 * i] = (uint8_t)v;
        out[4 * i + 1] = (uint8_t)(v >> 8);
        out[4 * i + 2] = (uint8_t)(v >> 16);
        out[4 * i + 3] = (uint8_t)(v >> 24);
    }
}

static void chacha_xor(const uint32_t key[8], const uint32_t nonce[3], uint8_t *buf, size_t len) {
    uint8_t block[64];
    for (size_t off = 0; off < len; off += 64) {
        chacha_block(key, (uint32_t)(1 + off / 64), nonce, block);
        size_t n = len - off < 64 ? len - off : 64;
        for (size_t i = 0; i < n; i++) buf[off + i] ^= block[i];
    }
}

struct sha256 {
    uint32_t h[8];
    uint8_t buf[64];
    size_t fill;
    uint64_t bits;
};

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha_compress(struct sha256 *s, const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
    uint32_t e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
    s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha_init(struct sha256 *s) {
    static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, H0, sizeof H0);
    s->fill = 0;
    s->bits = 0;
}

static void sha_update(struct sha256 *s, const uint8_t *p, size_t len) {
    s->bits += (uint64_t)len * 8;
    while (len > 0) {
        size_t n = 64 - s->fill < len ? 64 - s->fill : len;
        memcpy(s->buf + s->fill, p, n);
        s->fill += n, p += n, len -= n;
        if (s->fill == 64) {
            sha_compress(s, s->buf);
            s->fill = 0;
        }
    }
}

static void sha_final(struct sha256 *s, uint8_t out[32]) {
    uint64_t bits = s->bits;
    uint8_t pad[72] = {0x80};
    size_t n = (s->fill < 56 ? 56 : 120) - s->fill;
    for (int i = 0; i < 8; i++) pad[n + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha_update(s, pad, n + 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

static void hmac(const uint8_t key[32], const uint8_t *msg, size_t len, uint8_t out[32]) {
    uint8_t pad[64];
    struct sha256 s;
    memset(pad, 0x36, 64);
    for (int i = 0; i < 32; i++) pad[i] ^= key[i];
    sha_init(&s);
    sha_update(&s, pad, 64);
    sha_update(&s, msg, len);
    sha_final(&s, out);
    for (int i = 0; i < 64; i++) pad[i] ^= 0x36 ^ 0x5c;
    sha_init(&s);
    sha_update(&s, pad, 64);
    sha_update(&s, out, 32);
    sha_final(&s, out);
}

static void hex(const uint8_t *p, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

static int self_test(void) {
    uint32_t key[8], nonce[3] = {0x09000000, 0x4a000000, 0};
    for (int i = 0; i < 8; i++)
        key[i] = (uint32_t)(4 * i) | (uint32_t)(4 * i + 1) << 8 | (uint32_t)(4 * i + 2) << 16 |
                 (uint32_t)(4 * i + 3) << 24;
    uint8_t block[64];
    char text[129];
    chacha_block(key, 1, nonce, block);
    hex(block, 16, text);
    if (strcmp(text, "10f1e7e4d13b5915500fdd1fa32071c4") != 0) return 0;
    struct sha256 s;
    uint8_t digest[32];
    sha_init(&s);
    sha_update(&s, (const uint8_t *)"abc", 3);
    sha_final(&s, digest);
    hex(digest, 32, text);
    return strcmp(text, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0;
}

int main(void) {
    if (!self_test()) {
        printf("self test FAILED\n");
        return 1;
    }
    const size_t len = 3u << 19;
    uint8_t *msg = malloc(len), *buf = malloc(len);
    uint32_t seed = 12345;
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        msg[i] = (uint8_t)(seed >> 16);
    }
    uint32_t key[8] = {1, 2, 3, 4, 5, 6, 7, 8}, nonce[3] = {9, 10, 11};
    uint8_t mac_key[32], tag[32], check[32];
    for (int i = 0; i < 32; i++) mac_key[i] = (uint8_t)(i * 7 + 1);
    memcpy(buf, msg, len);
    chacha_xor(key, nonce, buf, len);
    hmac(mac_key, buf, len, tag);
    // The receiving side: verify, then decrypt.
    hmac(mac_key, buf, len, check);
    if (memcmp(tag, check, 32) != 0) return 1;
    chacha_xor(key, nonce, buf, len);
    if (memcmp(buf, msg, len) != 0) {
        printf("round trip FAILED\n");
        return 1;
    }
    char text[65];
    hex(tag, 32, text);
    printf("%zu bytes, round trip ok, tag %s\n", len, text);
    free(msg);
    free(buf);
    return 0;
}
