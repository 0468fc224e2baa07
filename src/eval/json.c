/* A small streaming JSON writer with a flattened TSV twin. */
#include "config.h"
#include "eval/eval_internal.h"

#include <math.h>
#include <string.h>

static void put_string(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(fp, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", fp);
        else if (*p == '\t')
            fputs("\\t", fp);
        else if (*p < 0x20)
            fprintf(fp, "\\u%04x", *p);
        else
            fputc(*p, fp);
    }
    fputc('"', fp);
}

static void indent(jw *w)
{
    fputc('\n', w->js);
    for (int i = 0; i <= w->depth; i++)
        fputs("  ", w->js);
}

/* Starts a member: comma, indentation, key; extends the path. */
static void member(jw *w, const char *key)
{
    char idx[32];
    const char *name = key;
    size_t len = w->plen[w->depth], add;
    if (!w->first[w->depth])
        fputc(',', w->js);
    w->first[w->depth] = 0;
    indent(w);
    if (w->is_array[w->depth]) {
        snprintf(idx, sizeof idx, "%d", w->index[w->depth]++);
        name = idx;
    } else {
        put_string(w->js, key ? key : "");
        fputs(": ", w->js);
    }
    if (!name)
        name = "";
    add = strlen(name) + (len ? 1 : 0);
    if (len + add < sizeof w->path) {
        if (len)
            w->path[len++] = '/';
        memcpy(w->path + len, name, strlen(name) + 1);
    }
}

static void tsv_line(jw *w, const char *value)
{
    if (!w->tsv)
        return;
    fputs(w->path, w->tsv);
    fputc('\t', w->tsv);
    for (const char *p = value; *p; p++)
        fputc(*p == '\t' || *p == '\n' || *p == '\r' ? ' ' : *p, w->tsv);
    fputc('\n', w->tsv);
}

static void restore(jw *w)
{
    w->path[w->plen[w->depth]] = '\0';
}

void jw_begin(jw *w, FILE *js, FILE *tsv)
{
    memset(w, 0, sizeof *w);
    w->js = js;
    w->tsv = tsv;
    fputc('{', js);
    w->first[0] = 1;
}

void jw_finish(jw *w)
{
    fputs("\n}\n", w->js);
}

static void open_container(jw *w, const char *key, int array)
{
    member(w, key);
    fputc(array ? '[' : '{', w->js);
    if (w->depth + 1 < JW_MAX_DEPTH) {
        size_t len = strlen(w->path);
        w->depth++;
        w->first[w->depth] = 1;
        w->is_array[w->depth] = array;
        w->index[w->depth] = 0;
        w->plen[w->depth] = len;
    }
}

void jw_obj(jw *w, const char *key)
{
    open_container(w, key, 0);
}

void jw_arr(jw *w, const char *key)
{
    open_container(w, key, 1);
}

void jw_end(jw *w)
{
    int array = w->is_array[w->depth], empty = w->first[w->depth];
    if (w->depth > 0)
        w->depth--;
    if (!empty)
        indent(w);
    fputc(array ? ']' : '}', w->js);
    restore(w);
}

static void scalar(jw *w, const char *key, const char *text, int quoted)
{
    member(w, key);
    if (quoted)
        put_string(w->js, text);
    else
        fputs(text, w->js);
    tsv_line(w, text);
    restore(w);
}

void jw_num(jw *w, const char *key, double v)
{
    char buf[64];
    if (!isfinite(v))
        snprintf(buf, sizeof buf, "null");
    else
        snprintf(buf, sizeof buf, "%.12g", v);
    scalar(w, key, buf, 0);
}

void jw_float(jw *w, const char *key, float v)
{
    char buf[64];
    if (!isfinite(v))
        snprintf(buf, sizeof buf, "null");
    else
        snprintf(buf, sizeof buf, "%.9g", (double)v);
    scalar(w, key, buf, 0);
}

void jw_int(jw *w, const char *key, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    scalar(w, key, buf, 0);
}

void jw_str(jw *w, const char *key, const char *s)
{
    scalar(w, key, s ? s : "", 1);
}

void jw_bool(jw *w, const char *key, int v)
{
    scalar(w, key, v ? "true" : "false", 0);
}

void jw_interval(jw *w, const char *key, double lo, double hi)
{
    jw_arr(w, key);
    jw_num(w, NULL, lo);
    jw_num(w, NULL, hi);
    jw_end(w);
}
