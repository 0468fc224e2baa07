/* Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11).
 *
 * The key is the 64-bit seed; the 128-bit counter holds (block, stream, item).
 * Each item of each stream thus owns 2^32 blocks of 4 words, and what it draws
 * depends only on (seed, stream, item) and how many words it has drawn. */
#include "config.h"
#include "mfr/core.h"

#include <math.h>
#include <string.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void mfr_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        if (round > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        mulhilo(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo(PHILOX_M1, c2, &hi1, &lo1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void mfr_rng_init(mfr_rng *r, uint64_t seed, uint32_t stream, uint64_t item)
{
    memset(r, 0, sizeof *r);
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = 0;
    r->ctr[1] = stream;
    r->ctr[2] = (uint32_t)item;
    r->ctr[3] = (uint32_t)(item >> 32);
    r->avail = 0;
}

uint32_t mfr_rng_u32(mfr_rng *r)
{
    if (r->avail == 0) {
        mfr_philox4x32(r->ctr, r->key, r->buf);
        r->ctr[0]++;
        r->avail = 4;
    }
    return r->buf[4 - r->avail--];
}

uint64_t mfr_rng_u64(mfr_rng *r)
{
    uint64_t hi = mfr_rng_u32(r);
    return (hi << 32) | mfr_rng_u32(r);
}

double mfr_rng_uniform(mfr_rng *r)
{
    return (double)(mfr_rng_u64(r) >> 11) * 0x1.0p-53;
}

float mfr_rng_uniformf(mfr_rng *r)
{
    return (float)(mfr_rng_u32(r) >> 8) * 0x1.0p-24f;
}

double mfr_rng_range(mfr_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * mfr_rng_uniform(r);
}

double mfr_rng_normal(mfr_rng *r)
{
    /* Box-Muller: two deviates per pair of uniforms; the second is cached. */
    double u1, u2, radius;
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    u1 = 1.0 - mfr_rng_uniform(r); /* (0, 1]: log is finite */
    u2 = mfr_rng_uniform(r);
    radius = sqrt(-2.0 * log(u1));
    r->spare = radius * sin(2.0 * M_PI * u2);
    r->has_spare = 1;
    return radius * cos(2.0 * M_PI * u2);
}

uint32_t mfr_rng_below(mfr_rng *r, uint32_t n)
{
    /* Lemire's multiply-shift with rejection: unbiased, rarely loops. */
    uint64_t m;
    uint32_t low;
    if (n == 0)
        return 0;
    m = (uint64_t)mfr_rng_u32(r) * n;
    low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)mfr_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void mfr_rng_shuffle(mfr_rng *r, void *base, size_t count, size_t size)
{
    unsigned char *p = base;
    unsigned char tmp[256];
    if (count < 2)
        return;
    for (size_t i = count - 1; i > 0; i--) {
        size_t j = i < UINT32_MAX ? mfr_rng_below(r, (uint32_t)(i + 1))
                                  : (size_t)(mfr_rng_uniform(r) * (double)(i + 1));
        if (j == i)
            continue;
        /* Swap element i and j in chunks of tmp. */
        for (size_t off = 0; off < size; off += sizeof tmp) {
            size_t n = size - off < sizeof tmp ? size - off : sizeof tmp;
            memcpy(tmp, p + i * size + off, n);
            memcpy(p + i * size + off, p + j * size + off, n);
            memcpy(p + j * size + off, tmp, n);
        }
    }
}

int mfr_rng_pick(mfr_rng *r, const double *weights, int n)
{
    double total = 0.0, u;
    int last = -1;
    for (int i = 0; i < n; i++) {
        if (weights[i] > 0) {
            total += weights[i];
            last = i;
        }
    }
    if (last < 0)
        return 0;
    u = mfr_rng_uniform(r) * total;
    for (int i = 0; i < n; i++) {
        if (weights[i] <= 0)
            continue;
        if (u < weights[i])
            return i;
        u -= weights[i];
    }
    return last; /* rounding left u just past the end */
}
