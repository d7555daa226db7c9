#include "CSQLiteConfig.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>

int crmgate_sqlite3_skip_checkpoint_on_close(struct sqlite3 *connection) {
    return sqlite3_db_config(connection, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
}

// SQLite's allocations, counted with a relaxed atomic instead of SQLite's
// memory statistics, which take a process-wide mutex at every malloc and free.
// Each block carries its size in 8 bytes in front of it, as SQLite's own
// allocator does (asking malloc for it, malloc_usable_size at every allocation
// and free, was 3% of a writer's time), which keeps SQLite's 8-byte alignment.
static _Atomic long long allocated;
static atomic_int installed;

static void *counted_malloc(int size) {
    sqlite3_int64 *block = malloc((size_t)size + sizeof *block);
    if (!block) return 0;
    block[0] = size;
    atomic_fetch_add_explicit(&allocated, (long long)size, memory_order_relaxed);
    return block + 1;
}

static void counted_free(void *memory) {
    if (!memory) return;
    sqlite3_int64 *block = (sqlite3_int64 *)memory - 1;
    atomic_fetch_sub_explicit(&allocated, (long long)block[0], memory_order_relaxed);
    free(block);
}

static void *counted_realloc(void *memory, int size) {
    if (!memory) return counted_malloc(size);
    sqlite3_int64 *block = (sqlite3_int64 *)memory - 1;
    long long before = block[0];
    block = realloc(block, (size_t)size + sizeof *block);
    if (!block) return 0;
    block[0] = size;
    atomic_fetch_add_explicit(&allocated, (long long)size - before, memory_order_relaxed);
    return block + 1;
}

static int counted_size(void *memory) { return memory ? (int)((sqlite3_int64 *)memory)[-1] : 0; }

static int counted_roundup(int size) { return (size + 7) & ~7; }

static int counted_init(void *unused) {
    (void)unused;
    return SQLITE_OK;
}

static void counted_shutdown(void *unused) { (void)unused; }

int crmgate_sqlite3_count_memory_without_locks(void) {
    static const sqlite3_mem_methods methods = {
        counted_malloc, counted_free, counted_realloc, counted_size, counted_roundup, counted_init, counted_shutdown,
        0,
    };
    int code = sqlite3_config(SQLITE_CONFIG_MALLOC, &methods);
    if (code != SQLITE_OK) return code;
    code = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (code == SQLITE_OK) atomic_store(&installed, 1);
    return code;
}

long long crmgate_sqlite3_memory_used(void) {
    return atomic_load(&installed) ? atomic_load_explicit(&allocated, memory_order_relaxed) : sqlite3_memory_used();
}
