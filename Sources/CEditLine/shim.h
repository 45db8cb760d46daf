#ifndef LOUPE_CEDITLINE_SHIM_H
#define LOUPE_CEDITLINE_SHIM_H
#include <stdio.h>
#include <histedit.h>

/* el_set and history are variadic, which Swift cannot call: these wrappers fix the arguments. */
static inline void loupe_el_set_prompt(EditLine *el, char *(*f)(EditLine *)) { el_set(el, EL_PROMPT, f); }
static inline void loupe_el_set_editor(EditLine *el, const char *mode) { el_set(el, EL_EDITOR, mode); }
static inline void loupe_el_set_history(EditLine *el, History *h) { el_set(el, EL_HIST, history, h); }
static inline void loupe_el_bind_complete(EditLine *el, unsigned char (*f)(EditLine *, int)) {
    el_set(el, EL_ADDFN, "loupe-complete", "Complete the word before the cursor", f);
    el_set(el, EL_BIND, "^I", "loupe-complete", NULL);
}
/* Ctrl-C at the prompt: with ISIG off in edit mode, ^C is a key bound to `f`. */
static inline void loupe_el_bind_interrupt(EditLine *el, unsigned char (*f)(EditLine *, int)) {
    el_set(el, EL_ADDFN, "loupe-interrupt", "Cancel the current input", f);
    el_set(el, EL_BIND, "^C", "loupe-interrupt", NULL);
    el_set(el, EL_SETTY, "-d", "-isig", NULL);
}
static inline void loupe_el_source_default(EditLine *el) { el_source(el, NULL); }
static inline int loupe_history_setsize(History *h, int n) { HistEvent ev; return history(h, &ev, H_SETSIZE, n); }
static inline int loupe_history_setunique(History *h, int on) { HistEvent ev; return history(h, &ev, H_SETUNIQUE, on); }
static inline int loupe_history_enter(History *h, const char *line) { HistEvent ev; return history(h, &ev, H_ENTER, line); }
static inline int loupe_history_load(History *h, const char *path) { HistEvent ev; return history(h, &ev, H_LOAD, path); }
static inline int loupe_history_save(History *h, const char *path) { HistEvent ev; return history(h, &ev, H_SAVE, path); }
#endif
