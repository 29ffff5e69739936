// SQLite on an in-memory database, for `cargo xtask compare --whole-process`: built
// against the amalgamation of Debian's sqlite3 3.40.1 sources by
// scripts/build-debian-programs.sh. A large module (most of SQLite is linked in)
// that runs briefly, like the programs whose start-up issue 10 is about.
//
// Creates a table, inserts ROWS rows in one transaction, adds an index, then runs an
// aggregate, a GROUP BY, index lookups, an ORDER BY, a join, an UPDATE and a DELETE,
// printing every result as SQLite's own text (so every runtime prints the same).
//
// WASI has no file locking, so SQLite is built with SQLITE_OS_OTHER=1 (no unix VFS)
// and SQLITE_TEMP_STORE=3 (temporary tables in memory), and this file supplies the
// smallest VFS an in-memory database needs: it opens no files.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sqlite3.h"

#define ROWS 5000
#define LOOKUPS 500

static sqlite3 *db;

static int no_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                   int *out_flags) {
    (void)vfs, (void)name, (void)flags, (void)out_flags;
    file->pMethods = NULL;
    return SQLITE_CANTOPEN;
}

static int no_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
    (void)vfs, (void)name, (void)sync_dir;
    return SQLITE_IOERR_DELETE;
}

static int no_access(sqlite3_vfs *vfs, const char *name, int flags, int *result) {
    (void)vfs, (void)name, (void)flags;
    *result = 0;
    return SQLITE_OK;
}

static int full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out) {
    (void)vfs;
    sqlite3_snprintf(n, out, "%s", name);
    return SQLITE_OK;
}

// Deterministic: nothing here is secret, and every runtime should do the same work.
static int randomness(sqlite3_vfs *vfs, int n, char *out) {
    (void)vfs;
    memset(out, 0, (size_t)n);
    return n;
}

static int no_sleep(sqlite3_vfs *vfs, int microseconds) {
    (void)vfs;
    return microseconds;
}

// Julian day in milliseconds, as SQLite's unix VFS computes it.
static int current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *now) {
    (void)vfs;
    *now = (sqlite3_int64)time(NULL) * 1000 + 210866760000000LL;
    return SQLITE_OK;
}

static int current_time(sqlite3_vfs *vfs, double *now) {
    sqlite3_int64 ms;
    current_time_int64(vfs, &ms);
    *now = ms / 86400000.0;
    return SQLITE_OK;
}

static int last_error(sqlite3_vfs *vfs, int n, char *out) {
    (void)vfs, (void)n, (void)out;
    return 0;
}

static sqlite3_vfs memory_only = {
    .iVersion = 2,
    .szOsFile = sizeof(sqlite3_file),
    .mxPathname = 512,
    .zName = "memory-only",
    .xOpen = no_open,
    .xDelete = no_delete,
    .xAccess = no_access,
    .xFullPathname = full_pathname,
    .xRandomness = randomness,
    .xSleep = no_sleep,
    .xCurrentTime = current_time,
    .xGetLastError = last_error,
    .xCurrentTimeInt64 = current_time_int64,
};

// Called by sqlite3_initialize under SQLITE_OS_OTHER.
int sqlite3_os_init(void) { return sqlite3_vfs_register(&memory_only, 1); }

int sqlite3_os_end(void) { return SQLITE_OK; }

static void fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
}

static sqlite3_stmt *prepare(const char *sql) {
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        fail(sql);
    }
    return stmt;
}

static void exec(const char *sql) {
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        fail(sql);
    }
}

// Runs `sql` and prints each row, its columns separated by `|`, after `label`.
static void query(const char *label, const char *sql) {
    sqlite3_stmt *stmt = prepare(sql);
    int rc;
    printf("%s:\n", label);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        printf(" ");
        for (int i = 0; i < sqlite3_column_count(stmt); i++) {
            const unsigned char *text = sqlite3_column_text(stmt, i);
            printf("%s%s", i ? "|" : "", text ? (const char *)text : "NULL");
        }
        printf("\n");
    }
    if (rc != SQLITE_DONE) {
        fail(sql);
    }
    sqlite3_finalize(stmt);
}

static unsigned int state = 42;

static unsigned int next_random(void) {
    state = state * 1103515245u + 12345u;
    return state >> 8;
}

static void insert_rows(void) {
    static const char *const SYLLABLES[] = {"ka", "lo", "mi", "ne", "su", "ta", "ri", "zu"};
    sqlite3_stmt *stmt = prepare(
        "INSERT INTO item(id, name, category, price, qty) VALUES (?1, ?2, ?3, ?4, ?5)");
    exec("BEGIN");
    for (int id = 1; id <= ROWS; id++) {
        char name[32];
        unsigned int r = next_random();
        int len = 0;
        for (int s = 0; s < 2 + (int)(r % 3); s++) {
            len += snprintf(name + len, sizeof name - len, "%s", SYLLABLES[(r >> (3 * s)) % 8]);
        }
        sqlite3_bind_int(stmt, 1, id);
        sqlite3_bind_text(stmt, 2, name, len, SQLITE_TRANSIENT);
        sqlite3_bind_int(stmt, 3, (int)(next_random() % 50));
        sqlite3_bind_int(stmt, 4, (int)(next_random() % 100000));
        sqlite3_bind_int(stmt, 5, (int)(next_random() % 20));
        if (sqlite3_step(stmt) != SQLITE_DONE) {
            fail("insert");
        }
        sqlite3_reset(stmt);
    }
    exec("COMMIT");
    sqlite3_finalize(stmt);
}

// LOOKUPS point queries through the index on category, summed.
static void lookups(void) {
    sqlite3_stmt *stmt = prepare("SELECT count(*), sum(qty) FROM item WHERE category = ?1");
    long long rows = 0, qty = 0;
    for (int i = 0; i < LOOKUPS; i++) {
        sqlite3_bind_int(stmt, 1, (int)(next_random() % 60));
        if (sqlite3_step(stmt) != SQLITE_ROW) {
            fail("lookup");
        }
        rows += sqlite3_column_int64(stmt, 0);
        qty += sqlite3_column_int64(stmt, 1);
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    printf("%d index lookups: %lld rows, qty %lld\n", LOOKUPS, rows, qty);
}

int main(void) {
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) {
        fail("open");
    }
    printf("SQLite %s\n", sqlite3_libversion());
    exec("CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT NOT NULL, category INTEGER,"
         " price INTEGER, qty INTEGER)");
    exec("CREATE TABLE category(id INTEGER PRIMARY KEY, label TEXT)");
    exec("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 49)"
         " INSERT INTO category SELECT i, 'cat-' || printf('%02d', i) FROM n");
    insert_rows();
    exec("CREATE INDEX item_category ON item(category)");
    query("totals", "SELECT count(*), sum(price), sum(qty), printf('%.3f', avg(length(name)))"
                    " FROM item");
    query("top categories by value",
          "SELECT c.label, count(*), sum(i.price * i.qty) AS v FROM item i"
          " JOIN category c ON c.id = i.category GROUP BY c.id ORDER BY v DESC LIMIT 5");
    lookups();
    query("most expensive", "SELECT id, name, price FROM item ORDER BY price DESC, id LIMIT 5");
    query("names", "SELECT name, count(*) AS n FROM item GROUP BY name ORDER BY n DESC, name"
                   " LIMIT 5");
    exec("UPDATE item SET price = price / 2 WHERE qty = 0");
    exec("DELETE FROM item WHERE category >= 45");
    query("after update and delete",
          "SELECT count(*), sum(price), max(category), (SELECT count(DISTINCT name) FROM item)"
          " FROM item");
    sqlite3_close(db);
    return 0;
}
