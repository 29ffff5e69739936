/* Writes N mebibytes (the argument, default 16) to stdout: lines of 64 bytes,
 * each "line NNNNNNNN " padded with a repeating alphabet and a newline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    long mib = argc > 1 ? atol(argv[1]) : 16;
    long lines = mib * 1024 * 1024 / 64;
    char line[65];
    for (long i = 0; i < lines; i++) {
        int n = snprintf(line, sizeof line, "line %08ld ", i);
        for (int j = n; j < 63; j++)
            line[j] = (char)('a' + (i + j) % 26);
        line[63] = '\n';
        if (fwrite(line, 1, 64, stdout) != 64)
            return 1;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
