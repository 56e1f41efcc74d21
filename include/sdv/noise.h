/* sdv/noise.h — gradient-noise laws.
 *
 * Agent i sees g_i = grad f(x) + Z_i, where each coordinate of Z_i is the mean of B i.i.d.
 * per-sample draws sigma_i * T and T is a *symmetric* unit-scale variable described by a
 * noise type: Gaussian (T ~ N(0,1)) or Student-t (T ~ t_nu, any nu > 0; nu = 1 is Cauchy).
 * sigma_i is a scale, a standard deviation only for the Gaussian.
 *
 * Batch size B. The type reports batch_scale(B) = c_B when the mean of B draws has the law
 * of c_B * T (stable laws: Gaussian c_B = B^-1/2, Cauchy c_B = 1: batching does not reduce
 * Cauchy noise). Otherwise it returns NAN: the discrete side then averages B draws
 * literally, and sign-based SDE drifts that need the law of the mean report SDV_ENOTSUP.
 *
 * Sign functions. m(y) = E sign(y + T) = 2 F(y) - 1 is what DSignSGD's drift needs; the
 * type computes it with relative accuracy near 0 (never as 2F - 1), and 1 - |m(y)| directly
 * for large |y|, so that 1 - m^2 = (1 - |m|)(1 + |m|) keeps its digits.
 */
#ifndef SDV_NOISE_H
#define SDV_NOISE_H

#include <stdbool.h>
#include <stddef.h>

#include <sdv/params.h>
#include <sdv/rng.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sdv_noise_type {
  const char *name; /* "gaussian", "student-t", "cauchy" */
  const char *help; /* one line for `sdv list` */
  size_t size;      /* bytes of instance state (relocatable: no internal pointers) */
  int (*init)(void *state, sdv_params *params);
  /* One unit-scale draw T. */
  double (*sample)(const void *state, sdv_stream *s);
  /* n unit-scale draws; NULL means n calls of sample (same values either way). */
  void (*sample_n)(const void *state, sdv_stream *s, double *out, size_t n);
  double (*cdf)(const void *state, double y);       /* F(y) = P(T <= y) */
  double (*sign_mean)(const void *state, double y); /* m(y) = 2F(y) - 1 */
  double (*sign_tail)(const void *state, double y); /* 1 - |m(y)| */
  double (*density0)(const void *state);            /* p(0); ell = 2 p(0) is m'(0) */
  double (*variance)(const void *state);            /* Var T, INFINITY if infinite */
  double (*batch_scale)(const void *state, size_t batch); /* c_B, or NAN (see above) */
  /* Optional (may be NULL), for coupled estimators (docs/math/coupling.md): n draws with
   * exactly the values and stream use of sample_n, and normal[i], a standard normal that is
   * a function of the same draws as out[i], increasing with out[i] (or nearly so), exactly
   * N(0, 1) and independent across i. NULL means the quantile transform
   * Phi^-1(F(out[i])) (computed from the lower tail on both sides, since T is symmetric). */
  void (*sample_coupled)(const void *state, sdv_stream *s, double *out, double *normal,
                         size_t n);
  /* Optional (may be NULL): a fast path for m(y[j]) and 1 - |m(y[j])| of n values at once,
   * into m and tail (no overlap), as accurate as sign_mean and sign_tail; returns false, with
   * nothing written, when this instance has none (then callers use sign_mean/sign_tail).
   * Student-t with nu = 3 has one (a vectorised kernel without libm). */
  bool (*sign_pairs)(const void *state, const double *y, size_t n, double *m, double *tail);
  /* What the type declares about itself (false by default): sample(s) is exactly
   * sdv_stream_normal(s), and sample_n (if any) sdv_stream_normals, so T ~ N(0, 1). Methods
   * then average agents in closed form (a weighted sum of independent draws is one draw
   * times the root of the summed squared weights) and draw many agents' normals in one call.
   * Declare it only if it holds bit for bit: the shortcuts draw sdv_stream_normals directly. */
  bool normal;
} sdv_noise_type;

typedef struct sdv_noise {
  const sdv_noise_type *type;
  void *state;
} sdv_noise;

extern const sdv_noise_type *const sdv_noise_gaussian;  /* "gaussian" */
extern const sdv_noise_type *const sdv_noise_student_t; /* "student-t:nu=V", V > 0 */
extern const sdv_noise_type *const sdv_noise_cauchy;    /* "cauchy" = student-t:nu=1 */

const sdv_noise_type *sdv_noise_type_from_name(const char *name);
int sdv_noise_register(const sdv_noise_type *type); /* as sdv_objective_register */
size_t sdv_noise_types(const sdv_noise_type **list, size_t max);

/* Allocates an instance from "NAME[:KEY=VALUE...]"; SDV_EINVAL names a bad key or value. */
int sdv_noise_alloc(sdv_noise **out, const char *spec);
int sdv_noise_alloc_type(sdv_noise **out, const sdv_noise_type *type, const char *params);
void sdv_noise_free(sdv_noise *n); /* NULL is a no-op */
/* A copy of n (its own state; states are relocatable values). SDV_ENOMEM, or SDV_EINVAL for
 * NULL arguments. */
int sdv_noise_clone(sdv_noise **out, const sdv_noise *n);

static inline double sdv_noise_sample(const sdv_noise *n, sdv_stream *s) {
  return n->type->sample(n->state, s);
}
void sdv_noise_sample_n(const sdv_noise *n, sdv_stream *s, double *out, size_t count);
/* count draws as sdv_noise_sample_n (the same values, the same stream use) and, in normal,
 * their coupled standard normals (sdv_noise_type.sample_coupled, or the quantile transform
 * Phi^-1(F(T)) when the type has none). normal may not alias out. */
void sdv_noise_sample_coupled(const sdv_noise *n, sdv_stream *s, double *out, double *normal,
                              size_t count);
/* The quantile transform Phi^-1(F(t)) of one draw t of law n, computed as
 * -sign(t) Phi^-1(F(-|t|)) so that neither tail loses digits (T is symmetric); clamped to
 * +-38.5 where F(-|t|) underflows. A standard normal when t has law n. */
double sdv_noise_normal_score(const sdv_noise *n, double t);
/* The law's sign_pairs fast path (sdv_noise_type.sign_pairs), or false when it has none. */
bool sdv_noise_sign_pairs(const sdv_noise *n, const double *y, size_t count, double *m,
                          double *tail);
static inline double sdv_noise_sign_mean(const sdv_noise *n, double y) {
  return n->type->sign_mean(n->state, y);
}
/* 1 - m(y)^2 computed as (1 - |m|)(1 + |m|) with 1 - |m| from sign_tail. */
double sdv_noise_sign_var(const sdv_noise *n, double y);
/* ell = 2 p(0), the slope of m at 0. */
double sdv_noise_ell(const sdv_noise *n);

#ifdef __cplusplus
}
#endif
#endif
