#ifndef CSQLITECONFIG_H
#define CSQLITECONFIG_H

// SQLite settings made through its variadic configuration calls, which
// cannot be called from Swift.

struct sqlite3;

/// Makes the connection skip the checkpoint SQLite runs when the last
/// connection to a WAL database closes (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE).
/// Returns SQLite's result code.
int crmgate_sqlite3_skip_checkpoint_on_close(struct sqlite3 *connection);

/// Has SQLite allocate through malloc with its bytes counted by an atomic,
/// and turns its own memory statistics off (SQLITE_CONFIG_MALLOC and
/// SQLITE_CONFIG_MEMSTATUS): those took a process-wide mutex at every
/// allocation and free. Only before SQLite initializes: returns SQLite's
/// result code (SQLITE_MISUSE once it has).
int crmgate_sqlite3_count_memory_without_locks(void);

/// The bytes SQLite holds: the count above once installed, else SQLite's own statistics.
long long crmgate_sqlite3_memory_used(void);

#endif
