/* mfr bench gemm: C = A B (row-major, 'N','N') against OpenBLAS and BLIS. */
#include "config.h"
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gemm_ctx {
    int m, n, k;
    float *a, *b, *c;
} gemm_ctx;

static void run_mfr(void *p)
{
    gemm_ctx *g = p;
    mfr_sgemm('N', 'N', g->m, g->n, g->k, 1.0f, g->a, g->k, g->b, g->n, 0.0f, g->c, g->n);
}

static void run_openblas(void *p)
{
    gemm_ctx *g = p;
    peer_openblas_sgemm(g->m, g->n, g->k, g->a, g->b, g->c);
}

static void run_blis(void *p)
{
    gemm_ctx *g = p;
    peer_blis_sgemm(g->m, g->n, g->k, g->a, g->b, g->c);
}

/* GEMM shapes of network layers: 1x1 convolutions as [H*W, c_in] x [c_in, c_out],
 * 3x3 convolutions as their implicit GEMM [OH*OW, 9 c_in] x [9 c_in, c_out]. */
static const struct {
    const char *name;
    int m, n, k;
} layer_shapes[] = {
    {"mfn-conv1-3x3s2", 56 * 56, 64, 27},
    {"mfn-pw-56-64to128", 56 * 56, 128, 64},
    {"mfn-pw-28-128to64", 28 * 28, 64, 128},
    {"mfn-pw-28-64to128", 28 * 28, 128, 64},
    {"mfn-pw-28-64to256", 28 * 28, 256, 64},
    {"mfn-pw-14-256to128", 14 * 14, 128, 256},
    {"mfn-pw-14-128to256", 14 * 14, 256, 128},
    {"mfn-pw-7-512to128", 7 * 7, 128, 512},
    {"mfn-pw-7-128to512", 7 * 7, 512, 128},
    {"mfn-linear-512to128", 1, 128, 512},
    {"yunet-conv1-3x3s2", 160 * 120, 16, 27},
    {"yunet-pw-80x60-16to64", 80 * 60, 64, 16},
    {"yunet-pw-40x30-64", 40 * 30, 64, 64},
    {"yunet-pw-20x15-64", 20 * 15, 64, 64},
    {"conv3x3-56-64to64", 56 * 56, 64, 576},
};

static const int square_sizes[] = {64, 128, 256, 384, 512, 768, 1024, 1536, 2048};

static float *filled(size_t n, uint64_t item)
{
    float *x = mfr_alloc(n * sizeof(float));
    if (!x)
        return NULL;
    mfr_rng r;
    mfr_rng_init(&r, 42, 3, item);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)mfr_rng_range(&r, -1.0, 1.0);
    return x;
}

static void set_mfr_threads(int n)
{
    mfr_set_threads(n);
}

/* Largest relative difference of ours against a peer, relative to sum|a||b|
 * (bounded by k * 2^-24 for two correct float GEMMs). */
static double check_against(gemm_ctx *g, void (*peer)(void *))
{
    size_t mn = (size_t)g->m * g->n;
    float *mine = mfr_alloc(mn * sizeof(float));
    if (!mine)
        return NAN;
    run_mfr(g);
    memcpy(mine, g->c, mn * sizeof(float));
    peer(g);
    double worst = 0;
    for (int i = 0; i < g->m; i += 1 + g->m / 17)
        for (int j = 0; j < g->n; j += 1 + g->n / 13) {
            double s = 0;
            for (int p = 0; p < g->k; p++)
                s += fabs((double)g->a[(size_t)i * g->k + p] * g->b[(size_t)p * g->n + j]);
            double d = fabs((double)mine[(size_t)i * g->n + j] - g->c[(size_t)i * g->n + j]) / (s > 0 ? s : 1);
            if (d > worst)
                worst = d;
        }
    mfr_free(mine);
    return worst;
}

int bench_parse_gemm_shapes(const char *s, bench_gemm_shape *out, int max)
{
    int count = 0;
    const char *p = s;
    while (*p) {
        int m, n, k, used = 0;
        if (count == max || sscanf(p, "%dx%dx%d%n", &m, &n, &k, &used) != 3 || m < 1 || n < 1 || k < 1 ||
            m > 65536 || n > 65536 || k > 65536) {
            mfr_error(MFR_ERR_ARG, "--shapes: expected square, layers, all or MxNxK[,MxNxK...] (at most %d, each 1..65536), got '%s'", max, s);
            return -1;
        }
        out[count++] = (bench_gemm_shape){m, n, k};
        p += used;
        if (*p == ',')
            p++;
        else if (*p) {
            mfr_error(MFR_ERR_ARG, "--shapes: unexpected '%s' in '%s'", p, s);
            return -1;
        }
    }
    return count;
}

int bench_gemm(const bench_opts *o)
{
    struct {
        char name[64];
        int m, n, k;
    } shapes[64];
    int ns = 0;
    const char *sel = o->shapes ? o->shapes : "all";
    int want_square = !strcmp(sel, "square") || !strcmp(sel, "all");
    int want_layers = !strcmp(sel, "layers") || !strcmp(sel, "all");
    if (want_square)
        for (size_t i = 0; i < sizeof square_sizes / sizeof square_sizes[0]; i++) {
            int s = square_sizes[i];
            snprintf(shapes[ns].name, sizeof shapes[ns].name, "square-%d", s);
            shapes[ns].m = shapes[ns].n = shapes[ns].k = s;
            ns++;
        }
    if (want_layers)
        for (size_t i = 0; i < sizeof layer_shapes / sizeof layer_shapes[0]; i++) {
            snprintf(shapes[ns].name, sizeof shapes[ns].name, "%s", layer_shapes[i].name);
            shapes[ns].m = layer_shapes[i].m;
            shapes[ns].n = layer_shapes[i].n;
            shapes[ns].k = layer_shapes[i].k;
            ns++;
        }
    if (!want_square && !want_layers) {
        bench_gemm_shape list[32];
        int c = bench_parse_gemm_shapes(sel, list, 32);
        if (c < 0)
            return MFR_ERR_ARG;
        for (int i = 0; i < c; i++) {
            snprintf(shapes[ns].name, sizeof shapes[ns].name, "%dx%dx%d", list[i].m, list[i].n, list[i].k);
            shapes[ns].m = list[i].m;
            shapes[ns].n = list[i].n;
            shapes[ns].k = list[i].k;
            ns++;
        }
    }
    mfr_isa isa = mfr_isa_best();
    mfr_gemm_blocking bl = mfr_gemm_get_blocking();
    bench_table t = {0};
    t.isa = mfr_isa_name(isa);
    t.peak_gflops_core = bench_fma_peak(isa);
    printf("mfr sgemm: isa %s, micro-tile %dx%d, MC %d KC %d NC %d\n", t.isa, bl.mr, bl.nr, bl.mc, bl.kc, bl.nc);
    int use_ob = o->peers && peer_openblas_available(), use_blis = o->peers && peer_blis_available();
    if (use_ob) {
        peer_openblas_threads(1);
        printf("peer: %s\n", peer_openblas_info());
    }
    if (use_blis) {
        peer_blis_best_kernel();
        peer_blis_threads(1);
        float z = 0;
        peer_blis_sgemm(1, 1, 1, &z, &z, &z); /* initialise, so that the query names the kernel that runs */
        printf("peer: %s\n", peer_blis_info());
    }
    int rc = MFR_OK;
    for (int s = 0; s < ns && rc == MFR_OK; s++) {
        gemm_ctx g = {shapes[s].m, shapes[s].n, shapes[s].k, NULL, NULL, NULL};
        g.a = filled((size_t)g.m * g.k, 1);
        g.b = filled((size_t)g.k * g.n, 2);
        g.c = filled((size_t)g.m * g.n, 3);
        if (!g.a || !g.b || !g.c) {
            rc = MFR_ERR_NOMEM;
        } else {
            bench_contender c[4];
            int nc = 0;
            c[nc++] = (bench_contender){"mfr", run_mfr, &g, set_mfr_threads, 0};
            if (use_ob)
                c[nc++] = (bench_contender){"openblas", run_openblas, &g, peer_openblas_threads, 0};
            if (use_blis)
                c[nc++] = (bench_contender){"blis", run_blis, &g, peer_blis_threads, 0};
            /* the FMA loop in the same rounds: the reference of % of peak */
            c[nc++] = (bench_contender){"fma", bench_fma_run, &isa, bench_fma_threads, 0};
            mfr_set_threads(1);
            if (use_ob) {
                peer_openblas_threads(1);
                double d = check_against(&g, run_openblas);
                if (!(d <= (g.k + 4) * 6e-8))
                    fprintf(stderr, "mfr: warning: %s: mfr and OpenBLAS differ by %.3g of sum|a||b|\n",
                            shapes[s].name, d);
            }
            for (int ti = 0; ti < o->nthreads && rc == MFR_OK; ti++) {
                bench_result r = {0};
                snprintf(r.shape, sizeof r.shape, "%.63s", shapes[s].name);
                snprintf(r.kind, sizeof r.kind, "gemm");
                r.flop = 2.0 * g.m * g.n * g.k;
                /* OpenBLAS worker threads spin ~0.1 s after a call: let them sleep
                 * before the next contender runs on the same cores. */
                if (use_ob)
                    c[1].settle_s = o->threads[ti] > 1 ? 0.15 : 0;
                rc = bench_measure(o, c, nc, o->threads[ti], &r);
                /* the FMA loop is the reference, not a peer: out of the contenders */
                r.ncont--;
                r.peak_flop = bench_fma_flop(isa, o->threads[ti]);
                if (rc == MFR_OK)
                    rc = bench_table_add(&t, &r);
                if (!o->quiet && rc == MFR_OK) {
                    /* the figures as they come (a run cut short keeps them) */
                    fprintf(stderr, "  %s %dT: mfr %.4f ms (%.1f%% of peak)", shapes[s].name, o->threads[ti],
                            r.median_s[0] * 1e3, bench_paired_peak_pct(&r, 0, 0.5));
                    for (int k = 1; k < r.ncont; k++)
                        fprintf(stderr, ", %s %.4f ms (%.2fx)", r.names[k], r.median_s[k] * 1e3,
                                bench_paired_ratio(&r, k, 0, 0.5));
                    fprintf(stderr, "\n");
                }
            }
        }
        mfr_free(g.a);
        mfr_free(g.b);
        mfr_free(g.c);
    }
    mfr_set_threads(0);
    if (rc == MFR_OK)
        rc = bench_report(&t, o, "sgemm");
    bench_table_free(&t);
    return rc;
}
