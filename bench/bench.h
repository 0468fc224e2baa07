/* mfr bench: kernel benchmarks against peer libraries (internal to the
 * mfr command; see bench/README.md). Timings alternate between contenders
 * after a warm-up, are repeated, and are reported as medians and ratios. */
#ifndef MFR_BENCH_H
#define MFR_BENCH_H

#include <stddef.h>
#include "mfr/kernels.h"
#include "mfr/nn.h"

enum { BENCH_MAX_THREADS = 16, BENCH_MAX_CONTENDERS = 4, BENCH_MAX_REPS = 64 };

typedef struct bench_opts {
    int threads[BENCH_MAX_THREADS];  /* thread counts to run */
    int nthreads;
    int reps;                        /* timed samples per contender */
    double sample_s;                 /* minimum seconds per sample (small shapes are batched) */
    const char *shapes;              /* "square", "layers", "all" or a list "MxNxK,..." */
    const char *csv, *plot;
    int quiet;
    int peers;                       /* 0: ours only */
} bench_opts;

/* One contender: run() does the work once. */
typedef struct bench_contender {
    const char *name;
    void (*run)(void *ctx);
    void *ctx;
    void (*set_threads)(int threads);
    double settle_s;                 /* idle time after each sample (OpenBLAS threads spin) */
} bench_contender;

/* One measured line: a shape at a thread count, every contender's median,
 * and every round's samples for the paired ratios. */
typedef struct bench_result {
    char shape[64];
    char kind[16];
    int threads;
    double flop;                     /* floating-point operations per run */
    double bytes;                    /* minimum memory traffic per run (0: not reported) */
    double bound_s, bound_min_s;     /* median and fastest copy of `bytes`, timed beside the contenders */
    double peak_flop;                /* flop of one run of the FMA loop timed beside them (0: none) */
    int ncont;
    char names[BENCH_MAX_CONTENDERS][16];
    double median_s[BENCH_MAX_CONTENDERS];
    double min_s[BENCH_MAX_CONTENDERS];
    /* round_s[i][k]: contender i's sample in round k (k < reps). When the
     * row has a bound, round_s[ncont] holds the copy's samples; when it has
     * peak_flop, the FMA loop's (a row has one or the other). */
    int reps;
    double round_s[BENCH_MAX_CONTENDERS][BENCH_MAX_REPS];
} bench_result;

typedef struct bench_table {
    bench_result *rows;
    int count, cap;
    double peak_gflops_core;         /* measured FMA peak of one core for the ISA in use */
    const char *isa;
} bench_table;

/* Times contenders alternately: a warm-up, then opts->reps rounds, each
 * round timing every contender once (in rotating order). Fills r. */
int bench_measure(const bench_opts *o, bench_contender *c, int nc, int threads, bench_result *r);
int bench_table_add(bench_table *t, const bench_result *r);
/* Quantile q (0.5: the median) over the rounds of round_s[i][k] /
 * round_s[j][k]: a ratio of two contenders timed in the same round. A
 * burst of load that hits one contender's sample in a few rounds is left
 * out with those rounds; it can move one contender's median and not the
 * other's. Rounds where contender j took no time are skipped; 0: none left. */
double bench_paired_ratio(const bench_result *r, int i, int j, double q);
/* The copy bandwidth behind a row's bound (GB/s, read + write; 0: none). */
double bench_copy_gbs(const bench_result *r);
void bench_table_free(bench_table *t);
/* Prints the table; writes --csv and --plot when asked. */
int bench_report(const bench_table *t, const bench_opts *o, const char *title);

/* FMA peak of one core in GFLOP/s for an ISA (unrolled independent FMAs). */
double bench_fma_peak(mfr_isa isa);
/* The same FMA loop as a contender (ctx: a const mfr_isa *), on the thread
 * count set by bench_fma_threads, timed in the same interleaved rounds as
 * the kernels so that "% of peak" compares two samples taken under the same
 * load; bench_fma_flop: the flop of one run at a thread count. */
void bench_fma_run(void *isa);
void bench_fma_threads(int n);
double bench_fma_flop(mfr_isa isa, int threads);
/* Quantile q over the rounds of contender i's GFLOP/s as a percentage of
 * the FMA loop's in the same round (round_s[ncont], r->peak_flop per run);
 * 0 when the row did not time the loop. */
double bench_paired_peak_pct(const bench_result *r, int i, double q);
/* Copy bandwidth (GB/s, bytes read + written) for a working set of about
 * `bytes` bytes at a thread count: the bound for memory-bound kernels. */
double bench_copy_bandwidth(int threads, size_t bytes);

/* The memory bound as a contender: copies bytes / 2 bytes from one buffer
 * into another (bytes read + written), split over the thread count set by
 * bench_copy_threads. Timed in the same interleaved rounds as the kernel it
 * bounds, so that both see the same state of a shared machine. */
typedef struct bench_copy bench_copy;
bench_copy *bench_copy_create(size_t bytes); /* NULL when out of memory */
void bench_copy_free(bench_copy *c);
void bench_copy_run(void *c);
void bench_copy_threads(int n);

/* Peers (compiled in with --with-openblas/--with-blis/--with-dnnl). */
typedef struct bench_gemm_shape {
    int m, n, k;
} bench_gemm_shape;
/* Parses "MxNxK[,MxNxK...]": the count, or -1 with the last error set. */
int bench_parse_gemm_shapes(const char *s, bench_gemm_shape *out, int max);

int peer_openblas_available(void);
const char *peer_openblas_info(void);
void peer_openblas_threads(int n);
void peer_openblas_sgemm(int m, int n, int k, const float *a, const float *b, float *c);

int peer_blis_available(void);
/* Asks BLIS for its AVX-512 kernels (BLIS_ARCH_TYPE) before its first call. */
void peer_blis_best_kernel(void);
const char *peer_blis_info(void);
void peer_blis_threads(int n);
void peer_blis_sgemm(int m, int n, int k, const float *a, const float *b, float *c);

int peer_dnnl_available(void);
const char *peer_dnnl_info(void);
void peer_dnnl_threads(int n);
typedef struct peer_dnnl_conv peer_dnnl_conv;
/* An NHWC convolution with OHWI weights, ReLU fused when relu != 0. */
int peer_dnnl_conv_create(const mfr_conv_params *p, const float *weights, const float *bias, int relu,
                          peer_dnnl_conv **out);
void peer_dnnl_conv_run(peer_dnnl_conv *pc, const float *in, float *out);
void peer_dnnl_conv_free(peer_dnnl_conv *pc);

/* oneDNN as a whole-network peer (`mfr bench model`): the layers of an
 * mfr_net as oneDNN primitives for batches of `batch`, batch norm folded,
 * activations and residual adds fused as post-ops, weights reordered once.
 * Create fails (MFR_ERR_UNSUPPORTED, naming the layer) on a layer type it
 * does not map, or when oneDNN is not compiled in. */
typedef struct peer_dnnl_net peer_dnnl_net;
int peer_dnnl_net_create(const mfr_net *net, int batch, peer_dnnl_net **out);
/* One forward pass of `batch` NHWC images. */
int peer_dnnl_net_run(peer_dnnl_net *pn, const float *input);
/* Layer `layer`'s output (batch x h x w x c) after a run; NULL if unknown. */
const float *peer_dnnl_net_layer_output(const peer_dnnl_net *pn, int layer);
const char *peer_dnnl_net_info(void);
/* Per-step profile (each step waited for, so its own time): on resets the
 * sums. Step i computes layer `layer` with oneDNN implementation `impl`
 * ("plain C": the L2 normalisation); mean seconds per profiled run. */
void peer_dnnl_net_profile(peer_dnnl_net *pn, int on);
int peer_dnnl_net_step_count(const peer_dnnl_net *pn);
void peer_dnnl_net_step_get(const peer_dnnl_net *pn, int i, const char **layer, const char **impl, double *mean_s);
void peer_dnnl_net_free(peer_dnnl_net *pn);

/* Subcommands. */
int bench_gemm(const bench_opts *o);
int bench_conv(const bench_opts *o, int depthwise_only);
int bench_peak(const bench_opts *o);

#endif
