/* mfr mask: put synthetic masks on real photos from landmarks given in a CSV. */
#include "config.h"
#include "cli/cli.h"
#include "mfr/face.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_LANDMARKS = CLI_OPT_FIRST_PRIVATE, OPT_IMAGES, OPT_MASK, OPT_FACE };

typedef struct lm_row {
    char *file;
    long face;
    long order;   /* row number, for a stable grouping and the random mask */
    float lm[10];
} lm_row;

/* "random", a type ("surgical") or a full label "type-shape-coverage-color". */
static int parse_mask(const char *s, mfr_mask *m, int *random)
{
    char buf[96], *part[4];
    int n = 0;
    *random = strcmp(s, "random") == 0;
    memset(m, 0, sizeof *m);
    if (*random)
        return 0;
    if (strlen(s) >= sizeof buf)
        return -1;
    strcpy(buf, s);
    for (char *p = buf; n < 4;) {
        part[n++] = p;
        p = strchr(p, '-');
        if (!p)
            break;
        *p++ = '\0';
    }
    m->type = mfr_mask_type_find(part[0]);
    if (m->type <= MFR_MASK_NONE)
        return -1;
    /* a type alone takes its usual cut and colour */
    m->shape = m->type == MFR_MASK_N95 || m->type == MFR_MASK_KN95 || m->type == MFR_MASK_GAS ? MFR_SHAPE_ROUND : MFR_SHAPE_WIDE;
    m->coverage = m->type == MFR_MASK_SURGICAL ? MFR_COVER_MEDIUM : MFR_COVER_HIGH;
    m->color = m->type == MFR_MASK_CLOTH ? MFR_COLOR_PATTERN : m->type == MFR_MASK_GAS ? MFR_COLOR_BLACK
             : m->type == MFR_MASK_SURGICAL || m->type == MFR_MASK_NIST ? MFR_COLOR_LIGHT_BLUE : MFR_COLOR_WHITE;
    if (n == 1)
        return 0;
    if (n != 4)
        return -1;
    m->shape = mfr_mask_shape_find(part[1]);
    m->coverage = mfr_mask_coverage_find(part[2]);
    m->color = mfr_mask_color_find(part[3]);
    return m->shape < 0 || m->coverage < 0 || m->color < 0 ? -1 : 0;
}

static void random_mask(uint64_t seed, long order, mfr_mask *m)
{
    static const int colors[5] = {MFR_COLOR_LIGHT_BLUE, MFR_COLOR_BLACK, MFR_COLOR_WHITE, MFR_COLOR_RED, MFR_COLOR_GREEN};
    mfr_rng g;
    mfr_rng_init(&g, seed, MFR_STREAM_PHOTO, (uint64_t)order);
    uint32_t k = mfr_rng_below(&g, 2 * 3 * 5 + 5);
    memset(m, 0, sizeof *m);
    if (k < 30) {
        m->type = MFR_MASK_NIST;
        m->shape = (int)(k / 15);
        m->coverage = (int)(k / 5 % 3);
        m->color = colors[k % 5];
    } else {
        int dummy;
        static const char *const types[5] = {"surgical", "n95", "kn95", "cloth", "gas"};
        parse_mask(types[k - 30], m, &dummy);
    }
    m->seed = mfr_rng_u32(&g);
}

/* A relative path without ".." that stays inside the output directory. */
static int safe_relative(const char *p)
{
    if (!*p || p[0] == '/')
        return 0;
    for (const char *s = p; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return 0;
        s += n;
        if (*s == '/')
            s++;
    }
    return 1;
}

static int read_landmarks(const char *path, lm_row **out, long *count)
{
    mfr_csv *c;
    int rc = mfr_csv_open(path, &c);
    *out = NULL;
    *count = 0;
    if (rc != MFR_OK)
        return rc;
    int fcol = mfr_csv_column(c, "file"), facecol = mfr_csv_column(c, "face");
    int col[136], npts;
    static const char *const named[10] = {"lm0_x", "lm0_y", "lm1_x", "lm1_y", "lm2_x",
                                          "lm2_y", "lm3_x", "lm3_y", "lm4_x", "lm4_y"};
    if (fcol < 0) {
        mfr_csv_close(c);
        return mfr_error(MFR_ERR_FORMAT, "%s: no 'file' column", path);
    }
    if (mfr_csv_column(c, "x67") >= 0)
        npts = 68;
    else
        npts = 5;
    int ok = 1;
    if (npts == 5 && mfr_csv_column(c, "x0") < 0 && mfr_csv_column(c, "lm0_x") >= 0) {
        for (int i = 0; i < 10; i++)
            ok &= (col[i] = mfr_csv_column(c, named[i])) >= 0;
    } else {
        for (int i = 0; i < npts; i++) {
            char name[8];
            snprintf(name, sizeof name, "x%d", i);
            ok &= (col[2 * i] = mfr_csv_column(c, name)) >= 0;
            snprintf(name, sizeof name, "y%d", i);
            ok &= (col[2 * i + 1] = mfr_csv_column(c, name)) >= 0;
        }
    }
    if (!ok) {
        mfr_csv_close(c);
        return mfr_error(MFR_ERR_FORMAT,
                         "%s: needs landmark columns x0,y0..x4,y4 (5 points: eye on the image left, other eye, "
                         "nose tip, mouth corners), x0..x67,y0..y67 (iBUG 68) or lm0_x,lm0_y..lm4_x,lm4_y (mfr manifests)",
                         path);
    }
    lm_row *rows = NULL;
    long n = 0, cap = 0;
    for (;;) {
        int has;
        rc = mfr_csv_next(c, &has);
        if (rc != MFR_OK || !has)
            break;
        if (n >= 10000000L) {
            rc = mfr_error(MFR_ERR_RANGE, "%s: more than 10 million faces", path);
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            lm_row *r2 = realloc(rows, (size_t)cap * sizeof *rows);
            if (!r2) {
                rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
                break;
            }
            rows = r2;
        }
        lm_row *r = &rows[n];
        memset(r, 0, sizeof *r);
        r->order = n;
        double pts[136];
        for (int i = 0; i < 2 * npts && rc == MFR_OK; i++)
            rc = mfr_csv_double(c, col[i], 0, &pts[i]);
        if (rc == MFR_OK && facecol >= 0)
            rc = mfr_csv_long(c, facecol, 0, 1000000, &r->face);
        if (rc != MFR_OK)
            break;
        if (facecol < 0) /* faces numbered in order within each file */
            for (long k = 0; k < n; k++)
                r->face += strcmp(rows[k].file, mfr_csv_field(c, fcol)) == 0;
        if (npts == 68) {
            float p68[136];
            for (int i = 0; i < 136; i++)
                p68[i] = (float)pts[i];
            mfr_landmarks_from68(p68, r->lm);
        } else
            for (int i = 0; i < 10; i++)
                r->lm[i] = (float)pts[i];
        if (!safe_relative(mfr_csv_field(c, fcol))) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s:%ld: file '%s' must be a relative path without '..'", path,
                           mfr_csv_line(c), mfr_csv_field(c, fcol));
            break;
        }
        r->file = mfr_strdup(mfr_csv_field(c, fcol));
        if (!r->file) {
            rc = MFR_ERR_NOMEM;
            break;
        }
        n++;
    }
    mfr_csv_close(c);
    if (rc != MFR_OK) {
        for (long i = 0; i < n; i++)
            free(rows[i].file);
        free(rows);
        return rc;
    }
    *out = rows;
    *count = n;
    return MFR_OK;
}

static int by_file(const void *a, const void *b)
{
    const lm_row *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

static char *dir_of(const char *path)
{
    char *d = mfr_strdup(path);
    if (!d)
        return NULL;
    char *s = strrchr(d, '/');
    if (s)
        *s = '\0';
    else
        strcpy(d, ".");
    return d;
}

static int run_mask(const char *csv, const char *images, const char *out, const char *mask_arg, long only_face,
                    uint64_t seed, int quiet)
{
    mfr_mask fixed;
    int random;
    if (parse_mask(mask_arg, &fixed, &random) != 0)
        return mfr_error(MFR_ERR_ARG, "--mask '%s': expected random, a type (nist, surgical, n95, kn95, cloth, gas) "
                                      "or type-shape-coverage-color (e.g. nist-wide-high-light_blue)", mask_arg);
    lm_row *rows;
    long n;
    int rc = read_landmarks(csv, &rows, &n);
    if (rc != MFR_OK)
        return rc;
    qsort(rows, (size_t)n, sizeof *rows, by_file);
    char *imgdir = images ? mfr_strdup(images) : dir_of(csv);
    mfr_outdir od;
    int od_open = 0;
    mfr_afile log = {0};
    if (!imgdir)
        rc = MFR_ERR_NOMEM;
    if (rc == MFR_OK && (rc = mfr_outdir_begin(&od, out)) == MFR_OK)
        od_open = 1;
    char *logpath = rc == MFR_OK ? mfr_path_join(od.tmp, "applied.csv") : NULL;
    if (rc == MFR_OK)
        rc = logpath ? mfr_afile_open(&log, logpath) : MFR_ERR_NOMEM;
    if (rc == MFR_OK)
        fprintf(log.fp, "file,face,mask,mask_type,mask_shape,mask_coverage,mask_color,yaw,pitch,roll\n");
    long applied = 0, files = 0;
    for (long i = 0; i < n && rc == MFR_OK;) {
        long j = i;
        while (j < n && strcmp(rows[j].file, rows[i].file) == 0)
            j++;
        char *src = mfr_path_join(imgdir, rows[i].file), *dst = mfr_path_join(od.tmp, rows[i].file);
        mfr_image im = {0};
        rc = src && dst ? mfr_image_read(src, &im) : MFR_ERR_NOMEM;
        for (long k = i; k < j && rc == MFR_OK; k++) {
            if (only_face >= 0 && rows[k].face != only_face)
                continue;
            mfr_mask m = fixed;
            if (random)
                random_mask(seed, rows[k].order, &m);
            else {
                mfr_rng g;
                mfr_rng_init(&g, seed, MFR_STREAM_PHOTO, (uint64_t)rows[k].order);
                m.seed = mfr_rng_u32(&g);
            }
            float pose[3];
            rc = mfr_mask_photo(&im, rows[k].lm, &m, pose);
            if (rc != MFR_OK) {
                mfr_error_context(rc, "%s face %ld", rows[k].file, rows[k].face);
                break;
            }
            char label[64];
            mfr_mask_label(&m, label, sizeof label);
            mfr_csv_write_field(log.fp, rows[k].file);
            fprintf(log.fp, ",%ld,%s,%s,%s,%s,%s,%.1f,%.1f,%.1f\n", rows[k].face, label, mfr_mask_type_name(m.type),
                    mfr_mask_shape_name(m.shape), mfr_mask_coverage_name(m.coverage), mfr_mask_color_name(m.color),
                    pose[0], pose[1], pose[2]);
            applied++;
        }
        if (rc == MFR_OK) {
            char *d = dir_of(dst);
            rc = d ? mfr_mkdir_p(d) : MFR_ERR_NOMEM;
            free(d);
        }
        if (rc == MFR_OK)
            rc = mfr_image_write(dst, &im);
        mfr_image_free(&im);
        free(src);
        free(dst);
        files++;
        i = j;
    }
    if (rc == MFR_OK)
        rc = mfr_afile_commit(&log);
    mfr_afile_abort(&log);
    if (rc == MFR_OK && only_face >= 0 && applied == 0)
        rc = mfr_error(MFR_ERR_NOTFOUND, "%s: no face %ld in any image", csv, only_face);
    if (od_open) {
        if (rc == MFR_OK)
            rc = mfr_outdir_commit(&od);
        else
            mfr_outdir_abort(&od);
    }
    if (rc == MFR_OK && !quiet)
        fprintf(stderr, "mfr: mask: %ld masks on %ld images in %s\n", applied, files, out);
    for (long i = 0; i < n; i++)
        free(rows[i].file);
    free(rows);
    free(imgdir);
    free(logpath);
    return rc;
}

static int cmd_mask(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"landmarks", required_argument, NULL, OPT_LANDMARKS},
        {"images", required_argument, NULL, OPT_IMAGES},
        {"mask", required_argument, NULL, OPT_MASK},
        {"face", required_argument, NULL, OPT_FACE},
        {0, 0, 0, 0},
    };
    cli_common common = {0};
    const char *csv = NULL, *images = NULL, *mask = "random";
    long face = -1;
    int opt;
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        int r = cli_common_option("mask", opt, optarg, &common);
        if (r < 0)
            return CLI_USAGE;
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_LANDMARKS: csv = optarg; break;
        case OPT_IMAGES: images = optarg; break;
        case OPT_MASK: mask = optarg; break;
        case OPT_FACE:
            if (cli_parse_long("mask", "--face", optarg, 0, 1000000, &face) < 0)
                return CLI_USAGE;
            break;
        default: return cli_bad_option("mask", optopt, argv);
        }
    }
    if (common.help)
        return cli_print_help("mask");
    if (optind < argc)
        return cli_usage_error("mask", "unexpected argument '%s'", argv[optind]);
    if (!csv)
        return cli_usage_error("mask", "--landmarks CSV is required");
    if (!common.out)
        return cli_usage_error("mask", "--out DIR is required");
    cli_common_apply(&common);
    if (run_mask(csv, images, common.out, mask, face, common.seed_set ? common.seed : 1, common.quiet) != MFR_OK)
        return cli_fail_last();
    return CLI_OK;
}

const cli_command cli_cmd_mask = {
    "mask", cmd_mask, "put synthetic masks on real photos from landmarks",
    "usage: mfr mask --landmarks CSV --out DIR [--images DIR] [--mask M] [--face N] [--seed N]\n\n"
    "Puts a mask on every face listed in CSV (or only face number N of each\n"
    "image) and writes the masked images under DIR with their names and formats,\n"
    "plus DIR/applied.csv: file, face, the mask's label, type, shape, coverage,\n"
    "colour, and the yaw, pitch and roll estimated from the landmarks.\n\n"
    "CSV has a 'file' column (a relative path under --images, default: the CSV's\n"
    "directory), an optional 'face' column (else faces count up per file), and\n"
    "the landmarks in pixels: x0,y0..x4,y4 (the eye on the image left, the other\n"
    "eye, nose tip, mouth corner on the image left, the other corner), or\n"
    "x0..x67,y0..y67 in the iBUG 68-point layout, or the lm0_x,lm0_y..lm4_x,lm4_y\n"
    "columns of an mfr manifest.csv.\n\n"
    "  --mask M   random (default: a NIST shape x coverage x colour or a typed mask,\n"
    "             drawn per face from --seed), a type (nist, surgical, n95, kn95,\n"
    "             cloth, gas) or type-shape-coverage-color, e.g.\n"
    "             nist-round-low-black, cloth-wide-high-pattern\n"
    "The mask is drawn on an average 3D head in the pose estimated from the\n"
    "landmarks, fitted to them by a least-squares similarity, brightness-matched\n"
    "to the face and alpha-blended (docs/datasets.md).\n",
};
