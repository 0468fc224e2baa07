/* Network definitions as text: one INI section per layer (docs/nn.md).
 *
 *     [input]
 *     height = 112
 *     width = 112
 *     channels = 3
 *
 *     [conv]
 *     name = conv1
 *     filters = 64
 *     size = 3
 *     stride = 2
 *     pad = 1
 *     batch_normalize = yes
 *     activation = prelu
 *
 * Every section may have `name` (default: type + index) and `input` (default:
 * the previous section; "a, b" for several). Unknown keys are errors. */
#include "config.h"
#include "nn/nn_internal.h"

#include <stdlib.h>
#include <string.h>

int mfr_net_parse(const char *text, size_t size, const char *name, mfr_net **out)
{
    mfr_ini *ini = NULL;
    mfr_net *net = NULL;
    int rc;
    *out = NULL;
    if (!name)
        name = "<network>";
    if (size > MFR_MODEL_MAX_DEF)
        return mfr_error(MFR_ERR_RANGE, "%s: a network definition larger than %u bytes", name, MFR_MODEL_MAX_DEF);
    if ((rc = mfr_ini_parse(text, size, name, MFR_INI_REPEATED_SECTIONS, &ini)) != MFR_OK)
        return rc;
    if ((rc = mfr_net_create(&net)) != MFR_OK)
        goto fail;
    if (!(net->name = mfr_strdup(name))) {
        rc = MFR_ERR_NOMEM;
        goto fail;
    }
    for (int sec = 0; sec < mfr_ini_section_count(ini); sec++) {
        const char *type = mfr_ini_section_name(ini, sec);
        const nn_opdef *d;
        const char *lname, *input;
        char auto_name[64];
        mfr_layer *l;
        if (type[0] == '\0')
            continue; /* keys before the first section: reported as unknown below */
        d = nn_opdef_find(type);
        if (!d) {
            rc = mfr_error(MFR_ERR_FORMAT, "%s:%d: unknown layer type [%s] (see docs/nn.md for the list)", name,
                           mfr_ini_section_line(ini, sec), type);
            goto fail;
        }
        lname = mfr_ini_get(ini, sec, "name");
        input = mfr_ini_get(ini, sec, "input");
        if (!lname) {
            snprintf(auto_name, sizeof auto_name, "%s%d", type, net->n_layers);
            lname = auto_name;
        }
        l = mfr_net_add(net, d->op, lname, input);
        if (!l) {
            /* Point at the key at fault: the name or the input list. */
            int line = mfr_ini_line(ini, sec, strstr(mfr_last_error(), "input") ? "input" : "name");
            rc = mfr_error_context(MFR_ERR_FORMAT, "%s:%d", name, line ? line : mfr_ini_section_line(ini, sec));
            goto fail;
        }
        nn_layer_defaults(l, d->op, d->act);
        l->line = mfr_ini_section_line(ini, sec);
        if ((rc = d->parse(ini, sec, l)) != MFR_OK)
            goto fail;
    }
    if ((rc = mfr_ini_check_unused(ini)) != MFR_OK || (rc = mfr_net_resolve(net)) != MFR_OK)
        goto fail;
    mfr_ini_free(ini);
    *out = net;
    return MFR_OK;
fail:
    mfr_ini_free(ini);
    mfr_net_free(net);
    return rc;
}

int mfr_net_load_def(const char *path, mfr_net **out)
{
    void *data;
    size_t size;
    int rc;
    *out = NULL;
    if ((rc = mfr_read_file(path, MFR_MODEL_MAX_DEF, &data, &size)) != MFR_OK)
        return rc;
    rc = mfr_net_parse(data, size, path, out);
    free(data);
    return rc;
}

int mfr_net_write(const mfr_net *net, FILE *fp)
{
    for (int i = 0; i < net->n_layers; i++) {
        const mfr_layer *l = &net->layers[i];
        const nn_opdef *d = nn_opdef_of(l);
        fprintf(fp, "%s[%s]\nname = %s\n", i ? "\n" : "", d->name, l->name);
        /* `input` is left out where it is the default: the previous layer. */
        if (l->op != MFR_OP_INPUT &&
            !(l->n_inputs == 1 && i > 0 && strcmp(l->input_names[0], net->layers[i - 1].name) == 0)) {
            fprintf(fp, "input = ");
            for (int k = 0; k < l->n_inputs; k++)
                fprintf(fp, "%s%s", k ? ", " : "", l->input_names[k]);
            fprintf(fp, "\n");
        }
        d->write(fp, l);
    }
    if (fflush(fp) != 0 || ferror(fp))
        return mfr_error(MFR_ERR_IO, "cannot write the network definition");
    return MFR_OK;
}

int mfr_net_to_text(const mfr_net *net, char **text, size_t *size)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *fp = open_memstream(&buf, &n);
    int rc;
    *text = NULL;
    *size = 0;
    if (!fp)
        return mfr_error(MFR_ERR_NOMEM, "out of memory");
    rc = mfr_net_write(net, fp);
    if (fclose(fp) != 0 && rc == MFR_OK)
        rc = mfr_error(MFR_ERR_NOMEM, "out of memory");
    if (rc != MFR_OK) {
        free(buf);
        return rc;
    }
    *text = buf;
    *size = n;
    return MFR_OK;
}
