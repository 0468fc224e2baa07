/* Files: whole-file reads, atomic file writes and atomic output directories. */
#include "config.h"
#include "mfr/core.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *mfr_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    int slash = a > 0 && dir[a - 1] != '/';
    char *s = malloc(a + b + 2);
    if (!s) {
        mfr_error(MFR_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(s, dir, a);
    if (slash)
        s[a] = '/';
    memcpy(s + a + slash, name, b + 1);
    return s;
}

int mfr_read_file(const char *path, size_t max_size, void **data, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    *data = NULL;
    *size = 0;
    if (!fp)
        return mfr_error(MFR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    for (;;) {
        size_t got;
        if (n == cap) {
            size_t want = cap ? cap * 2 : 65536;
            unsigned char *grown;
            if (cap >= max_size + 1) {
                free(buf);
                fclose(fp);
                return mfr_error(MFR_ERR_RANGE, "%s: file is larger than the limit of %zu bytes", path, max_size);
            }
            if (want > max_size + 1)
                want = max_size + 1;
            grown = realloc(buf, want + 1);
            if (!grown) {
                free(buf);
                fclose(fp);
                return mfr_error(MFR_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = grown;
            cap = want;
        }
        got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        free(buf);
        fclose(fp);
        return mfr_error(MFR_ERR_IO, "%s: read error", path);
    }
    fclose(fp);
    if (n > max_size) {
        free(buf);
        return mfr_error(MFR_ERR_RANGE, "%s: file is larger than the limit of %zu bytes", path, max_size);
    }
    if (!buf) {
        buf = malloc(1);
        if (!buf)
            return mfr_error(MFR_ERR_NOMEM, "%s: out of memory", path);
    }
    buf[n] = '\0';
    *data = buf;
    *size = n;
    return MFR_OK;
}

/* A unique temporary name beside `path`: "<dir>/.<base>.tmp-XXXXXX". */
static char *temp_name_beside(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path + 1) : 0;
    const char *base = path + dirlen;
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) {
        mfr_error(MFR_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(tmp, n, "%.*s.%s.tmp-XXXXXX", (int)dirlen, path, base);
    return tmp;
}

int mfr_afile_open(mfr_afile *f, const char *path)
{
    int fd;
    memset(f, 0, sizeof *f);
    if (!path || !*path)
        return mfr_error(MFR_ERR_ARG, "empty output path");
    f->path = mfr_strdup(path);
    f->tmp = temp_name_beside(path);
    if (!f->path || !f->tmp) {
        mfr_afile_abort(f);
        return MFR_ERR_NOMEM;
    }
    fd = mkstemp(f->tmp);
    if (fd < 0) {
        int e = errno;
        free(f->tmp);
        f->tmp = NULL;
        mfr_afile_abort(f);
        return mfr_error(MFR_ERR_IO, "%s: cannot create: %s", path, strerror(e));
    }
    /* mkstemp makes 0600 files; output should get the usual permissions. */
    {
        mode_t mask = umask(0);
        umask(mask);
        fchmod(fd, 0666 & ~mask);
    }
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        close(fd);
        mfr_afile_abort(f);
        return mfr_error(MFR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    return MFR_OK;
}

int mfr_afile_commit(mfr_afile *f)
{
    int failed = 0;
    if (!f->fp)
        return mfr_error(MFR_ERR_ARG, "commit of a file that is not open");
    if (fflush(f->fp) != 0 || ferror(f->fp))
        failed = 1;
    if (fclose(f->fp) != 0)
        failed = 1;
    f->fp = NULL;
    if (failed) {
        int rc = mfr_error(MFR_ERR_IO, "%s: write failed: %s", f->path, strerror(errno));
        mfr_afile_abort(f);
        return rc;
    }
    if (rename(f->tmp, f->path) != 0) {
        int rc = mfr_error(MFR_ERR_IO, "%s: cannot rename into place: %s", f->path, strerror(errno));
        mfr_afile_abort(f);
        return rc;
    }
    free(f->tmp);
    free(f->path);
    f->tmp = f->path = NULL;
    return MFR_OK;
}

void mfr_afile_abort(mfr_afile *f)
{
    if (f->fp)
        fclose(f->fp);
    if (f->tmp)
        unlink(f->tmp);
    free(f->tmp);
    free(f->path);
    memset(f, 0, sizeof *f);
}

int mfr_write_file_atomic(const char *path, const void *data, size_t size)
{
    mfr_afile f;
    int rc = mfr_afile_open(&f, path);
    if (rc != MFR_OK)
        return rc;
    if (size > 0 && fwrite(data, 1, size, f.fp) != size) {
        rc = mfr_error(MFR_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        mfr_afile_abort(&f);
        return rc;
    }
    return mfr_afile_commit(&f);
}

int mfr_mkdir_p(const char *path)
{
    char *p = mfr_strdup(path);
    size_t n;
    if (!p)
        return MFR_ERR_NOMEM;
    n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    for (char *s = p + 1; ; s++) {
        char c = *s;
        if (c == '/' || c == '\0') {
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int rc = mfr_error(MFR_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
                free(p);
                return rc;
            }
            *s = c;
        }
        if (c == '\0')
            break;
    }
    {
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
            int rc = mfr_error(MFR_ERR_IO, "%s: exists and is not a directory", p);
            free(p);
            return rc;
        }
    }
    free(p);
    return MFR_OK;
}

int mfr_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? MFR_OK : mfr_error(MFR_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        DIR *dir = opendir(path);
        struct dirent *e;
        int rc = MFR_OK;
        if (!dir)
            return mfr_error(MFR_ERR_IO, "%s: cannot open directory: %s", path, strerror(errno));
        while (rc == MFR_OK && (e = readdir(dir)) != NULL) {
            char *child;
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            child = mfr_path_join(path, e->d_name);
            rc = child ? mfr_remove_tree(child) : MFR_ERR_NOMEM;
            free(child);
        }
        closedir(dir);
        if (rc != MFR_OK)
            return rc;
        if (rmdir(path) != 0)
            return mfr_error(MFR_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
        return MFR_OK;
    }
    if (unlink(path) != 0)
        return mfr_error(MFR_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    return MFR_OK;
}

int mfr_outdir_begin(mfr_outdir *d, const char *path)
{
    size_t n;
    char *parent;
    int rc;
    memset(d, 0, sizeof *d);
    if (!path || !*path)
        return mfr_error(MFR_ERR_ARG, "empty output directory");
    d->path = mfr_strdup(path);
    if (!d->path)
        return MFR_ERR_NOMEM;
    n = strlen(d->path);
    while (n > 1 && d->path[n - 1] == '/')
        d->path[--n] = '\0';
    /* Make sure the parent exists, then a temporary directory beside path. */
    parent = mfr_strdup(d->path);
    if (!parent) {
        mfr_outdir_abort(d);
        return MFR_ERR_NOMEM;
    }
    {
        char *slash = strrchr(parent, '/');
        rc = MFR_OK;
        if (slash && slash != parent) {
            *slash = '\0';
            rc = mfr_mkdir_p(parent);
        }
    }
    free(parent);
    if (rc != MFR_OK) {
        mfr_outdir_abort(d);
        return rc;
    }
    d->tmp = temp_name_beside(d->path);
    if (!d->tmp) {
        mfr_outdir_abort(d);
        return MFR_ERR_NOMEM;
    }
    if (!mkdtemp(d->tmp)) {
        rc = mfr_error(MFR_ERR_IO, "%s: cannot create a temporary directory beside it: %s", d->path, strerror(errno));
        free(d->tmp);
        d->tmp = NULL;
        mfr_outdir_abort(d);
        return rc;
    }
    chmod(d->tmp, 0755);
    return MFR_OK;
}

int mfr_outdir_commit(mfr_outdir *d)
{
    struct stat st;
    char *old = NULL;
    int rc;
    if (!d->tmp)
        return mfr_error(MFR_ERR_ARG, "commit of an output directory that is not open");
    if (lstat(d->path, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            rc = mfr_error(MFR_ERR_IO, "%s: exists and is not a directory", d->path);
            mfr_outdir_abort(d);
            return rc;
        }
        /* Move the old directory aside first: rename() cannot replace a
         * non-empty directory. */
        old = temp_name_beside(d->path);
        if (!old || !mkdtemp(old) || rmdir(old) != 0 || rename(d->path, old) != 0) {
            rc = mfr_error(MFR_ERR_IO, "%s: cannot replace the existing directory: %s", d->path, strerror(errno));
            free(old);
            mfr_outdir_abort(d);
            return rc;
        }
    }
    if (rename(d->tmp, d->path) != 0) {
        rc = mfr_error(MFR_ERR_IO, "%s: cannot rename into place: %s", d->path, strerror(errno));
        if (old)
            rename(old, d->path);
        free(old);
        mfr_outdir_abort(d);
        return rc;
    }
    if (old) {
        mfr_remove_tree(old);
        free(old);
    }
    free(d->tmp);
    free(d->path);
    d->tmp = d->path = NULL;
    return MFR_OK;
}

void mfr_outdir_abort(mfr_outdir *d)
{
    if (d->tmp)
        mfr_remove_tree(d->tmp);
    free(d->tmp);
    free(d->path);
    memset(d, 0, sizeof *d);
}
