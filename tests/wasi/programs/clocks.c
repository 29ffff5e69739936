/* Clocks, sleeping and randomness: sanity checks, each printing one line. */
#include "common.h"
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static int64_t ns(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

int main(void) {
    struct timespec real, m1, m2, res;
    CHECK(clock_gettime(CLOCK_REALTIME, &real) == 0);
    /* After 2020-01-01, before 2200. */
    CHECK(real.tv_sec > 1577836800 && real.tv_sec < 7258118400);
    time_t now = time(NULL);
    CHECK(now >= real.tv_sec && now - real.tv_sec < 5);
    printf("realtime: plausible\n");

    CHECK(clock_getres(CLOCK_MONOTONIC, &res) == 0);
    CHECK(ns(res) > 0 && ns(res) <= 1000000);
    CHECK(clock_getres(CLOCK_REALTIME, &res) == 0);
    CHECK(ns(res) > 0 && ns(res) <= 1000000);
    printf("resolution: at most 1 ms\n");

    CHECK(clock_gettime(CLOCK_MONOTONIC, &m1) == 0);
    struct timespec sleep = {.tv_sec = 0, .tv_nsec = 30 * 1000000};
    CHECK(nanosleep(&sleep, NULL) == 0);
    CHECK(clock_gettime(CLOCK_MONOTONIC, &m2) == 0);
    int64_t slept = ns(m2) - ns(m1);
    CHECK(slept >= 30 * 1000000 && slept < 10 * 1000000000ll);
    printf("monotonic: nanosleep of 30 ms took at least 30 ms\n");
    CHECK(usleep(1000) == 0);

    struct timespec cpu;
    CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0);
    CHECK(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0);
    printf("cpu time clocks: readable\n");

    unsigned char a[256], b[256];
    CHECK(getentropy(a, sizeof a) == 0);
    CHECK(getentropy(b, sizeof b) == 0);
    int zeros = 0, same = 0, seen[256] = {0}, distinct = 0;
    for (int i = 0; i < 256; i++) {
        zeros += a[i] == 0;
        same += a[i] == b[i];
        if (!seen[a[i]]++)
            distinct++;
    }
    CHECK(zeros < 16 && same < 16 && distinct > 100);
    uint32_t r1 = arc4random(), r2 = arc4random();
    CHECK(r1 != r2);
    printf("random: two draws differ and look random\n");
    return 0;
}
