/* INI-like recipes and network definitions: parsing and typed, checked access. */
#include "config.h"
#include "mfr/core.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define INI_MAX_SIZE (16u << 20)   /* 16 MiB of text is far beyond any recipe */
#define INI_MAX_LINE 4096

typedef struct ini_key {
    char *name, *value;
    int line;
    int used;
} ini_key;

typedef struct ini_section {
    char *name;
    int line;
    ini_key *keys;
    int nkeys, cap;
} ini_section;

struct mfr_ini {
    char *name;
    ini_section *secs;
    int nsecs, cap;
};

static char *dup_range(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void trim(const char **s, const char **e)
{
    while (*s < *e && isspace((unsigned char)**s))
        (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

static int valid_name(const char *s, const char *e)
{
    if (s == e)
        return 0;
    for (; s < e; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return 0;
    return 1;
}

static int add_section(mfr_ini *ini, const char *s, size_t n, int line)
{
    ini_section *sec;
    if (ini->nsecs == ini->cap) {
        int cap = ini->cap ? ini->cap * 2 : 8;
        ini_section *g = realloc(ini->secs, (size_t)cap * sizeof *g);
        if (!g)
            return mfr_error(MFR_ERR_NOMEM, "%s: out of memory", ini->name);
        ini->secs = g;
        ini->cap = cap;
    }
    sec = &ini->secs[ini->nsecs];
    memset(sec, 0, sizeof *sec);
    sec->name = dup_range(s, n);
    if (!sec->name)
        return mfr_error(MFR_ERR_NOMEM, "%s: out of memory", ini->name);
    sec->line = line;
    ini->nsecs++;
    return MFR_OK;
}

static int add_key(mfr_ini *ini, ini_section *sec, const char *k, size_t kn, const char *v, size_t vn, int line)
{
    ini_key *key;
    if (sec->nkeys == sec->cap) {
        int cap = sec->cap ? sec->cap * 2 : 8;
        ini_key *g = realloc(sec->keys, (size_t)cap * sizeof *g);
        if (!g)
            return mfr_error(MFR_ERR_NOMEM, "%s: out of memory", ini->name);
        sec->keys = g;
        sec->cap = cap;
    }
    key = &sec->keys[sec->nkeys];
    memset(key, 0, sizeof *key);
    key->name = dup_range(k, kn);
    key->value = dup_range(v, vn);
    key->line = line;
    sec->nkeys++;
    if (!key->name || !key->value)
        return mfr_error(MFR_ERR_NOMEM, "%s: out of memory", ini->name);
    return MFR_OK;
}

int mfr_ini_parse(const char *text, size_t size, const char *name, int flags, mfr_ini **out)
{
    mfr_ini *ini;
    const char *p = text, *end = text + size;
    int line = 0, rc = MFR_OK;
    *out = NULL;
    if (!name)
        name = "<recipe>";
    if (size > INI_MAX_SIZE)
        return mfr_error(MFR_ERR_RANGE, "%s: larger than %u bytes", name, INI_MAX_SIZE);
    ini = calloc(1, sizeof *ini);
    if (!ini)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    ini->name = mfr_strdup(name);
    if (!ini->name) {
        free(ini);
        return MFR_ERR_NOMEM;
    }
    while (p < end && rc == MFR_OK) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *s = p, *e = eol ? eol : end;
        p = eol ? eol + 1 : end;
        line++;
        if ((size_t)(e - s) > INI_MAX_LINE) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s:%d: line longer than %d characters", name, line, INI_MAX_LINE);
            break;
        }
        if (memchr(s, '\0', (size_t)(e - s))) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s:%d: NUL byte in text", name, line);
            break;
        }
        trim(&s, &e);
        if (s == e || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            const char *ns, *ne;
            if (e[-1] != ']' || e - s < 3) {
                rc = mfr_error(MFR_ERR_FORMAT, "%s:%d: malformed section header (expected [name])", name, line);
                break;
            }
            ns = s + 1;
            ne = e - 1;
            trim(&ns, &ne);
            if (!valid_name(ns, ne)) {
                rc = mfr_error(MFR_ERR_FORMAT, "%s:%d: bad section name '%.*s' (letters, digits, _ - . only)",
                               name, line, (int)(ne - ns), ns);
                break;
            }
            if (!(flags & MFR_INI_REPEATED_SECTIONS)) {
                for (int i = 0; i < ini->nsecs; i++) {
                    if (strlen(ini->secs[i].name) == (size_t)(ne - ns) && memcmp(ini->secs[i].name, ns, (size_t)(ne - ns)) == 0) {
                        rc = mfr_error(MFR_ERR_FORMAT, "%s:%d: duplicate section [%s] (first at line %d)",
                                       name, line, ini->secs[i].name, ini->secs[i].line);
                        break;
                    }
                }
                if (rc != MFR_OK)
                    break;
            }
            rc = add_section(ini, ns, (size_t)(ne - ns), line);
        } else {
            const char *eq = memchr(s, '=', (size_t)(e - s));
            const char *ks = s, *ke, *vs, *ve = e;
            ini_section *sec;
            if (!eq) {
                rc = mfr_error(MFR_ERR_FORMAT, "%s:%d: expected 'key = value' or '[section]'", name, line);
                break;
            }
            ke = eq;
            vs = eq + 1;
            trim(&ks, &ke);
            trim(&vs, &ve);
            /* A comment may follow the value after whitespace: "x = 3  # why". */
            for (const char *c = vs; c < ve; c++) {
                if ((*c == '#' || *c == ';') && c > vs && isspace((unsigned char)c[-1])) {
                    ve = c;
                    trim(&vs, &ve);
                    break;
                }
            }
            if (!valid_name(ks, ke)) {
                rc = mfr_error(MFR_ERR_FORMAT, "%s:%d: bad key name '%.*s'", name, line, (int)(ke - ks), ks);
                break;
            }
            if (ini->nsecs == 0 && (rc = add_section(ini, "", 0, 0)) != MFR_OK)
                break;
            sec = &ini->secs[ini->nsecs - 1];
            for (int i = 0; i < sec->nkeys; i++) {
                if (strlen(sec->keys[i].name) == (size_t)(ke - ks) && memcmp(sec->keys[i].name, ks, (size_t)(ke - ks)) == 0) {
                    rc = mfr_error(MFR_ERR_FORMAT, "%s:%d: duplicate key '%s' (first at line %d)",
                                   name, line, sec->keys[i].name, sec->keys[i].line);
                    break;
                }
            }
            if (rc == MFR_OK)
                rc = add_key(ini, sec, ks, (size_t)(ke - ks), vs, (size_t)(ve - vs), line);
        }
    }
    if (rc != MFR_OK) {
        mfr_ini_free(ini);
        return rc;
    }
    *out = ini;
    return MFR_OK;
}

int mfr_ini_load(const char *path, int flags, mfr_ini **out)
{
    void *data;
    size_t size;
    int rc;
    *out = NULL;
    rc = mfr_read_file(path, INI_MAX_SIZE, &data, &size);
    if (rc != MFR_OK)
        return rc;
    rc = mfr_ini_parse(data, size, path, flags, out);
    free(data);
    return rc;
}

void mfr_ini_free(mfr_ini *ini)
{
    if (!ini)
        return;
    for (int i = 0; i < ini->nsecs; i++) {
        for (int k = 0; k < ini->secs[i].nkeys; k++) {
            free(ini->secs[i].keys[k].name);
            free(ini->secs[i].keys[k].value);
        }
        free(ini->secs[i].keys);
        free(ini->secs[i].name);
    }
    free(ini->secs);
    free(ini->name);
    free(ini);
}

const char *mfr_ini_name(const mfr_ini *ini) { return ini->name; }
int mfr_ini_section_count(const mfr_ini *ini) { return ini->nsecs; }

const char *mfr_ini_section_name(const mfr_ini *ini, int sec)
{
    return sec >= 0 && sec < ini->nsecs ? ini->secs[sec].name : NULL;
}

int mfr_ini_section_line(const mfr_ini *ini, int sec)
{
    return sec >= 0 && sec < ini->nsecs ? ini->secs[sec].line : 0;
}

int mfr_ini_find(const mfr_ini *ini, const char *section)
{
    for (int i = 0; i < ini->nsecs; i++)
        if (strcmp(ini->secs[i].name, section) == 0)
            return i;
    return -1;
}

int mfr_ini_key_count(const mfr_ini *ini, int sec)
{
    return sec >= 0 && sec < ini->nsecs ? ini->secs[sec].nkeys : 0;
}

const char *mfr_ini_key_name(const mfr_ini *ini, int sec, int i)
{
    if (sec < 0 || sec >= ini->nsecs || i < 0 || i >= ini->secs[sec].nkeys)
        return NULL;
    return ini->secs[sec].keys[i].name;
}

static ini_key *find_key(const mfr_ini *ini, int sec, const char *key)
{
    if (sec < 0 || sec >= ini->nsecs)
        return NULL;
    for (int i = 0; i < ini->secs[sec].nkeys; i++)
        if (strcmp(ini->secs[sec].keys[i].name, key) == 0)
            return &ini->secs[sec].keys[i];
    return NULL;
}

const char *mfr_ini_get(mfr_ini *ini, int sec, const char *key)
{
    ini_key *k = find_key(ini, sec, key);
    if (!k)
        return NULL;
    k->used = 1;
    return k->value;
}

int mfr_ini_line(const mfr_ini *ini, int sec, const char *key)
{
    ini_key *k;
    if (!key)
        return mfr_ini_section_line(ini, sec);
    k = find_key(ini, sec, key);
    return k ? k->line : 0;
}

int mfr_ini_error(const mfr_ini *ini, int sec, const char *key, int code, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    int line = mfr_ini_line(ini, sec, key);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        return mfr_error(code, "%s:%d: %s", ini->name, line, msg);
    return mfr_error(code, "%s: %s", ini->name, msg);
}

static const char *section_label(const mfr_ini *ini, int sec)
{
    const char *n = mfr_ini_section_name(ini, sec);
    return n && *n ? n : "(top)";
}

int mfr_ini_get_int(mfr_ini *ini, int sec, const char *key, long def, long min, long max, long *out)
{
    const char *v = mfr_ini_get(ini, sec, key);
    long x;
    if (!v) {
        *out = def;
        return MFR_OK;
    }
    if (mfr_parse_long(v, &x) != MFR_OK)
        return mfr_ini_error(ini, sec, key, MFR_ERR_FORMAT, "[%s] %s: '%s' is not an integer", section_label(ini, sec), key, v);
    if (x < min || x > max)
        return mfr_ini_error(ini, sec, key, MFR_ERR_RANGE, "[%s] %s = %ld is outside [%ld, %ld]",
                             section_label(ini, sec), key, x, min, max);
    *out = x;
    return MFR_OK;
}

int mfr_ini_get_double(mfr_ini *ini, int sec, const char *key, double def, double min, double max, double *out)
{
    const char *v = mfr_ini_get(ini, sec, key);
    double x;
    if (!v) {
        *out = def;
        return MFR_OK;
    }
    if (mfr_parse_double(v, &x) != MFR_OK || !isfinite(x))
        return mfr_ini_error(ini, sec, key, MFR_ERR_FORMAT, "[%s] %s: '%s' is not a finite number", section_label(ini, sec), key, v);
    if (x < min || x > max)
        return mfr_ini_error(ini, sec, key, MFR_ERR_RANGE, "[%s] %s = %g is outside [%g, %g]",
                             section_label(ini, sec), key, x, min, max);
    *out = x;
    return MFR_OK;
}

int mfr_ini_get_bool(mfr_ini *ini, int sec, const char *key, int def, int *out)
{
    static const char *const yes[] = {"1", "yes", "true", "on"};
    static const char *const no[] = {"0", "no", "false", "off"};
    const char *v = mfr_ini_get(ini, sec, key);
    if (!v) {
        *out = def;
        return MFR_OK;
    }
    for (int i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = 1;
            return MFR_OK;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = 0;
            return MFR_OK;
        }
    }
    return mfr_ini_error(ini, sec, key, MFR_ERR_FORMAT, "[%s] %s: '%s' is not a boolean (yes/no, true/false, 1/0, on/off)",
                         section_label(ini, sec), key, v);
}

int mfr_ini_get_string(mfr_ini *ini, int sec, const char *key, const char *def, const char **out)
{
    const char *v = mfr_ini_get(ini, sec, key);
    *out = v ? v : def;
    return MFR_OK;
}

int mfr_ini_get_choice(mfr_ini *ini, int sec, const char *key, const char *const *choices, int def, int *out)
{
    const char *v = mfr_ini_get(ini, sec, key);
    char list[512];
    size_t used = 0;
    if (!v) {
        *out = def;
        return MFR_OK;
    }
    for (int i = 0; choices[i]; i++) {
        if (strcmp(v, choices[i]) == 0) {
            *out = i;
            return MFR_OK;
        }
    }
    list[0] = '\0';
    for (int i = 0; choices[i] && used < sizeof list - 1; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", choices[i]);
    return mfr_ini_error(ini, sec, key, MFR_ERR_RANGE, "[%s] %s: '%s' is not one of: %s", section_label(ini, sec), key, v, list);
}

int mfr_ini_get_doubles(mfr_ini *ini, int sec, const char *key, double min, double max_value,
                        double *out, int max, int *count)
{
    const char *v = mfr_ini_get(ini, sec, key);
    int n = 0;
    *count = 0;
    if (!v)
        return MFR_OK;
    while (*v) {
        const char *comma = strchr(v, ',');
        const char *s = v, *e = comma ? comma : v + strlen(v);
        char item[64];
        double x;
        trim(&s, &e);
        if (e - s == 0 || (size_t)(e - s) >= sizeof item)
            return mfr_ini_error(ini, sec, key, MFR_ERR_FORMAT, "[%s] %s: item %d of the list is empty or too long",
                                 section_label(ini, sec), key, n + 1);
        memcpy(item, s, (size_t)(e - s));
        item[e - s] = '\0';
        if (mfr_parse_double(item, &x) != MFR_OK || !isfinite(x))
            return mfr_ini_error(ini, sec, key, MFR_ERR_FORMAT, "[%s] %s: '%s' is not a finite number",
                                 section_label(ini, sec), key, item);
        if (x < min || x > max_value)
            return mfr_ini_error(ini, sec, key, MFR_ERR_RANGE, "[%s] %s: %g is outside [%g, %g]",
                                 section_label(ini, sec), key, x, min, max_value);
        if (n >= max)
            return mfr_ini_error(ini, sec, key, MFR_ERR_RANGE, "[%s] %s: more than %d values", section_label(ini, sec), key, max);
        out[n++] = x;
        if (!comma)
            break;
        v = comma + 1;
        if (*v == '\0')
            return mfr_ini_error(ini, sec, key, MFR_ERR_FORMAT, "[%s] %s: list ends with a comma", section_label(ini, sec), key);
    }
    *count = n;
    return MFR_OK;
}

int mfr_ini_check_unused(const mfr_ini *ini)
{
    for (int s = 0; s < ini->nsecs; s++)
        for (int k = 0; k < ini->secs[s].nkeys; k++)
            if (!ini->secs[s].keys[k].used)
                return mfr_error(MFR_ERR_FORMAT, "%s:%d: unknown key '%s' in [%s]", ini->name,
                                 ini->secs[s].keys[k].line, ini->secs[s].keys[k].name, section_label(ini, s));
    return MFR_OK;
}
