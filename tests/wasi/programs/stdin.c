/* Reads stdin to the end; prints the byte and line counts and an FNV-1a hash, then
 * echoes the first line upper-cased. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>

int main(void) {
    uint64_t bytes = 0, lines = 0, hash = 0xcbf29ce484222325ull;
    char first[256];
    size_t first_len = 0;
    int in_first = 1, c;
    while ((c = getchar()) != EOF) {
        bytes++;
        hash = (hash ^ (unsigned char)c) * 0x100000001b3ull;
        if (c == '\n') {
            lines++;
            in_first = 0;
        } else if (in_first && first_len < sizeof first - 1) {
            first[first_len++] = (char)toupper(c);
        }
    }
    first[first_len] = 0;
    printf("bytes %llu lines %llu fnv %016llx\n", (unsigned long long)bytes,
           (unsigned long long)lines, (unsigned long long)hash);
    printf("first: %s\n", first);
    return ferror(stdin) ? 1 : 0;
}
