// Short program: a Thompson-NFA matcher (literals, `.`, `*`, `+`, `?`, `|`, groups;
// no escapes or classes)
// run over a generated text, counting the lines each pattern matches anywhere in.
// Prints the counts and a checksum.

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CHAR, ANY, SPLIT, JMP, MATCH };

struct inst {
    int op;
    int c;
    int x, y;
};

#define MAX_INST 256
struct prog {
    struct inst code[MAX_INST];
    int len;
};

// A recursive-descent compiler: alt := seq ('|' seq)*, seq := rep*, rep := atom [*+?].
static const char *src;

static int emit(struct prog *p, int op, int c, int x, int y) {
    if (p->len >= MAX_INST) {
        fprintf(stderr, "pattern too long\n");
        exit(2);
    }
    p->code[p->len] = (struct inst){op, c, x, y};
    return p->len++;
}

static void alt(struct prog *p);

static void atom(struct prog *p) {
    if (*src == '(') {
        src++;
        alt(p);
        if (*src == ')') src++;
    } else if (*src == '.') {
        src++;
        emit(p, ANY, 0, 0, 0);
    } else {
        emit(p, CHAR, (unsigned char)*src++, 0, 0);
    }
}

// Moves code[start..] one slot up and puts a SPLIT at start.
static void insert_split(struct prog *p, int start) {
    emit(p, MATCH, 0, 0, 0);
    for (int i = p->len - 1; i > start; i--) {
        p->code[i] = p->code[i - 1];
        if (p->code[i].op == SPLIT || p->code[i].op == JMP) {
            p->code[i].x += 1;
            p->code[i].y += 1;
        }
    }
}

static void rep(struct prog *p) {
    int start = p->len;
    atom(p);
    char q = *src;
    if (q == '*') {
        src++;
        insert_split(p, start);
        int j = emit(p, JMP, 0, start, 0);
        p->code[start] = (struct inst){SPLIT, 0, start + 1, j + 1};
    } else if (q == '+') {
        src++;
        emit(p, SPLIT, 0, start, p->len + 1);
    } else if (q == '?') {
        src++;
        insert_split(p, start);
        p->code[start] = (struct inst){SPLIT, 0, start + 1, p->len};
    }
}

static void seq(struct prog *p) {
    while (*src && *src != '|' && *src != ')') rep(p);
}

static void alt(struct prog *p) {
    int start = p->len;
    seq(p);
    if (*src != '|') return;
    src++;
    insert_split(p, start);
    int j = emit(p, JMP, 0, 0, 0);
    p->code[start].op = SPLIT;
    p->code[start].x = start + 1;
    p->code[start].y = p->len;
    alt(p);
    p->code[j].x = p->len;
}

static void compile(struct prog *p, const char *pattern) {
    p->len = 0;
    src = pattern;
    alt(p);
    emit(p, MATCH, 0, 0, 0);
}

// The set of live threads, with a generation mark so adding is O(1).
struct list {
    int pc[MAX_INST];
    int n;
};

static void add(const struct prog *p, struct list *l, int *mark, int gen, int pc) {
    if (mark[pc] == gen) return;
    mark[pc] = gen;
    const struct inst *in = &p->code[pc];
    if (in->op == JMP) {
        add(p, l, mark, gen, in->x);
    } else if (in->op == SPLIT) {
        add(p, l, mark, gen, in->x);
        add(p, l, mark, gen, in->y);
    } else {
        l->pc[l->n++] = pc;
    }
}

// Does the pattern match anywhere in line[0..len)?
static int search(const struct prog *p, const char *line, size_t len) {
    static struct list a, b;
    static int mark[MAX_INST];
    static int gen = 0;
    struct list *cur = &a, *next = &b;
    cur->n = 0;
    add(p, cur, mark, ++gen, 0);
    for (size_t i = 0;; i++) {
        for (int t = 0; t < cur->n; t++)
            if (p->code[cur->pc[t]].op == MATCH) return 1;
        if (i == len) return 0;
        next->n = 0;
        gen++;
        unsigned char c = (unsigned char)line[i];
        for (int t = 0; t < cur->n; t++) {
            const struct inst *in = &p->code[cur->pc[t]];
            if ((in->op == CHAR && in->c == c) || in->op == ANY) add(p, next, mark, gen, cur->pc[t] + 1);
        }
        // Unanchored: a new thread may start at every position.
        add(p, next, mark, gen, 0);
        struct list *tmp = cur;
        cur = next;
        next = tmp;
    }
}

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint32_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static const char *const WORDS[] = {
    "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "wasm", "jit",
    "tier", "compile", "cranelift", "lazuli", "error", "warning", "info", "2026-12-02",
    "user@example.com", "192.168.0.1", "GET", "POST", "/index.html", "404", "200", "ok",
};

int main(void) {
    const size_t lines = 8000;
    const size_t words = sizeof WORDS / sizeof WORDS[0];
    char *text = malloc(lines * 128);
    size_t *starts = malloc((lines + 1) * sizeof *starts);
    size_t pos = 0;
    for (size_t l = 0; l < lines; l++) {
        starts[l] = pos;
        int n = 3 + next_rand() % 10;
        for (int w = 0; w < n; w++) {
            const char *word = WORDS[next_rand() % words];
            size_t wl = strlen(word);
            memcpy(text + pos, word, wl);
            pos += wl;
            text[pos++] = ' ';
        }
    }
    starts[lines] = pos;

    static const char *const PATTERNS[] = {
        "error|warning",
        "fox.*dog",
        "(GET|POST) /index.html 200",
        "q(u|i)+ck",
        "la(zy|zuli) (dog|jit)",
        "o.e.*o.e",
        "(0|1|2|3|4|5|6|7|8|9)+.(0|1|2|3|4|5|6|7|8|9)+",
        "c.*r.*a.*n.*e",
        "ok ok ok",
    };
    struct prog p;
    uint32_t checksum = 0;
    for (size_t k = 0; k < sizeof PATTERNS / sizeof PATTERNS[0]; k++) {
        compile(&p, PATTERNS[k]);
        size_t count = 0;
        for (size_t l = 0; l < lines; l++) {
            if (search(&p, text + starts[l], starts[l + 1] - starts[l])) {
                count++;
                checksum = checksum * 31 + (uint32_t)l;
            }
        }
        printf("%-50s %zu\n", PATTERNS[k], count);
    }
    printf("checksum %08x\n", checksum);
    free(text);
    free(starts);
    return 0;
}
