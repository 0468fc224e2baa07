/* Activations: the scalar definitions every fused epilogue must match. */
#include "config.h"
#include "mfr/kernels.h"

#include <math.h>

float mfr_act_scalar(float x, mfr_act act, float param, float prelu_slope)
{
    switch (act) {
    case MFR_ACT_NONE:
        return x;
    case MFR_ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case MFR_ACT_RELU6:
        return x > 0.0f ? (x < 6.0f ? x : 6.0f) : 0.0f;
    case MFR_ACT_LEAKY:
        return x < 0.0f ? param * x : x;
    case MFR_ACT_PRELU:
        return x < 0.0f ? prelu_slope * x : x;
    case MFR_ACT_SIGMOID:
        return 1.0f / (1.0f + expf(-x));
    case MFR_ACT_TANH:
        return tanhf(x);
    case MFR_ACT_HSWISH: {
        /* x * relu6(x + 3) / 6, evaluated in exactly this order everywhere. */
        float r = x + 3.0f;
        r = r > 0.0f ? (r < 6.0f ? r : 6.0f) : 0.0f;
        return x * r / 6.0f;
    }
    }
    return x;
}

float mfr_act_derivative_scalar(float z, mfr_act act, float param, float prelu_slope)
{
    switch (act) {
    case MFR_ACT_NONE:
        return 1.0f;
    case MFR_ACT_RELU:
        return z > 0.0f ? 1.0f : 0.0f;
    case MFR_ACT_RELU6:
        return z > 0.0f && z < 6.0f ? 1.0f : 0.0f;
    case MFR_ACT_LEAKY:
        return z < 0.0f ? param : 1.0f;
    case MFR_ACT_PRELU:
        return z < 0.0f ? prelu_slope : 1.0f;
    case MFR_ACT_SIGMOID: {
        float s = 1.0f / (1.0f + expf(-z));
        return s * (1.0f - s);
    }
    case MFR_ACT_TANH: {
        float t = tanhf(z);
        return 1.0f - t * t;
    }
    case MFR_ACT_HSWISH:
        /* 2 z is exact, so a fused multiply-add gives the same bits */
        return z < -3.0f ? 0.0f : z > 3.0f ? 1.0f : (2.0f * z + 3.0f) / 6.0f;
    }
    return 1.0f;
}

void mfr_act_apply(float *x, size_t n, mfr_act act, float param, const float *prelu, int channel0, int channels)
{
    if (act == MFR_ACT_NONE)
        return;
    if (act == MFR_ACT_PRELU) {
        size_t ch = channels > 0 ? (size_t)(channel0 % channels) : 0;
        for (size_t i = 0; i < n; i++) {
            x[i] = mfr_act_scalar(x[i], act, param, prelu ? prelu[ch] : 0.0f);
            if (++ch == (size_t)channels)
                ch = 0;
        }
        return;
    }
    for (size_t i = 0; i < n; i++)
        x[i] = mfr_act_scalar(x[i], act, param, 0.0f);
}
