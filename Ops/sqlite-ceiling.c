// The write ceiling of SQLite itself: the statements crmgate runs for one CONTACT.ADD and for one
// INV.ADJ ... FEED wh-<n> SEQ 1, through SQLite's C API with prepared statements, in group commits of a
// given size, with nothing else in the loop (no savepoint per write: the server runs a batch's
// writes in savepoints only when one fails after changing the database). Ops/sqlite-ceiling
// builds and runs it; see there.
//
//   sqlite-ceiling SOURCE.sqlite LOADED.sqlite WORKDIR WRITES
//   sqlite-ceiling --row COPY.sqlite CONTACT.ADD|INV.ADJ WRITES-PER-COMMIT WRITES
//
// The second form measures one group-commit row at durability full on COPY itself, which it writes
// to, and prints its writes per second: Ops/bench runs it on a copy of its own tenant (made before
// the row, so it holds what the row found) beside each of its write rows.
//
// SOURCE and LOADED are tenant databases a crmgate made (their schema exactly the server's), each
// holding company `co0001` with stock of SKU-1 and a reorder rule: SOURCE nothing more, LOADED what
// Ops/bench's main tenant holds when it measures writes (Ops/sqlite-ceiling says what). The group
// commits run on fresh copies of LOADED; the many tenants, the reads and the opens on copies of SOURCE.
//
// Then many tenants at once: T threads, each writing CONTACT.ADDs to its own copy, one write per
// commit, all at the same time (the load of T tenants with one connection each, where no commit can
// hold two tenants' writes): at durability full, each commit synced by itself; and at normal, while
// one more thread syncs the filesystem (syncfs) over and over, the commits made durable together,
// as a server that syncs many tenants' commits in one phase would (its best case: no write waits
// for the sync, so the figure is SQLite's CPU per single-write commit, shared by the cores).
//
// Then what a tenant costs SQLite to open and to hold: a cold CONTACT.ADD (open the copy, set it up,
// prepare the statements, write, commit; durability normal, so the figure is CPU) beside a warm one
// on the same connection, at a database's first open and at a reopen, and the close; the memory
// SQLite holds per open connection after one write, before and after sqlite3_db_release_memory; and
// the process's RSS per idle connection once its statements are finalized and the heap trimmed.
#define _GNU_SOURCE  // syncfs
#include <malloc.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

// Each thread works on its own database, with its own statements.
static __thread sqlite3 *db;

__attribute__((noreturn)) static void fail(const char *what) {
    fprintf(stderr, "sqlite-ceiling: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
    exit(1);
}

static void exec(const char *sql) {
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) fail(sql);
}

// The statements prepared here, finalized before the database closes (SQLite's own, such as
// FTS5's, are its business).
static __thread sqlite3_stmt *prepared[64];
static __thread int prepared_count;

static sqlite3_stmt *prepare(const char *sql) {
    sqlite3_stmt *statement;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, NULL) != SQLITE_OK) fail(sql);
    if (prepared_count == 64) fail("too many statements");
    prepared[prepared_count++] = statement;
    return statement;
}

// Runs a prepared statement to its end; returns the first column of its first row (0 if none).
static sqlite3_int64 run(sqlite3_stmt *statement) {
    sqlite3_int64 first = 0;
    int rc, row = 0;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        if (row++ == 0) first = sqlite3_column_int64(statement, 0);
    }
    if (rc != SQLITE_DONE) fail(sqlite3_sql(statement));
    sqlite3_reset(statement);
    return first;
}

static int has_row(sqlite3_stmt *statement) {
    int rc = sqlite3_step(statement);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail(sqlite3_sql(statement));
    sqlite3_reset(statement);
    return rc == SQLITE_ROW;
}

static void text(sqlite3_stmt *statement, int index, const char *value) {
    sqlite3_bind_text(statement, index, value, -1, SQLITE_STATIC);
}

static double seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

static const char *now = "2026-01-01T00:00:00.000Z";

// The statements every write shares: its event and the event's link to the record.
static __thread sqlite3_stmt *event_insert, *event_link;

static void append_event(const char *type, const char *record_type, sqlite3_int64 record, const char *fields) {
    text(event_insert, 1, type);
    text(event_insert, 2, record_type);
    sqlite3_bind_int64(event_insert, 3, record);
    text(event_insert, 4, fields);
    text(event_insert, 5, "k_000000000000");
    text(event_insert, 6, now);
    run(event_insert);
    sqlite3_int64 seq = sqlite3_last_insert_rowid(db);
    text(event_link, 1, record_type);
    sqlite3_bind_int64(event_link, 2, record);
    sqlite3_bind_int64(event_link, 3, seq);
    run(event_link);
}

// CONTACT.ADD first_name Bench lifecycle lead: the row (its indexes and search-pending trigger),
// its event and link; before each COMMIT the search index is brought up to date from the pending rows.
static __thread sqlite3_stmt *contact_insert, *pending_exists, *fts_delete, *fts_insert, *pending_clear;

static void prepare_contact(void) {
    contact_insert = prepare("INSERT INTO contacts (created_at, updated_at, first_name, lifecycle) VALUES (?, ?, ?, ?)");
    pending_exists = prepare("SELECT 1 FROM contacts_fts_pending LIMIT 1");
    // The indexed columns, in the FTS table's order, as the server's SearchIndex lists them.
    sqlite3_stmt *info = prepare("SELECT name FROM pragma_table_info('contacts_fts_pending') WHERE cid >= 2");
    char listed[1024] = "", current[1024] = "";
    while (sqlite3_step(info) == SQLITE_ROW) {
        const char *column = (const char *)sqlite3_column_text(info, 0);
        if (listed[0]) { strcat(listed, ", "); strcat(current, ", "); }
        strcat(listed, column);
        strcat(current, "r.");
        strcat(current, column);
    }
    sqlite3_reset(info);
    char sql[4096];
    snprintf(sql, sizeof sql,
             "INSERT INTO contacts_fts (contacts_fts, rowid, %s) SELECT 'delete', id, %s FROM contacts_fts_pending WHERE indexed",
             listed, listed);
    fts_delete = prepare(sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO contacts_fts (rowid, %s) SELECT r.id, %s FROM contacts_fts_pending p JOIN contacts r ON r.id = p.id",
             listed, current);
    fts_insert = prepare(sql);
    pending_clear = prepare("DELETE FROM contacts_fts_pending");
}

static void contact_write(long index) {
    (void)index;
    text(contact_insert, 1, now);
    text(contact_insert, 2, now);
    text(contact_insert, 3, "Bench");
    text(contact_insert, 4, "lead");
    run(contact_insert);
    append_event("contact.created", "contact", sqlite3_last_insert_rowid(db), "{\"first_name\":\"Bench\",\"lifecycle\":\"lead\"}");
}

static void contact_before_commit(void) {
    if (!has_row(pending_exists)) return;
    run(fts_delete);
    run(fts_insert);
    run(pending_clear);
}

// INV.ADJ co0001 SKU-1 -1 FEED wh-<n> SEQ 1: feed admission (each write names a new feed, so it is
// applied), the company by ext, the stock level, the update, its event and link, and the reorder
// check: the rule's quantity, and when one is due the company's stage and any open reorder. The
// feed names are spread as Ops/bench's (`wh-__rand_int__`, twelve digits below 10^9, in no order):
// each new feed lands at a random place of the feeds' index, not at its end (named in order, the
// writes ran 70k/s at 256 per commit where these run 54k/s).
static __thread sqlite3_stmt *feed_last, *feed_first, *company_by_ext, *level_select, *level_update, *stage_select, *open_reorder;

static void prepare_inventory(void) {
    feed_last = prepare("SELECT last_seq FROM feeds WHERE name = ?");
    feed_first = prepare("INSERT INTO feeds (name, last_seq, applied, updated_at) VALUES (?, ?, 1, ?)");
    company_by_ext = prepare("SELECT id FROM companies WHERE ext = ?");
    level_select = prepare(
        "SELECT company, sku, on_hand, on_order, min, max, multiple, lead_days, unit_price, currency, updated_at, reported "
        "FROM inventory WHERE company = ? AND sku = ?");
    level_update = prepare("UPDATE inventory SET on_hand = ?, reported = 1, updated_at = ? WHERE company = ? AND sku = ?");
    stage_select = prepare("SELECT stage FROM companies WHERE id = ?");
    open_reorder = prepare(
        "SELECT id FROM reorders WHERE company = ? AND sku = ? AND status IN ('proposed', 'confirmed', 'held')");
}

static __thread long reorder_checks;

static void inventory_write(long index) {
    char feed[32];
    // A different number below 10^9 for each index (2654435761 is prime to 10^9), in no order; a name
    // the tenant holds already (LOADED's feeds are named at random) is passed over for another.
    for (long long number = index;; number += 1000000) {
        snprintf(feed, sizeof feed, "wh-%012lld", number * 2654435761LL % 1000000000LL);
        text(feed_last, 1, feed);
        if (!has_row(feed_last)) break;
    }
    text(feed_first, 1, feed);
    sqlite3_bind_int64(feed_first, 2, 1);
    text(feed_first, 3, now);
    run(feed_first);

    text(company_by_ext, 1, "co0001");
    sqlite3_int64 company = run(company_by_ext);
    sqlite3_bind_int64(level_select, 1, company);
    text(level_select, 2, "SKU-1");
    if (sqlite3_step(level_select) != SQLITE_ROW) fail("no stock level for co0001 SKU-1");
    sqlite3_int64 on_hand = sqlite3_column_int64(level_select, 2), on_order = sqlite3_column_int64(level_select, 3);
    sqlite3_int64 minimum = sqlite3_column_int64(level_select, 4), maximum = sqlite3_column_int64(level_select, 5);
    sqlite3_int64 multiple = sqlite3_column_int64(level_select, 6);
    int ruled = sqlite3_column_type(level_select, 4) != SQLITE_NULL;
    sqlite3_reset(level_select);

    sqlite3_int64 level = on_hand - 1;
    sqlite3_bind_int64(level_update, 1, level);
    text(level_update, 2, now);
    sqlite3_bind_int64(level_update, 3, company);
    text(level_update, 4, "SKU-1");
    run(level_update);
    char fields[128];
    snprintf(fields, sizeof fields, "{\"on_hand\":\"%lld\",\"sku\":\"SKU-1\",\"was\":\"%lld\"}", level, on_hand);
    append_event("inventory.adjusted", "company", company, fields);

    // ReorderRule.quantity, then ReorderTrigger's lookups when it is due.
    if (ruled && level + on_order < minimum && maximum - (level + on_order) > 0) {
        (void)multiple;
        sqlite3_bind_int64(stage_select, 1, company);
        if (sqlite3_step(stage_select) == SQLITE_ROW &&
            strcmp((const char *)sqlite3_column_text(stage_select, 0), "partner") == 0) {
            sqlite3_reset(stage_select);
            sqlite3_bind_int64(open_reorder, 1, company);
            text(open_reorder, 2, "SKU-1");
            has_row(open_reorder);
        } else {
            sqlite3_reset(stage_select);
        }
        reorder_checks++;
    }
}

static void nothing_before_commit(void) {}

static void copy_database(const char *source, const char *path) {
    sqlite3 *from, *to;
    if (sqlite3_open(source, &from) != SQLITE_OK || sqlite3_open(path, &to) != SQLITE_OK) fail("open");
    sqlite3_backup *backup = sqlite3_backup_init(to, "main", from, "main");
    if (!backup) fail("backup");
    if (sqlite3_backup_step(backup, -1) != SQLITE_DONE) fail("backup step");
    sqlite3_backup_finish(backup);
    sqlite3_close(from);
    sqlite3_close(to);
}

// Opens the database at `path` as the server opens a tenant (WAL, the pragmas, at `durability`) and
// prepares the statements every write shares.
static void open_tenant(const char *path, const char *durability) {
    char pragma[64];
    if (sqlite3_open(path, &db) != SQLITE_OK) fail(path);
    // As the server: the WAL and shared-memory files stay when the connection closes, and the close
    // runs no checkpoint.
    int persist = 1;
    sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
    exec("PRAGMA journal_mode = WAL");
    snprintf(pragma, sizeof pragma, "PRAGMA synchronous = %s", durability);
    exec(pragma);
    exec("PRAGMA temp_store = MEMORY");
    exec("PRAGMA wal_autocheckpoint = 10000");
    exec("PRAGMA foreign_keys = ON");
    event_insert = prepare("INSERT INTO events (type, record_type, record_id, fields, key_id, at) VALUES (?, ?, ?, ?, ?, ?)");
    event_link = prepare("INSERT OR IGNORE INTO event_links (record_type, record_id, seq) VALUES (?, ?, ?)");
}

// Writes `writes` of `workload` to the fresh copy at `path`, `batch` per commit, between *started
// and *ended (monotonic seconds); returns how many it wrote.
static long write_copy(const char *path, const char *workload, const char *durability, long batch, long writes,
                       double *started, double *ended) {
    open_tenant(path, durability);
    int contact = strcmp(workload, "contact") == 0;
    if (contact) prepare_contact(); else prepare_inventory();
    void (*write)(long) = contact ? contact_write : inventory_write;
    void (*before_commit)(void) = contact ? contact_before_commit : nothing_before_commit;
    sqlite3_stmt *begin = prepare("BEGIN IMMEDIATE"), *commit = prepare("COMMIT");

    long done = 0;
    *started = seconds();
    for (long commits = writes / batch; commits > 0; commits--) {
        run(begin);
        for (long i = 0; i < batch; i++, done++) write(done);
        before_commit();
        run(commit);
    }
    *ended = seconds();
    while (prepared_count > 0) sqlite3_finalize(prepared[--prepared_count]);
    if (sqlite3_close(db) != SQLITE_OK) fail("close");
    db = NULL;
    return done;
}

// Prints what the database at `path` holds and merges its search indexes into one segment each, as
// the server's housekeeping does once a tenant's writes pause: Ops/bench's main tenant sits idle for
// longer than that between its seeding and its write rows, and between those rows.
static void settle_loaded_tenant(const char *path) {
    open_tenant(path, "normal");
    printf("on a tenant holding Ops/bench's data: %lld contacts, %lld companies, %lld feeds\n",
           run(prepare("SELECT count(*) FROM contacts")), run(prepare("SELECT count(*) FROM companies")),
           run(prepare("SELECT count(*) FROM feeds")));
    sqlite3_stmt *indexes = prepare("SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%fts5%'");
    char merge[256];
    while (sqlite3_step(indexes) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(indexes, 0);
        snprintf(merge, sizeof merge, "INSERT INTO \"%s\"(\"%s\") VALUES('optimize')", name, name);
        exec(merge);
    }
    sqlite3_reset(indexes);
    while (prepared_count > 0) sqlite3_finalize(prepared[--prepared_count]);
    if (sqlite3_close(db) != SQLITE_OK) fail("close");
    db = NULL;
}

// Deletes the database at `path` with its WAL and shared-memory files.
static void remove_database(const char *path) {
    char file[4200];
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(file, sizeof file, "%s%s", path, suffixes[i]);
        unlink(file);
    }
}

static double measure(const char *source, const char *work, const char *workload, const char *durability, long batch,
                      long writes) {
    char path[4096];
    double started, ended;
    snprintf(path, sizeof path, "%s/ceiling-%s-%s-%ld.sqlite", work, workload, durability, batch);
    copy_database(source, path);
    long done = write_copy(path, workload, durability, batch, writes, &started, &ended);
    remove_database(path);
    return done / (ended - started);
}

// One tenant of the many-tenant run.
struct tenant {
    pthread_t thread;
    char path[4096];
    const char *durability;
    long writes, done;
    double started, ended;
};

static void *tenant_writes(void *argument) {
    struct tenant *tenant = argument;
    tenant->done =
        write_copy(tenant->path, "contact", tenant->durability, 1, tenant->writes, &tenant->started, &tenant->ended);
    return NULL;
}

// The shared sync phase: syncfs on the work directory's filesystem until told to stop; counts the phases.
struct syncer {
    pthread_t thread;
    int directory;
    atomic_int stop;
    long phases;
};

static void *sync_phases(void *argument) {
    struct syncer *syncer = argument;
    while (!atomic_load(&syncer->stop)) {
        if (syncfs(syncer->directory) != 0) fail("syncfs");
        syncer->phases++;
    }
    return NULL;
}

// CONTACT.ADDs per second from `count` tenants writing at once, one commit per write, over the time
// all of them were writing: at `full` each commit syncs; at `normal` a syncer thread runs sync
// phases meanwhile (their count goes to *phases).
static double measure_tenants(const char *source, const char *work, int count, long writes_each,
                              const char *durability, long *phases) {
    struct tenant *tenants = calloc(count, sizeof *tenants);
    struct syncer syncer = {.directory = open(work, O_RDONLY | O_DIRECTORY)};
    if (syncer.directory < 0) fail(work);
    for (int i = 0; i < count; i++) {
        tenants[i].writes = writes_each;
        tenants[i].durability = durability;
        snprintf(tenants[i].path, sizeof tenants[i].path, "%s/ceiling-tenant-%d-of-%d.sqlite", work, i, count);
        copy_database(source, tenants[i].path);
    }
    int shared = strcmp(durability, "normal") == 0;
    if (shared && pthread_create(&syncer.thread, NULL, sync_phases, &syncer) != 0) fail("pthread_create");
    for (int i = 0; i < count; i++) {
        if (pthread_create(&tenants[i].thread, NULL, tenant_writes, &tenants[i]) != 0) fail("pthread_create");
    }
    double first = 0, last = 0;
    long done = 0;
    for (int i = 0; i < count; i++) {
        pthread_join(tenants[i].thread, NULL);
        if (i == 0 || tenants[i].started < first) first = tenants[i].started;
        if (tenants[i].ended > last) last = tenants[i].ended;
        done += tenants[i].done;
    }
    if (shared) {
        atomic_store(&syncer.stop, 1);
        pthread_join(syncer.thread, NULL);
    }
    *phases = syncer.phases;
    close(syncer.directory);
    free(tenants);
    return done / (last - first);
}

static void write_one(void);

// Opens the copy at `path` as the server opens a tenant (WAL, normal, the pragmas), prepares the
// CONTACT.ADD statements and writes one contact in one commit.
static void open_and_write(const char *path) {
    open_tenant(path, "normal");
    prepare_contact();
    write_one();
}

// write_one's statements, and the connection they belong to.
static __thread sqlite3_stmt *begin, *commit;
static __thread sqlite3 *prepared_on;

static void write_one(void) {
    if (prepared_on != db) {
        begin = prepare("BEGIN IMMEDIATE");
        commit = prepare("COMMIT");
        prepared_on = db;
    }
    run(begin);
    contact_write(0);
    contact_before_commit();
    run(commit);
}

// Closes the connection open_and_write opened, finalizing its statements.
static void close_tenant(void) {
    prepared_on = NULL;
    while (prepared_count > 0) sqlite3_finalize(prepared[--prepared_count]);
    if (sqlite3_close(db) != SQLITE_OK) fail("close");
    db = NULL;
}

static long resident_kib(void) {
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    while (status && fgets(line, sizeof line, status))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    if (status) fclose(status);
    return kib;
}

// The process's resident memory: anonymous (heap) and file-backed (the shared-memory files mapped).
static void resident_parts(long *anonymous_kib, long *file_kib) {
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    while (status && fgets(line, sizeof line, status)) {
        sscanf(line, "RssAnon: %ld kB", anonymous_kib);
        sscanf(line, "RssFile: %ld kB", file_kib);
    }
    if (status) fclose(status);
}

// Opens, writes, writes again and closes each of the `count` copies; adds the time of each step.
static void open_write_close(const char *work, int count, double *cold, double *warm, double *closing) {
    char path[4096];
    *cold = *warm = *closing = 0;
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/ceiling-open-%d.sqlite", work, i);
        double start = seconds();
        open_and_write(path);
        double opened = seconds();
        write_one();
        double written = seconds();
        close_tenant();
        *cold += opened - start;
        *warm += written - opened;
        *closing += seconds() - written;
    }
    *cold /= count, *warm /= count, *closing /= count;
}

// Descriptors the process holds.
static int descriptors(void) {
    DIR *directory = opendir("/proc/self/fd");
    int count = 0;
    while (directory && readdir(directory)) count++;
    if (directory) closedir(directory);
    return count - 3;  // ".", ".." and the directory's own descriptor
}

// The descriptors one connection holds, and what a second connection on the same file leaves behind
// when it closes while the first stays open: SQLite's unix VFS keeps its database descriptor, since
// closing it would drop the process's POSIX locks on the file (the next connection reuses it).
static void measure_descriptors(const char *work) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ceiling-open-0.sqlite", work);
    int before = descriptors();
    open_and_write(path);
    sqlite3 *first = db;
    int alone = descriptors() - before;
    sqlite3 *second;
    if (sqlite3_open(path, &second) != SQLITE_OK) fail(path);
    sqlite3_exec(second, "SELECT count(*) FROM contacts", NULL, NULL, NULL);
    sqlite3_close(second);
    int after = descriptors() - before;
    db = first;
    close_tenant();
    printf("descriptors: an open connection holds %d (database, WAL, shared memory); %d once a second connection "
           "on the file opened and closed; %d after both closed\n",
           alone, after, descriptors() - before);
}

// Cold and warm CONTACT.ADDs over `count` copies: at their first open (SQLite creates the WAL and
// shared-memory files) and at a reopen (the files stay from the first, as the server's tenants
// closed past max_open_tenants); then `count` connections held open at once.
static void measure_opens(const char *source, const char *work, int count) {
    char path[4096];
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/ceiling-open-%d.sqlite", work, i);
        copy_database(source, path);
    }
    const char *passes[] = {"first open", "reopen"};
    for (int pass = 0; pass < 2; pass++) {
        double cold, warm, closing;
        open_write_close(work, count, &cold, &warm, &closing);
        printf("%s: cold CONTACT.ADD (open, set up, prepare, write, commit) %.0f us; warm, same connection %.0f us; "
               "close %.0f us\n",
               passes[pass], cold * 1e6, warm * 1e6, closing * 1e6);
    }
    measure_descriptors(work);
    // The statements of each connection stay prepared, as the server keeps them.
    sqlite3 **connections = calloc(count, sizeof *connections);
    sqlite3_stmt **statements = calloc((size_t)count * 64, sizeof *statements);
    int *statement_counts = calloc(count, sizeof *statement_counts);
    long rss_before = resident_kib(), anonymous_before = 0, file_before = 0;
    resident_parts(&anonymous_before, &file_before);
    sqlite3_int64 memory_before = sqlite3_memory_used();
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/ceiling-open-%d.sqlite", work, i);
        open_and_write(path);
        connections[i] = db;
        memcpy(&statements[(size_t)i * 64], prepared, sizeof prepared);
        statement_counts[i] = prepared_count;
        prepared_count = 0;
    }
    long rss_open = resident_kib();
    sqlite3_int64 memory_open = sqlite3_memory_used();
    for (int i = 0; i < count; i++) sqlite3_db_release_memory(connections[i]);
    sqlite3_int64 memory_released = sqlite3_memory_used();
    // What an idle connection cannot give back: its statements finalized, its caches released.
    for (int i = 0; i < count; i++) {
        for (int j = 0; j < statement_counts[i]; j++) sqlite3_finalize(statements[(size_t)i * 64 + j]);
        sqlite3_db_release_memory(connections[i]);
    }
    sqlite3_int64 memory_floor = sqlite3_memory_used();
    // The heap SQLite freed goes back to the system, as the server does for idle tenants.
    malloc_trim(0);
    long anonymous_floor = 0, file_floor = 0;
    resident_parts(&anonymous_floor, &file_floor);
    printf("%d connections open after one write each: SQLite memory %.0f KiB each, %.0f KiB after "
           "sqlite3_db_release_memory, %.0f KiB with the statements finalized too (the schema); process RSS "
           "%.0f KiB each\n",
           count, (memory_open - memory_before) / 1024.0 / count, (memory_released - memory_before) / 1024.0 / count,
           (memory_floor - memory_before) / 1024.0 / count, (double)(rss_open - rss_before) / count);
    printf("an idle connection (statements finalized, caches released, malloc_trim): process RSS %.0f KiB each, "
           "%.0f KiB heap and %.0f KiB of the mapped shared-memory file\n",
           (double)(anonymous_floor + file_floor - anonymous_before - file_before) / count,
           (double)(anonymous_floor - anonymous_before) / count, (double)(file_floor - file_before) / count);
    for (int i = 0; i < count; i++) sqlite3_close(connections[i]);
    free(connections);
    free(statements);
    free(statement_counts);
}

// The reads Ops/bench times, on a tenant of 100,000 contacts seeded as it seeds them (256 per commit,
// the search index flushed before each COMMIT, as the server's group commits do): CONTACT.GET by
// ext, CONTACT.FIND WHERE lifecycle = lead LIMIT 10 and CONTACT.FIND SEARCH first423 LIMIT 10 (111
// matches), as the server runs them: one read transaction each, every column of each row read as
// text. The page cache holds the whole database: SQLite's best, no disk in the loop.
static double time_reads(sqlite3_stmt *query, sqlite3_stmt *begin, sqlite3_stmt *end, long reads, int keyed,
                         long *bytes) {
    char key[32];
    *bytes = 0;
    srand(1);
    double started = seconds();
    for (long i = 0; i < reads; i++) {
        if (keyed) {
            snprintf(key, sizeof key, "c%012d", rand() % 100000);
            sqlite3_bind_text(query, 1, key, -1, SQLITE_TRANSIENT);
        }
        run(begin);
        int rc;
        while ((rc = sqlite3_step(query)) == SQLITE_ROW)
            for (int column = 0; column < sqlite3_column_count(query); column++)
                if (sqlite3_column_text(query, column)) *bytes += sqlite3_column_bytes(query, column);
        if (rc != SQLITE_DONE) fail(sqlite3_sql(query));
        sqlite3_reset(query);
        run(end);
    }
    double elapsed = seconds() - started;
    *bytes /= reads;
    return elapsed;
}

static void measure_reads(const char *source, const char *work, long reads) {
    char path[4096], value[6][64];
    snprintf(path, sizeof path, "%s/ceiling-reads.sqlite", work);
    copy_database(source, path);
    open_tenant(path, "normal");
    prepare_contact();
    sqlite3_stmt *insert = prepare("INSERT INTO contacts (created_at, updated_at, ext, email, first_name, last_name, "
                                   "lifecycle, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    const char *lifecycles[] = {"subscriber", "lead", "customer"};
    exec("BEGIN");
    for (long i = 0; i < 100000; i++) {
        snprintf(value[0], 64, "c%012ld", i);
        snprintf(value[1], 64, "seed%ld@example.com", i);
        snprintf(value[2], 64, "First%ld", i);
        snprintf(value[3], 64, "Last%ld", i % 500);
        snprintf(value[4], 64, "account note %ld quarterly review", i);
        text(insert, 1, now);
        text(insert, 2, now);
        for (int v = 0; v < 4; v++) text(insert, 3 + v, value[v]);
        text(insert, 7, lifecycles[i % 3]);
        text(insert, 8, value[4]);
        run(insert);
        if (i % 256 == 255) {
            contact_before_commit();
            exec("COMMIT");
            exec("BEGIN");
        }
    }
    contact_before_commit();
    exec("COMMIT");
    exec("PRAGMA cache_size = -262144");
    sqlite3_stmt *begin = prepare("BEGIN"), *end = prepare("COMMIT");
    sqlite3_stmt *queries[] = {
        prepare("SELECT * FROM contacts WHERE ext = ?"),
        prepare("SELECT * FROM contacts WHERE lifecycle = 'lead' ORDER BY id LIMIT 11"),
        prepare("SELECT contacts.* FROM (SELECT rowid AS hit FROM contacts_fts WHERE contacts_fts MATCH "
                "'\"first423\"*') CROSS JOIN contacts ON id = hit ORDER BY hit LIMIT 11"),
    };
    const char *names[] = {"CONTACT.GET by ext", "FIND lifecycle LIMIT 10", "FIND SEARCH first423 LIMIT 10"};
    printf("%-31s %-22s %12s %14s %14s\n", "read", "search index", "reads/s", "us per read", "bytes of text");
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) exec("INSERT INTO contacts_fts (contacts_fts) VALUES ('optimize')");
        for (int q = 0; q < 3; q++) {
            long bytes;
            long count = q == 0 ? reads : reads / 4;
            time_reads(queries[q], begin, end, count / 10, q == 0, &bytes); // the pages into the cache
            double elapsed = time_reads(queries[q], begin, end, count, q == 0, &bytes);
            printf("%-31s %-22s %12.0f %14.2f %14ld\n", names[q], pass ? "merged (optimize)" : "as written",
                   count / elapsed, 1e6 * elapsed / count, bytes);
            fflush(stdout);
        }
    }
    while (prepared_count > 0) sqlite3_finalize(prepared[--prepared_count]);
    sqlite3_close(db);
    db = NULL;
}

int main(int argc, char **argv) {
    int contact_row = argc == 6 && strcmp(argv[3], "CONTACT.ADD") == 0;
    if (argc == 6 && strcmp(argv[1], "--row") == 0 && (contact_row || strcmp(argv[3], "INV.ADJ") == 0)) {
        // One group-commit row at durability full on the copy Ops/bench made (not on a copy of it:
        // the tenant's database runs to hundreds of megabytes), for Ops/bench to set beside its own
        // row: prints the writes per second.
        double started, ended;
        long done = write_copy(argv[2], contact_row ? "contact" : "inventory", "full", atol(argv[4]), atol(argv[5]),
                               &started, &ended);
        printf("%.0f\n", done / (ended - started));
        return 0;
    }
    if (argc != 5) {
        fprintf(stderr, "usage: sqlite-ceiling SOURCE.sqlite LOADED.sqlite WORKDIR WRITES\n"
                        "       sqlite-ceiling --row COPY.sqlite CONTACT.ADD|INV.ADJ WRITES-PER-COMMIT WRITES\n");
        return 2;
    }
    const char *source = argv[1], *loaded = argv[2], *work = argv[3];
    long writes = atol(argv[4]);
    printf("SQLite %s through its C API, prepared statements, %ld writes per row, no savepoint per write,\n",
           sqlite3_libversion(), writes);
    settle_loaded_tenant(loaded);
    printf("%-13s %-12s %18s %12s %14s\n", "workload", "durability", "writes per commit", "writes/s", "us per write");
    const char *workloads[] = {"contact", "inventory"}, *names[] = {"CONTACT.ADD", "INV.ADJ SEQ"};
    const char *durabilities[] = {"full", "normal"};
    long batches[] = {1, 16, 50, 256};
    for (int w = 0; w < 2; w++)
        for (int d = 0; d < 2; d++)
            for (int b = 0; b < 4; b++) {
                // One write per commit syncs per write: a tenth of the writes measure it as well.
                long count = batches[b] == 1 ? writes / 10 : writes;
                double rate = measure(loaded, work, workloads[w], durabilities[d], batches[b], count);
                printf("%-13s %-12s %18ld %12.0f %14.1f\n", names[w], durabilities[d], batches[b], rate, 1e6 / rate);
                fflush(stdout);
            }
    printf("\nCONTACT.ADD from many tenants at once: a thread per tenant, each its own database, one write per commit\n");
    printf("%-8s %-26s %12s %14s %12s\n", "tenants", "durability", "writes/s", "us per write", "sync phases");
    int counts[] = {1, 8, 40};
    const char *sharing[] = {"full", "normal"}, *sharing_names[] = {"full (a sync per commit)", "normal + shared syncfs"};
    for (int d = 0; d < 2; d++)
        for (int c = 0; c < 3; c++) {
            long phases = 0;
            double rate = measure_tenants(source, work, counts[c], writes / 2 / counts[c], sharing[d], &phases);
            printf("%-8d %-26s %12.0f %14.1f %12ld\n", counts[c], sharing_names[d], rate, 1e6 / rate, phases);
            fflush(stdout);
        }
    printf("\nReads on one thread: a tenant of 100,000 contacts, a read transaction per read\n");
    measure_reads(source, work, writes * 5);
    printf("\nWhat a tenant costs SQLite to open and to hold (durability normal, 500 copies)\n");
    measure_opens(source, work, 500);
    return 0;
}
