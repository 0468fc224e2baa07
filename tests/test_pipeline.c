/* Tests of mfr embed's library part and of the end-to-end pipeline (mfr run):
 * a tiny random embedder on datasets/tiny.ini; the report's structure and
 * internal consistency, and its independence of the thread count. */
#include "config.h"
#include "testutil.h"
#include "mfr/face.h"
#include "mfr/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A small embedder: 112x112x3 -> 16 values, random weights. */
static const char tiny_net[] = "[input]\nheight = 112\nwidth = 112\nchannels = 3\n"
                               "[conv]\nfilters = 8\nsize = 3\nstride = 4\npad = 1\nactivation = relu\n"
                               "[conv]\nfilters = 16\nsize = 3\nstride = 4\npad = 1\nactivation = relu\n"
                               "[gap]\n[fc]\nfilters = 16\n";

static mfr_net *tiny_embedder(uint64_t seed)
{
    mfr_net *net = NULL;
    tu_ok(mfr_net_parse(tiny_net, sizeof tiny_net - 1, "tiny", &net));
    tu_ok(mfr_net_init_weights(net, seed));
    return net;
}

static const char *tiny_model_file(void)
{
    const char *path = tu_tmp("tiny.mfrm");
    mfr_net *net = tiny_embedder(7);
    tu_ok(mfr_model_save(net, path));
    mfr_net_free(net);
    return path;
}

static char *slurp(const char *path, size_t *size)
{
    void *data = NULL;
    size_t n = 0;
    tu_ok(mfr_read_file(path, 64u << 20, &data, &n));
    if (size)
        *size = n;
    return data;
}

static char *join(const char *dir, const char *name)
{
    char *p = mfr_path_join(dir, name);
    ck_assert_ptr_nonnull(p);
    return p;
}

START_TEST(test_embedder_rows_are_unit_and_batch_independent)
{
    mfr_net *net = tiny_embedder(3);
    mfr_embedder *e1, *e4;
    mfr_recipe *rc;
    mfr_image crops[5];
    float a[5 * 16], b[5 * 16];
    memset(crops, 0, sizeof crops);
    tu_ok(mfr_embedder_create(net, 1, &e1));
    ck_assert_int_eq(mfr_embedder_dim(e1), 16);
    ck_assert_int_eq(mfr_embedder_size(e1), 112);
    tu_ok(mfr_recipe_load(tu_src("datasets/tiny.ini"), &rc));
    for (int i = 0; i < 5; i++) {
        mfr_image im = {0};
        mfr_sample s;
        if (i == 2)
            continue; /* crop 2 stays empty: a failure to acquire */
        tu_ok(mfr_recipe_sample(rc, 1, i, &im, &s));
        tu_ok(mfr_align_crop(&im, s.faces[0].truth.lm, &crops[i]));
        mfr_image_free(&im);
    }
    tu_ok(mfr_embedder_run(e1, crops, 5, a));
    mfr_embedder_free(e1);
    /* one batch of 4 then 1: the same rows as one at a time */
    tu_ok(mfr_embedder_create(net, 4, &e4));
    tu_ok(mfr_embedder_run(e4, crops, 5, b));
    for (int i = 0; i < 5; i++) {
        double s = 0;
        for (int k = 0; k < 16; k++) {
            if (i == 2) {
                ck_assert(isnan(a[i * 16 + k]) && isnan(b[i * 16 + k]));
                continue;
            }
            ck_assert_float_eq(a[i * 16 + k], b[i * 16 + k]);
            s += (double)a[i * 16 + k] * a[i * 16 + k];
        }
        if (i != 2)
            ck_assert_double_eq_tol(s, 1.0, 1e-5);
    }
    /* a crop of the wrong size is refused, naming the network */
    mfr_image small = {0};
    tu_ok(mfr_image_alloc(&small, 64, 64, 3));
    ck_assert_int_eq(mfr_embedder_run(e4, &small, 1, a), MFR_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "tiny"));
    mfr_image_free(&small);
    for (int i = 0; i < 5; i++)
        mfr_image_free(&crops[i]);
    mfr_embedder_free(e4);
    mfr_net_free(net);
    mfr_recipe_free(rc);
}
END_TEST

START_TEST(test_embedder_rejects_networks_of_other_shapes)
{
    static const char two_out[] = "[input]\nheight = 112\nwidth = 112\nchannels = 3\n[conv]\nname = a\nfilters = 2\n"
                                  "size = 1\n[conv]\nname = b\ninput = image\nfilters = 2\nsize = 1\n";
    static const char grey[] = "[input]\nheight = 112\nwidth = 112\nchannels = 1\n[gap]\n";
    mfr_net *net;
    mfr_embedder *e;
    tu_ok(mfr_net_parse(grey, sizeof grey - 1, "grey", &net));
    ck_assert_int_eq(mfr_embedder_create(net, 8, &e), MFR_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "square RGB"));
    mfr_net_free(net);
    if (mfr_net_parse(two_out, sizeof two_out - 1, "two", &net) == MFR_OK) {
        ck_assert_int_eq(mfr_embedder_create(net, 8, &e), MFR_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(mfr_last_error(), "exactly one output"));
        mfr_net_free(net);
    }
}
END_TEST

/* ------------------------------------------------------ results.json reading */

/* The number after "key": at or after p (NaN for null). */
static double jnum(const char *p, const char *key)
{
    char pat[96];
    const char *q;
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    q = strstr(p, pat);
    ck_assert_msg(q != NULL, "results.json: no key %s", key);
    q += strlen(pat);
    if (!strncmp(q, "null", 4))
        return NAN;
    return strtod(q, NULL);
}

/* The block of system `label`. */
static const char *jsys(const char *json, const char *label)
{
    char pat[96];
    const char *p;
    snprintf(pat, sizeof pat, "\"label\": \"%s\"", label);
    p = strstr(json, pat);
    ck_assert_msg(p != NULL, "results.json: no system %s", label);
    return p;
}

static void run_tiny(const char *model, const char *detector, int threads, const char *out)
{
    mfr_run_opts o;
    char *summary = NULL;
    mfr_run_opts_default(&o);
    o.recipe = tu_src("datasets/tiny.ini");
    o.embedders[o.n_embedders++] = model;
    o.detector = detector;
    o.fmr = 0.05; /* tiny.ini has 60 unmasked non-mated comparisons: 1e-5 is not supported */
    o.chunk = 16;
    o.batch = 4;
    o.quiet = 1;
    o.no_plots = 1; /* gnuplot is slow; the report's plots have their own tests */
    mfr_set_threads(threads);
    tu_ok(mfr_run(&o, out, &summary));
    mfr_set_threads(0);
    ck_assert_ptr_nonnull(summary);
    ck_assert_ptr_nonnull(strstr(summary, "FNMR at the threshold fixed on unmasked"));
    free(summary);
}

/* The unmasked non-mated scores recomputed from the written embeddings and
 * manifest: the NIST threshold must keep their FMR at or below the target. */
static void check_threshold(const char *dir, const char *label, double threshold, double fmr)
{
    char name[64], *npy, *man;
    float *emb;
    size_t n, d;
    long *ident, row = 0;
    int *split, *unmasked, has;
    mfr_csv *c;
    uint64_t above = 0, total = 0;
    snprintf(name, sizeof name, "embeddings-%s.npy", label);
    npy = join(dir, name);
    man = join(dir, "manifest.csv");
    tu_ok(mfr_npy_read(npy, 1u << 24, &emb, &n, &d));
    ident = calloc(n, sizeof *ident);
    split = calloc(n, sizeof *split);
    unmasked = calloc(n, sizeof *unmasked);
    tu_ok(mfr_csv_open(man, &c));
    int ci = mfr_csv_column(c, "identity"), cs = mfr_csv_column(c, "split"), cm = mfr_csv_column(c, "mask");
    ck_assert(ci >= 0 && cs >= 0 && cm >= 0);
    while (mfr_csv_next(c, &has) == MFR_OK && has) {
        ck_assert_uint_lt((size_t)row, n);
        tu_ok(mfr_csv_long(c, ci, 0, 1L << 40, &ident[row]));
        split[row] = !strcmp(mfr_csv_field(c, cs), "enrol");
        unmasked[row] = !strcmp(mfr_csv_field(c, cm), "none");
        row++;
    }
    mfr_csv_close(c);
    ck_assert_uint_eq((size_t)row, n);
    for (size_t p = 0; p < n; p++) {
        if (split[p] || !unmasked[p])
            continue;
        for (size_t g = 0; g < n; g++) {
            float s = 0;
            if (!split[g] || ident[g] == ident[p])
                continue;
            for (size_t k = 0; k < d; k++)
                s += emb[g * d + k] * emb[p * d + k];
            total++;
            above += s >= (float)threshold;
        }
    }
    ck_assert_uint_gt(total, 0);
    ck_assert_msg((double)above / (double)total <= fmr, "%s: FMR %g above the target %g at threshold %g", label,
                  (double)above / (double)total, fmr, threshold);
    mfr_free(emb);
    free(ident), free(split), free(unmasked);
    free(npy), free(man);
}

static void check_system(const char *json, const char *label, uint64_t comparisons, const char *dir)
{
    const char *p = jsys(json, label);
    double mated = jnum(p, "mated"), nonmated = jnum(p, "nonmated");
    double fm = jnum(p, "fta_mated"), fn = jnum(p, "fta_nonmated");
    /* completed and failed comparisons add up to the protocol */
    ck_assert_double_eq(mated + nonmated + fm + fn, (double)comparisons);
    /* tiny.ini: 6 identities, 1 enrolment image, 10 probes each: 60 mated */
    ck_assert_double_eq(mated + fm, 60.0);
    double eer = jnum(p, "eer"), rank1 = jnum(p, "rank1");
    ck_assert(eer >= 0 && eer <= 1);
    ck_assert(rank1 >= 0 && rank1 <= 1);
    const char *nist = strstr(p, "\"nist\"");
    ck_assert_ptr_nonnull(nist);
    ck_assert_double_eq(jnum(nist, "reference_nonmated"), 60.0);
    ck_assert_ptr_nonnull(strstr(nist, "\"supported\": true"));
    double thr = jnum(nist, "threshold"), far = jnum(nist, "far"), frr = jnum(nist, "frr");
    ck_assert(isfinite(thr));
    ck_assert(far >= 0 && far <= 1 && frr >= 0 && frr <= 1);
    /* columns: none, nist-high, surgical, n95; their mated counts add up */
    static const char *const cols[] = {"none", "nist-high", "surgical", "n95"};
    double sum_mated = 0;
    for (int k = 0; k < 4; k++) {
        char key[32];
        snprintf(key, sizeof key, "\"%s\": {", cols[k]);
        const char *q = strstr(nist, key);
        ck_assert_msg(q != NULL, "%s: no column %s", label, cols[k]);
        double f = jnum(q, "fnmr");
        ck_assert(f >= 0 && f <= 1);
        sum_mated += jnum(q, "mated") + jnum(q, "fta_mated");
    }
    ck_assert_double_eq(sum_mated, 60.0);
    check_threshold(dir, label, thr, 0.05);
}

START_TEST(test_run_tiny_is_consistent_and_thread_independent)
{
    const char *model = tiny_model_file();
    char out1[512], out2[512];
    snprintf(out1, sizeof out1, "%s", tu_tmp("run1"));
    snprintf(out2, sizeof out2, "%s", tu_tmp("run2"));
    run_tiny(model, NULL, 1, out1);
    run_tiny(model, NULL, 2, out2);
    static const char *const files[] = {"results.json", "manifest.csv", "embeddings-tiny.npy", "embeddings-lbp.npy",
                                        "verify-tiny/results.json", "verify-lbp/results.json",
                                        "identify-tiny/results.json"};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        char *a = join(out1, files[f]), *b = join(out2, files[f]);
        size_t na, nb;
        char *da = slurp(a, &na), *db = slurp(b, &nb);
        ck_assert_msg(na == nb && !memcmp(da, db, na), "%s differs between 1 and 2 threads", files[f]);
        free(da), free(db), free(a), free(b);
    }
    /* the rest of the report is there */
    static const char *const more[] = {"summary.txt", "timings.csv", "latency/results.json", "report/report.html",
                                       "verify-tiny/fnmr_conditions.csv", "identify-lbp/cmc.csv"};
    for (size_t f = 0; f < sizeof more / sizeof *more; f++) {
        char *a = join(out1, more[f]);
        ck_assert_msg(access(a, R_OK) == 0, "%s missing", more[f]);
        free(a);
    }
    char *rj = join(out1, "results.json");
    char *json = slurp(rj, NULL);
    /* 6 enrolment images x 60 probes */
    ck_assert_double_eq(jnum(json, "comparisons"), 360.0);
    ck_assert_double_eq(jnum(json, "verification"), 66.0);
    ck_assert_double_eq(jnum(json, "failures"), 0.0); /* true landmarks: nothing to miss */
    ck_assert_ptr_null(strstr(json, "threads"));       /* timings stay out of results.json */
    check_system(json, "tiny", 360, out1);
    check_system(json, "lbp", 360, out1);
    free(json);
    free(rj);
}
END_TEST

START_TEST(test_run_with_untrained_detector)
{
    /* Zero weights score every cell 0.5: the structure still holds, and
     * detection is evaluated on the verification images. */
    const char *model = tiny_model_file();
    char out[512];
    snprintf(out, sizeof out, "%s", tu_tmp("rundet"));
    run_tiny(model, tu_src("models/detector.cfg"), 2, out);
    char *rj = join(out, "results.json"), *json = slurp(rj, NULL);
    double att = jnum(json, "attempts"), fail = jnum(json, "failures");
    ck_assert_double_eq(att, 66.0);
    ck_assert(fail >= 0 && fail <= att);
    const char *det = strstr(json, "\"detection\": {");
    ck_assert_ptr_nonnull(det);
    double ap = jnum(det, "all");
    ck_assert(ap >= 0 && ap <= 1);
    check_system(json, "tiny", 360, out);
    char *d = join(out, "detect/results.json");
    ck_assert_int_eq(access(d, R_OK), 0);
    free(d), free(json), free(rj);
}
END_TEST

START_TEST(test_run_missing_model_fails_cleanly)
{
    mfr_run_opts o;
    char *summary = (char *)1;
    const char *out = tu_tmp("never");
    mfr_run_opts_default(&o);
    o.recipe = tu_src("datasets/tiny.ini");
    o.embedders[o.n_embedders++] = "/nonexistent/embedder.mfrm";
    o.quiet = 1;
    ck_assert_int_ne(mfr_run(&o, out, &summary), MFR_OK);
    ck_assert_ptr_null(summary);
    ck_assert_ptr_nonnull(strstr(mfr_last_error(), "/nonexistent/embedder.mfrm"));
    ck_assert_int_ne(access(out, F_OK), 0); /* no partial output */

    /* the command: exit status 1 and a message naming the missing default model */
    char cwd[1024], cmd[2048], buf[4096] = "";
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s/mfr' run --no-detect -q 2>&1", tu_tmpdir(), cwd);
    FILE *fp = popen(cmd, "r");
    ck_assert_ptr_nonnull(fp);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    int status = pclose(fp);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "exit status %d: %s", status, buf);
    ck_assert_msg(strstr(buf, "models/embedder.mfrm is missing") != NULL, "message: %s", buf);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s/mfr' run --detector nowhere.mfrm --embedder x.cfg -q 2>&1",
             tu_tmpdir(), cwd);
    fp = popen(cmd, "r");
    n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    status = pclose(fp);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "exit status %d: %s", status, buf);
    ck_assert_msg(strstr(buf, "nowhere.mfrm") != NULL, "message: %s", buf);
}
END_TEST


/* mfr embed on an mfr gen dataset: one row per manifest row, the rows the
 * LBP library call gives, and mfr eval verify reads the result. */
START_TEST(test_embed_command_feeds_eval_verify)
{
    char cwd[1024], cmd[4096], *npy, *man;
    const char *dir = tu_tmpdir();
    float *emb;
    size_t n, d;
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s/mfr' gen --recipe '%s' --out ds -q && '%s/mfr' embed --manifest ds/manifest.csv "
             "--method lbp --out emb -q && '%s/mfr' eval verify --embeddings emb/embeddings.npy --manifest "
             "emb/manifest.csv --pairs ds/pairs.csv --out ev -q",
             dir, cwd, tu_src("datasets/tiny.ini"), cwd, cwd);
    ck_assert_int_eq(system(cmd), 0);
    npy = join(dir, "emb/embeddings.npy");
    man = join(dir, "emb/manifest.csv");
    tu_ok(mfr_npy_read(npy, 1u << 24, &emb, &n, &d));
    ck_assert_uint_eq(n, 66);
    ck_assert_uint_eq(d, MFR_LBP_DIM);
    /* row 5 is the LBP of image 5 aligned on its true landmarks */
    {
        mfr_recipe *rc;
        mfr_image im = {0}, crop = {0};
        mfr_sample s;
        float *ref = malloc(MFR_LBP_DIM * sizeof *ref);
        tu_ok(mfr_recipe_load(tu_src("datasets/tiny.ini"), &rc));
        tu_ok(mfr_recipe_sample(rc, 1, 5, &im, &s));
        tu_ok(mfr_align_crop(&im, s.faces[0].truth.lm, &crop));
        tu_ok(mfr_lbp_embed(&crop, ref));
        /* the dataset's landmarks went through a CSV with 2 decimals */
        double dotp = 0;
        for (int k = 0; k < MFR_LBP_DIM; k++)
            dotp += (double)ref[k] * emb[5 * d + (size_t)k];
        ck_assert_double_gt(dotp, 0.99);
        free(ref);
        mfr_image_free(&im);
        mfr_image_free(&crop);
        mfr_recipe_free(rc);
    }
    /* the manifest rows in order, with acquired = 1 */
    mfr_csv *c;
    int has, ca;
    long rows = 0;
    tu_ok(mfr_csv_open(man, &c));
    ca = mfr_csv_column(c, "acquired");
    ck_assert_int_ge(ca, 0);
    while (mfr_csv_next(c, &has) == MFR_OK && has) {
        ck_assert_str_eq(mfr_csv_field(c, ca), "1");
        rows++;
    }
    mfr_csv_close(c);
    ck_assert_int_eq(rows, 66);
    mfr_free(emb);
    free(npy);
    free(man);
}
END_TEST

static Suite *pipeline_suite(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("pipeline");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_embedder_rows_are_unit_and_batch_independent);
    tcase_add_test(tc, test_embedder_rejects_networks_of_other_shapes);
    tcase_add_test(tc, test_run_tiny_is_consistent_and_thread_independent);
    tcase_add_test(tc, test_run_with_untrained_detector);
    tcase_add_test(tc, test_run_missing_model_fails_cleanly);
    tcase_add_test(tc, test_embed_command_feeds_eval_verify);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(pipeline_suite());
}
