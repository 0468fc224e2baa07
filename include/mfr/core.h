/*
 * mfr/core.h - the foundation every other mfr module stands on.
 *
 * Usage in a nutshell:
 *
 *     mfr_ini *ini;
 *     if (mfr_ini_load("datasets/tiny.ini", 0, &ini) != MFR_OK) {
 *         fprintf(stderr, "mfr: %s\n", mfr_last_error());   // "datasets/tiny.ini:3: ..."
 *         return 1;
 *     }
 *     long n;
 *     int sec = mfr_ini_find(ini, "identities");
 *     int rc = mfr_ini_get_int(ini, sec, "count", 100, 1, 1000000, &n);
 *     if (rc == MFR_OK) rc = mfr_ini_check_unused(ini);   // unknown keys are errors
 *
 *     mfr_rng r;
 *     mfr_rng_init(&r, seed, MFR_STREAM_IDENTITY, identity_index);
 *     double u = mfr_rng_uniform(&r);   // depends only on (seed, stream, item, draw#)
 *
 * Conventions (docs/conventions.md has the full text):
 *  - Functions that can fail return an int status: MFR_OK (0) or an MFR_ERR_* code.
 *    On failure they also set a per-thread "last error" text that names the file,
 *    line or argument at fault; callers add context with mfr_error_context().
 *  - The library never calls exit() or abort() on bad input.
 *  - The only process-wide state is the thread count and the log level.
 */
#ifndef MFR_CORE_H
#define MFR_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MFR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MFR_PRINTF(f, a)
#endif

/* ------------------------------------------------------------------ errors */

typedef enum mfr_status {
    MFR_OK = 0,
    MFR_ERR_NOMEM,       /* allocation failed, or a size computation overflowed */
    MFR_ERR_IO,          /* a file could not be opened, read, written or renamed */
    MFR_ERR_FORMAT,      /* input is malformed, truncated or corrupt */
    MFR_ERR_RANGE,       /* a value is outside its allowed range or a limit */
    MFR_ERR_ARG,         /* a bad argument or option from the caller */
    MFR_ERR_UNSUPPORTED, /* valid, but a variant mfr does not handle */
    MFR_ERR_NOTFOUND,    /* a named item (section, column, file) does not exist */
    MFR_ERR_INTERNAL,    /* a broken invariant inside mfr: a bug, please report */
    MFR_ERR_COUNT_
} mfr_status;

/* A short fixed description of a status code ("out of memory", ...). */
const char *mfr_strerror(int code);

/* Sets this thread's last-error text from a printf format and returns `code`,
 * so that a failing function can end with `return mfr_error(MFR_ERR_IO, ...)`. */
int mfr_error(int code, const char *fmt, ...) MFR_PRINTF(2, 3);

/* Prepends "<context>: " to this thread's last-error text; returns `code`.
 * Typical use: return mfr_error_context(rc, "%s", path); */
int mfr_error_context(int code, const char *fmt, ...) MFR_PRINTF(2, 3);

/* This thread's last-error text; "" when none was set. Never NULL. */
const char *mfr_last_error(void);
void mfr_clear_error(void);

/* ----------------------------------------------------------------- logging */

typedef enum mfr_log_level { MFR_LOG_ERROR = 0, MFR_LOG_WARN, MFR_LOG_INFO, MFR_LOG_DEBUG } mfr_log_level;

void mfr_log_set_level(mfr_log_level level); /* default MFR_LOG_INFO */
mfr_log_level mfr_log_get_level(void);
/* Writes "mfr: <message>\n" (warnings: "mfr: warning: ...") to stderr when
 * `level` is at or below the current level. Thread-safe, one line at a time. */
void mfr_log(mfr_log_level level, const char *fmt, ...) MFR_PRINTF(2, 3);

/* ------------------------------------------------------------ progress bar */

/* A progress bar on stderr: count, rate and ETA. It draws only when stderr is
 * a terminal, `quiet` is 0, and the work has lasted longer than one second.
 * Update it from one thread (e.g. the OpenMP master or inside a critical). */
typedef struct mfr_progress {
    const char *label;
    uint64_t total, done;
    double start, last_draw;
    int enabled, drawn;
} mfr_progress;

void mfr_progress_begin(mfr_progress *p, const char *label, uint64_t total, int quiet);
void mfr_progress_update(mfr_progress *p, uint64_t done);
void mfr_progress_end(mfr_progress *p);

/* ------------------------------------------------------------------ timers */

double mfr_time_now(void);    /* monotonic seconds */
uint64_t mfr_time_ns(void);   /* monotonic nanoseconds */

/* ------------------------------------------------------------------ memory */

#define MFR_ALIGN 64

/* 64-byte aligned allocation; sets the last error and returns NULL on failure.
 * mfr_alloc(0) returns a valid, freeable pointer. Free with mfr_free. */
void *mfr_alloc(size_t size);
void *mfr_calloc(size_t count, size_t size); /* zeroed, overflow-checked */
void mfr_free(void *p);
/* *out = a * b; returns MFR_ERR_NOMEM (with a message) on overflow. */
int mfr_size_mul(size_t a, size_t b, size_t *out);
char *mfr_strdup(const char *s);  /* malloc'd copy (free with free); NULL + error on failure */

/* ---------------------------------------------------------------- threads */

/* Threads used by parallel regions. n <= 0 restores the default:
 * OMP_NUM_THREADS if set, else all cores. Kernels must give identical
 * results at any thread count. */
void mfr_set_threads(int n);
int mfr_threads(void);

/* ---------------------------------------------------------- random numbers */

/* Counter-based random numbers (Philox4x32-10). A stream is keyed by
 * (seed, stream, item): the numbers it yields depend on nothing else, so work
 * split across threads in any way draws the same values for the same item. */
typedef struct mfr_rng {
    uint32_t key[2];
    uint32_t ctr[4];   /* ctr[0] counts blocks; ctr[1] = stream; ctr[2..3] = item */
    uint32_t buf[4];
    int avail;         /* unread words left in buf */
    int has_spare;     /* a second normal deviate is cached */
    double spare;
} mfr_rng;

void mfr_rng_init(mfr_rng *r, uint64_t seed, uint32_t stream, uint64_t item);
uint32_t mfr_rng_u32(mfr_rng *r);
uint64_t mfr_rng_u64(mfr_rng *r);
double mfr_rng_uniform(mfr_rng *r);                   /* [0, 1), 53 random bits */
float mfr_rng_uniformf(mfr_rng *r);                   /* [0, 1), 24 random bits */
double mfr_rng_range(mfr_rng *r, double lo, double hi); /* [lo, hi) */
double mfr_rng_normal(mfr_rng *r);                     /* mean 0, sd 1 */
uint32_t mfr_rng_below(mfr_rng *r, uint32_t n);       /* uniform integer in [0, n), unbiased; 0 if n == 0 */
/* Fisher-Yates shuffle of `count` elements of `size` bytes. */
void mfr_rng_shuffle(mfr_rng *r, void *base, size_t count, size_t size);
/* Picks an index in [0, n) with probability weights[i] / sum(weights). */
int mfr_rng_pick(mfr_rng *r, const double *weights, int n);
/* The raw Philox4x32-10 block function (exposed for tests against known answers). */
void mfr_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* ------------------------------------------------------------------- files */

/* Atomic writes: output goes to a temporary file beside `path` and is renamed
 * over it on commit, so a failed command never leaves a partial file. */
typedef struct mfr_afile {
    FILE *fp;
    char *path;
    char *tmp;
} mfr_afile;

int mfr_afile_open(mfr_afile *f, const char *path);
/* Flushes, closes and renames. Reports write errors (e.g. disk full). */
int mfr_afile_commit(mfr_afile *f);
/* Closes and removes the temporary file; safe to call after a failed commit
 * or on a zeroed struct. */
void mfr_afile_abort(mfr_afile *f);
int mfr_write_file_atomic(const char *path, const void *data, size_t size);

/* Reads a whole file into a malloc'd buffer (NUL-terminated for convenience,
 * terminator not counted). Files larger than `max_size` are refused. */
int mfr_read_file(const char *path, size_t max_size, void **data, size_t *size);

/* Atomic output directories: files are written under a temporary directory
 * beside `path`; commit replaces `path` (an existing directory is moved aside
 * and removed), abort removes everything written. */
typedef struct mfr_outdir {
    char *path;   /* final path */
    char *tmp;    /* the directory to write into now */
} mfr_outdir;

int mfr_outdir_begin(mfr_outdir *d, const char *path);
int mfr_outdir_commit(mfr_outdir *d);
void mfr_outdir_abort(mfr_outdir *d);
/* Joins directory and name into a malloc'd string; NULL + error on failure. */
char *mfr_path_join(const char *dir, const char *name);
/* Creates a directory and its parents (like mkdir -p). */
int mfr_mkdir_p(const char *path);
/* Removes a file or a directory tree. */
int mfr_remove_tree(const char *path);

/* ---------------------------------------------------------------------- CRC */

/* CRC-32 (zlib's polynomial); start with crc = 0. */
uint32_t mfr_crc32(uint32_t crc, const void *data, size_t size);

/* ------------------------------------------------------------------ recipes */

/* INI-like text: "[section]", "key = value", '#' or ';' comments, blank lines.
 * Keys before the first section belong to a section named "". Values are
 * trimmed; a value may not span lines. Duplicate keys in a section are errors;
 * repeated section names are errors unless MFR_INI_REPEATED_SECTIONS is given
 * (network definitions repeat [conv] etc.). Getters mark keys as used, and
 * mfr_ini_check_unused() reports the first key nobody asked for, so typos
 * in recipes are caught. Errors name "file:line". */
typedef struct mfr_ini mfr_ini;

enum { MFR_INI_REPEATED_SECTIONS = 1 };

int mfr_ini_load(const char *path, int flags, mfr_ini **out);
/* `name` is used in messages in place of a file name. */
int mfr_ini_parse(const char *text, size_t size, const char *name, int flags, mfr_ini **out);
void mfr_ini_free(mfr_ini *ini);

const char *mfr_ini_name(const mfr_ini *ini);
int mfr_ini_section_count(const mfr_ini *ini);
const char *mfr_ini_section_name(const mfr_ini *ini, int sec);
int mfr_ini_section_line(const mfr_ini *ini, int sec);
/* Index of the first section with that name, or -1. */
int mfr_ini_find(const mfr_ini *ini, const char *section);
int mfr_ini_key_count(const mfr_ini *ini, int sec);
const char *mfr_ini_key_name(const mfr_ini *ini, int sec, int i);

/* Raw value or NULL when absent (sec may be -1: absent). Marks the key used. */
const char *mfr_ini_get(mfr_ini *ini, int sec, const char *key);
/* Line of a key, or of the section header when key is NULL; 0 if absent. */
int mfr_ini_line(const mfr_ini *ini, int sec, const char *key);

/* Typed getters: when the key is absent *out = def and MFR_OK is returned;
 * a malformed or out-of-range value is an error naming file:line and key. */
int mfr_ini_get_int(mfr_ini *ini, int sec, const char *key, long def, long min, long max, long *out);
int mfr_ini_get_double(mfr_ini *ini, int sec, const char *key, double def, double min, double max, double *out);
int mfr_ini_get_bool(mfr_ini *ini, int sec, const char *key, int def, int *out);
int mfr_ini_get_string(mfr_ini *ini, int sec, const char *key, const char *def, const char **out);
/* `choices` is NULL-terminated; *out is the index of the value. */
int mfr_ini_get_choice(mfr_ini *ini, int sec, const char *key, const char *const *choices, int def, int *out);
/* Comma-separated numbers: at most `max` are stored; *count gets how many.
 * Absent: *count = 0. Each value must lie in [min, max_value]. */
int mfr_ini_get_doubles(mfr_ini *ini, int sec, const char *key, double min, double max_value,
                        double *out, int max, int *count);
/* Error for the first key of the file that no getter asked for. */
int mfr_ini_check_unused(const mfr_ini *ini);
/* Sets an error "file:line: message" at a key's line (for checks across keys). */
int mfr_ini_error(const mfr_ini *ini, int sec, const char *key, int code, const char *fmt, ...) MFR_PRINTF(5, 6);

/* --------------------------------------------------------------------- CSV */

/* A streaming CSV reader (RFC 4180: quotes, doubled quotes, CRLF). The first
 * row is the header. Errors name "file:line". Fields stay valid until the
 * next call of mfr_csv_next. Lines longer than 1 MiB are refused. */
typedef struct mfr_csv mfr_csv;

int mfr_csv_open(const char *path, mfr_csv **out);
/* Reads from a memory buffer (copied); `name` is used in messages. */
int mfr_csv_open_mem(const void *data, size_t size, const char *name, mfr_csv **out);
void mfr_csv_close(mfr_csv *c);
int mfr_csv_columns(const mfr_csv *c);
const char *mfr_csv_header(const mfr_csv *c, int col);
int mfr_csv_column(const mfr_csv *c, const char *name); /* index or -1 */
/* Reads the next row: *has_row = 0 at end of file. A row with a different
 * number of fields than the header is an error. */
int mfr_csv_next(mfr_csv *c, int *has_row);
const char *mfr_csv_field(const mfr_csv *c, int col);
long mfr_csv_line(const mfr_csv *c); /* line where the current row started */
const char *mfr_csv_name(const mfr_csv *c);
/* Typed field access; errors name file:line and the column. An empty field
 * parses as NaN in mfr_csv_double only when allow_empty is set. */
int mfr_csv_double(const mfr_csv *c, int col, int allow_empty, double *out);
int mfr_csv_long(const mfr_csv *c, int col, long min, long max, long *out);
/* Writes one field, quoted when it holds a comma, quote or newline. */
void mfr_csv_write_field(FILE *fp, const char *s);

/* ------------------------------------------------------------- number text */

/* Strict conversions of a whole string (no trailing garbage, no overflow). */
int mfr_parse_long(const char *s, long *out);
int mfr_parse_double(const char *s, double *out);

/* -------------------------------------------------------------------- CPU */

typedef struct mfr_cpu_info {
    char vendor[16];
    char model[64];
    int sse2, sse3, ssse3, sse41, sse42, popcnt, avx, avx2, fma, f16c;
    int avx512f, avx512dq, avx512cd, avx512bw, avx512vl, avx512vnni, avx512bf16, avx512fp16, avx_vnni;
    int os_avx, os_avx512;   /* the OS saves the wide registers (XGETBV) */
    int logical_cpus;        /* online CPUs */
    long l1d, l2, l3;        /* data cache sizes in bytes (l3: whole cache); 0 if unknown */
} mfr_cpu_info;

/* Detected once, thread-safe; never NULL. */
const mfr_cpu_info *mfr_cpu(void);

/* Instruction-set levels for kernel dispatch, best first. */
typedef enum mfr_isa { MFR_ISA_SCALAR = 0, MFR_ISA_AVX2 = 1, MFR_ISA_AVX512 = 2 } mfr_isa;

/* The best level both compiled in and supported by this CPU and OS, lowered by
 * the environment variable MFR_ISA=scalar|avx2|avx512 when set (tests and
 * benchmarks use it to run each path). */
mfr_isa mfr_isa_best(void);
const char *mfr_isa_name(mfr_isa isa);
/* Whether a level is compiled in and runs here (ignores MFR_ISA). */
int mfr_isa_available(mfr_isa isa);

/* ------------------------------------------------------------------- build */

typedef struct mfr_build_info {
    const char *version, *compiler, *cflags, *simd, *peers;
    int openmp;
} mfr_build_info;
const mfr_build_info *mfr_build(void);

/* -------------------------------------------------------------- .npy files */
/* NumPy .npy float32 matrices (src/core/npy.c; format in docs/metrics.md).
 * Embeddings are stored this way: rows x cols float32, row-major, so that
 * numpy.load() reads them directly. Reading accepts versions 1-3, '<f4' and
 * '>f4', C order, 1-d (n x 1) or 2-d shapes; more than max_values values are
 * refused before any allocation. *data is freed with mfr_free. */
int mfr_npy_read(const char *path, size_t max_values, float **data, size_t *rows, size_t *cols);
/* The same from a memory buffer; `name` is used in messages. */
int mfr_npy_parse(const void *buf, size_t size, const char *name, size_t max_values, float **data, size_t *rows,
                  size_t *cols);
/* Writes version 1.0, '<f4', atomically. */
int mfr_npy_write(const char *path, const float *data, size_t rows, size_t cols);

#ifdef __cplusplus
}
#endif
#endif /* MFR_CORE_H */
