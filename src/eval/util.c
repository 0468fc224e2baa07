/* Helpers shared inside src/eval: manifests, string tables, output files. */
#include "config.h"
#include "eval/eval_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MANIFEST_MAX_ROWS 50000000u

static size_t str_hash(const char *s)
{
    size_t h = 1469598103934665603ull;  /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int strtab_find(const strtab *t, const char *s)
{
    if (!t->nslot)
        return -1;
    for (size_t h = str_hash(s) & (t->nslot - 1);; h = (h + 1) & (t->nslot - 1)) {
        int k = t->slot[h];
        if (k == 0)
            return -1;
        if (!strcmp(t->s[k - 1], s))
            return k - 1;
    }
}

static int rehash(strtab *t, size_t nslot)
{
    int *slot = calloc(nslot, sizeof *slot);
    if (!slot)
        return -1;
    for (int i = 0; i < t->n; i++) {
        size_t h = str_hash(t->s[i]) & (nslot - 1);
        while (slot[h])
            h = (h + 1) & (nslot - 1);
        slot[h] = i + 1;
    }
    free(t->slot);
    t->slot = slot;
    t->nslot = nslot;
    return 0;
}

int strtab_id(strtab *t, const char *s)
{
    int i = strtab_find(t, s);
    size_t h;
    if (i >= 0)
        return i;
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        char **g = realloc(t->s, (size_t)cap * sizeof *g);
        if (!g)
            return -1;
        t->s = g;
        t->cap = cap;
    }
    if ((size_t)(t->n + 1) * 2 > t->nslot && rehash(t, t->nslot ? t->nslot * 2 : 64) != 0)
        return -1;
    if (!(t->s[t->n] = mfr_strdup(s)))
        return -1;
    h = str_hash(s) & (t->nslot - 1);
    while (t->slot[h])
        h = (h + 1) & (t->nslot - 1);
    t->slot[h] = t->n + 1;
    return t->n++;
}

void strtab_free(strtab *t)
{
    for (int i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

void manifest_free(manifest *m)
{
    if (m->cells)
        for (int c = 0; c < m->ncols; c++) {
            if (m->cells[c])
                for (size_t r = 0; r < m->n; r++)
                    free(m->cells[c][r]);
            free(m->cells[c]);
        }
    if (m->names)
        for (int c = 0; c < m->ncols; c++)
            free(m->names[c]);
    free(m->cells);
    free(m->names);
    free(m->path);
    memset(m, 0, sizeof *m);
}

int manifest_col(const manifest *m, const char *name)
{
    for (int c = 0; c < m->ncols; c++)
        if (!strcmp(m->names[c], name))
            return c;
    return -1;
}

int manifest_load(const char *path, manifest *m)
{
    mfr_csv *csv;
    size_t cap = 0;
    int rc, has;
    memset(m, 0, sizeof *m);
    if ((rc = mfr_csv_open(path, &csv)) != MFR_OK)
        return rc;
    m->path = mfr_strdup(path);
    m->ncols = mfr_csv_columns(csv);
    m->names = calloc((size_t)m->ncols, sizeof *m->names);
    m->cells = calloc((size_t)m->ncols, sizeof *m->cells);
    if (!m->path || !m->names || !m->cells) {
        rc = mfr_error(MFR_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (int c = 0; c < m->ncols; c++)
        if (!(m->names[c] = mfr_strdup(mfr_csv_header(csv, c)))) {
            rc = MFR_ERR_NOMEM;
            goto fail;
        }
    while ((rc = mfr_csv_next(csv, &has)) == MFR_OK && has) {
        if (m->n == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            if (ncap > MANIFEST_MAX_ROWS)
                ncap = MANIFEST_MAX_ROWS;
            if (m->n >= ncap) {
                rc = mfr_error(MFR_ERR_RANGE, "%s:%ld: more than %u rows", path, mfr_csv_line(csv),
                               MANIFEST_MAX_ROWS);
                goto fail;
            }
            for (int c = 0; c < m->ncols; c++) {
                char **g = realloc(m->cells[c], ncap * sizeof *g);
                if (!g) {
                    rc = mfr_error(MFR_ERR_NOMEM, "%s: out of memory", path);
                    goto fail;
                }
                m->cells[c] = g;
            }
            cap = ncap;
        }
        for (int c = 0; c < m->ncols; c++)
            m->cells[c][m->n] = NULL;
        m->n++;
        for (int c = 0; c < m->ncols; c++)
            if (!(m->cells[c][m->n - 1] = mfr_strdup(mfr_csv_field(csv, c)))) {
                rc = MFR_ERR_NOMEM;
                goto fail;
            }
    }
    if (rc != MFR_OK)
        goto fail;
    mfr_csv_close(csv);
    return MFR_OK;
fail:
    mfr_csv_close(csv);
    manifest_free(m);
    return rc;
}

int out_open(mfr_afile *f, const char *dir, const char *name)
{
    char *p = mfr_path_join(dir, name);
    int rc;
    if (!p)
        return MFR_ERR_NOMEM;
    rc = mfr_afile_open(f, p);
    free(p);
    return rc;
}

void safe_name(char *dst, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 1 < cap; s++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                 c == '-' || c == '_';
        dst[n++] = ok ? c : '_';
    }
    dst[n] = '\0';
}

int parse_bool(const char *s)
{
    if (!strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes"))
        return 1;
    if (!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no"))
        return 0;
    return -1;
}
