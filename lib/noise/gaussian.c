/* Gaussian noise law: T ~ N(0, 1).
 *
 *   F(y) = Phi(y),   m(y) = 2 Phi(y) - 1 = erf(y / sqrt 2),   1 - |m(y)| = 2 Q(|y|),
 *   p(0) = 1/sqrt(2 pi) (so ell = sqrt(2/pi) = 0.797885), Var T = 1,
 *   mean of B draws = B^(-1/2) T (the Gaussian is stable), so batch_scale(B) = 1/sqrt(B).
 * Source: Abramowitz & Stegun 7.1.1, 26.2.2, 26.2.29.
 * Reference values (tests/test-noise.c): m(2.385) = 0.98292087864663600,
 * 1 - m(2.385) = 0.017079121353363998.
 *
 * The tail is 2 Q(|y|) from GSL rather than erfc(|y|/sqrt 2): rounding y/sqrt 2 perturbs the
 * argument of erfc by one ulp, which costs about y^2 ulps of relative accuracy (3.6e-13 at
 * y = 40), while GSL's Q splits the exponent and stays within a few ulps.
 */
#include <sdv/noise.h>

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <string.h>

static int gaussian_init(void *state, sdv_params *params) {
  (void)state;
  (void)params; /* no parameters: sdv_noise_alloc rejects any key */
  return 0;
}

static double gaussian_sample(const void *state, sdv_stream *s) {
  (void)state;
  return sdv_stream_normal(s);
}

static void gaussian_sample_n(const void *state, sdv_stream *s, double *out, size_t n) {
  (void)state;
  sdv_stream_normals(s, out, n);
}

/* The coupled normal of a Gaussian draw is the draw itself. */
static void gaussian_sample_coupled(const void *state, sdv_stream *s, double *out,
                                    double *normal, size_t n) {
  (void)state;
  sdv_stream_normals(s, out, n);
  memcpy(normal, out, n * sizeof *out);
}

/* GSL evaluates the lower tail directly for y < 0 and 1 - Q(y) for y > 0. */
static double gaussian_cdf(const void *state, double y) {
  (void)state;
  return gsl_cdf_ugaussian_P(y);
}

/* erf has relative accuracy at 0, unlike 2 Phi(y) - 1. */
static double gaussian_sign_mean(const void *state, double y) {
  (void)state;
  return erf(y * M_SQRT1_2);
}

static double gaussian_sign_tail(const void *state, double y) {
  (void)state;
  return isnan(y) ? y : 2.0 * gsl_cdf_ugaussian_Q(fabs(y));
}

static double gaussian_density0(const void *state) {
  (void)state;
  return 0.5 * M_2_SQRTPI * M_SQRT1_2; /* 1/sqrt(2 pi) */
}

static double gaussian_variance(const void *state) {
  (void)state;
  return 1.0;
}

static double gaussian_batch_scale(const void *state, size_t batch) {
  (void)state;
  return batch ? 1.0 / sqrt((double)batch) : NAN;
}

static const sdv_noise_type gaussian_type = {
    .name = "gaussian",
    .help = "T ~ N(0,1): sigma is the standard deviation; batch B scales it by B^-1/2",
    .size = 0,
    .init = gaussian_init,
    .sample = gaussian_sample,
    .sample_n = gaussian_sample_n,
    .cdf = gaussian_cdf,
    .sign_mean = gaussian_sign_mean,
    .sign_tail = gaussian_sign_tail,
    .density0 = gaussian_density0,
    .variance = gaussian_variance,
    .batch_scale = gaussian_batch_scale,
    .sample_coupled = gaussian_sample_coupled,
    .normal = true,
};

const sdv_noise_type *const sdv_noise_gaussian = &gaussian_type;
