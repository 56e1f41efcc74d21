/* Structured diffusions: every structure must produce a square root S with S S^T = Sigma,
 * checked by building S column by column; non-PSD input must be refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/diffusion.h>
#include <sdv/errors.h>
#include <sdv/rng.h>

#include "testutil.h"

/* S S^T must match Sigma to this, relative to the scale of Sigma: each entry of S S^T is a sum
 * of d products computed with relative error ~ d eps, and d <= 50 keeps that below 1e-13. */
#define SST_TOL 1e-12

/* The scale the tolerance refers to: max |Sigma_ij|, and for DIAG_RANK1 also the size of the
 * two terms D_j and beta u_i u_j. As r -> 1 an entry of Sigma can be a near-total cancellation
 * of those terms, so even the reference to_dense(Sigma) is only accurate to eps times them. */
static double sigma_scale(const sdv_diffusion *D, const double *sigma) {
  const size_t d = D->dim;
  double scale = 0.0;
  for (size_t i = 0; i < d * d; i++) scale = fmax(scale, fabs(sigma[i]));
  if (D->structure == SDV_DIFFUSION_DIAG_RANK1)
    for (size_t j = 0; j < d; j++)
      scale = fmax(scale, fmax(fabs(D->diag[j]), fabs(D->beta) * D->u[j] * D->u[j]));
  return scale;
}

static sdv_diffusion *make(size_t d, bool dense) {
  sdv_diffusion *D = NULL;
  ck_assert_int_eq(sdv_diffusion_alloc(&D, d, dense), SDV_OK);
  ck_assert_ptr_nonnull(D);
  return D;
}

/* Builds S column by column (S e_i) and checks S S^T == to_dense(Sigma). */
static void check_root(sdv_diffusion *D, const char *what) {
  const size_t d = D->dim;
  double *s = malloc(d * d * sizeof *s), *sigma = malloc(d * d * sizeof *sigma);
  double *e = calloc(d, sizeof *e), *col = malloc(d * sizeof *col);
  ck_assert(s && sigma && e && col);
  ck_assert_int_eq(sdv_diffusion_to_dense(D, sigma), SDV_OK);
  for (size_t i = 0; i < d; i++) {
    e[i] = 1.0;
    const int rc = sdv_diffusion_apply(D, e, col);
    ck_assert_msg(rc == SDV_OK, "%s (d = %zu): apply failed: %s", what, d, sdv_last_error());
    e[i] = 0.0;
    for (size_t j = 0; j < d; j++) s[j * d + i] = col[j];
  }
  double scale = sigma_scale(D, sigma);
  ck_assert_msg(scale > 0.0 || d == 1, "%s: Sigma is zero, test is vacuous", what);
  if (scale == 0.0) scale = 1.0;
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      double v = 0.0;
      for (size_t k = 0; k < d; k++) v += s[i * d + k] * s[j * d + k];
      ck_assert_msg(fabs(v - sigma[i * d + j]) <= SST_TOL * scale,
                    "%s (d = %zu): (S S^T)[%zu][%zu] = %.17g, Sigma = %.17g", what, d, i, j, v,
                    sigma[i * d + j]);
    }
  free(s);
  free(sigma);
  free(e);
  free(col);
}

static const size_t dims[] = {1, 2, 7, 50};
#define NDIMS ((int)(sizeof dims / sizeof dims[0]))

START_TEST(test_scalar) {
  const size_t d = dims[_i];
  sdv_diffusion *D = make(d, false);
  ck_assert_int_eq(D->structure, SDV_DIFFUSION_SCALAR);
  D->scalar = 2.385;
  check_root(D, "scalar");
  sdv_diffusion_free(D);
}
END_TEST

START_TEST(test_diagonal) {
  const size_t d = dims[_i];
  sdv_diffusion *D = make(d, false);
  sdv_stream s;
  sdv_stream_init(&s, 2385, d, SDV_PURPOSE_SAMPLING, 1);
  D->structure = SDV_DIFFUSION_DIAGONAL;
  for (size_t j = 0; j < d; j++) D->diag[j] = 0.01 + 3 * sdv_stream_uniform(&s);
  if (d > 2) D->diag[1] = 0.0; /* a zero variance is PSD */
  check_root(D, "diagonal");
  sdv_diffusion_free(D);
}
END_TEST

/* Random D > 0 and u, beta chosen so that r = beta sum u^2/D equals target. */
static void fill_rank1(sdv_diffusion *D, uint64_t seed, double target_r) {
  const size_t d = D->dim;
  sdv_stream s;
  sdv_stream_init(&s, seed, d, SDV_PURPOSE_SAMPLING, 2);
  D->structure = SDV_DIFFUSION_DIAG_RANK1;
  double w2 = 0.0;
  for (size_t j = 0; j < d; j++) {
    D->diag[j] = 0.05 + 2 * sdv_stream_uniform(&s);
    D->u[j] = sdv_stream_normal(&s);
    w2 += D->u[j] * D->u[j] / D->diag[j];
  }
  D->beta = target_r / w2;
}

static const double rank1_r[] = {0.0, 0.2385, 0.9, 0.999999, 1.0};
#define NR ((int)(sizeof rank1_r / sizeof rank1_r[0]))

START_TEST(test_diag_rank1) {
  const size_t d = dims[_i / NR];
  const double r = rank1_r[_i % NR];
  sdv_diffusion *D = make(d, false);
  fill_rank1(D, 77, r);
  char what[64];
  snprintf(what, sizeof what, "diag-rank1 r = %g", r);
  check_root(D, what);
  sdv_diffusion_free(D);
}
END_TEST

/* The reference value of lib/diffusion/diffusion.c: D = 1, u = 1, beta = 1/4 (r = 1 exactly,
 * the noise-free rand-k situation), S e_1 = (3/4, -1/4, -1/4, -1/4). */
START_TEST(test_diag_rank1_reference) {
  sdv_diffusion *D = make(4, false);
  D->structure = SDV_DIFFUSION_DIAG_RANK1;
  for (size_t j = 0; j < 4; j++) D->diag[j] = D->u[j] = 1.0;
  D->beta = 0.25;
  const double e1[4] = {1, 0, 0, 0};
  double out[4];
  ck_assert_int_eq(sdv_diffusion_apply(D, e1, out), SDV_OK);
  ck_assert_close(out[0], 0.75, 1e-15);
  for (size_t j = 1; j < 4; j++) ck_assert_close(out[j], -0.25, 1e-15);
  /* Sigma is singular: 1 is in its kernel, so S^T 1 = 0, i.e. 1 . (S xi) = 0 for any xi. */
  const double xi[4] = {0.3141, -2.385, 1.1, 0.577};
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_OK);
  ck_assert_close(out[0] + out[1] + out[2] + out[3], 0, 1e-15);
  check_root(D, "diag-rank1 reference");
  sdv_diffusion_free(D);
}
END_TEST

START_TEST(test_diag_rank1_degenerate) {
  enum { d = 7 };
  sdv_diffusion *D = make(d, false);
  /* D_j = 0 with u_j = 0 is allowed (those coordinates carry no noise). */
  fill_rank1(D, 5, 0.7);
  D->diag[2] = D->u[2] = 0.0;
  D->diag[5] = D->u[5] = 0.0;
  check_root(D, "diag-rank1 with zero coordinates");
  /* beta = 0: Sigma = Diag(D), u is ignored even where D_j = 0. */
  D->beta = 0.0;
  D->u[2] = 1.7;
  check_root(D, "diag-rank1 beta = 0");
  /* u = 0 with beta > 0: again Sigma = Diag(D). */
  for (size_t j = 0; j < d; j++) D->u[j] = 0.0;
  D->beta = 2.385;
  check_root(D, "diag-rank1 u = 0");
  /* A tiny negative D_j from round-off is clamped to 0 (u_j = 0 there). */
  fill_rank1(D, 6, 0.5);
  D->diag[3] = -1e-17;
  D->u[3] = 0.0;
  double xi[d], out[d];
  for (size_t j = 0; j < d; j++) xi[j] = 1.0 + 0.1 * (double)j;
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_OK);
  ck_assert_close(out[3], 0, 0);
  sdv_diffusion_free(D);
}
END_TEST

/* ---- the vectorised kernels (lib/core/clones.h) against plain scalar references ----
 * The library may run an AVX2 clone of these loops; the references below are compiled for
 * the baseline in this file. The results must agree bit for bit, at every d (d mod 4 != 0
 * included: the partial sums' tail goes to lane 0). */

/* S xi for DIAG_RANK1 in the documented order (lib/diffusion/diffusion.c): w_j = u_j /
 * sqrt(D_j), lane l sums j = l mod 4 over the whole blocks of four, the tail goes to lane 0,
 * then (l0 + l1) + (l2 + l3). */
static void rank1_reference(const sdv_diffusion *D, const double *xi, double *out) {
  const size_t d = D->dim, full = d - d % 4;
  double a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0};
  for (size_t j = 0; j < d; j++) {
    const double s = sqrt(D->diag[j]), w = D->u[j] / s;
    const size_t l = j < full ? j % 4 : 0;
    a[l] += w * w;
    b[l] += w * xi[j];
  }
  const double r = D->beta * ((a[0] + a[1]) + (a[2] + a[3]));
  const double c = (b[0] + b[1]) + (b[2] + b[3]);
  const double gamma = D->beta / (1.0 + sqrt(r < 1.0 ? 1.0 - r : 0.0));
  for (size_t j = 0; j < d; j++) out[j] = sqrt(D->diag[j]) * xi[j] - gamma * c * D->u[j];
}

static void assert_same_bits(const double *got, const double *want, size_t d, const char *what) {
  for (size_t j = 0; j < d; j++)
    ck_assert_msg(memcmp(&got[j], &want[j], sizeof got[j]) == 0,
                  "%s (d = %zu): out[%zu] = %.17g, reference %.17g", what, d, j, got[j], want[j]);
}

/* d = 1..70 and a few larger; D over six decades, r from 0 to 1 (the positive fast path). */
START_TEST(test_kernels_bitwise) {
  const size_t d = _i < 70 ? (size_t)_i + 1 : (size_t)(97 + 131 * (_i - 70));
  sdv_diffusion *D = make(d, false);
  double *xi = malloc(d * sizeof *xi), *out = malloc(d * sizeof *out);
  double *ref = malloc(d * sizeof *ref);
  ck_assert(xi && out && ref);
  sdv_stream s;
  sdv_stream_init(&s, 2385, d, SDV_PURPOSE_SAMPLING, 7);
  for (size_t k = 0; k < NR; k++) {
    fill_rank1(D, 100 + d, rank1_r[k]);
    for (size_t j = 0; j < d; j++) {
      D->diag[j] *= pow(10.0, 6.0 * sdv_stream_uniform(&s) - 3.0);
      xi[j] = sdv_stream_normal(&s);
    }
    double w2 = 0.0;
    for (size_t j = 0; j < d; j++) w2 += D->u[j] * D->u[j] / D->diag[j];
    D->beta = rank1_r[k] > 0.0 ? rank1_r[k] / w2 * (1.0 - 1e-15) : 0.385;
    if (rank1_r[k] == 0.0)
      for (size_t j = 0; j < d; j++) D->u[j] *= 1e-9; /* r ~ 1e-18: tiny rank-1 part */
    ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_OK);
    rank1_reference(D, xi, ref);
    assert_same_bits(out, ref, d, "diag-rank1 kernel");
  }
  /* DIAGONAL: out_j = sqrt(D_j) xi_j, zeros included. */
  D->structure = SDV_DIFFUSION_DIAGONAL;
  for (size_t j = 0; j < d; j++) {
    D->diag[j] = j % 5 == 3 ? 0.0 : 0.01 + 3 * sdv_stream_uniform(&s);
    ref[j] = sqrt(D->diag[j]) * xi[j];
  }
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_OK);
  assert_same_bits(out, ref, d, "diagonal kernel");
  free(xi);
  free(out);
  free(ref);
  sdv_diffusion_free(D);
}
END_TEST

/* The fast path has no separate D > 0 test: a D_j <= 0, a NaN or an infinite u_j must make
 * it give way to the general path, which clamps or reports exactly as before. */
START_TEST(test_rank1_fast_path_gives_way) {
  enum { d = 9 };
  sdv_diffusion *D = make(d, false);
  double xi[d], out[d];
  for (size_t j = 0; j < d; j++) xi[j] = 0.5 - 0.125 * (double)j;
  fill_rank1(D, 11, 0.6);
  D->diag[6] = NAN;
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_EDOM);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "diag[6] = nan"));
  fill_rank1(D, 11, 0.6);
  D->diag[8] = -0.0; /* zero with u_8 != 0: not PSD */
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_EDOM);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "u[8]"));
  fill_rank1(D, 11, 0.6);
  D->u[2] = INFINITY;
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_EDOM);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "r = inf"));
  /* A round-off negative D_j with u_j = 0 (one of the tail coordinates, d = 9): clamped. */
  fill_rank1(D, 11, 0.6);
  D->diag[8] = -1e-17;
  D->u[8] = 0.0;
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_OK);
  ck_assert_close(out[8], 0, 0);
  check_root(D, "diag-rank1 with a clamped tail coordinate");
  sdv_diffusion_free(D);
}
END_TEST

/* DIAG_RANK1 and the dense Cholesky path on the same Sigma: different roots, same product. */
START_TEST(test_rank1_vs_dense) {
  const size_t d = dims[_i];
  sdv_diffusion *R = make(d, false), *C = make(d, true);
  fill_rank1(R, 99, 0.97);
  ck_assert_int_eq(sdv_diffusion_to_dense(R, C->dense), SDV_OK);
  C->structure = SDV_DIFFUSION_DENSE;
  check_root(R, "diag-rank1");
  check_root(C, "dense from diag-rank1");
  /* Same Sigma on both sides (the comparison is not vacuous). */
  double *a = malloc(d * d * sizeof *a), *b = malloc(d * d * sizeof *b);
  ck_assert(a && b);
  ck_assert_int_eq(sdv_diffusion_to_dense(R, a), SDV_OK);
  ck_assert_int_eq(sdv_diffusion_to_dense(C, b), SDV_OK);
  ck_assert(memcmp(a, b, d * d * sizeof *a) == 0);
  free(a);
  free(b);
  sdv_diffusion_free(R);
  sdv_diffusion_free(C);
}
END_TEST

START_TEST(test_dense) {
  const size_t d = dims[_i];
  sdv_diffusion *D = make(d, true);
  D->structure = SDV_DIFFUSION_DENSE;
  /* Sigma = A A^T + 0.1 I with A standard normal: symmetric positive definite. */
  sdv_stream s;
  sdv_stream_init(&s, 31, d, SDV_PURPOSE_SAMPLING, 3);
  double *a = malloc(d * d * sizeof *a), *copy = malloc(d * d * sizeof *copy);
  ck_assert(a && copy);
  sdv_stream_normals(&s, a, d * d);
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      double v = i == j ? 0.1 : 0.0;
      for (size_t k = 0; k < d; k++) v += a[i * d + k] * a[j * d + k];
      D->dense[i * d + j] = v;
    }
  memcpy(copy, D->dense, d * d * sizeof *copy);
  check_root(D, "dense");
  ck_assert_msg(memcmp(copy, D->dense, d * d * sizeof *copy) == 0, "apply modified D->dense");
  free(a);
  free(copy);
  sdv_diffusion_free(D);
}
END_TEST

/* Each case must return SDV_EDOM with a message containing the given text. */
START_TEST(test_not_psd) {
  double xi[3] = {0.5, -1.25, 2.385}, out[3];
  sdv_diffusion *D = make(3, true);
  D->scalar = -0.5;
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_EDOM);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "scalar = -0.5"));
  D->scalar = NAN;
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_EDOM);

  D->structure = SDV_DIFFUSION_DIAGONAL;
  D->diag[0] = 1.0;
  D->diag[1] = -0.25;
  D->diag[2] = 2.0;
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_EDOM);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "diag[1] = -0.25"));
  D->diag[1] = -1e-10; /* too large for round-off at max diag 2 */
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_EDOM);
  D->diag[1] = NAN;
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_EDOM);
  D->diag[1] = -1e-15; /* round-off: clamped to 0 */
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_OK);
  ck_assert_close(out[1], 0, 0);
  ck_assert_close(out[2], sqrt(2.0) * 2.385, 1e-15);

  D->structure = SDV_DIFFUSION_DIAG_RANK1;
  D->diag[1] = 0.5;
  D->u[0] = 1.0;
  D->u[1] = -0.5;
  D->u[2] = 0.75; /* sum u^2/D = 1 + 0.5 + 0.28125 = 1.78125 */
  D->beta = 1.01 / 1.78125;
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_EDOM);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "r = 1.01"));
  D->beta = 1.0 / 1.78125 * (1 + 1e-14); /* r = 1 up to round-off: accepted */
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_OK);
  D->beta = -0.5;
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_EDOM);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "beta"));
  D->beta = 0.1;
  D->diag[2] = 0.0; /* D_j = 0 with u_j != 0 */
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_EDOM);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "u[2]"));
  D->diag[2] = 2.0;
  D->diag[0] = -3.0;
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_EDOM);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "diag[0] = -3"));

  D->structure = SDV_DIFFUSION_DENSE;
  const double indefinite[9] = {2, 1, 0, 1, -0.5, 0, 0, 0, 1};
  memcpy(D->dense, indefinite, sizeof indefinite);
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_EDOM);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "not positive definite"));
  ck_assert(memcmp(D->dense, indefinite, sizeof indefinite) == 0);
  sdv_diffusion_free(D);
}
END_TEST

/* A rank-1 diffusion whose coefficients overflowed at a finite but huge state (a diverging
 * path: D_j = (d_j f)^2 ... = inf) gives a non-finite increment, not an error: the process then
 * marks the path diverged. A finite Sigma that is not PSD is still an error (test_not_psd). */
START_TEST(test_rank1_overflow) {
  double xi[3] = {0.5, -1.25, 2.385}, out[3];
  sdv_diffusion *D = make(3, false);
  D->structure = SDV_DIFFUSION_DIAG_RANK1;
  D->diag[0] = 1.0;
  D->diag[1] = INFINITY;
  D->diag[2] = 2.0;
  D->u[0] = 0.5;
  D->u[1] = INFINITY;
  D->u[2] = -0.25;
  D->beta = 0.1;
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_OK);
  for (int j = 0; j < 3; j++) ck_assert(!isfinite(out[j]));
  D->u[1] = 1e200; /* d_j f finite, (d_j f)^2 overflowed */
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_OK);
  ck_assert(!isfinite(out[1]));
  D->diag[1] = 0.75;
  D->u[1] = INFINITY; /* u alone infinite: no model gives that, still an error */
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_EDOM);
  D->diag[1] = -INFINITY; /* not overflow of a variance: an error */
  D->u[1] = 0.5;
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_EDOM);
  sdv_diffusion_free(D);
}
END_TEST

START_TEST(test_unsupported) {
  double xi[2] = {0.5, -1.25}, out[2], sigma[4];
  sdv_diffusion *D = make(2, false);
  D->structure = SDV_DIFFUSION_SAMPLED;
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_ENOTSUP);
  ck_assert_int_eq(sdv_diffusion_to_dense(D, sigma), SDV_ENOTSUP);
  /* DENSE without dense storage. */
  D->structure = SDV_DIFFUSION_DENSE;
  ck_assert_int_eq(sdv_diffusion_apply(D, xi, out), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "with_dense"));
  ck_assert_int_eq(sdv_diffusion_to_dense(D, sigma), SDV_EINVAL);
  sdv_diffusion_free(D);
}
END_TEST

START_TEST(test_alloc) {
  sdv_diffusion *D = (sdv_diffusion *)1;
  ck_assert_int_eq(sdv_diffusion_alloc(&D, 0, false), SDV_EINVAL);
  ck_assert_ptr_null(D);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "dim = 0"));
  ck_assert_int_eq(sdv_diffusion_alloc(&D, (size_t)1 << 62, true), SDV_ENOMEM);
  ck_assert_ptr_null(D);
  D = make(3, false);
  ck_assert_int_eq(D->structure, SDV_DIFFUSION_SCALAR);
  ck_assert_close(D->scalar, 0, 0);
  ck_assert_ptr_null(D->dense);
  sdv_diffusion_free(D);
  D = make(3, true);
  ck_assert_ptr_nonnull(D->dense);
  ck_assert_uint_ge(D->work_len, 9);
  sdv_diffusion_free(D);
  sdv_diffusion_free(NULL);
}
END_TEST

static Suite *diffusion_suite(void) {
  Suite *s = suite_create("diffusion");
  TCase *tc = tcase_create("scalar-diagonal");
  tcase_add_loop_test(tc, test_scalar, 0, NDIMS);
  tcase_add_loop_test(tc, test_diagonal, 0, NDIMS);
  suite_add_tcase(s, tc);
  tc = tcase_create("diag-rank1");
  tcase_add_loop_test(tc, test_diag_rank1, 0, NDIMS * NR);
  tcase_add_test(tc, test_diag_rank1_reference);
  tcase_add_test(tc, test_diag_rank1_degenerate);
  tcase_add_loop_test(tc, test_kernels_bitwise, 0, 74);
  tcase_add_test(tc, test_rank1_fast_path_gives_way);
  tcase_add_loop_test(tc, test_rank1_vs_dense, 0, NDIMS);
  suite_add_tcase(s, tc);
  tc = tcase_create("dense");
  tcase_add_loop_test(tc, test_dense, 0, NDIMS);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_add_test(tc, test_not_psd);
  tcase_add_test(tc, test_rank1_overflow);
  tcase_add_test(tc, test_unsupported);
  tcase_add_test(tc, test_alloc);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sdv_test_run(diffusion_suite()); }
