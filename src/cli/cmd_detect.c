/* mfr detect: faces and 5 landmarks in images, with the detector network. */
#include "config.h"
#include "cli/cli.h"
#include "mfr/face.h"
#include "mfr/nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_MODEL = CLI_OPT_FIRST_PRIVATE, OPT_MANIFEST, OPT_DRAW, OPT_SCORE, OPT_NMS, OPT_MAX_SIDE, OPT_MAX_FACES };

typedef struct image_list {
    char **paths;   /* to open */
    char **names;   /* written in the image column */
    int n, cap;
} image_list;

static int list_add(image_list *l, const char *path, const char *name)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 64;
        char **p = realloc(l->paths, (size_t)cap * sizeof *p), **q;
        if (!p)
            return mfr_error(MFR_ERR_NOMEM, "out of memory");
        l->paths = p;
        q = realloc(l->names, (size_t)cap * sizeof *q);
        if (!q)
            return mfr_error(MFR_ERR_NOMEM, "out of memory");
        l->names = q;
        l->cap = cap;
    }
    l->paths[l->n] = mfr_strdup(path);
    l->names[l->n] = mfr_strdup(name);
    if (!l->paths[l->n] || !l->names[l->n])
        return MFR_ERR_NOMEM;
    l->n++;
    return MFR_OK;
}

static void list_free(image_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->paths[i]);
        free(l->names[i]);
    }
    free(l->paths);
    free(l->names);
}

/* The distinct `file` values of a manifest, in order, resolved against its folder. */
static int list_from_manifest(image_list *l, const char *manifest)
{
    mfr_csv *c;
    int rc, has, col;
    char *dir = mfr_strdup(manifest), *slash;
    if (!dir)
        return MFR_ERR_NOMEM;
    slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        strcpy(dir, ".");
    if ((rc = mfr_csv_open(manifest, &c)) != MFR_OK) {
        free(dir);
        return rc;
    }
    col = mfr_csv_column(c, "file");
    if (col < 0)
        rc = mfr_error(MFR_ERR_FORMAT, "%s:1: no column 'file'", manifest);
    while (rc == MFR_OK && (rc = mfr_csv_next(c, &has)) == MFR_OK && has) {
        const char *f = mfr_csv_field(c, col);
        char *path;
        if (l->n > 0 && strcmp(l->names[l->n - 1], f) == 0)
            continue; /* several faces of one image */
        path = mfr_path_join(dir, f);
        rc = path ? list_add(l, path, f) : MFR_ERR_NOMEM;
        free(path);
    }
    mfr_csv_close(c);
    free(dir);
    return rc;
}

static void draw_faces(mfr_image *im, const mfr_face_det *d, int n)
{
    static const uint8_t green[4] = {0, 255, 0, 255}, red[4] = {255, 0, 0, 255};
    for (int i = 0; i < n; i++) {
        mfr_draw_rect(im, d[i].x, d[i].y, d[i].x + d[i].w, d[i].y + d[i].h, green, 1.0f, 1);
        for (int k = 0; k < 5; k++)
            mfr_draw_point(im, d[i].lm[2 * k], d[i].lm[2 * k + 1], 1.5f, red, 1.0f);
    }
}

static int detect_all(const image_list *list, const char *model, const mfr_detector_opts *opts, const char *out,
                      int draw, int quiet)
{
    mfr_net *net = NULL;
    mfr_detector *det = NULL;
    mfr_outdir od = {0};
    mfr_afile csv = {0};
    mfr_progress bar;
    char *path = NULL;
    int rc;
    if ((rc = mfr_net_load_any(model, &net)) != MFR_OK || (rc = mfr_detector_create(net, opts, &det)) != MFR_OK)
        goto done;
    if ((rc = mfr_outdir_begin(&od, out)) != MFR_OK)
        goto done;
    path = mfr_path_join(od.tmp, "detections.csv");
    if (!path || (rc = mfr_afile_open(&csv, path)) != MFR_OK)
        goto done;
    fprintf(csv.fp, "image,face,score,x,y,w,h");
    for (int k = 0; k < 5; k++)
        fprintf(csv.fp, ",lm%d_x,lm%d_y", k, k);
    fputc('\n', csv.fp);
    if (draw) {
        char *drawn = mfr_path_join(od.tmp, "drawn");
        rc = drawn ? mfr_mkdir_p(drawn) : MFR_ERR_NOMEM;
        free(drawn);
        if (rc != MFR_OK)
            goto done;
    }
    mfr_progress_begin(&bar, "detect", (uint64_t)list->n, quiet);
    for (int i = 0; i < list->n && rc == MFR_OK; i++) {
        mfr_image im = {0};
        mfr_face_det *d = NULL;
        int n = 0;
        if ((rc = mfr_image_read(list->paths[i], &im)) != MFR_OK)
            break;
        rc = mfr_detector_run(det, &im, &d, &n);
        if (rc != MFR_OK) {
            mfr_error_context(rc, "%s", list->paths[i]);
        } else {
            for (int f = 0; f < n; f++) {
                mfr_csv_write_field(csv.fp, list->names[i]);
                fprintf(csv.fp, ",%d,%.6g,%.6g,%.6g,%.6g,%.6g", f, d[f].score, d[f].x, d[f].y, d[f].w, d[f].h);
                for (int k = 0; k < 10; k++)
                    fprintf(csv.fp, ",%.6g", d[f].lm[k]);
                fputc('\n', csv.fp);
            }
            if (draw) {
                const char *base = strrchr(list->names[i], '/');
                char name[512], *png;
                char *dot;
                snprintf(name, sizeof name, "drawn/%s", base ? base + 1 : list->names[i]);
                dot = strrchr(name, '.');
                if (dot && !strchr(dot, '/'))
                    *dot = '\0';
                strncat(name, ".png", sizeof name - strlen(name) - 1);
                png = mfr_path_join(od.tmp, name);
                if (im.channels != 3) {
                    mfr_image rgb = {0};
                    rc = mfr_image_convert(&im, 3, &rgb);
                    mfr_image_free(&im);
                    im = rgb;
                }
                if (rc == MFR_OK) {
                    draw_faces(&im, d, n);
                    rc = png ? mfr_image_write(png, &im) : MFR_ERR_NOMEM;
                }
                free(png);
            }
        }
        free(d);
        mfr_image_free(&im);
        mfr_progress_update(&bar, (uint64_t)i + 1);
    }
    mfr_progress_end(&bar);
    if (rc == MFR_OK && (rc = mfr_afile_commit(&csv)) == MFR_OK)
        rc = mfr_outdir_commit(&od);
done:
    mfr_afile_abort(&csv);
    mfr_outdir_abort(&od);
    free(path);
    mfr_detector_free(det);
    mfr_net_free(net);
    return rc;
}

static int cmd_detect(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"model", required_argument, NULL, OPT_MODEL},
        {"manifest", required_argument, NULL, OPT_MANIFEST},
        {"draw", no_argument, NULL, OPT_DRAW},
        {"score-min", required_argument, NULL, OPT_SCORE},
        {"nms-iou", required_argument, NULL, OPT_NMS},
        {"max-side", required_argument, NULL, OPT_MAX_SIDE},
        {"max-faces", required_argument, NULL, OPT_MAX_FACES},
        {0, 0, 0, 0},
    };
    cli_common common = {0};
    mfr_detector_opts dopts = {0.5f, 0.4f, 256, 640};
    const char *model = NULL, *manifest = NULL;
    int draw = 0, opt, rc;
    image_list list = {0};
    while ((opt = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        int r = cli_common_option("detect", opt, optarg, &common);
        double x;
        long v;
        if (r < 0)
            return CLI_USAGE;
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_MODEL: model = optarg; break;
        case OPT_MANIFEST: manifest = optarg; break;
        case OPT_DRAW: draw = 1; break;
        case OPT_SCORE:
            if (cli_parse_double("detect", "--score-min", optarg, 0, 1, &x) < 0)
                return CLI_USAGE;
            dopts.score_min = (float)x;
            break;
        case OPT_NMS:
            if (cli_parse_double("detect", "--nms-iou", optarg, 0, 1, &x) < 0)
                return CLI_USAGE;
            dopts.nms_iou = (float)x;
            break;
        case OPT_MAX_SIDE:
            if (cli_parse_long("detect", "--max-side", optarg, 32, 8192, &v) < 0)
                return CLI_USAGE;
            dopts.max_side = (int)v;
            break;
        case OPT_MAX_FACES:
            if (cli_parse_long("detect", "--max-faces", optarg, 1, 100000, &v) < 0)
                return CLI_USAGE;
            dopts.max_faces = (int)v;
            break;
        default:
            return cli_bad_option("detect", optopt, argv);
        }
    }
    if (common.help)
        return cli_print_help("detect");
    if (!model)
        return cli_usage_error("detect", "--model is required");
    if (!common.out)
        return cli_usage_error("detect", "--out DIR is required");
    if (!manifest && optind >= argc)
        return cli_usage_error("detect", "no images (give image files or --manifest)");
    if (manifest && optind < argc)
        return cli_usage_error("detect", "give image files or --manifest, not both");
    cli_common_apply(&common);
    rc = manifest ? list_from_manifest(&list, manifest) : MFR_OK;
    for (int i = optind; rc == MFR_OK && i < argc; i++)
        rc = list_add(&list, argv[i], argv[i]);
    if (rc == MFR_OK)
        rc = detect_all(&list, model, &dopts, common.out, draw, common.quiet);
    list_free(&list);
    if (rc != MFR_OK)
        return cli_fail_last();
    if (!common.quiet)
        printf("mfr: detections of %d images in %s/detections.csv\n", list.n, common.out);
    return CLI_OK;
}

const cli_command cli_cmd_detect = {
    "detect", cmd_detect, "detect faces and 5 landmarks in images",
    "usage: mfr detect --model MODEL --out DIR [options] IMAGE...\n"
    "       mfr detect --model MODEL --out DIR --manifest DATASET/manifest.csv [options]\n\n"
    "Runs a detection network (a model file, or a network definition with zero\n"
    "weights) on PNG, JPEG or PNM images and writes DIR/detections.csv: one row per\n"
    "face with image, face, score, box x,y,w,h (pixels, top-left corner) and the 5\n"
    "landmarks lm0_x,lm0_y .. lm4_x,lm4_y (left eye, right eye, nose tip, left and right\n"
    "mouth corners). 'mfr eval detect --predictions DIR/detections.csv' scores it.\n"
    "With --manifest the images are the manifest's 'file' column (relative to the\n"
    "manifest's folder) and the image column repeats those names.\n\n"
    "options:\n"
    "  --model FILE      detector (heads named scoreS, boxS, landmarksS per stride S)\n"
    "  --manifest FILE   take the images from a dataset manifest\n"
    "  --draw            also write DIR/drawn/NAME.png with boxes and landmarks\n"
    "  --score-min X     keep faces scoring at least X (default 0.5)\n"
    "  --nms-iou X       suppress faces overlapping a better one by IoU > X (default 0.4)\n"
    "  --max-side N      shrink images whose longest side exceeds N (default 640)\n"
    "  --max-faces N     at most N faces per image (default 256)\n"
    "  --threads N, -o/--out DIR, -q/--quiet\n",
};
