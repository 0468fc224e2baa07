/* mfr report: plots (gnuplot, PNG and SVG), report.md and a self-contained
 * report.html from one or more eval directories. Values come from each
 * directory's results.tsv (the flattened results.json) and its CSV curves;
 * several directories become rows of one table (one system each). */
#include "config.h"
#include "eval/eval_internal.h"
#include "mfr/eval.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_KV 200000
#define MAX_DET_GROUPS 8

typedef struct kv {
    char *k, *v;
} kv;

typedef struct result {
    const char *dir;
    char *kind, *label;
    kv *kv;
    size_t n;
} result;

static const char *get(const result *r, const char *key)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->kv[i].k, key))
            return r->kv[i].v;
    return NULL;
}

static const char *getf(const result *r, char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static const char *getf(const result *r, char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return get(r, buf);
}

static void result_free(result *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->kv[i].k);
        free(r->kv[i].v);
    }
    free(r->kv);
    memset(r, 0, sizeof *r);
}

static int result_load(const char *dir, result *r)
{
    char *path = mfr_path_join(dir, "results.tsv"), *text, *line, *save = NULL;
    size_t size, cap = 0;
    int rc;
    memset(r, 0, sizeof *r);
    r->dir = dir;
    if (!path)
        return MFR_ERR_NOMEM;
    rc = mfr_read_file(path, 256u << 20, (void **)&text, &size);
    if (rc != MFR_OK) {
        free(path);
        return mfr_error_context(rc, "%s is not an eval directory", dir);
    }
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        if (!tab) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s: a line without a tab", path);
            break;
        }
        *tab = '\0';
        if (r->n == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            kv *g;
            if (ncap > MAX_KV) {
                rc = mfr_error(MFR_ERR_RANGE, "%s: more than %d values", path, MAX_KV);
                break;
            }
            if (!(g = realloc(r->kv, ncap * sizeof *g))) {
                rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
                break;
            }
            r->kv = g;
            cap = ncap;
        }
        r->kv[r->n].k = mfr_strdup(line);
        r->kv[r->n].v = mfr_strdup(tab + 1);
        if (!r->kv[r->n].k || !r->kv[r->n].v) {
            free(r->kv[r->n].k), free(r->kv[r->n].v);
            rc = MFR_ERR_NOMEM;
            break;
        }
        r->n++;
    }
    free(text);
    if (rc == MFR_OK) {
        r->kind = (char *)get(r, "kind");
        r->label = (char *)get(r, "label");
        if (!r->kind || !r->label)
            rc = mfr_error(MFR_ERR_FORMAT, "%s: no 'kind' or 'label'", path);
    }
    free(path);
    if (rc != MFR_OK)
        result_free(r);
    return rc;
}

/* ----------------------------------------------------------- tables */

typedef struct doc {
    FILE *md, *html;
} doc;

static void html_text(FILE *fp, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", fp);
        else if (*s == '>')
            fputs("&gt;", fp);
        else if (*s == '&')
            fputs("&amp;", fp);
        else
            fputc(*s, fp);
    }
}

static void heading(doc *d, int level, const char *text)
{
    fprintf(d->md, "\n%.*s %s\n\n", level, "######", text);
    fprintf(d->html, "<h%d>", level);
    html_text(d->html, text);
    fprintf(d->html, "</h%d>\n", level);
}

static void para(doc *d, const char *text)
{
    fprintf(d->md, "%s\n\n", text);
    fputs("<p>", d->html);
    html_text(d->html, text);
    fputs("</p>\n", d->html);
}

static void table_row(doc *d, const char *const *cells, int n, int header)
{
    fputs("|", d->md);
    for (int i = 0; i < n; i++)
        fprintf(d->md, " %s |", cells[i] ? cells[i] : "");
    fputs("\n", d->md);
    if (header) {
        fputs("|", d->md);
        for (int i = 0; i < n; i++)
            fputs("---|", d->md);
        fputs("\n", d->md);
        fputs("<table>\n<tr>", d->html);
    } else {
        fputs("<tr>", d->html);
    }
    for (int i = 0; i < n; i++) {
        fputs(header ? "<th>" : "<td>", d->html);
        html_text(d->html, cells[i] ? cells[i] : "");
        fputs(header ? "</th>" : "</td>", d->html);
    }
    fputs("</tr>\n", d->html);
}

static void table_end(doc *d)
{
    fputs("</table>\n", d->html);
    fputs("\n", d->md);
}

/* A number from the results, formatted; "-" when absent or null. */
static void fmt(char *buf, size_t cap, const char *v, int pct)
{
    double x;
    if (!v || mfr_parse_double(v, &x) != MFR_OK || !isfinite(x)) {
        snprintf(buf, cap, "-");
        return;
    }
    if (pct)
        snprintf(buf, cap, "%.3f%%", 100 * x);
    else
        snprintf(buf, cap, "%.4g", x);
}

/* ----------------------------------------------------------- gnuplot */

static char *find_on_path(const char *prog)
{
    const char *path = getenv("PATH");
    char *copy, *save = NULL, *dir;
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0 ? mfr_strdup(prog) : NULL;
    if (!path || !(copy = mfr_strdup(path)))
        return NULL;
    for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char *p = mfr_path_join(*dir ? dir : ".", prog);
        struct stat st;
        if (p && stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0) {
            free(copy);
            return p;
        }
        free(p);
    }
    free(copy);
    return NULL;
}

/* Runs gnuplot on a script with the plot directory as working directory
 * (posix_spawn, no shell). */
static int run_gnuplot(const char *gp, const char *dir, const char *script)
{
    pid_t pid;
    int status, rc;
    char *argv[3];
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        return mfr_error(MFR_ERR_IO, "getcwd: %s", strerror(errno));
    if (chdir(dir) != 0) {
        free(cwd);
        return mfr_error(MFR_ERR_IO, "%s: %s", dir, strerror(errno));
    }
    argv[0] = (char *)gp;
    argv[1] = (char *)script;
    argv[2] = NULL;
    rc = posix_spawn(&pid, gp, NULL, NULL, argv, environ);
    if (chdir(cwd) != 0) {
        free(cwd);
        return mfr_error(MFR_ERR_IO, "cannot return to the working directory");
    }
    free(cwd);
    if (rc != 0)
        return mfr_error(MFR_ERR_IO, "cannot run %s: %s", gp, strerror(rc));
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return mfr_error(MFR_ERR_IO, "%s %s failed", gp, script);
    return MFR_OK;
}

typedef struct plots {
    const char *gp;       /* NULL: skipped */
    const char *dir;      /* output directory (temporary) */
    char names[64][64];
    char titles[64][128];
    int n;
    int failed;
} plots;

/* Appends to a buffer, never past its end (a full buffer stays full). */
static void app(char *buf, size_t cap, size_t *n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void app(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
    va_list ap;
    int w;
    if (*n + 1 >= cap)
        return;
    va_start(ap, fmt);
    w = vsnprintf(buf + *n, cap - *n, fmt, ap);
    va_end(ap);
    if (w > 0)
        *n = *n + (size_t)w < cap ? *n + (size_t)w : cap - 1;
}

/* Text safe inside a single-quoted gnuplot string (rotating buffers). */
static const char *gq(const char *s)
{
    static char buf[4][256];
    static int next;
    char *b = buf[next++ & 3];
    size_t n = 0;
    for (; *s && n + 1 < sizeof buf[0]; s++)
        b[n++] = (*s == '\'' || *s == '\\' || (unsigned char)*s < 0x20) ? '_' : *s;
    b[n] = '\0';
    return b;
}

/* Writes NAME.gp (terminal and output set twice: SVG then PNG) and runs it. */
static void plot(plots *p, const char *name, const char *title, const char *body)
{
    mfr_afile f;
    char file[128], *path;
    if (p->n == 64)
        return;
    snprintf(file, sizeof file, "%s.gp", name);
    path = mfr_path_join(p->dir, file);
    if (!path || mfr_afile_open(&f, path) != MFR_OK) {
        free(path);
        p->failed++;
        return;
    }
    free(path);
    fprintf(f.fp, "# %s: run 'gnuplot %s' in this directory to redraw\n", title, file);
    fprintf(f.fp, "set datafile separator ','\nset key autotitle columnhead\nset grid\nset title '%s'\n", gq(title));
    fprintf(f.fp, "set terminal svg size 720,540 dynamic noenhanced font 'Helvetica,12'\nset output '%s.svg'\n%s\n", name, body);
    fprintf(f.fp, "set terminal pngcairo size 960,720 noenhanced font 'Helvetica,12'\nset output '%s.png'\nreplot\n", name);
    fprintf(f.fp, "unset output\n");
    if (mfr_afile_commit(&f) != MFR_OK) {
        p->failed++;
        return;
    }
    snprintf(p->names[p->n], sizeof p->names[0], "%s", name);
    snprintf(p->titles[p->n], sizeof p->titles[0], "%s", title);
    p->n++;
    if (p->gp && run_gnuplot(p->gp, p->dir, file) != MFR_OK) {
        mfr_log(MFR_LOG_WARN, "%s", mfr_last_error());
        p->failed++;
    }
}

/* Copies a CSV from an eval directory into the report (plots read local files). */
static int copy_in(const char *from_dir, const char *name, const char *to_dir, const char *as)
{
    char *src = mfr_path_join(from_dir, name), *dst = mfr_path_join(to_dir, as);
    void *data = NULL;
    size_t size;
    int rc = src && dst ? mfr_read_file(src, 512u << 20, &data, &size) : MFR_ERR_NOMEM;
    if (rc == MFR_OK)
        rc = mfr_write_file_atomic(dst, data, size);
    free(data), free(src), free(dst);
    return rc;
}

/* Whether a CSV file has a data row below its header (gnuplot refuses to
 * plot an empty one). */
static int csv_has_rows(const char *dir, const char *name)
{
    char *path = mfr_path_join(dir, name);
    void *data = NULL;
    size_t size = 0, lines = 0;
    if (path && mfr_read_file(path, 512u << 20, &data, &size) == MFR_OK)
        for (size_t i = 0; i < size && lines < 2; i++)
            lines += ((const char *)data)[i] == '\n';
    free(data);
    free(path);
    return lines >= 2;
}

static void det_axes(char *buf, size_t cap)
{
    static const double t[] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 5e-2, 0.2, 0.5};
    static const char *const l[] = {"1e-6", "1e-5", "1e-4", "0.001", "0.01", "0.05", "0.2", "0.5"};
    size_t n = 0;
    app(buf, cap, &n, "set xtics (");
    for (int i = 0; i < 8; i++)
        app(buf, cap, &n, "%s'%s' %.6f", i ? ", " : "", l[i], mfr_probit(t[i]));
    app(buf, cap, &n, ")\nset ytics (");
    for (int i = 0; i < 8; i++)
        app(buf, cap, &n, "%s'%s' %.6f", i ? ", " : "", l[i], mfr_probit(t[i]));
    snprintf(buf + n, cap - n, ")\nset xrange [%.6f:%.6f]\nset yrange [%.6f:%.6f]\n"
             "set xlabel 'FMR (normal deviate scale)'\nset ylabel 'FNMR (normal deviate scale)'\n",
             mfr_probit(1e-6), mfr_probit(0.5), mfr_probit(1e-4), mfr_probit(0.5));
}

/* ----------------------------------------------------------- sections */

static void verify_section(doc *d, plots *p, result *rs, int nr)
{
    char b[64][48], k[512], body[8192], axes[2048];
    const char *hdr[] = {"system", "mated", "non-mated", "EER", "EER 95% bootstrap", "FNMR@FMR=1e-2",
                         "FNMR@FMR=1e-3", "FNMR@FMR=1e-4", "d'", "FTA (mated)"};
    int any = 0;
    for (int i = 0; i < nr; i++)
        any |= !strcmp(rs[i].kind, "verify");
    if (!any)
        return;
    heading(d, 2, "Verification (1:1)");
    para(d, "A comparison is a match when score >= threshold. FNMR@FMR uses the smallest threshold whose FMR does "
            "not exceed the target; '-' means the non-mated sample is too small to support the target (no "
            "extrapolation). EER: FVC2000 definition. Definitions: docs/metrics.md.");
    table_row(d, hdr, 10, 1);
    for (int i = 0; i < nr; i++) {
        const char *cells[10];
        const result *r = &rs[i];
        if (strcmp(r->kind, "verify"))
            continue;
        cells[0] = r->label;
        cells[1] = get(r, "verify/overall/mated");
        cells[2] = get(r, "verify/overall/nonmated");
        fmt(b[0], 48, get(r, "verify/overall/eer/value"), 1);
        cells[3] = b[0];
        {
            char lo[20], hi[20];
            fmt(lo, 20, get(r, "verify/overall/eer/bootstrap/interval/0"), 1);
            fmt(hi, 20, get(r, "verify/overall/eer/bootstrap/interval/1"), 1);
            snprintf(b[1], 48, "%s - %s", lo, hi);
        }
        cells[4] = b[1];
        fmt(b[2], 48, get(r, "verify/overall/fnmr_at_fmr/0.01/fnmr"), 1);
        fmt(b[3], 48, get(r, "verify/overall/fnmr_at_fmr/0.001/fnmr"), 1);
        fmt(b[4], 48, get(r, "verify/overall/fnmr_at_fmr/0.0001/fnmr"), 1);
        fmt(b[5], 48, get(r, "verify/overall/dprime/value"), 0);
        fmt(b[6], 48, get(r, "verify/overall/fta/mated_rate"), 1);
        cells[5] = b[2], cells[6] = b[3], cells[7] = b[4], cells[8] = b[5], cells[9] = b[6];
        table_row(d, cells, 10, 0);
    }
    table_end(d);

    /* NIST: one row per system, one column per mask condition. */
    heading(d, 3, "FNMR per mask condition at a threshold fixed on unmasked non-mated comparisons (NIST FRVT)");
    for (int i = 0; i < nr; i++) {
        const result *r = &rs[i];
        const char *cells[3];
        char t[128];
        if (strcmp(r->kind, "verify"))
            continue;
        snprintf(t, sizeof t, "%s: reference %s, FMR target %s, threshold %s", r->label,
                 get(r, "verify/nist/reference") ? get(r, "verify/nist/reference") : "-",
                 get(r, "verify/nist/fmr_target") ? get(r, "verify/nist/fmr_target") : "-",
                 get(r, "verify/nist/threshold") ? get(r, "verify/nist/threshold") : "not supported");
        para(d, t);
        cells[0] = "condition (enrolment:probe)", cells[1] = "FNMR", cells[2] = "FMR / reference FMR";
        table_row(d, cells, 3, 1);
        for (size_t j = 0; j < r->n; j++) {
            const char *pre = "verify/nist/conditions/", *key = r->kv[j].k;
            size_t lp = strlen(pre), lk = strlen(key);
            if (strncmp(key, pre, lp) || lk < lp + 5 || strcmp(key + lk - 5, "/fnmr"))
                continue;
            snprintf(k, sizeof k, "%.*s", (int)(lk - lp - 5), key + lp);
            fmt(b[10], 48, r->kv[j].v, 1);
            fmt(b[11], 48, getf(r, body, sizeof body, "verify/nist/conditions/%s/fmr_ratio", k), 0);
            cells[0] = k, cells[1] = b[10], cells[2] = b[11];
            table_row(d, cells, 3, 0);
        }
        table_end(d);
    }

    /* Per condition, per system. */
    for (int i = 0; i < nr; i++) {
        const result *r = &rs[i];
        const char *h2[] = {"group", "mated", "non-mated", "EER", "FNMR@FMR=1e-3", "FTA (mated)"};
        char t[256];
        if (strcmp(r->kind, "verify"))
            continue;
        snprintf(t, sizeof t, "%s: every condition", r->label);
        heading(d, 3, t);
        table_row(d, h2, 6, 1);
        for (size_t j = 0; j < r->n; j++) {
            const char *pre = "verify/conditions/", *key = r->kv[j].k, *cells[6];
            size_t lp = strlen(pre), lk = strlen(key);
            if (strncmp(key, pre, lp) || lk < lp + 7 || strcmp(key + lk - 6, "/mated") ||
                memchr(key + lp, '/', lk - lp - 6))
                continue;
            snprintf(k, sizeof k, "%.*s", (int)(lk - lp - 6), key + lp);
            cells[0] = k;
            cells[1] = r->kv[j].v;
            cells[2] = getf(r, body, sizeof body, "verify/conditions/%s/nonmated", k);
            snprintf(b[20], 48, "%s", cells[2] ? cells[2] : "-");
            cells[2] = b[20];
            fmt(b[21], 48, getf(r, body, sizeof body, "verify/conditions/%s/eer/value", k), 1);
            fmt(b[22], 48, getf(r, body, sizeof body, "verify/conditions/%s/fnmr_at_fmr/0.001/fnmr", k), 1);
            fmt(b[23], 48, getf(r, body, sizeof body, "verify/conditions/%s/fta/mated_rate", k), 1);
            cells[3] = b[21], cells[4] = b[22], cells[5] = b[23];
            table_row(d, cells, 6, 0);
        }
        table_end(d);
    }

    /* Plots: DET and ROC of every system's overall curve, then per system. */
    {
        size_t n = 0;
        int first = 1;
        det_axes(axes, sizeof axes);
        app(body, sizeof body, &n, "%splot ", axes);
        for (int i = 0; i < nr; i++) {
            char as[64];
            if (strcmp(rs[i].kind, "verify"))
                continue;
            snprintf(as, sizeof as, "det_%d_overall.csv", i);
            copy_in(rs[i].dir, "det_overall.csv", p->dir, as);
            app(body, sizeof body, &n, "%s'%s' using 5:6 with lines lw 2 title '%s'",
                                  first ? "" : ", ", as, gq(rs[i].label));
            first = 0;
        }
        plot(p, "det", "DET: overall", body);
        n = 0;
        first = 1;
        app(body, sizeof body, &n,
                              "set logscale x\nset xrange [1e-6:1]\nset yrange [0:1]\nset xlabel 'FMR'\n"
                              "set ylabel 'TAR = 1 - FNMR'\nset key bottom right\nplot ");
        for (int i = 0; i < nr; i++) {
            char as[64];
            if (strcmp(rs[i].kind, "verify"))
                continue;
            snprintf(as, sizeof as, "det_%d_overall.csv", i);
            app(body, sizeof body, &n, "%s'%s' using 2:4 with lines lw 2 title '%s'",
                                  first ? "" : ", ", as, gq(rs[i].label));
            first = 0;
        }
        plot(p, "roc", "ROC: overall", body);
    }
    for (int i = 0; i < nr; i++) {
        const result *r = &rs[i];
        char name[300], title[256], as[64];
        size_t n = 0;
        int ng = 0;
        if (strcmp(r->kind, "verify"))
            continue;
        /* DET per mask condition (the NIST groups), else per any condition. */
        app(body, sizeof body, &n, "%splot ", axes);
        for (size_t j = 0; j < r->n && ng < MAX_DET_GROUPS; j++) {
            const char *pre = "verify/conditions/mask_pair=", *key = r->kv[j].k;
            size_t lp = strlen(pre), lk = strlen(key);
            char group[256], stem[256];
            if (strncmp(key, pre, lp) || lk < lp + 7 || strcmp(key + lk - 6, "/mated") ||
                memchr(key + lp, '/', lk - lp - 6))
                continue;
            snprintf(group, sizeof group, "mask_pair=%.*s", (int)(lk - lp - 6), key + lp);
            safe_name(stem, sizeof stem, group);
            snprintf(name, sizeof name, "det_%s.csv", stem);
            snprintf(as, sizeof as, "det_%d_g%d.csv", i, ng);
            if (copy_in(r->dir, name, p->dir, as) != MFR_OK)
                continue;
            app(body, sizeof body, &n, "%s'%s' using 5:6 with lines lw 2 title '%s'",
                                  ng ? ", " : "", as, gq(group + 10));
            ng++;
        }
        if (ng) {
            snprintf(name, sizeof name, "det_conditions_%d", i);
            snprintf(title, sizeof title, "DET per mask condition (enrolment:probe): %s", r->label);
            plot(p, name, title, body);
        }
        snprintf(as, sizeof as, "hist_%d_overall.csv", i);
        if (copy_in(r->dir, "hist_overall.csv", p->dir, as) == MFR_OK) {
            snprintf(body, sizeof body,
                     "set xlabel 'score'\nset ylabel 'density'\nset style fill transparent solid 0.4\n"
                     "plot '%s' using (($1+$2)/2):5 with boxes title 'mated', '' using (($1+$2)/2):6 with boxes "
                     "title 'non-mated'", as);
            snprintf(name, sizeof name, "hist_%d", i);
            snprintf(title, sizeof title, "Score distributions: %s", r->label);
            plot(p, name, title, body);
        }
        snprintf(as, sizeof as, "fnmr_cond_%d.csv", i);
        if (copy_in(r->dir, "fnmr_conditions.csv", p->dir, as) == MFR_OK && get(r, "verify/nist/threshold")) {
            snprintf(body, sizeof body,
                     "set style data histograms\nset style fill solid 0.6\nset ylabel 'FNMR at the unmasked "
                     "threshold'\nset xtics rotate by -30\nset yrange [0:*]\nplot '%s' using 4:xtic(1) title 'FNMR'",
                     as);
            snprintf(name, sizeof name, "fnmr_conditions_%d", i);
            snprintf(title, sizeof title, "FNMR per condition (NIST threshold): %s", r->label);
            plot(p, name, title, body);
        }
    }
}

static void identify_section(doc *d, plots *p, result *rs, int nr)
{
    const char *hdr[] = {"system", "mated searches", "non-mated searches", "rank 1", "rank 5", "FNIR@FPIR=0.01",
                         "FNIR@FPIR=0.1"};
    char b[8][48], body[4096];
    int any = 0;
    for (int i = 0; i < nr; i++)
        any |= !strcmp(rs[i].kind, "identify");
    if (!any)
        return;
    heading(d, 2, "Identification (1:N)");
    table_row(d, hdr, 7, 1);
    for (int i = 0; i < nr; i++) {
        const result *r = &rs[i];
        const char *cells[7];
        if (strcmp(r->kind, "identify"))
            continue;
        cells[0] = r->label;
        cells[1] = get(r, "identify/mated_searches");
        cells[2] = get(r, "identify/nonmated_searches");
        fmt(b[0], 48, get(r, "identify/cmc/0/rate"), 1);
        fmt(b[1], 48, get(r, "identify/cmc/4/rate"), 1);
        fmt(b[2], 48, get(r, "identify/fnir_at_fpir/0.01/fnir"), 1);
        fmt(b[3], 48, get(r, "identify/fnir_at_fpir/0.1/fnir"), 1);
        cells[3] = b[0], cells[4] = b[1], cells[5] = b[2], cells[6] = b[3];
        table_row(d, cells, 7, 0);
    }
    table_end(d);
    {
        size_t n = 0;
        int first = 1;
        app(body, sizeof body, &n,
                              "set xlabel 'rank'\nset ylabel 'identification rate'\nset key bottom right\nplot ");
        for (int i = 0; i < nr; i++) {
            char as[64];
            if (strcmp(rs[i].kind, "identify"))
                continue;
            snprintf(as, sizeof as, "cmc_%d.csv", i);
            copy_in(rs[i].dir, "cmc.csv", p->dir, as);
            app(body, sizeof body, &n, "%s'%s' using 1:2 with linespoints title '%s'",
                                  first ? "" : ", ", as, gq(rs[i].label));
            first = 0;
        }
        plot(p, "cmc", "CMC", body);
        n = 0;
        first = 1;
        app(body, sizeof body, &n,
                              "set logscale x\nset xlabel 'FPIR'\nset ylabel 'FNIR'\nplot ");
        for (int i = 0; i < nr; i++) {
            char as[64];
            if (strcmp(rs[i].kind, "identify"))
                continue;
            if (!csv_has_rows(rs[i].dir, "fnir_fpir.csv"))
                continue; /* no non-mated searches: no curve */
            snprintf(as, sizeof as, "fnir_%d.csv", i);
            copy_in(rs[i].dir, "fnir_fpir.csv", p->dir, as);
            app(body, sizeof body, &n, "%s'%s' using 2:3 with lines lw 2 title '%s'",
                                  first ? "" : ", ", as, gq(rs[i].label));
            first = 0;
        }
        if (!first)
            plot(p, "fnir_fpir", "FNIR against FPIR (rank 1)", body);
    }
}

static void detect_section(doc *d, plots *p, result *rs, int nr)
{
    const char *subs[] = {"all", "easy", "medium", "hard"};
    const char *hdr[] = {"system", "AP50 all", "AP50 easy", "AP50 medium", "AP50 hard", "AP50:95 all",
                         "recall@1 FP/img", "landmark NME"};
    char b[8][48], body[4096], key[256];
    int any = 0;
    for (int i = 0; i < nr; i++)
        any |= !strcmp(rs[i].kind, "detect");
    if (!any)
        return;
    heading(d, 2, "Detection");
    para(d, "Size classes: the truth's size_class, else by face height: easy >= 64 px, medium 24-64 px, hard < 24 px.");
    table_row(d, hdr, 8, 1);
    for (int i = 0; i < nr; i++) {
        const result *r = &rs[i];
        const char *cells[8];
        if (strcmp(r->kind, "detect"))
            continue;
        cells[0] = r->label;
        for (int s = 0; s < 4; s++) {
            fmt(b[s], 48, getf(r, key, sizeof key, "detect/subsets/%s/ap50", subs[s]), 1);
            cells[1 + s] = b[s];
        }
        fmt(b[4], 48, get(r, "detect/subsets/all/ap50_95"), 1);
        fmt(b[5], 48, get(r, "detect/recall_at_fppi/1"), 1);
        fmt(b[6], 48, get(r, "detect/landmarks/nme"), 0);
        cells[5] = b[4], cells[6] = b[5], cells[7] = b[6];
        table_row(d, cells, 8, 0);
    }
    table_end(d);
    {
        size_t n = 0;
        int first = 1;
        app(body, sizeof body, &n,
                              "set xlabel 'recall'\nset ylabel 'precision'\nset xrange [0:1]\nset yrange [0:1.02]\n"
                              "set key bottom left\nplot ");
        for (int i = 0; i < nr; i++) {
            char as[64];
            if (strcmp(rs[i].kind, "detect"))
                continue;
            snprintf(as, sizeof as, "pr_%d.csv", i);
            copy_in(rs[i].dir, "pr.csv", p->dir, as);
            app(body, sizeof body, &n, "%s'%s' using 2:3 with lines lw 2 title '%s'",
                                  first ? "" : ", ", as, gq(rs[i].label));
            first = 0;
        }
        plot(p, "pr", "Detection precision-recall (IoU 0.5)", body);
    }
}

static void latency_section(doc *d, plots *p, result *rs, int nr)
{
    const char *hdr[] = {"run", "stage", "mean ms", "p50", "p90", "p99", "max", "throughput /s"};
    char body[8192], b[8][48];
    int any = 0, first = 1;
    size_t n = 0;
    for (int i = 0; i < nr; i++)
        any |= !strcmp(rs[i].kind, "latency");
    if (!any)
        return;
    heading(d, 2, "Latency");
    table_row(d, hdr, 8, 1);
    app(body, sizeof body, &n, "set xlabel 'total ms per item'\nset ylabel 'fraction'\n"
                                                     "set key bottom right\nplot ");
    for (int i = 0; i < nr; i++) {
        const result *r = &rs[i];
        int run = 0;
        if (strcmp(r->kind, "latency"))
            continue;
        for (size_t j = 0; j < r->n; j++) {
            const char *pre = "latency/runs/", *key = r->kv[j].k;
            size_t lp = strlen(pre), lk = strlen(key);
            const char *st;
            char runname[256], stage[256], k2[512];
            if (strncmp(key, pre, lp) || lk < 5 || strcmp(key + lk - 5, "/mean"))
                continue;
            st = strstr(key + lp, "/stages/");
            if (!st)
                continue;
            snprintf(runname, sizeof runname, "%.*s", (int)(st - key - lp), key + lp);
            snprintf(stage, sizeof stage, "%.*s", (int)(key + lk - 5 - st - 8), st + 8);
            {
                const char *cells[8];
                cells[0] = runname, cells[1] = stage;
                fmt(b[0], 48, r->kv[j].v, 0);
                fmt(b[1], 48, getf(r, k2, sizeof k2, "latency/runs/%s/stages/%s/p50", runname, stage), 0);
                fmt(b[2], 48, getf(r, k2, sizeof k2, "latency/runs/%s/stages/%s/p90", runname, stage), 0);
                fmt(b[3], 48, getf(r, k2, sizeof k2, "latency/runs/%s/stages/%s/p99", runname, stage), 0);
                fmt(b[4], 48, getf(r, k2, sizeof k2, "latency/runs/%s/stages/%s/max", runname, stage), 0);
                fmt(b[5], 48, strcmp(stage, "total") ? NULL
                                                     : getf(r, k2, sizeof k2, "latency/runs/%s/throughput_items_per_s",
                                                            runname), 0);
                for (int c = 0; c < 6; c++)
                    cells[2 + c] = b[c];
                table_row(d, cells, 8, 0);
            }
            if (!strcmp(stage, "total")) {
                char stem[256], name[300], as[64];
                safe_name(stem, sizeof stem, runname);
                snprintf(name, sizeof name, "cdf_%d_%s.csv", run, stem);
                snprintf(as, sizeof as, "cdf_%d_%d.csv", i, run);
                if (copy_in(r->dir, name, p->dir, as) == MFR_OK) {
                    app(body, sizeof body, &n, "%s'%s' using 1:2 with steps lw 2 title '%s'",
                                          first ? "" : ", ", as, gq(runname));
                    first = 0;
                }
                run++;
            }
        }
    }
    table_end(d);
    /* Runs side by side: the mean total against the first run. */
    {
        const char *h2[] = {"run", "items", "threads", "batch", "mean total ms", "p99 total ms", "speed-up vs first"};
        double base = NAN;
        table_row(d, h2, 7, 1);
        for (int i = 0; i < nr; i++) {
            const result *r = &rs[i];
            if (strcmp(r->kind, "latency"))
                continue;
            for (size_t j = 0; j < r->n; j++) {
                const char *pre = "latency/runs/", *key = r->kv[j].k, *suf = "/stages/total/mean", *cells[7];
                size_t lp = strlen(pre), lk = strlen(key), ls = strlen(suf);
                char runname[256], k2[512];
                double mean;
                if (strncmp(key, pre, lp) || lk < lp + ls || strcmp(key + lk - ls, suf))
                    continue;
                snprintf(runname, sizeof runname, "%.*s", (int)(lk - lp - ls), key + lp);
                if (mfr_parse_double(r->kv[j].v, &mean) != MFR_OK)
                    continue;
                if (isnan(base))
                    base = mean;
                cells[0] = runname;
                cells[1] = getf(r, k2, sizeof k2, "latency/runs/%s/items", runname);
                snprintf(b[0], 48, "%s", cells[1] ? cells[1] : "-");
                cells[1] = b[0];
                cells[2] = getf(r, k2, sizeof k2, "latency/runs/%s/threads", runname);
                snprintf(b[1], 48, "%s", cells[2] ? cells[2] : "-");
                cells[2] = b[1];
                cells[3] = getf(r, k2, sizeof k2, "latency/runs/%s/batch", runname);
                snprintf(b[2], 48, "%s", cells[3] ? cells[3] : "-");
                cells[3] = b[2];
                fmt(b[3], 48, r->kv[j].v, 0);
                fmt(b[4], 48, getf(r, k2, sizeof k2, "latency/runs/%s/stages/total/p99", runname), 0);
                snprintf(b[5], 48, "%.2fx", mean > 0 ? base / mean : NAN);
                cells[4] = b[3], cells[5] = b[4], cells[6] = b[5];
                table_row(d, cells, 7, 0);
            }
        }
        table_end(d);
    }
    if (!first)
        plot(p, "latency_cdf", "Latency CDF (total per item)", body);
}

/* Appends the plots to the documents: SVG inline in HTML, PNG links in Markdown. */
static void plot_section(doc *d, const plots *p)
{
    heading(d, 2, "Plots");
    if (!p->gp) {
        para(d, "The plots were skipped: gnuplot was not found on PATH. The gnuplot scripts (*.gp) and their CSV "
                "data are in this directory; run 'gnuplot NAME.gp' here to draw them.");
        return;
    }
    if (p->failed)
        para(d, "Some plots failed to draw; see the warnings printed by mfr report.");
    for (int i = 0; i < p->n; i++) {
        char file[96], *path;
        void *svg = NULL;
        size_t size;
        snprintf(file, sizeof file, "%s.svg", p->names[i]);
        fprintf(d->md, "![%s](%s.png)\n\n", p->titles[i], p->names[i]);
        path = mfr_path_join(p->dir, file);
        if (path && mfr_read_file(path, 64u << 20, &svg, &size) == MFR_OK) {
            const char *s = strstr(svg, "<svg");
            fputs("<figure>", d->html);
            if (s)
                fputs(s, d->html);
            fputs("<figcaption>", d->html);
            html_text(d->html, p->titles[i]);
            fputs("</figcaption></figure>\n", d->html);
        }
        free(svg);
        free(path);
    }
}

int mfr_report(const char *const *dirs, int ndirs, const mfr_report_opts *o, const char *out)
{
    result *rs = calloc((size_t)ndirs + 1, sizeof *rs);
    mfr_outdir od = {0};
    mfr_afile fm = {0}, fh = {0};
    plots p;
    doc d;
    char *gp = NULL;
    int rc = MFR_OK;
    if (!rs)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < ndirs && rc == MFR_OK; i++)
        rc = result_load(dirs[i], &rs[i]);
    if (rc != MFR_OK)
        goto done;
    if ((rc = mfr_outdir_begin(&od, out)) != MFR_OK)
        goto done;
    memset(&p, 0, sizeof p);
    p.dir = od.tmp;
    if (!o->no_plots)
        gp = find_on_path(o->gnuplot ? o->gnuplot : "gnuplot");
    if (!o->no_plots && !gp)
        mfr_log(MFR_LOG_WARN, "gnuplot not found on PATH: plots skipped (the .gp scripts are written)");
    p.gp = gp;
    if ((rc = out_open(&fm, od.tmp, "report.md")) != MFR_OK || (rc = out_open(&fh, od.tmp, "report.html")) != MFR_OK)
        goto done;
    d.md = fm.fp;
    d.html = fh.fp;
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>", d.html);
    html_text(d.html, o->title ? o->title : "mfr report");
    fputs("</title><style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;}table{border-collapse:"
          "collapse;margin:1em 0}th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}"
          "td:first-child{text-align:left}figure{margin:1em 0}svg{max-width:100%;height:auto}</style></head><body>\n",
          d.html);
    fprintf(d.md, "# %s\n\n", o->title ? o->title : "mfr report");
    fputs("<h1>", d.html);
    html_text(d.html, o->title ? o->title : "mfr report");
    fputs("</h1>\n", d.html);
    {
        char line[1024];
        for (int i = 0; i < ndirs; i++) {
            snprintf(line, sizeof line, "System '%s' (%s): %s, mfr %s", rs[i].label, rs[i].kind, rs[i].dir,
                     get(&rs[i], "mfr_version") ? get(&rs[i], "mfr_version") : "?");
            para(&d, line);
        }
    }
    verify_section(&d, &p, rs, ndirs);
    identify_section(&d, &p, rs, ndirs);
    detect_section(&d, &p, rs, ndirs);
    latency_section(&d, &p, rs, ndirs);
    plot_section(&d, &p);
    fputs("</body></html>\n", d.html);
    if ((rc = mfr_afile_commit(&fm)) != MFR_OK || (rc = mfr_afile_commit(&fh)) != MFR_OK)
        goto done;
    rc = mfr_outdir_commit(&od);
done:
    mfr_afile_abort(&fm);
    mfr_afile_abort(&fh);
    if (rc != MFR_OK)
        mfr_outdir_abort(&od);
    for (int i = 0; i < ndirs; i++)
        result_free(&rs[i]);
    free(rs);
    free(gp);
    return rc;
}
