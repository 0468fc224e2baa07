/* bench_synth: throughput of the synthetic face renderer, and the LBP
 * baseline's embeddings of a generated dataset for the difficulty calibration.
 *
 *   bench/bench_synth [--count N] [--recipe FILE]   faces per second, 1 thread and all threads
 *                                                     (MFR_ISA=scalar: the camera's baseline build)
 *   bench/bench_synth --lbp DIR                       DIR/lbp.npy: LBP embedding of every
 *                                                     manifest row, aligned by its landmarks
 * then: mfr eval verify --embeddings DIR/lbp.npy --manifest DIR/manifest.csv --pairs DIR/pairs.csv
 */
#include "config.h"
#include "mfr/core.h"
#include "mfr/face.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Faces per wall-clock second; *cpu_rate: faces per CPU second of the
 * process (what a core delivers, even on a machine shared with others). */
static double render_rate(const mfr_recipe *r, long n, int threads, int *bad, double *cpu_rate)
{
    mfr_set_threads(threads);
    double t0 = mfr_time_now(), c0 = cpu_seconds();
    int fails = 0;
#pragma omp parallel for schedule(dynamic, 8) num_threads(mfr_threads()) reduction(+ : fails)
    for (long i = 0; i < n; i++) {
        mfr_image im = {0};
        mfr_sample s;
        fails += mfr_recipe_sample(r, 1, i % mfr_recipe_count(r), &im, &s) != MFR_OK;
        mfr_image_free(&im);
    }
    *bad = fails;
    *cpu_rate = (double)n / (cpu_seconds() - c0);
    return (double)n / (mfr_time_now() - t0);
}

static int speed(const char *recipe, long n)
{
    mfr_recipe *r;
    if (mfr_recipe_load(recipe, &r) != MFR_OK) {
        fprintf(stderr, "bench_synth: %s\n", mfr_last_error());
        return 1;
    }
    int all = mfr_threads(), bad1, badn;
    double cpu1, cpun;
    render_rate(r, n / 10 + 1, 1, &bad1, &cpu1); /* warm up */
    double one = render_rate(r, n, 1, &bad1, &cpu1);
    double many = render_rate(r, n, all, &badn, &cpun);
    mfr_set_threads(0);
    printf("recipe %s: %ld samples (render, camera effects, truth; no file output)\n", recipe, n);
    /* the renderer's and camera's loops run the build mfr_isa_best() names (MFR_ISA=scalar: the baseline) */
    printf("  renderer and camera loops: %s build (rasteriser: %s)\n", mfr_isa_best() >= MFR_ISA_AVX2 ? "avx2" : "baseline",
           mfr_isa_best() >= MFR_ISA_AVX512 ? "avx512" : mfr_isa_best() >= MFR_ISA_AVX2 ? "avx2" : "baseline");
    printf("  1 thread : %8.1f faces/s wall, %8.1f faces per CPU second (target 1000: ratio %.2f)\n", one, cpu1,
           cpu1 / 1000.0);
    printf("  %d threads: %8.1f faces/s wall, %8.1f faces per CPU second (wall scaling %.2fx)\n", all, many, cpun,
           many / one);
    mfr_recipe_free(r);
    return bad1 || badn;
}

static int lbp(const char *dir)
{
    char *path = mfr_path_join(dir, "manifest.csv");
    mfr_csv *c;
    if (!path || mfr_csv_open(path, &c) != MFR_OK) {
        fprintf(stderr, "bench_synth: %s\n", mfr_last_error());
        free(path);
        return 1;
    }
    static const char *const names[10] = {"lm0_x", "lm0_y", "lm1_x", "lm1_y", "lm2_x",
                                          "lm2_y", "lm3_x", "lm3_y", "lm4_x", "lm4_y"};
    int col[10], cf = mfr_csv_column(c, "file"), rc = MFR_OK;
    for (int i = 0; i < 10; i++)
        if ((col[i] = mfr_csv_column(c, names[i])) < 0)
            rc = mfr_error(MFR_ERR_FORMAT, "%s: no column %s", path, names[i]);
    char **files = NULL;
    float *lms = NULL;
    long n = 0, cap = 0;
    while (rc == MFR_OK) {
        int has;
        if ((rc = mfr_csv_next(c, &has)) != MFR_OK || !has)
            break;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            files = realloc(files, (size_t)cap * sizeof *files);
            lms = realloc(lms, (size_t)cap * 10 * sizeof *lms);
            if (!files || !lms) {
                rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
                break;
            }
        }
        for (int i = 0; i < 10 && rc == MFR_OK; i++) {
            double v;
            rc = mfr_csv_double(c, col[i], 0, &v);
            lms[n * 10 + i] = (float)v;
        }
        files[n] = mfr_path_join(dir, mfr_csv_field(c, cf));
        n++;
    }
    mfr_csv_close(c);
    float *emb = rc == MFR_OK ? malloc((size_t)n * MFR_LBP_DIM * sizeof *emb) : NULL;
    if (rc == MFR_OK && !emb)
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
    int failed = 0;
    double t0 = mfr_time_now();
    if (rc == MFR_OK) {
#pragma omp parallel for schedule(dynamic, 16) num_threads(mfr_threads()) reduction(+ : failed)
        for (long i = 0; i < n; i++) {
            mfr_image im = {0}, crop = {0};
            int e = mfr_image_read(files[i], &im);
            if (e == MFR_OK)
                e = mfr_align_crop(&im, lms + i * 10, &crop);
            if (e == MFR_OK)
                e = mfr_lbp_embed(&crop, emb + (size_t)i * MFR_LBP_DIM);
            if (e != MFR_OK) {
                failed++;
                for (int k = 0; k < MFR_LBP_DIM; k++)
                    emb[(size_t)i * MFR_LBP_DIM + k] = NAN; /* a failure to acquire */
            }
            mfr_image_free(&im);
            mfr_image_free(&crop);
        }
        char *out = mfr_path_join(dir, "lbp.npy");
        rc = out ? mfr_npy_write(out, emb, (size_t)n, MFR_LBP_DIM) : MFR_ERR_NOMEM;
        if (rc == MFR_OK)
            printf("%s: %ld LBP embeddings of %d dimensions (%d failed) in %.1f s\n", out, n, MFR_LBP_DIM, failed,
                   mfr_time_now() - t0);
        free(out);
    }
    if (rc != MFR_OK)
        fprintf(stderr, "bench_synth: %s\n", mfr_last_error());
    for (long i = 0; i < n; i++)
        free(files[i]);
    free(files);
    free(lms);
    free(emb);
    free(path);
    return rc != MFR_OK || failed;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"count", required_argument, NULL, 'n'},
                                         {"recipe", required_argument, NULL, 'r'},
                                         {"lbp", required_argument, NULL, 'l'},
                                         {"threads", required_argument, NULL, 't'},
                                         {0, 0, 0, 0}};
    long n = 2000;
    const char *recipe = MFR_SRCDIR "/datasets/default.ini", *dir = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (mfr_parse_long(optarg, &n) != MFR_OK || n < 1) {
                fprintf(stderr, "bench_synth: --count: a positive integer, please\n");
                return 2;
            }
            break;
        case 'r': recipe = optarg; break;
        case 'l': dir = optarg; break;
        case 't': {
            long t;
            if (mfr_parse_long(optarg, &t) != MFR_OK || t < 1 || t > 1024) {
                fprintf(stderr, "bench_synth: --threads: 1..1024\n");
                return 2;
            }
            mfr_set_threads((int)t);
            break;
        }
        default:
            fprintf(stderr, "usage: bench_synth [--count N] [--recipe FILE] [--threads N] | --lbp DIR\n");
            return 2;
        }
    }
    return dir ? lbp(dir) : speed(recipe, n);
}
