// BSD libedit (Debian: libedit-dev) for crmgate-admin, with a small layer of
// static inline functions: libedit's configuration calls are variadic, which
// Swift cannot call.
//
// The editor: emacs key bindings, persistent history, incremental search
// (Ctrl-R), Tab completion and an argument hint on the right of the line,
// with the decisions made by Swift callbacks. A callback gets the line (the
// text before the cursor, for completion) and returns a malloc'd string or
// NULL; for completion: the text to insert, then for several candidates a
// newline and the listing to print.
#ifndef CRM_LIBEDIT_SHIM_H
#define CRM_LIBEDIT_SHIM_H

#include <histedit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct crm_editor crm_editor;
typedef char *_Nullable (*crm_editor_callback)(void *_Nullable context, const char *_Nonnull line);
static inline void crm_editor_close(crm_editor *editor);

struct crm_editor {
    EditLine *el;
    History *history;
    HistEvent event;
    char *prompt;
    char *hint;
    char *line;
    void *context;
    crm_editor_callback complete;
    crm_editor_callback hint_for;
};

static inline crm_editor *editor_of(EditLine *el) {
    void *data = NULL;
    el_get(el, EL_CLIENTDATA, &data);
    return data;
}

static inline char *prompt_text(EditLine *el) {
    crm_editor *editor = editor_of(el);
    return editor->prompt ? editor->prompt : "";
}

/// The right prompt shows what the typed command still needs.
static inline char *hint_text(EditLine *el) {
    crm_editor *editor = editor_of(el);
    const LineInfo *info = el_line(el);
    char *line = strndup(info->buffer, (size_t)(info->lastchar - info->buffer));
    free(editor->hint);
    editor->hint = line ? editor->hint_for(editor->context, line) : NULL;
    free(line);
    return editor->hint ? editor->hint : "";
}

static inline unsigned char complete(EditLine *el, int ch) {
    (void)ch;
    crm_editor *editor = editor_of(el);
    const LineInfo *info = el_line(el);
    char *before = strndup(info->buffer, (size_t)(info->cursor - info->buffer));
    if (!before) return CC_ERROR;
    char *answer = editor->complete(editor->context, before);
    free(before);
    if (!answer) return CC_REFRESH_BEEP;
    unsigned char status = CC_REFRESH;
    char *listing = strchr(answer, '\n');
    if (listing) *listing++ = '\0';
    if (*answer) el_insertstr(el, answer);
    if (listing && *listing) {
        fputs("\n", stdout);
        fputs(listing, stdout);
        fflush(stdout);
        status = CC_REDISPLAY;
    }
    free(answer);
    return status;
}

/// A space ends a word: insert it and redraw, so the hint follows.
static inline unsigned char space(EditLine *el, int ch) {
    (void)ch;
    el_insertstr(el, " ");
    return CC_REFRESH;
}

static inline crm_editor *crm_editor_open(
    const char *program, const char *history_path, void *context, crm_editor_callback complete_line,
    crm_editor_callback hint) {
    crm_editor *editor = calloc(1, sizeof *editor);
    if (!editor) return NULL;
    editor->context = context;
    editor->complete = complete_line;
    editor->hint_for = hint;
    editor->el = el_init(program, stdin, stdout, stderr);
    editor->history = history_init();
    if (!editor->el || !editor->history) {
        crm_editor_close(editor);
        return NULL;
    }
    history(editor->history, &editor->event, H_SETSIZE, 1000);
    history(editor->history, &editor->event, H_SETUNIQUE, 1);
    if (history_path) history(editor->history, &editor->event, H_LOAD, history_path);
    el_set(editor->el, EL_CLIENTDATA, editor);
    el_set(editor->el, EL_EDITOR, "emacs");
    el_set(editor->el, EL_SIGNAL, 1);
    el_set(editor->el, EL_HIST, history, editor->history);
    el_set(editor->el, EL_PROMPT, prompt_text);
    el_set(editor->el, EL_RPROMPT, hint_text);
    el_set(editor->el, EL_ADDFN, "crm-complete", "Complete a command, subcommand or value", complete);
    el_set(editor->el, EL_BIND, "^I", "crm-complete", NULL);
    el_set(editor->el, EL_ADDFN, "crm-space", "Insert a space and show the argument hint", space);
    el_set(editor->el, EL_BIND, " ", "crm-space", NULL);
    el_set(editor->el, EL_BIND, "^R", "em-inc-search-prev", NULL);
    el_source(editor->el, NULL);
    return editor;
}

static inline const char *crm_editor_read(crm_editor *editor, const char *prompt) {
    free(editor->prompt);
    editor->prompt = strdup(prompt);
    int count = 0;
    const char *line = el_gets(editor->el, &count);
    if (!line || count <= 0) return NULL;
    free(editor->line);
    editor->line = strdup(line);
    if (!editor->line) return NULL;
    size_t length = strlen(editor->line);
    while (length > 0 && (editor->line[length - 1] == '\n' || editor->line[length - 1] == '\r')) {
        editor->line[--length] = '\0';
    }
    return editor->line;
}

static inline void crm_editor_remember(crm_editor *editor, const char *line) {
    history(editor->history, &editor->event, H_ENTER, line);
}

static inline int crm_editor_save(crm_editor *editor, const char *path) {
    int result = history(editor->history, &editor->event, H_SAVE, path);
    chmod(path, S_IRUSR | S_IWUSR);
    return result < 0 ? -1 : 0;
}

static inline void crm_editor_close(crm_editor *editor) {
    if (editor->el) el_end(editor->el);
    if (editor->history) history_end(editor->history);
    free(editor->prompt);
    free(editor->hint);
    free(editor->line);
    free(editor);
}

#endif
