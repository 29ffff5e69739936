/* wordcount INPUT OUTPUT: reads the text file INPUT, writes to OUTPUT its lines
 * sorted (byte order), then its line, word and byte counts and its ten most
 * frequent words (ASCII letters and digits, lower-cased; ties in byte order), and
 * prints the counts on stdout. Plain C: the same output native and under WASI. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct word {
    char *text;
    size_t count;
};

static int by_bytes(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int by_count(const void *a, const void *b) {
    const struct word *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->text, y->text);
}

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    size_t cap = 4096, n = 0;
    char *buf = xrealloc(NULL, cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0)
            buf = xrealloc(buf, cap *= 2);
    }
    if (ferror(f)) {
        perror(path);
        exit(1);
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: wordcount INPUT OUTPUT\n");
        return 2;
    }
    size_t bytes;
    char *text = read_file(argv[1], &bytes);

    /* Lines: split in place at newlines (a last line without one still counts). */
    size_t nlines = 0, cap_lines = 64;
    char **lines = xrealloc(NULL, cap_lines * sizeof *lines);
    char *line = text;
    for (size_t i = 0; i <= bytes; i++) {
        if (i == bytes && line == text + bytes)
            break;
        if (i == bytes || text[i] == '\n') {
            if (nlines == cap_lines)
                lines = xrealloc(lines, (cap_lines *= 2) * sizeof *lines);
            text[i] = 0;
            lines[nlines++] = line;
            line = text + i + 1;
        }
    }

    /* Words, lower-cased copies, counted before the lines are sorted. */
    size_t nwords = 0, cap_words = 256;
    char **words = xrealloc(NULL, cap_words * sizeof *words);
    for (size_t l = 0; l < nlines; l++) {
        const char *p = lines[l];
        while (*p) {
            while (*p && !isalnum((unsigned char)*p))
                p++;
            const char *start = p;
            while (*p && isalnum((unsigned char)*p))
                p++;
            if (p == start)
                continue;
            char *w = xrealloc(NULL, (size_t)(p - start) + 1);
            for (size_t k = 0; k < (size_t)(p - start); k++)
                w[k] = (char)tolower((unsigned char)start[k]);
            w[p - start] = 0;
            if (nwords == cap_words)
                words = xrealloc(words, (cap_words *= 2) * sizeof *words);
            words[nwords++] = w;
        }
    }

    qsort(lines, nlines, sizeof *lines, by_bytes);
    qsort(words, nwords, sizeof *words, by_bytes);
    struct word *distinct = xrealloc(NULL, (nwords ? nwords : 1) * sizeof *distinct);
    size_t ndistinct = 0;
    for (size_t i = 0; i < nwords; i++) {
        if (ndistinct && strcmp(distinct[ndistinct - 1].text, words[i]) == 0) {
            distinct[ndistinct - 1].count++;
        } else {
            distinct[ndistinct].text = words[i];
            distinct[ndistinct].count = 1;
            ndistinct++;
        }
    }
    qsort(distinct, ndistinct, sizeof *distinct, by_count);

    FILE *out = fopen(argv[2], "wb");
    if (!out) {
        perror(argv[2]);
        return 1;
    }
    for (size_t l = 0; l < nlines; l++)
        fprintf(out, "%s\n", lines[l]);
    fprintf(out, "--\n%zu lines, %zu words (%zu distinct), %zu bytes\n", nlines, nwords,
            ndistinct, bytes);
    for (size_t i = 0; i < ndistinct && i < 10; i++)
        fprintf(out, "%7zu %s\n", distinct[i].count, distinct[i].text);
    if (fclose(out) != 0) {
        perror(argv[2]);
        return 1;
    }
    printf("%zu lines, %zu words (%zu distinct), %zu bytes\n", nlines, nwords, ndistinct,
           bytes);
    return 0;
}
