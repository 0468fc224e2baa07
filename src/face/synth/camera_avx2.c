/* The camera's blur taps, sensor noise and JPEG-like blocks compiled with -mavx2 (eight
 * samples per instruction; see camera_simd.h). Called through
 * synth_blur_taps and synth_finish where mfr_isa_best() allows. */
#include "config.h"
#include "camera_simd.h"

void synth_blur_taps_avx2(float *rgb, int w, int h, int r, const float *k, float *tmp)
{
    blur_taps(rgb, w, h, r, k, tmp);
}

void synth_encode_srgb8_avx2(const float *lin, uint8_t *out, int n)
{
    int i = encode_srgb8_8(lin, out, n);
    for (; i < n; i++)
        out[i] = synth_to_srgb8(lin[i]);
}

void synth_sensor_noise_avx2(uint8_t *row, int nx, uint32_t key, uint32_t n, float sd)
{
    sensor_noise(row, nx, key, n, sd);
}

void synth_jpeg_blocks_avx2(mfr_image *im, const float C[64], const float Ct[64], const float Q[2][64])
{
    jpeg_blocks(im, C, Ct, Q);
}

int synth_bg_span_avx2(const bg_params *P, const int32_t *mrow, int x0, int n, float ygy, float off, const int *near,
                       const float *dy2, int nb, float (*pl)[SYNTH_BG_SPAN])
{
    return bg_span8(P, mrow, x0, n, ygy, off, near, dy2, nb, pl);
}
