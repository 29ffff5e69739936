// A call-dense C program for BENCHMARKS.md ("Lazy call protocol"): a chained hash
// set of strings, filled, probed and sorted with qsort (calls through a function
// pointer), in small functions the compiler is told not to inline.
//
//   clang --target=wasm32-wasi -O2 -o /tmp/hashset.wasm examples/hashset.c
//   cargo run --release --example compile_stats -- /tmp/hashset.wasm

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

struct node {
    struct node *next;
    uint32_t hash;
    char key[24];
};

struct set {
    struct node **buckets;
    size_t mask;
    size_t len;
};

static NOINLINE uint32_t hash_bytes(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static NOINLINE void make_key(char *out, uint32_t i) {
    snprintf(out, 24, "key-%08x-%u", i * 2654435761u, i % 97);
}

static NOINLINE struct node **find(struct set *s, const char *key, uint32_t h) {
    struct node **at = &s->buckets[h & s->mask];
    while (*at && ((*at)->hash != h || strcmp((*at)->key, key) != 0)) at = &(*at)->next;
    return at;
}

static NOINLINE void grow(struct set *s) {
    size_t size = (s->mask + 1) * 2;
    struct node **buckets = calloc(size, sizeof *buckets);
    for (size_t b = 0; b <= s->mask; b++) {
        for (struct node *n = s->buckets[b], *next; n; n = next) {
            next = n->next;
            n->next = buckets[n->hash & (size - 1)];
            buckets[n->hash & (size - 1)] = n;
        }
    }
    free(s->buckets);
    s->buckets = buckets;
    s->mask = size - 1;
}

static NOINLINE int insert(struct set *s, const char *key) {
    uint32_t h = hash_bytes(key);
    struct node **at = find(s, key, h);
    if (*at) return 0;
    struct node *n = malloc(sizeof *n);
    n->next = NULL;
    n->hash = h;
    strncpy(n->key, key, sizeof n->key);
    *at = n;
    if (++s->len > s->mask) grow(s);
    return 1;
}

static NOINLINE int contains(struct set *s, const char *key) {
    return *find(s, key, hash_bytes(key)) != NULL;
}

static int by_key(const void *a, const void *b) {
    return strcmp((*(struct node *const *)a)->key, (*(struct node *const *)b)->key);
}

int main(void) {
    enum { N = 200000 };
    struct set s = {calloc(16, sizeof(struct node *)), 15, 0};
    char key[24];
    size_t inserted = 0, found = 0;
    for (uint32_t i = 0; i < N; i++) {
        make_key(key, i % (N / 2) * 3);
        inserted += insert(&s, key);
    }
    for (uint32_t i = 0; i < N; i++) {
        make_key(key, i);
        found += contains(&s, key);
    }
    struct node **all = malloc(s.len * sizeof *all);
    size_t k = 0;
    for (size_t b = 0; b <= s.mask; b++)
        for (struct node *n = s.buckets[b]; n; n = n->next) all[k++] = n;
    qsort(all, k, sizeof *all, by_key);
    printf("%zu inserted, %zu found, first %s, last %s\n", inserted, found, all[0]->key,
           all[k - 1]->key);
    return 0;
}
