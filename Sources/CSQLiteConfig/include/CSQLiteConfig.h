#ifndef CSQLITECONFIG_H
#define CSQLITECONFIG_H

// SQLite's per-connection settings made through sqlite3_db_config, which is
// variadic and so cannot be called from Swift.

struct sqlite3;

/// Makes the connection skip the checkpoint SQLite runs when the last
/// connection to a WAL database closes (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE).
/// Returns SQLite's result code.
int crmgate_sqlite3_skip_checkpoint_on_close(struct sqlite3 *connection);

#endif
