/* Fuzz target: the component spec parser (sdv_params_parse and its getters), the number
 * parsers, and every built-in component built from a fuzzed spec.
 *
 * Input layout: byte 0 picks the list length n (1..32) for sdv_params_get_list, byte 1 the
 * dimension d (1..16) components are built for (0xff: dimensions whose sizes overflow); the rest,
 * up to the first NUL, is the spec (e.g. "rand-k:k=3", "quadratic:lam=0.5..2", "student-t:nu=2.5").
 * A built component is exercised once (value/gradient, sample/cdf/sign mean, apply/covariance) at a
 * fixed point, so that parameter values that pass validation but break the arithmetic show up under
 * the sanitizers. Every status is legal; only crashes, hangs, leaks and sanitizer reports count.
 */
#include "fuzz.h"

#include <gsl/gsl_errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/compressor.h>
#include <sdv/errors.h>
#include <sdv/model.h>
#include <sdv/noise.h>
#include <sdv/objective.h>
#include <sdv/params.h>
#include <sdv/rng.h>

#define LIST_MAX 32
#define DIM_MAX 16

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  gsl_set_error_handler_off();
  return 0;
}

static void getters(const char *spec, size_t n) {
  sdv_params p;
  sdv_clear_error();
  const int prc = sdv_params_parse(&p, spec);
  /* Every failure says why; every success has a name and at most SDV_PARAMS_MAX keys. */
  FUZZ_CHECK(prc == SDV_OK || *sdv_last_error() != '\0');
  if (prc == SDV_OK) {
    FUZZ_CHECK(p.name != NULL && *p.name != '\0' && p.n <= SDV_PARAMS_MAX);
    double list[LIST_MAX], def[LIST_MAX];
    for (size_t j = 0; j < n; j++) def[j] = 2.385 + (double)j;
    for (size_t i = 0; i < p.n; i++) {
      const char *key = p.key[i];
      double v;
      size_t z;
      (void)sdv_params_has(&p, key);
      sdv_clear_error();
      if (sdv_params_get_double(&p, key, 1.5, &v) == SDV_OK)
        FUZZ_CHECK(isfinite(v));
      else
        FUZZ_CHECK(*sdv_last_error() != '\0');
      (void)sdv_params_get_size(&p, key, 3, &z);
      (void)sdv_params_get_list(&p, key, n, NULL, list);
      (void)sdv_params_get_list(&p, key, 1, def, list);
    }
    double v;
    size_t z;
    (void)sdv_params_get_double(&p, "absent", 1.5, &v);
    (void)sdv_params_get_size(&p, "absent", 3, &z);
    (void)sdv_params_get_list(&p, "absent", n, def, list);
    (void)sdv_params_get_list(&p, "absent", n, NULL, list);
    (void)sdv_params_check_unused(&p);
  }
  sdv_params_clear(&p);
  sdv_params_clear(&p); /* documented safe on a cleared struct */
}

static void numbers(const char *s) {
  double v, *list;
  size_t z, n;
  if (sdv_parse_double(s, "fuzz", &v) == SDV_OK) FUZZ_CHECK(isfinite(v));
  (void)sdv_parse_size(s, "fuzz", &z);
  if (sdv_parse_double_list(s, "fuzz", &list, &n) == SDV_OK) {
    FUZZ_CHECK(n >= 1);
    for (size_t i = 0; i < n; i++) FUZZ_CHECK(isfinite(list[i]));
    free(list);
  } else {
    FUZZ_CHECK(list == NULL);
  }
  sdv_observable o;
  (void)sdv_observable_parse(&o, s, 1 + (size_t)(strlen(s) % DIM_MAX));
}

static void objective(const char *spec, size_t d) {
  sdv_objective *f = NULL;
  sdv_clear_error();
  if (sdv_objective_alloc(&f, spec, d) != SDV_OK) {
    FUZZ_CHECK(f == NULL && *sdv_last_error() != '\0');
    return;
  }
  FUZZ_CHECK(f != NULL && f->dim == d);
  double x[DIM_MAX], g[DIM_MAX], h[DIM_MAX * DIM_MAX];
  for (size_t j = 0; j < d; j++) x[j] = 1.5 - 0.635 * (double)j;
  (void)sdv_objective_value(f, x);
  sdv_objective_gradient(f, x, g);
  (void)sdv_objective_hessian(f, x, h);
  sdv_objective_free(f);
}

static void noise(const char *spec) {
  sdv_noise *z = NULL;
  sdv_clear_error();
  if (sdv_noise_alloc(&z, spec) != SDV_OK) {
    FUZZ_CHECK(z == NULL && *sdv_last_error() != '\0');
    return;
  }
  sdv_stream s;
  sdv_stream_init(&s, 7, 0, 0, 0);
  double out[8];
  sdv_noise_sample_n(z, &s, out, 8);
  static const double ys[] = {0.0, -2.385, 1e-300, 40.0, 1e300, -INFINITY};
  for (size_t k = 0; k < sizeof ys / sizeof ys[0]; k++) {
    /* A CDF, E sign(y + T) and Var sign(y + T) stay in their ranges for every law. */
    const double F = z->type->cdf(z->state, ys[k]), m = sdv_noise_sign_mean(z, ys[k]);
    const double var = sdv_noise_sign_var(z, ys[k]);
    FUZZ_CHECK(F >= 0.0 && F <= 1.0);
    FUZZ_CHECK(m >= -1.0 && m <= 1.0);
    FUZZ_CHECK(var >= 0.0 && var <= 1.0);
  }
  (void)sdv_noise_ell(z);
  (void)z->type->variance(z->state);
  (void)z->type->batch_scale(z->state, 4);
  sdv_noise_free(z);
}

static void compressor(const char *spec, size_t d) {
  sdv_compressor *c = NULL;
  sdv_clear_error();
  if (sdv_compressor_alloc(&c, spec, d) != SDV_OK) {
    FUZZ_CHECK(c == NULL && *sdv_last_error() != '\0');
    return;
  }
  sdv_stream s;
  sdv_stream_init(&s, 7, 0, 1, 0);
  {
    /* Every compressor maps 0 to 0 and declares a finite omega >= 0. */
    double zero[DIM_MAX] = {0}, cz[DIM_MAX];
    sdv_compressor_apply(c, zero, cz, &s);
    for (size_t j = 0; j < d; j++) FUZZ_CHECK(cz[j] == 0.0);
    const double om = sdv_compressor_omega(c);
    FUZZ_CHECK(om >= 0.0 && isfinite(om));
  }
  double v[DIM_MAX], out[DIM_MAX], diag[DIM_MAX], u[DIM_MAX], a, cc, beta;
  for (size_t j = 0; j < d; j++) v[j] = (j % 2 ? -1.0 : 1.0) * (2.385 + (double)j);
  for (int r = 0; r < 3; r++) sdv_compressor_apply(c, v, out, &s);
  (void)sdv_compressor_omega(c);
  (void)sdv_compressor_linear(c, &a, &cc);
  (void)sdv_compressor_covariance(c, v, diag, &beta, u);
  sdv_compressor *copy = sdv_compressor_clone(c);
  if (copy) sdv_compressor_apply(copy, v, out, &s);
  sdv_compressor_free(copy);
  sdv_compressor_free(c);
}

/* Dimensions whose state sizes overflow size_t: a component must refuse them (SDV_ELIMIT)
 * without allocating, never wrap to a small block and overrun it. (Sizes that do not overflow
 * but exceed any memory, d = 2^60, reach the allocator: a resource policy, not tested here.) */
static void huge(const char *spec, size_t d) {
  sdv_objective *f = NULL;
  sdv_compressor *c = NULL;
  if (sdv_objective_alloc(&f, spec, d) == SDV_OK) sdv_objective_free(f);
  if (sdv_compressor_alloc(&c, spec, d) == SDV_OK) sdv_compressor_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  const size_t n = 1 + data[0] % LIST_MAX, d = 1 + data[1] % DIM_MAX;
  char *spec = sdv_fuzz_strdup(data + 2, size - 2);
  if (!spec) return 0;
  if (data[1] == 0xff) { /* byte 1 = 0xff: the overflow mode */
    huge(spec, SIZE_MAX);
    huge(spec, SIZE_MAX / 8 + 1);
    free(spec);
    return 0;
  }
  getters(spec, n);
  numbers(spec);
  objective(spec, d);
  noise(spec);
  compressor(spec, d);
  free(spec);
  return 0;
}
