/* Exits with the status given as its argument; `trap` executes `unreachable`
 * instead, `abort` calls abort(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2)
        return 0;
    if (strcmp(argv[1], "trap") == 0)
        __builtin_trap();
    if (strcmp(argv[1], "abort") == 0)
        abort();
    printf("exiting with %d\n", atoi(argv[1]));
    exit(atoi(argv[1]));
}
