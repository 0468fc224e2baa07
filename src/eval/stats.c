/* Statistics: the normal distribution (DET axes), the incomplete beta
 * function and Clopper-Pearson intervals, and quantiles. */
#include "config.h"
#include "mfr/eval.h"

#include <math.h>

double mfr_normal_cdf(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

/* Lower-tail inverse for 0 < p <= 0.5: a rational start (Abramowitz and
 * Stegun 26.2.23, error < 4.5e-4) polished by Newton steps on erfc, which
 * keeps full relative accuracy far into the tail. */
static double probit_lower(double p)
{
    double t = sqrt(-2.0 * log(p));
    double x = -(t - (2.515517 + 0.802853 * t + 0.010328 * t * t) /
                         (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t));
    for (int i = 0; i < 6; i++) {
        double pdf = exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
        double step;
        if (pdf <= 0)
            break;
        step = (mfr_normal_cdf(x) - p) / pdf;
        x -= step;
        if (fabs(step) <= 1e-15 * fabs(x))
            break;
    }
    return x;
}

double mfr_probit(double p)
{
    if (!(p >= 0 && p <= 1))
        return NAN;
    if (p == 0)
        return -INFINITY;
    if (p == 1)
        return INFINITY;
    if (p <= 0.5)
        return probit_lower(p);
    return -probit_lower(1.0 - p);
}

/* Continued fraction of the incomplete beta function, evaluated with the
 * modified Lentz method (DLMF 8.17.22). Converges for x < (a+1)/(a+b+2). */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300, eps = 1e-15;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0), h;
    if (fabs(d) < tiny)
        d = tiny;
    d = 1.0 / d;
    h = d;
    for (long m = 1; m <= 100000000L; m++) {
        double m2 = 2.0 * (double)m, dm = (double)m, num, del;
        num = dm * (b - dm) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + num * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1.0 + num / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1.0 / d;
        h *= d * c;
        num = -(a + dm) * (a + b + dm) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + num * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1.0 + num / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1.0 / d;
        del = d * c;
        h *= del;
        if (fabs(del - 1.0) < eps)
            break;
    }
    return h;
}

double mfr_beta_inc(double a, double b, double x)
{
    double front;
    if (!(a > 0 && b > 0 && x >= 0 && x <= 1))
        return NAN;
    if (x == 0 || x == 1)
        return x;
    front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1.0) / (a + b + 2.0))
        return front * beta_cf(a, b, x) / a;
    return 1.0 - front * beta_cf(b, a, 1.0 - x) / b;
}

/* The p in [0, 1] with I_p(a, b) = target, by bisection (I is increasing in p). */
static double beta_inv(double a, double b, double target)
{
    double lo = 0.0, hi = 1.0;
    for (int i = 0; i < 200 && hi > lo; i++) {
        double mid = 0.5 * (lo + hi);
        if (mid <= lo || mid >= hi)
            break;
        if (mfr_beta_inc(a, b, mid) < target)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

void mfr_clopper_pearson(uint64_t x, uint64_t n, double level, double *lo, double *hi)
{
    double alpha = 1.0 - level, dx = (double)x, dn = (double)n;
    if (n == 0 || x > n) {
        *lo = *hi = NAN;
        return;
    }
    /* lo: P(X >= x | p) = alpha/2, i.e. I_p(x, n-x+1) = alpha/2;
     * hi: P(X <= x | p) = alpha/2, i.e. I_p(x+1, n-x) = 1 - alpha/2. */
    *lo = x == 0 ? 0.0 : beta_inv(dx, dn - dx + 1.0, alpha / 2);
    *hi = x == n ? 1.0 : beta_inv(dx + 1.0, dn - dx, 1.0 - alpha / 2);
}

double mfr_quantile_sorted(const double *v, size_t n, double q)
{
    double r;
    size_t k;
    if (n == 0)
        return NAN;
    /* Nearest rank: the smallest value with at least q n values at or below it.
     * The small slack keeps q n = 99 from becoming 99.00000000000001. */
    r = ceil(q * (double)n - 1e-9);
    k = r < 1 ? 1 : (size_t)r;
    if (k > n)
        k = n;
    return v[k - 1];
}
