#ifndef CRM_EDIT_LINE_SHIM_H
#define CRM_EDIT_LINE_SHIM_H

/// A line editor on libedit for crmgate-admin: emacs key bindings, persistent
/// history, incremental search (Ctrl-R), Tab completion and an argument hint
/// on the right of the line, with the decisions made by Swift callbacks.
/// libedit's configuration calls are variadic, which Swift cannot call, hence
/// this small C layer.

typedef struct crm_editor crm_editor;

/// Given the text of the line (before the cursor, for completion), returns a
/// malloc'd string or NULL. For completion: the text to insert, then for
/// several candidates a newline and the listing to print.
typedef char *_Nullable (*crm_editor_callback)(void *_Nullable context, const char *_Nonnull line);

crm_editor *_Nullable crm_editor_open(
    const char *_Nonnull program, const char *_Nullable history_path, void *_Nullable context,
    crm_editor_callback _Nonnull complete, crm_editor_callback _Nonnull hint);

/// Reads one line with `prompt`; NULL at end of input (Ctrl-D). The line,
/// without its newline, stays valid until the next call.
const char *_Nullable crm_editor_read(crm_editor *_Nonnull editor, const char *_Nonnull prompt);

/// Adds a line to the in-memory history.
void crm_editor_remember(crm_editor *_Nonnull editor, const char *_Nonnull line);

/// Writes the history to `path`, readable by its owner only; 0 on success.
int crm_editor_save(crm_editor *_Nonnull editor, const char *_Nonnull path);

void crm_editor_close(crm_editor *_Nonnull editor);

#endif
