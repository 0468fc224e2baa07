/* A streaming RFC 4180 CSV reader with line numbers in every error. */
#include "config.h"
#include "mfr/core.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CSV_MAX_RECORD (1u << 20)
#define CSV_MAX_FIELDS 4096

struct mfr_csv {
    FILE *fp;
    char *name;
    char *mem;                 /* copy of an in-memory source */
    long line;                 /* lines consumed so far */
    long row_line;             /* first line of the current row */
    char *rec;                 /* unquoted fields of the current record, NUL-separated */
    size_t rec_cap;
    int *offs;                 /* field start offsets into rec */
    int nfields, offs_cap;
    char **header;
    int ncols;
};

static int push_char(mfr_csv *c, size_t *n, char ch)
{
    if (*n + 1 >= c->rec_cap) {
        size_t cap = c->rec_cap ? c->rec_cap * 2 : 1024;
        char *g;
        if (cap > CSV_MAX_RECORD + 2)
            return mfr_error(MFR_ERR_RANGE, "%s:%ld: row longer than %u bytes", c->name, c->row_line, CSV_MAX_RECORD);
        g = realloc(c->rec, cap);
        if (!g)
            return mfr_error(MFR_ERR_NOMEM, "%s: out of memory", c->name);
        c->rec = g;
        c->rec_cap = cap;
    }
    c->rec[(*n)++] = ch;
    return MFR_OK;
}

static int push_field(mfr_csv *c, size_t start)
{
    if (c->nfields == c->offs_cap) {
        int cap = c->offs_cap ? c->offs_cap * 2 : 32;
        int *g;
        if (cap > CSV_MAX_FIELDS * 2)
            return mfr_error(MFR_ERR_RANGE, "%s:%ld: more than %d fields", c->name, c->row_line, CSV_MAX_FIELDS);
        g = realloc(c->offs, (size_t)cap * sizeof *g);
        if (!g)
            return mfr_error(MFR_ERR_NOMEM, "%s: out of memory", c->name);
        c->offs = g;
        c->offs_cap = cap;
    }
    if (c->nfields >= CSV_MAX_FIELDS)
        return mfr_error(MFR_ERR_RANGE, "%s:%ld: more than %d fields", c->name, c->row_line, CSV_MAX_FIELDS);
    c->offs[c->nfields++] = (int)start;
    return MFR_OK;
}

/* Reads one record into rec/offs. *got = 0 at end of input. Blank lines
 * between records are skipped. */
static int read_record(mfr_csv *c, int *got)
{
    size_t n = 0, start = 0;
    int ch, quoted = 0, after_quote = 0, field_began = 0, rc;
    *got = 0;
    c->nfields = 0;
    /* Skip blank lines. */
    for (;;) {
        ch = getc(c->fp);
        if (ch == '\r') {
            int next = getc(c->fp);
            if (next != '\n' && next != EOF)
                ungetc(next, c->fp);
            c->line++;
            continue;
        }
        if (ch == '\n') {
            c->line++;
            continue;
        }
        break;
    }
    if (ch == EOF)
        return ferror(c->fp) ? mfr_error(MFR_ERR_IO, "%s: read error", c->name) : MFR_OK;
    c->row_line = c->line + 1;
    for (;; ch = getc(c->fp)) {
        if (ch == EOF && quoted)
            return mfr_error(MFR_ERR_FORMAT, "%s:%ld: unterminated quoted field", c->name, c->row_line);
        if (quoted) {
            if (ch == '"') {
                int next = getc(c->fp);
                if (next == '"') {
                    if ((rc = push_char(c, &n, '"')) != MFR_OK)
                        return rc;
                } else {
                    quoted = 0;
                    after_quote = 1;
                    if (next != EOF)
                        ungetc(next, c->fp);
                }
            } else {
                if (ch == '\n')
                    c->line++;
                if (ch == '\0')
                    return mfr_error(MFR_ERR_FORMAT, "%s:%ld: NUL byte in field", c->name, c->line + 1);
                if ((rc = push_char(c, &n, (char)ch)) != MFR_OK)
                    return rc;
            }
            continue;
        }
        if (ch == ',' || ch == '\n' || ch == '\r' || ch == EOF) {
            if ((rc = push_char(c, &n, '\0')) != MFR_OK || (rc = push_field(c, start)) != MFR_OK)
                return rc;
            start = n;
            after_quote = 0;
            field_began = 0;
            if (ch == ',')
                continue;
            if (ch == '\r') {
                int next = getc(c->fp);
                if (next != '\n' && next != EOF)
                    ungetc(next, c->fp);
            }
            if (ch != EOF)
                c->line++;
            break;
        }
        if (after_quote)
            return mfr_error(MFR_ERR_FORMAT, "%s:%ld: text after a closing quote in field %d", c->name, c->row_line, c->nfields + 1);
        if (ch == '"' && !field_began) {
            quoted = 1;
            field_began = 1;
            continue;
        }
        if (ch == '\0')
            return mfr_error(MFR_ERR_FORMAT, "%s:%ld: NUL byte in field", c->name, c->row_line);
        field_began = 1;
        if ((rc = push_char(c, &n, (char)ch)) != MFR_OK)
            return rc;
    }
    *got = 1;
    return MFR_OK;
}

static int open_common(mfr_csv *c, mfr_csv **out)
{
    int got, rc = read_record(c, &got);
    if (rc == MFR_OK && !got)
        rc = mfr_error(MFR_ERR_FORMAT, "%s: empty file (a header row is required)", c->name);
    if (rc == MFR_OK) {
        c->ncols = c->nfields;
        c->header = calloc((size_t)c->ncols, sizeof *c->header);
        if (!c->header)
            rc = mfr_error(MFR_ERR_NOMEM, "%s: out of memory", c->name);
        for (int i = 0; rc == MFR_OK && i < c->ncols; i++) {
            c->header[i] = mfr_strdup(c->rec + c->offs[i]);
            if (!c->header[i])
                rc = MFR_ERR_NOMEM;
        }
    }
    if (rc != MFR_OK) {
        mfr_csv_close(c);
        return rc;
    }
    *out = c;
    return MFR_OK;
}

int mfr_csv_open(const char *path, mfr_csv **out)
{
    mfr_csv *c;
    *out = NULL;
    c = calloc(1, sizeof *c);
    if (!c)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    c->name = mfr_strdup(path);
    if (!c->name) {
        free(c);
        return MFR_ERR_NOMEM;
    }
    c->fp = fopen(path, "rb");
    if (!c->fp) {
        int rc = mfr_error(MFR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        mfr_csv_close(c);
        return rc;
    }
    return open_common(c, out);
}

int mfr_csv_open_mem(const void *data, size_t size, const char *name, mfr_csv **out)
{
    mfr_csv *c;
    *out = NULL;
    c = calloc(1, sizeof *c);
    if (!c)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    c->name = mfr_strdup(name ? name : "<csv>");
    c->mem = malloc(size ? size : 1);
    if (!c->name || !c->mem) {
        mfr_csv_close(c);
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    }
    memcpy(c->mem, data, size);
    c->fp = size ? fmemopen(c->mem, size, "rb") : fopen("/dev/null", "rb");
    if (!c->fp) {
        mfr_csv_close(c);
        return mfr_error(MFR_ERR_IO, "%s: cannot open memory stream", name);
    }
    return open_common(c, out);
}

void mfr_csv_close(mfr_csv *c)
{
    if (!c)
        return;
    if (c->fp)
        fclose(c->fp);
    for (int i = 0; c->header && i < c->ncols; i++)
        free(c->header[i]);
    free(c->header);
    free(c->rec);
    free(c->offs);
    free(c->mem);
    free(c->name);
    free(c);
}

int mfr_csv_columns(const mfr_csv *c) { return c->ncols; }
const char *mfr_csv_header(const mfr_csv *c, int col) { return col >= 0 && col < c->ncols ? c->header[col] : NULL; }
long mfr_csv_line(const mfr_csv *c) { return c->row_line; }
const char *mfr_csv_name(const mfr_csv *c) { return c->name; }

int mfr_csv_column(const mfr_csv *c, const char *name)
{
    for (int i = 0; i < c->ncols; i++)
        if (strcmp(c->header[i], name) == 0)
            return i;
    return -1;
}

int mfr_csv_next(mfr_csv *c, int *has_row)
{
    int rc = read_record(c, has_row);
    if (rc != MFR_OK) {
        *has_row = 0;
        return rc;
    }
    if (*has_row && c->nfields != c->ncols) {
        *has_row = 0;
        return mfr_error(MFR_ERR_FORMAT, "%s:%ld: %d fields, but the header has %d", c->name, c->row_line,
                         c->nfields, c->ncols);
    }
    return MFR_OK;
}

const char *mfr_csv_field(const mfr_csv *c, int col)
{
    if (col < 0 || col >= c->nfields)
        return NULL;
    return c->rec + c->offs[col];
}

int mfr_csv_double(const mfr_csv *c, int col, int allow_empty, double *out)
{
    const char *f = mfr_csv_field(c, col);
    if (!f)
        return mfr_error(MFR_ERR_ARG, "%s:%ld: no column %d", c->name, c->row_line, col);
    if (*f == '\0' && allow_empty) {
        *out = NAN;
        return MFR_OK;
    }
    if (mfr_parse_double(f, out) != MFR_OK)
        return mfr_error(MFR_ERR_FORMAT, "%s:%ld: column '%s': '%s' is not a number", c->name, c->row_line,
                         c->header[col], f);
    return MFR_OK;
}

int mfr_csv_long(const mfr_csv *c, int col, long min, long max, long *out)
{
    const char *f = mfr_csv_field(c, col);
    long v;
    if (!f)
        return mfr_error(MFR_ERR_ARG, "%s:%ld: no column %d", c->name, c->row_line, col);
    if (mfr_parse_long(f, &v) != MFR_OK)
        return mfr_error(MFR_ERR_FORMAT, "%s:%ld: column '%s': '%s' is not an integer", c->name, c->row_line,
                         c->header[col], f);
    if (v < min || v > max)
        return mfr_error(MFR_ERR_RANGE, "%s:%ld: column '%s': %ld is outside [%ld, %ld]", c->name, c->row_line,
                         c->header[col], v, min, max);
    *out = v;
    return MFR_OK;
}

void mfr_csv_write_field(FILE *fp, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, fp);
        return;
    }
    putc('"', fp);
    for (; *s; s++) {
        if (*s == '"')
            putc('"', fp);
        putc(*s, fp);
    }
    putc('"', fp);
}
