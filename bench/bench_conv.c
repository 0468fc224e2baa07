/* mfr bench conv / dwconv: network layers against oneDNN (NHWC). */
#include "config.h"
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct conv_ctx {
    mfr_conv_plan *plan;
    peer_dnnl_conv *dnnl;
    float *in, *out;
    mfr_epilogue ep;
} conv_ctx;

static void run_mfr(void *p)
{
    conv_ctx *c = p;
    mfr_conv_run(c->plan, c->in, c->out, &c->ep);
}

static void run_dnnl(void *p)
{
    conv_ctx *c = p;
    peer_dnnl_conv_run(c->dnnl, c->in, c->out);
}

static void set_mfr_threads(int n)
{
    mfr_set_threads(n);
}

typedef struct layer {
    const char *name, *kind;
    int h, w, c_in, c_out, k, stride, pad, groups;
} layer;

/* MobileFaceNet at 112x112 and a YuNet-sized detector at 320x240. */
static const layer layers[] = {
    {"mfn-conv1-112-3to64-s2", "conv", 112, 112, 3, 64, 3, 2, 1, 1},
    {"mfn-dw-56-64", "dw3x3", 56, 56, 64, 64, 3, 1, 1, 64},
    {"mfn-pw-56-64to128", "pw", 56, 56, 64, 128, 1, 1, 0, 1},
    {"mfn-dw-56-128-s2", "dw3x3", 56, 56, 128, 128, 3, 2, 1, 128},
    {"mfn-pw-28-128to64", "pw", 28, 28, 128, 64, 1, 1, 0, 1},
    {"mfn-dw-28-128", "dw3x3", 28, 28, 128, 128, 3, 1, 1, 128},
    {"mfn-dw-28-256-s2", "dw3x3", 28, 28, 256, 256, 3, 2, 1, 256},
    {"mfn-dw-14-256", "dw3x3", 14, 14, 256, 256, 3, 1, 1, 256},
    {"mfn-pw-14-256to128", "pw", 14, 14, 256, 128, 1, 1, 0, 1},
    {"mfn-dw-14-512-s2", "dw3x3", 14, 14, 512, 512, 3, 2, 1, 512},
    {"mfn-pw-7-128to512", "pw", 7, 7, 128, 512, 1, 1, 0, 1},
    {"mfn-gdconv-7x7-512", "dw7x7", 7, 7, 512, 512, 7, 1, 0, 512},
    {"yunet-conv1-320x240-3to16", "conv", 240, 320, 3, 16, 3, 2, 1, 1},
    {"yunet-dw-160x120-16", "dw3x3", 120, 160, 16, 16, 3, 1, 1, 16},
    {"yunet-pw-80x60-16to64", "pw", 60, 80, 16, 64, 1, 1, 0, 1},
    {"yunet-dw-80x60-64", "dw3x3", 60, 80, 64, 64, 3, 1, 1, 64},
    {"yunet-dw-40x30-64", "dw3x3", 30, 40, 64, 64, 3, 1, 1, 64},
    {"conv3x3-56-64to64", "conv", 56, 56, 64, 64, 3, 1, 1, 1},
    {"conv3x3-28-128to128", "conv", 28, 28, 128, 128, 3, 1, 1, 1},
    {"dw5x5-28-128", "dw5x5", 28, 28, 128, 128, 5, 1, 2, 128},
    {"dw5x5-56-64-s2", "dw5x5", 56, 56, 64, 64, 5, 2, 2, 64},
};

static float *filled(size_t n, uint64_t item)
{
    float *x = mfr_alloc((n ? n : 1) * sizeof(float));
    if (!x)
        return NULL;
    mfr_rng r;
    mfr_rng_init(&r, 42, 4, item);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)mfr_rng_range(&r, -1.0, 1.0);
    return x;
}

/* The streaming case of a depthwise layer: enough images that input and
 * output together reach 64 MiB (beyond the private caches), timed against a
 * copy of as many bytes. */
enum { STREAM_BYTES = 64 << 20 };

static int stream_images(const layer *L, int oh, int ow)
{
    double per = 4.0 * ((double)L->h * L->w * L->c_in + (double)oh * ow * L->c_out);
    return (int)ceil(STREAM_BYTES / per);
}

/* Times one layer at nimg images for every thread count; appends one row
 * per thread count (shape name + suffix). */
static int bench_layer(const bench_opts *o, const layer *L, int nimg, const char *suffix, int use_dnnl,
                       bench_table *t)
{
    int is_dw = L->groups > 1;
    mfr_conv_params p = {nimg, L->h, L->w, L->c_in, L->c_out, L->k, L->k, L->stride, L->stride,
                         L->pad, L->pad, L->pad, L->pad, 1, 1, L->groups};
    int oh, ow, rc;
    if ((rc = mfr_conv_output_size(&p, &oh, &ow)) != MFR_OK)
        return rc;
    size_t in_n = (size_t)nimg * L->h * L->w * L->c_in, out_n = (size_t)nimg * oh * ow * L->c_out;
    size_t w_n = (size_t)L->c_out * L->k * L->k * (L->c_in / L->groups);
    conv_ctx c = {0};
    /* Depthwise layers: what must move at least is the input read once, the
     * output written once, weights and bias read once. Their bound is a copy
     * of that many bytes (half read, half written: the same working set),
     * timed as one more contender. */
    const double bytes = 4.0 * (double)(in_n + out_n + w_n + (size_t)L->c_out);
    bench_copy *copy = is_dw ? bench_copy_create((size_t)bytes) : NULL;
    float *w = filled(w_n, 1), *bias = filled((size_t)L->c_out, 2), *ref = mfr_alloc(out_n * sizeof(float));
    c.in = filled(in_n, 3);
    c.out = mfr_alloc(out_n * sizeof(float));
    c.ep.act = MFR_ACT_RELU;
    if (!w || !bias || !ref || !c.in || !c.out || (is_dw && !copy)) {
        rc = MFR_ERR_NOMEM;
    } else if ((rc = mfr_conv_plan_create(&p, w, bias, &c.plan)) == MFR_OK) {
        for (int ti = 0; ti < o->nthreads && rc == MFR_OK; ti++) {
            int T = o->threads[ti];
            bench_contender con[3];
            int nc = 0;
            con[nc++] = (bench_contender){"mfr", run_mfr, &c, set_mfr_threads, 0};
            /* oneDNN fixes its thread count when the primitive is created:
             * create it for each thread count, with that count in force. */
            peer_dnnl_conv_free(c.dnnl);
            c.dnnl = NULL;
            if (use_dnnl) {
                peer_dnnl_threads(T);
                if (peer_dnnl_conv_create(&p, w, bias, 1, &c.dnnl) == MFR_OK) {
                    con[nc++] = (bench_contender){"onednn", run_dnnl, &c, peer_dnnl_threads, 0};
                    /* Same answer? (a wrong peer setup would make the ratio meaningless) */
                    mfr_set_threads(T);
                    run_mfr(&c);
                    memcpy(ref, c.out, out_n * sizeof(float));
                    run_dnnl(&c);
                    double worst = 0;
                    for (size_t i = 0; i < out_n; i++)
                        worst = fmax(worst, fabs((double)ref[i] - c.out[i]));
                    if (worst > 1e-3)
                        fprintf(stderr, "mfr: warning: %s: mfr and oneDNN differ by up to %.3g\n", L->name, worst);
                    if (!o->quiet)
                        fprintf(stderr, "  %s%s %dT: %s\n", L->name, suffix, T, peer_dnnl_info());
                } else {
                    fprintf(stderr, "mfr: bench: %s: oneDNN refused it: %s\n", L->name, mfr_last_error());
                }
            }
            bench_result r = {0};
            snprintf(r.shape, sizeof r.shape, "%s%s", L->name, suffix);
            snprintf(r.kind, sizeof r.kind, "%s", L->kind);
            r.flop = 2.0 * out_n * L->k * L->k * (L->c_in / L->groups);
            if (is_dw)
                con[nc++] = (bench_contender){"copy", bench_copy_run, copy, bench_copy_threads, 0};
            rc = bench_measure(o, con, nc, T, &r);
            if (is_dw) {
                /* the copy is the bound, not a peer: out of the table's contenders */
                r.ncont--;
                r.bytes = bytes;
                r.bound_s = r.median_s[r.ncont];
                r.bound_min_s = r.min_s[r.ncont];
            }
            if (rc == MFR_OK)
                rc = bench_table_add(t, &r);
        }
    }
    mfr_conv_plan_free(c.plan);
    peer_dnnl_conv_free(c.dnnl);
    bench_copy_free(copy);
    mfr_free(w);
    mfr_free(bias);
    mfr_free(ref);
    mfr_free(c.in);
    mfr_free(c.out);
    return rc;
}

/* The depthwise layers against their memory bound, cache-resident (one
 * image, as in the table) and streaming: time / (time of the copy of the
 * same bytes in the same round), the median over the rounds; "min"
 * compares the fastest sample of each. */
static void print_bounds(const bench_table *t)
{
    printf("\nmemory bound = a copy of the bytes that must move (input once, output once, weights, bias), timed\n"
           "beside the layer in the same interleaved rounds (resident: one image; streaming: images until input +\n"
           "output >= 64 MiB); x bound = time / copy time in the same round, median over the rounds (min: fastest /\n"
           "fastest), 1.0 = at the bound\n");
    printf("%-22s %3s | %8s %7s %8s %7s %5s %7s | %4s %7s %7s %8s %7s %5s %7s\n", "layer", "thr", "KiB", "copyGB/s",
           "copy us", "x bound", "min", "dnnl x", "imgs", "MiB", "copyGB/s", "copy ms", "x bound", "min", "dnnl x");
    for (int i = 0; i < t->count; i++) {
        const bench_result *a = &t->rows[i];
        if (a->bytes <= 0 || a->bound_s <= 0 || strchr(a->shape, ' '))
            continue;
        const bench_result *b = NULL;
        size_t len = strlen(a->shape);
        for (int j = 0; j < t->count && !b; j++)
            if (t->rows[j].threads == a->threads && strncmp(t->rows[j].shape, a->shape, len) == 0 &&
                t->rows[j].shape[len] == ' ' && t->rows[j].bound_s > 0)
                b = &t->rows[j];
        printf("%-22.22s %3d | %8.0f %7.1f %8.2f %7.2f %5.2f", a->shape, a->threads, a->bytes / 1024, bench_copy_gbs(a),
               a->bound_s * 1e6, bench_paired_ratio(a, 0, a->ncont, 0.5), a->min_s[0] / a->bound_min_s);
        if (a->ncont > 1)
            printf(" %7.2f", bench_paired_ratio(a, 1, a->ncont, 0.5));
        else
            printf(" %7s", "-");
        if (b) {
            printf(" | %4.0f %7.1f %7.1f %8.3f %7.2f %5.2f", b->flop / a->flop, b->bytes / (1 << 20), bench_copy_gbs(b),
                   b->bound_s * 1e3, bench_paired_ratio(b, 0, b->ncont, 0.5), b->min_s[0] / b->bound_min_s);
            if (b->ncont > 1)
                printf(" %7.2f", bench_paired_ratio(b, 1, b->ncont, 0.5));
        }
        printf("\n");
    }
}

int bench_conv(const bench_opts *o, int depthwise_only)
{
    mfr_isa isa = mfr_isa_best();
    bench_table t = {0};
    t.isa = mfr_isa_name(isa);
    t.peak_gflops_core = bench_fma_peak(isa);
    int use_dnnl = o->peers && peer_dnnl_available();
    const char *sel = o->shapes ? o->shapes : "all";
    int rc = MFR_OK;
    for (size_t li = 0; li < sizeof layers / sizeof layers[0] && rc == MFR_OK; li++) {
        const layer *L = &layers[li];
        int is_dw = L->groups > 1;
        if (depthwise_only != is_dw)
            continue;
        if (strcmp(sel, "all") != 0 && strcmp(sel, "layers") != 0 && !strstr(L->name, sel) &&
            strcmp(sel, L->kind) != 0)
            continue;
        rc = bench_layer(o, L, 1, "", use_dnnl, &t);
        if (rc == MFR_OK && is_dw) {
            mfr_conv_params p = {1, L->h, L->w, L->c_in, L->c_out, L->k, L->k, L->stride, L->stride,
                                 L->pad, L->pad, L->pad, L->pad, 1, 1, L->groups};
            int oh, ow;
            char suffix[24];
            if ((rc = mfr_conv_output_size(&p, &oh, &ow)) != MFR_OK)
                break;
            int nimg = stream_images(L, oh, ow);
            snprintf(suffix, sizeof suffix, " x%d", nimg);
            rc = bench_layer(o, L, nimg, suffix, use_dnnl, &t);
        }
    }
    mfr_set_threads(0);
    if (rc == MFR_OK)
        rc = bench_report(&t, o, depthwise_only ? "depthwise convolution" : "convolution");
    if (rc == MFR_OK && depthwise_only)
        print_bounds(&t);
    bench_table_free(&t);
    return rc;
}

int bench_peak(const bench_opts *o)
{
    (void)o;
    for (int i = MFR_ISA_SCALAR; i <= MFR_ISA_AVX512; i++) {
        if (!mfr_isa_available((mfr_isa)i))
            continue;
        double gf = bench_fma_peak((mfr_isa)i);
        printf("%-7s FMA peak, one core: %7.1f GFLOP/s (%.2f FMA instructions per ns)\n", mfr_isa_name((mfr_isa)i),
               gf, gf / (i == MFR_ISA_AVX512 ? 32.0 : i == MFR_ISA_AVX2 ? 16.0 : 2.0));
    }
    for (int ti = 0; ti < o->nthreads; ti++)
        printf("copy bandwidth, %d thread%s: 64 MiB %.1f GB/s, 1 MiB %.1f GB/s (read + write)\n", o->threads[ti],
               o->threads[ti] > 1 ? "s" : "", bench_copy_bandwidth(o->threads[ti], 64u << 20),
               bench_copy_bandwidth(o->threads[ti], 1u << 20));
    return MFR_OK;
}
