/* Shared helpers inside src/eval (not public API). */
#ifndef MFR_EVAL_INTERNAL_H
#define MFR_EVAL_INTERNAL_H

#include <stdint.h>
#include <stdio.h>
#include "mfr/core.h"

/* ------------------------------------------------------------ JSON writer */
/* Writes JSON and, beside it, the same values flattened one per line as
 * "path<TAB>value" (path components joined by '/'), which `mfr report`
 * reads without a JSON parser. Keys are NULL inside arrays. */
#define JW_MAX_DEPTH 24
typedef struct jw {
    FILE *js, *tsv;
    int depth;
    int first[JW_MAX_DEPTH];
    int is_array[JW_MAX_DEPTH];
    int index[JW_MAX_DEPTH];
    size_t plen[JW_MAX_DEPTH];
    char path[2048];
} jw;

void jw_begin(jw *w, FILE *js, FILE *tsv);   /* opens the root object */
void jw_finish(jw *w);                       /* closes the root object */
void jw_obj(jw *w, const char *key);
void jw_arr(jw *w, const char *key);
void jw_end(jw *w);
void jw_num(jw *w, const char *key, double v);     /* %.12g; NaN and inf as null */
void jw_float(jw *w, const char *key, float v);    /* %.9g: round-trips a float */
void jw_int(jw *w, const char *key, uint64_t v);
void jw_str(jw *w, const char *key, const char *s);
void jw_bool(jw *w, const char *key, int v);
/* "name": [lo, hi] */
void jw_interval(jw *w, const char *key, double lo, double hi);

/* ------------------------------------------------------------- manifests */
/* A manifest.csv held in memory: one row per image. */
typedef struct manifest {
    size_t n;
    int ncols;
    char **names;          /* column names */
    char ***cells;         /* cells[col][row] */
    char *path;
} manifest;

int manifest_load(const char *path, manifest *m);
void manifest_free(manifest *m);
int manifest_col(const manifest *m, const char *name);  /* -1 if absent */

/* ------------------------------------------------------- string interning */
typedef struct strtab {
    char **s;
    int n, cap;
    int *slot;      /* open-addressing hash: index + 1, 0 = empty */
    size_t nslot;
} strtab;
/* Index of s in t, added if new; -1 on out of memory. */
int strtab_id(strtab *t, const char *s);
int strtab_find(const strtab *t, const char *s);
void strtab_free(strtab *t);

/* --------------------------------------------------------- output helpers */
/* Opens DIR/name atomically. */
int out_open(mfr_afile *f, const char *dir, const char *name);
/* A file-name-safe copy of s ([A-Za-z0-9._-], others as '_'). */
void safe_name(char *dst, size_t cap, const char *s);
/* Parses 0/1/true/false/yes/no; -1 if none. */
int parse_bool(const char *s);

#endif
