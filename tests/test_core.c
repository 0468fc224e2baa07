/* Tests of src/core: errors, RNG, recipes, CSV, files, parsing, CPU. */
#include "config.h"
#include "testutil.h"
#include "mfr/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ errors */

START_TEST(test_error_text_and_context)
{
    mfr_clear_error();
    ck_assert_str_eq(mfr_last_error(), "");
    ck_assert_int_eq(mfr_error(MFR_ERR_FORMAT, "line %d: bad", 7), MFR_ERR_FORMAT);
    ck_assert_str_eq(mfr_last_error(), "line 7: bad");
    ck_assert_int_eq(mfr_error_context(MFR_ERR_FORMAT, "%s", "a.ini"), MFR_ERR_FORMAT);
    ck_assert_str_eq(mfr_last_error(), "a.ini: line 7: bad");
    mfr_clear_error();
    mfr_error_context(MFR_ERR_IO, "x");
    ck_assert_str_eq(mfr_last_error(), "x: input/output error");
    ck_assert_str_eq(mfr_strerror(MFR_OK), "success");
    ck_assert_str_eq(mfr_strerror(-5), "unknown error");
    ck_assert_str_eq(mfr_strerror(MFR_ERR_COUNT_), "unknown error");
}
END_TEST

START_TEST(test_error_long_text_is_cut_safely)
{
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    mfr_error(MFR_ERR_ARG, "%s", big);
    ck_assert_uint_lt(strlen(mfr_last_error()), 1024);
    mfr_error_context(MFR_ERR_ARG, "%s", big);
    ck_assert_uint_lt(strlen(mfr_last_error()), 1024);
}
END_TEST

/* --------------------------------------------------------------------- RNG */

START_TEST(test_philox_known_answers)
{
    /* Known-answer vectors of Random123's kat_vectors for philox4x32_10. */
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
        {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu},
         {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
        {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u},
         {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        uint32_t out[4];
        mfr_philox4x32(kat[i].ctr, kat[i].key, out);
        for (int j = 0; j < 4; j++)
            ck_assert_msg(out[j] == kat[i].out[j], "vector %zu word %d: %08x != %08x", i, j, out[j], kat[i].out[j]);
    }
}
END_TEST

START_TEST(test_rng_reproducible_and_keyed)
{
    mfr_rng a, b, c, d;
    int same_c = 0, same_d = 0;
    mfr_rng_init(&a, 42, 1, 7);
    mfr_rng_init(&b, 42, 1, 7);
    mfr_rng_init(&c, 42, 1, 8);  /* another item */
    mfr_rng_init(&d, 42, 2, 7);  /* another stream */
    for (int i = 0; i < 1000; i++) {
        uint32_t x = mfr_rng_u32(&a);
        ck_assert_uint_eq(x, mfr_rng_u32(&b));
        same_c += x == mfr_rng_u32(&c);
        same_d += x == mfr_rng_u32(&d);
    }
    ck_assert_int_lt(same_c, 3);
    ck_assert_int_lt(same_d, 3);
}
END_TEST

START_TEST(test_rng_uniform_and_normal_moments)
{
    const int n = 400000;
    double s = 0, s2 = 0, ns = 0, ns2 = 0, ns4 = 0;
    mfr_rng r;
    mfr_rng_init(&r, 1234, 0, 0);
    for (int i = 0; i < n; i++) {
        double u = mfr_rng_uniform(&r), z = mfr_rng_normal(&r);
        float f = mfr_rng_uniformf(&r);
        ck_assert(u >= 0.0 && u < 1.0);
        ck_assert(f >= 0.0f && f < 1.0f);
        s += u;
        s2 += u * u;
        ns += z;
        ns2 += z * z;
        ns4 += z * z * z * z;
    }
    /* Tolerances: about 5 standard errors of each estimate. */
    ck_assert_double_eq_tol(s / n, 0.5, 5 * sqrt(1.0 / 12 / n));
    ck_assert_double_eq_tol(s2 / n - (s / n) * (s / n), 1.0 / 12, 5 * sqrt(1.0 / 180 / n));
    ck_assert_double_eq_tol(ns / n, 0.0, 5 * sqrt(1.0 / n));
    ck_assert_double_eq_tol(ns2 / n, 1.0, 5 * sqrt(2.0 / n));
    ck_assert_double_eq_tol(ns4 / n, 3.0, 5 * sqrt(96.0 / n));
}
END_TEST

START_TEST(test_rng_below_is_uniform)
{
    /* Chi-square over 7 buckets (6 degrees of freedom): 99.99th percentile ~ 27.9. */
    enum { K = 7, N = 70000 };
    long count[K] = {0};
    double chi2 = 0;
    mfr_rng r;
    mfr_rng_init(&r, 99, 3, 0);
    for (int i = 0; i < N; i++) {
        uint32_t v = mfr_rng_below(&r, K);
        ck_assert_uint_lt(v, K);
        count[v]++;
    }
    for (int k = 0; k < K; k++)
        chi2 += (count[k] - N / (double)K) * (count[k] - N / (double)K) / (N / (double)K);
    ck_assert_double_lt(chi2, 27.9);
    ck_assert_uint_eq(mfr_rng_below(&r, 0), 0);
    ck_assert_uint_eq(mfr_rng_below(&r, 1), 0);
    for (int i = 0; i < 1000; i++) {
        double x = mfr_rng_range(&r, -2.0, 3.0);
        ck_assert(x >= -2.0 && x < 3.0);
    }
}
END_TEST

START_TEST(test_rng_shuffle_and_pick)
{
    int v[100], w[100], seen[100] = {0};
    mfr_rng r1, r2;
    const double weights[4] = {1.0, 0.0, 3.0, -1.0};
    long hits[4] = {0};
    for (int i = 0; i < 100; i++)
        v[i] = w[i] = i;
    mfr_rng_init(&r1, 5, 0, 0);
    mfr_rng_init(&r2, 5, 0, 0);
    mfr_rng_shuffle(&r1, v, 100, sizeof v[0]);
    mfr_rng_shuffle(&r2, w, 100, sizeof w[0]);
    ck_assert_mem_eq(v, w, sizeof v);
    for (int i = 0; i < 100; i++)
        seen[v[i]]++;
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(seen[i], 1);
    {
        int moved = 0;
        for (int i = 0; i < 100; i++)
            moved += v[i] != i;
        ck_assert_int_gt(moved, 80);
    }
    for (int i = 0; i < 40000; i++)
        hits[mfr_rng_pick(&r1, weights, 4)]++;
    ck_assert_int_eq(hits[1], 0);
    ck_assert_int_eq(hits[3], 0);
    ck_assert_double_eq_tol(hits[2] / 40000.0, 0.75, 0.02);
}
END_TEST

START_TEST(test_rng_same_values_at_any_thread_count)
{
    enum { N = 5000 };
    static double a[N], b[N];
    for (int pass = 0; pass < 2; pass++) {
        double *out = pass ? b : a;
        mfr_set_threads(pass ? 3 : 1);
#ifdef MFR_HAVE_OPENMP
#pragma omp parallel for num_threads(mfr_threads()) schedule(dynamic, 7)
#endif
        for (int i = 0; i < N; i++) {
            mfr_rng r;
            mfr_rng_init(&r, 77, 9, (uint64_t)i);
            out[i] = mfr_rng_normal(&r) + mfr_rng_uniform(&r);
        }
    }
    mfr_set_threads(0);
    ck_assert_mem_eq(a, b, sizeof a);
}
END_TEST

/* ------------------------------------------------------------------ recipes */

static mfr_ini *parse_ok(const char *text, int flags)
{
    mfr_ini *ini = NULL;
    int rc = mfr_ini_parse(text, strlen(text), "t.ini", flags, &ini);
    ck_assert_msg(rc == MFR_OK, "parse failed: %s", mfr_last_error());
    return ini;
}

static void parse_fails(const char *text, int flags, const char *expect)
{
    mfr_ini *ini = NULL;
    int rc = mfr_ini_parse(text, strlen(text), "t.ini", flags, &ini);
    ck_assert_msg(rc != MFR_OK, "parse of '%s' should fail", text);
    ck_assert_ptr_null(ini);
    ck_assert_msg(strstr(mfr_last_error(), expect) != NULL, "error '%s' lacks '%s'", mfr_last_error(), expect);
}

START_TEST(test_ini_parse_and_get)
{
    mfr_ini *ini = parse_ok("# comment\ntop = 1\n\n[faces]\ncount = 12  # inline\nscale = 0.5\n"
                            "name = hello world\nflag = yes\nshape = round\nmix = 0.25, 0.75\n"
                            "; another comment\n[empty]\n", 0);
    int sec = mfr_ini_find(ini, "faces"), choice, flag;
    long n, top;
    double x, mix[4];
    int count;
    const char *s;
    static const char *const shapes[] = {"wide", "round", NULL};
    ck_assert_int_eq(mfr_ini_section_count(ini), 3);
    ck_assert_str_eq(mfr_ini_section_name(ini, 0), "");
    ck_assert_int_eq(sec, 1);
    ck_assert_int_eq(mfr_ini_find(ini, "nope"), -1);
    tu_ok(mfr_ini_get_int(ini, 0, "top", 0, 0, 10, &top));
    ck_assert_int_eq(top, 1);
    tu_ok(mfr_ini_get_int(ini, sec, "count", 0, 1, 100, &n));
    ck_assert_int_eq(n, 12);
    ck_assert_int_eq(mfr_ini_line(ini, sec, "count"), 5);
    tu_ok(mfr_ini_get_double(ini, sec, "scale", 1.0, 0.0, 1.0, &x));
    ck_assert_double_eq(x, 0.5);
    tu_ok(mfr_ini_get_string(ini, sec, "name", NULL, &s));
    ck_assert_str_eq(s, "hello world");
    tu_ok(mfr_ini_get_bool(ini, sec, "flag", 0, &flag));
    ck_assert_int_eq(flag, 1);
    tu_ok(mfr_ini_get_choice(ini, sec, "shape", shapes, 0, &choice));
    ck_assert_int_eq(choice, 1);
    tu_ok(mfr_ini_get_doubles(ini, sec, "mix", 0.0, 1.0, mix, 4, &count));
    ck_assert_int_eq(count, 2);
    ck_assert_double_eq(mix[1], 0.75);
    /* Absent keys give the default; absent sections too. */
    tu_ok(mfr_ini_get_int(ini, sec, "missing", 5, 0, 10, &n));
    ck_assert_int_eq(n, 5);
    tu_ok(mfr_ini_get_int(ini, -1, "missing", 6, 0, 10, &n));
    ck_assert_int_eq(n, 6);
    tu_ok(mfr_ini_check_unused(ini));
    mfr_ini_free(ini);
}
END_TEST

START_TEST(test_ini_value_errors_name_file_and_line)
{
    mfr_ini *ini = parse_ok("[a]\nn = 12x\nm = 500\nb = maybe\nc = square\nd = 1,,2\ne = 0.5\n", 0);
    int sec = 0, v;
    long n;
    double x, list[4];
    int count;
    static const char *const shapes[] = {"wide", "round", NULL};
    ck_assert_int_eq(mfr_ini_get_int(ini, sec, "n", 0, 0, 100, &n), MFR_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "t.ini:2:"));
    ck_assert_int_eq(mfr_ini_get_int(ini, sec, "m", 0, 0, 100, &n), MFR_ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "t.ini:3:"));
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "outside"));
    ck_assert_int_eq(mfr_ini_get_bool(ini, sec, "b", 0, &v), MFR_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "t.ini:4:"));
    ck_assert_int_eq(mfr_ini_get_choice(ini, sec, "c", shapes, 0, &v), MFR_ERR_RANGE);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "wide, round"));
    ck_assert_int_ne(mfr_ini_get_doubles(ini, sec, "d", 0, 10, list, 4, &count), MFR_OK);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "t.ini:6:"));
    ck_assert_int_eq(mfr_ini_get_double(ini, sec, "e", 0, 1.0, 2.0, &x), MFR_ERR_RANGE);
    mfr_ini_free(ini);
}
END_TEST

START_TEST(test_ini_unknown_key_is_reported)
{
    mfr_ini *ini = parse_ok("[a]\nknown = 1\ntypo = 2\n", 0);
    long n;
    tu_ok(mfr_ini_get_int(ini, 0, "known", 0, 0, 9, &n));
    ck_assert_int_eq(mfr_ini_check_unused(ini), MFR_ERR_FORMAT);
    ck_assert_str_eq(mfr_last_error(), "t.ini:3: unknown key 'typo' in [a]");
    mfr_ini_free(ini);
}
END_TEST

START_TEST(test_ini_syntax_errors)
{
    parse_fails("[a]\nx = 1\nx = 2\n", 0, "t.ini:3: duplicate key 'x'");
    parse_fails("[a]\n[a]\n", 0, "t.ini:2: duplicate section [a]");
    parse_fails("[a\n", 0, "t.ini:1: malformed section header");
    parse_fails("[]\n", 0, "t.ini:1:");
    parse_fails("[a b]\n", 0, "t.ini:1: bad section name");
    parse_fails("[a]\njust words\n", 0, "t.ini:2: expected 'key = value'");
    parse_fails("[a]\n = 3\n", 0, "t.ini:2: bad key name");
    {
        char text[8000];
        memset(text, 'x', sizeof text);
        memcpy(text, "k = ", 4);
        text[sizeof text - 1] = '\0';
        parse_fails(text, 0, "t.ini:1: line longer");
    }
    {
        mfr_ini *ini = NULL;
        ck_assert_int_ne(mfr_ini_parse("[a]\nk = v\0w\n", 12, "t.ini", 0, &ini), MFR_OK);
        ck_assert_ptr_nonnull(strstr(mfr_last_error(), "NUL"));
    }
}
END_TEST

START_TEST(test_ini_repeated_sections)
{
    mfr_ini *ini = parse_ok("[conv]\nfilters = 8\n[conv]\nfilters = 16\n[pool]\n", MFR_INI_REPEATED_SECTIONS);
    long f;
    ck_assert_int_eq(mfr_ini_section_count(ini), 3);
    ck_assert_str_eq(mfr_ini_section_name(ini, 1), "conv");
    ck_assert_int_eq(mfr_ini_section_line(ini, 1), 3);
    tu_ok(mfr_ini_get_int(ini, 1, "filters", 0, 1, 64, &f));
    ck_assert_int_eq(f, 16);
    ck_assert_int_eq(mfr_ini_key_count(ini, 0), 1);
    ck_assert_str_eq(mfr_ini_key_name(ini, 0, 0), "filters");
    ck_assert_ptr_null(mfr_ini_key_name(ini, 0, 1));
    mfr_ini_free(ini);
}
END_TEST

START_TEST(test_ini_load_missing_file)
{
    mfr_ini *ini = NULL;
    ck_assert_int_eq(mfr_ini_load(tu_tmp("does-not-exist.ini"), 0, &ini), MFR_ERR_IO);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "does-not-exist.ini"));
    ck_assert_ptr_null(ini);
}
END_TEST

/* --------------------------------------------------------------------- CSV */

static mfr_csv *csv_mem(const char *text)
{
    mfr_csv *c = NULL;
    int rc = mfr_csv_open_mem(text, strlen(text), "t.csv", &c);
    ck_assert_msg(rc == MFR_OK, "open failed: %s", mfr_last_error());
    return c;
}

START_TEST(test_csv_read_quoted)
{
    mfr_csv *c = csv_mem("a,b,\"c d\"\r\n1,\"x,y\",\"say \"\"hi\"\"\"\r\n\r\n2,\"multi\nline\",\n3,z,q");
    int has;
    double d;
    long l;
    ck_assert_int_eq(mfr_csv_columns(c), 3);
    ck_assert_str_eq(mfr_csv_header(c, 2), "c d");
    ck_assert_int_eq(mfr_csv_column(c, "b"), 1);
    ck_assert_int_eq(mfr_csv_column(c, "zz"), -1);
    tu_ok(mfr_csv_next(c, &has));
    ck_assert_int_eq(has, 1);
    ck_assert_int_eq(mfr_csv_line(c), 2);
    ck_assert_str_eq(mfr_csv_field(c, 1), "x,y");
    ck_assert_str_eq(mfr_csv_field(c, 2), "say \"hi\"");
    tu_ok(mfr_csv_double(c, 0, 0, &d));
    ck_assert_double_eq(d, 1.0);
    tu_ok(mfr_csv_next(c, &has));
    ck_assert_int_eq(mfr_csv_line(c), 4);
    ck_assert_str_eq(mfr_csv_field(c, 1), "multi\nline");
    ck_assert_str_eq(mfr_csv_field(c, 2), "");
    tu_ok(mfr_csv_double(c, 2, 1, &d));
    ck_assert(isnan(d));
    ck_assert_int_eq(mfr_csv_double(c, 2, 0, &d), MFR_ERR_FORMAT);
    tu_ok(mfr_csv_next(c, &has));
    ck_assert_int_eq(mfr_csv_line(c), 6);
    tu_ok(mfr_csv_long(c, 0, 0, 5, &l));
    ck_assert_int_eq(l, 3);
    ck_assert_int_eq(mfr_csv_long(c, 0, 4, 5, &l), MFR_ERR_RANGE);
    ck_assert_int_eq(mfr_csv_long(c, 1, 0, 5, &l), MFR_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "t.csv:6: column 'b'"));
    tu_ok(mfr_csv_next(c, &has));
    ck_assert_int_eq(has, 0);
    mfr_csv_close(c);
}
END_TEST

START_TEST(test_csv_errors)
{
    mfr_csv *c = csv_mem("a,b\n1,2\n1,2,3\n");
    int has;
    tu_ok(mfr_csv_next(c, &has));
    ck_assert_int_eq(mfr_csv_next(c, &has), MFR_ERR_FORMAT);
    ck_assert_int_eq(has, 0);
    ck_assert_str_eq(mfr_last_error(), "t.csv:3: 3 fields, but the header has 2");
    mfr_csv_close(c);

    c = csv_mem("a,b\n\"open,2\n");
    ck_assert_int_eq(mfr_csv_next(c, &has), MFR_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "t.csv:2: unterminated"));
    mfr_csv_close(c);

    c = csv_mem("a,b\n\"x\"y,2\n");
    ck_assert_int_eq(mfr_csv_next(c, &has), MFR_ERR_FORMAT);
    mfr_csv_close(c);

    {
        mfr_csv *e = NULL;
        ck_assert_int_eq(mfr_csv_open_mem("", 0, "empty.csv", &e), MFR_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(mfr_last_error(), "empty.csv: empty file"));
        ck_assert_int_eq(mfr_csv_open(tu_tmp("missing.csv"), &e), MFR_ERR_IO);
    }
}
END_TEST

START_TEST(test_csv_write_field_round_trip)
{
    const char *path = tu_tmp("w.csv");
    FILE *fp = fopen(path, "w");
    mfr_csv *c;
    int has;
    mfr_csv_write_field(fp, "plain");
    fputc(',', fp);
    mfr_csv_write_field(fp, "with,comma \"and\" quote\nnewline");
    fputc('\n', fp);
    mfr_csv_write_field(fp, "1");
    fputc(',', fp);
    mfr_csv_write_field(fp, "");
    fputc('\n', fp);
    fclose(fp);
    tu_ok(mfr_csv_open(path, &c));
    ck_assert_str_eq(mfr_csv_header(c, 1), "with,comma \"and\" quote\nnewline");
    tu_ok(mfr_csv_next(c, &has));
    ck_assert_int_eq(has, 1);
    ck_assert_str_eq(mfr_csv_field(c, 1), "");
    mfr_csv_close(c);
}
END_TEST

/* ------------------------------------------------------------------- files */

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int count_entries(const char *dir)
{
    char cmd[1200];
    FILE *p;
    int n = -1;
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    p = popen(cmd, "r");
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

START_TEST(test_atomic_file)
{
    const char *path = tu_tmp("atomic/atomic.txt");
    mfr_afile f;
    void *data;
    size_t size;
    tu_ok(mfr_mkdir_p(tu_tmp("atomic")));
    tu_ok(mfr_write_file_atomic(path, "first", 5));
    tu_ok(mfr_afile_open(&f, path));
    fputs("second, longer", f.fp);
    /* Until commit, readers still see the old contents. */
    tu_ok(mfr_read_file(path, 100, &data, &size));
    ck_assert_uint_eq(size, 5);
    free(data);
    mfr_afile_abort(&f);
    tu_ok(mfr_read_file(path, 100, &data, &size));
    ck_assert_str_eq(data, "first");
    free(data);
    ck_assert_int_eq(count_entries(tu_tmp("atomic")), 1); /* no temporary left */
    tu_ok(mfr_afile_open(&f, path));
    fputs("second", f.fp);
    tu_ok(mfr_afile_commit(&f));
    tu_ok(mfr_read_file(path, 100, &data, &size));
    ck_assert_str_eq(data, "second");
    free(data);
    ck_assert_int_eq(mfr_read_file(path, 3, &data, &size), MFR_ERR_RANGE);
    ck_assert_ptr_null(data);
    ck_assert_int_eq(mfr_afile_open(&f, tu_tmp("no/such/dir/x")), MFR_ERR_IO);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "no/such/dir/x"));
}
END_TEST

START_TEST(test_outdir_commit_replace_abort)
{
    const char *dir = tu_tmp("out/run1");
    mfr_outdir d;
    char *p;
    tu_ok(mfr_outdir_begin(&d, dir));
    ck_assert(!exists(dir));
    p = mfr_path_join(d.tmp, "a.txt");
    tu_ok(mfr_write_file_atomic(p, "1", 1));
    free(p);
    tu_ok(mfr_outdir_commit(&d));
    ck_assert(exists(tu_tmp("out/run1/a.txt")));
    /* A second run replaces the directory as a whole. */
    tu_ok(mfr_outdir_begin(&d, dir));
    p = mfr_path_join(d.tmp, "b.txt");
    tu_ok(mfr_write_file_atomic(p, "2", 1));
    free(p);
    tu_ok(mfr_outdir_commit(&d));
    ck_assert(!exists(tu_tmp("out/run1/a.txt")));
    ck_assert(exists(tu_tmp("out/run1/b.txt")));
    /* An aborted run leaves the previous output and no debris. */
    tu_ok(mfr_outdir_begin(&d, dir));
    p = mfr_path_join(d.tmp, "c.txt");
    tu_ok(mfr_write_file_atomic(p, "3", 1));
    free(p);
    mfr_outdir_abort(&d);
    ck_assert(exists(tu_tmp("out/run1/b.txt")));
    ck_assert_int_eq(count_entries(tu_tmp("out")), 1);
}
END_TEST

START_TEST(test_mkdir_and_remove_tree)
{
    tu_ok(mfr_mkdir_p(tu_tmp("x/y/z/")));
    ck_assert(exists(tu_tmp("x/y/z")));
    tu_ok(mfr_mkdir_p(tu_tmp("x/y/z")));
    tu_write(tu_tmp("x/y/file"), "f", 1);
    ck_assert_int_eq(mfr_mkdir_p(tu_tmp("x/y/file")), MFR_ERR_IO);
    tu_ok(mfr_remove_tree(tu_tmp("x")));
    ck_assert(!exists(tu_tmp("x")));
    tu_ok(mfr_remove_tree(tu_tmp("x")));
    {
        char *j = mfr_path_join("a/", "b");
        ck_assert_str_eq(j, "a/b");
        free(j);
        j = mfr_path_join("a", "b");
        ck_assert_str_eq(j, "a/b");
        free(j);
    }
}
END_TEST

/* ---------------------------------------------------------- small helpers */

START_TEST(test_parse_numbers_strictly)
{
    long l;
    double d;
    tu_ok(mfr_parse_long("-42", &l));
    ck_assert_int_eq(l, -42);
    ck_assert_int_ne(mfr_parse_long("42x", &l), MFR_OK);
    ck_assert_int_ne(mfr_parse_long("", &l), MFR_OK);
    ck_assert_int_ne(mfr_parse_long("99999999999999999999999", &l), MFR_OK);
    tu_ok(mfr_parse_double("1e-3", &d));
    ck_assert_double_eq(d, 1e-3);
    ck_assert_int_ne(mfr_parse_double("0.5.", &d), MFR_OK);
    ck_assert_int_ne(mfr_parse_double("1e999", &d), MFR_OK);
}
END_TEST

START_TEST(test_crc32_check_value)
{
    /* The standard check value of CRC-32/ISO-HDLC. */
    ck_assert_uint_eq(mfr_crc32(0, "123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(mfr_crc32(mfr_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
}
END_TEST

START_TEST(test_memory)
{
    size_t out;
    float *p = mfr_alloc(100 * sizeof(float));
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % MFR_ALIGN, 0);
    mfr_free(p);
    p = mfr_calloc(33, sizeof(float));
    for (int i = 0; i < 33; i++)
        ck_assert(p[i] == 0.0f);
    mfr_free(p);
    ck_assert_ptr_nonnull(p = mfr_alloc(0));
    mfr_free(p);
    ck_assert_int_eq(mfr_size_mul(SIZE_MAX / 2, 3, &out), MFR_ERR_NOMEM);
    ck_assert_ptr_null(mfr_calloc(SIZE_MAX / 2, 3));
    ck_assert_ptr_null(mfr_alloc(SIZE_MAX - 8));
    tu_ok(mfr_size_mul(6, 7, &out));
    ck_assert_uint_eq(out, 42);
}
END_TEST

START_TEST(test_cpu_and_threads)
{
    const mfr_cpu_info *ci = mfr_cpu();
    mfr_isa best;
    ck_assert_int_ge(ci->logical_cpus, 1);
    ck_assert(mfr_isa_available(MFR_ISA_SCALAR));
    best = mfr_isa_best();
    ck_assert(mfr_isa_available(best));
    setenv("MFR_ISA", "scalar", 1);
    ck_assert_int_eq(mfr_isa_best(), MFR_ISA_SCALAR);
    setenv("MFR_ISA", "avx2", 1);
    ck_assert_int_le(mfr_isa_best(), MFR_ISA_AVX2);
    unsetenv("MFR_ISA");
    ck_assert_int_eq(mfr_isa_best(), best);
    ck_assert_str_eq(mfr_isa_name(MFR_ISA_AVX512), "avx512");
    mfr_set_threads(3);
#ifdef MFR_HAVE_OPENMP
    ck_assert_int_eq(mfr_threads(), 3);
#endif
    mfr_set_threads(0);
    ck_assert_int_ge(mfr_threads(), 1);
    ck_assert_ptr_nonnull(mfr_build()->version);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc;
    tc = tcase_create("errors");
    tcase_add_test(tc, test_error_text_and_context);
    tcase_add_test(tc, test_error_long_text_is_cut_safely);
    suite_add_tcase(s, tc);
    tc = tcase_create("rng");
    tcase_add_test(tc, test_philox_known_answers);
    tcase_add_test(tc, test_rng_reproducible_and_keyed);
    tcase_add_test(tc, test_rng_uniform_and_normal_moments);
    tcase_add_test(tc, test_rng_below_is_uniform);
    tcase_add_test(tc, test_rng_shuffle_and_pick);
    tcase_add_test(tc, test_rng_same_values_at_any_thread_count);
    suite_add_tcase(s, tc);
    tc = tcase_create("ini");
    tcase_add_test(tc, test_ini_parse_and_get);
    tcase_add_test(tc, test_ini_value_errors_name_file_and_line);
    tcase_add_test(tc, test_ini_unknown_key_is_reported);
    tcase_add_test(tc, test_ini_syntax_errors);
    tcase_add_test(tc, test_ini_repeated_sections);
    tcase_add_test(tc, test_ini_load_missing_file);
    suite_add_tcase(s, tc);
    tc = tcase_create("csv");
    tcase_add_test(tc, test_csv_read_quoted);
    tcase_add_test(tc, test_csv_errors);
    tcase_add_test(tc, test_csv_write_field_round_trip);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_add_test(tc, test_atomic_file);
    tcase_add_test(tc, test_outdir_commit_replace_abort);
    tcase_add_test(tc, test_mkdir_and_remove_tree);
    suite_add_tcase(s, tc);
    tc = tcase_create("misc");
    tcase_add_test(tc, test_parse_numbers_strictly);
    tcase_add_test(tc, test_crc32_check_value);
    tcase_add_test(tc, test_memory);
    tcase_add_test(tc, test_cpu_and_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc;
    /* One process for all tests: the temporary directory is shared. */
    setenv("CK_FORK", "no", 0);
    rc = tu_run(core_suite());
    tu_cleanup();
    return rc;
}
