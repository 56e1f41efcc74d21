/* The linear second-moment model shared by the discrete and SDE sides of DSGD and DCSGD
 * with linear compressors (Phi_C(v) = a Diag(v^2) - c v v^T) on f = 0.5 x^T H x.
 *
 * With g = H x, V_i = v_i I and E over the noise and the compressor, one step of
 * x' = x - (eta/N) sum_i C_i(g + Z_i) has E[x' x'^T | x] = A x x^T A + (eta^2/N^2) sum_i
 * [V_i + Phihat_i(g g^T + V_i)], A = I - eta H, Phihat_i(M) = a_i diag(M) - c_i M. Taking
 * expectations closes the equation for S = E x x^T (docs/math/exact.md):
 *   DISCRETE  S' = A S A + eta^2 [ qv I + asum diag(H S H) - csum H S H ]
 *   SDE       dS/dt = -(H S + S H) + c^2 eta [ qv I + asum diag(H S H) - csum H S H ]
 * qv = (1/N^2) sum_i (1 + a_i - c_i) v_i, asum = (1/N^2) sum_i a_i, csum = (1/N^2) sum_i c_i,
 * c = diffusion_scale. This file holds the model, its linear map, and the growth and
 * stationary point of the map (closed form per entry for diagonal H, d^2 x d^2 linear
 * algebra with GSL otherwise).
 *
 * Reference value (tests/test-exact.c, "stability"): lambda = 1, Bernoulli omega = 4, N = 1:
 * discrete growth at eta = 0.4 is exactly 1 ((1 - 0.4)^2 + 0.16 * 4 = 1), SDE growth at
 * eta = 0.5 is exactly 0 (-(2 - 0.5 * 4)).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_permutation.h>
#include <gsl/gsl_vector.h>

#include <sdv/errors.h>

#include "exact/exact_private.h"

int sdv_exact_diag_lambda(const sdv_model *m, double *lam) {
  const size_t d = m->dim;
  double *ones = malloc(d * sizeof *ones);
  if (!ones) return SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu)", d);
  for (size_t j = 0; j < d; j++) ones[j] = 1.0;
  /* For H diagonal, grad f(1,...,1) = (lambda_1, ..., lambda_d): O(d) memory for any d. */
  sdv_objective_gradient(m->objective, ones, lam);
  free(ones);
  return SDV_OK;
}

int sdv_exact_lin_init(sdv_exact_lin *L, const sdv_model *m, bool force_dense) {
  memset(L, 0, sizeof *L);
  const size_t d = m->dim, n = m->agents;
  L->d = d;
  L->eta = m->eta;
  L->c2 = m->diffusion_scale * m->diffusion_scale;
  L->x0 = m->x0;
  const double n2 = (double)n * (double)n;
  for (size_t i = 0; i < n; i++) {
    double a = 0.0, c = 0.0;
    if (m->compressor && m->compressor[i]) {
      const sdv_compressor *cp = m->compressor[i];
      const int rc = cp->type->linear(cp->state, cp->dim, &a, &c);
      if (rc) return rc;
    }
    L->qv += (1.0 + a - c) * m->var[i] / n2;
    L->asum += a / n2;
    L->csum += c / n2;
  }
  L->lam = malloc(d * sizeof *L->lam);
  if (!L->lam) goto nomem;
  const bool diag_kind = m->objective->type->kind == SDV_OBJECTIVE_QUADRATIC_DIAG;
  if (diag_kind && !force_dense) {
    L->diag = true;
    const int rc = sdv_exact_diag_lambda(m, L->lam);
    if (rc) sdv_exact_lin_free(L);
    return rc;
  }
  L->h = malloc(d * d * sizeof *L->h);
  if (!L->h) goto nomem;
  const int rc = sdv_objective_hessian(m->objective, m->x0, L->h);
  if (rc) {
    sdv_exact_lin_free(L);
    return rc;
  }
  for (size_t j = 0; j < d; j++) L->lam[j] = L->h[j * d + j];
  return SDV_OK;
nomem:
  sdv_exact_lin_free(L);
  return SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu)", d);
}

void sdv_exact_lin_free(sdv_exact_lin *L) {
  if (!L) return;
  free(L->lam);
  free(L->h);
  L->lam = NULL;
  L->h = NULL;
}

void sdv_exact_lin_coef_disc(const sdv_exact_lin *L, size_t j, size_t l, double *rho,
                             double *one_minus_rho, double *q) {
  const double e = L->eta, lj = L->lam[j], ll = L->lam[l];
  const double k = (j == l ? L->asum : 0.0) - L->csum;
  *rho = (1.0 - e * lj) * (1.0 - e * ll) + e * e * lj * ll * k;
  /* 1 - rho expanded, so that rho close to 1 (small eta) keeps its digits. */
  *one_minus_rho = e * (lj + ll) - e * e * lj * ll * (1.0 + k);
  *q = j == l ? e * e * L->qv : 0.0;
}

void sdv_exact_lin_coef_sde(const sdv_exact_lin *L, size_t j, size_t l, double *alpha, double *q) {
  const double k = (j == l ? L->asum : 0.0) - L->csum;
  *alpha = L->lam[j] + L->lam[l] - L->c2 * L->eta * L->lam[j] * L->lam[l] * k;
  *q = j == l ? L->c2 * L->eta * L->qv : 0.0;
}

/* out = H S H into hsh, using tmp (both d x d). */
static void hsh(const double *H, const double *S, double *tmp, double *out, size_t d) {
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      double s = 0.0;
      for (size_t k = 0; k < d; k++) s += H[i * d + k] * S[k * d + j];
      tmp[i * d + j] = s;
    }
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      double s = 0.0;
      for (size_t k = 0; k < d; k++) s += tmp[i * d + k] * H[k * d + j];
      out[i * d + j] = s;
    }
}

void sdv_exact_lin_apply(const sdv_exact_lin *L, sdv_side side, const double *S, double *out,
                         double *scratch) {
  const size_t d = L->d;
  double *tmp = scratch, *m2 = scratch + d * d;
  const double *H = L->h;
  hsh(H, S, tmp, m2, d); /* m2 = H S H */
  /* Noise part: factor * (asum diag(HSH) - csum HSH). */
  const double fac = side == SDV_SIDE_DISCRETE ? L->eta * L->eta : L->c2 * L->eta;
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++)
      out[i * d + j] = fac * ((i == j ? L->asum : 0.0) - L->csum) * m2[i * d + j];
  /* tmp = H S */
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j < d; j++) {
      double s = 0.0;
      for (size_t k = 0; k < d; k++) s += H[i * d + k] * S[k * d + j];
      tmp[i * d + j] = s;
    }
  if (side == SDV_SIDE_DISCRETE) {
    /* A S A = S - eta (HS + SH) + eta^2 HSH, with SH = (HS)^T for symmetric S and H; we do not
     * rely on symmetry of S (the d^2 x d^2 matrix is built from unit matrices). */
    const double e = L->eta;
    for (size_t i = 0; i < d; i++)
      for (size_t j = 0; j < d; j++) {
        double sh = 0.0;
        for (size_t k = 0; k < d; k++) sh += S[i * d + k] * H[k * d + j];
        out[i * d + j] += S[i * d + j] - e * (tmp[i * d + j] + sh) + e * e * m2[i * d + j];
      }
  } else {
    for (size_t i = 0; i < d; i++)
      for (size_t j = 0; j < d; j++) {
        double sh = 0.0;
        for (size_t k = 0; k < d; k++) sh += S[i * d + k] * H[k * d + j];
        out[i * d + j] -= tmp[i * d + j] + sh;
      }
  }
}

/* The d^2 x d^2 matrix of the linear part, column p = vec(map(E_p)). */
static int build_matrix(const sdv_exact_lin *L, sdv_side side, gsl_matrix **out) {
  const size_t d = L->d, n = d * d;
  if (d > SDV_EXACT_DENSE_MAX)
    return SDV_ERROR(SDV_ELIMIT,
                     "exact: dense second-moment map with d = %zu > %d (d^2 x d^2 eigen/solve)", d,
                     SDV_EXACT_DENSE_MAX);
  gsl_matrix *M = gsl_matrix_alloc(n, n);
  double *E = calloc(n, sizeof *E), *col = malloc(n * sizeof *col);
  double *scr = malloc(2 * n * sizeof *scr);
  if (!M || !E || !col || !scr) {
    if (M) gsl_matrix_free(M);
    free(E);
    free(col);
    free(scr);
    return SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu)", d);
  }
  for (size_t p = 0; p < n; p++) {
    E[p] = 1.0;
    sdv_exact_lin_apply(L, side, E, col, scr);
    E[p] = 0.0;
    for (size_t r = 0; r < n; r++) gsl_matrix_set(M, r, p, col[r]);
  }
  free(E);
  free(col);
  free(scr);
  *out = M;
  return SDV_OK;
}

int sdv_exact_lin_growth(const sdv_exact_lin *L, sdv_side side, double *growth) {
  const size_t d = L->d;
  if (L->diag) {
    /* Entries evolve independently: the map is diagonal in the basis E_jl. */
    double g = side == SDV_SIDE_DISCRETE ? 0.0 : -INFINITY;
    for (size_t j = 0; j < d; j++)
      for (size_t l = j; l < d; l++) {
        if (side == SDV_SIDE_DISCRETE) {
          double rho, omr, q;
          sdv_exact_lin_coef_disc(L, j, l, &rho, &omr, &q);
          if (fabs(rho) > g) g = fabs(rho);
        } else {
          double alpha, q;
          sdv_exact_lin_coef_sde(L, j, l, &alpha, &q);
          if (-alpha > g) g = -alpha;
        }
      }
    *growth = g;
    return SDV_OK;
  }
  gsl_matrix *M = NULL;
  int rc = build_matrix(L, side, &M);
  if (rc) return rc;
  const size_t n = d * d;
  gsl_vector_complex *ev = gsl_vector_complex_alloc(n);
  gsl_eigen_nonsymm_workspace *ws = gsl_eigen_nonsymm_alloc(n);
  if (!ev || !ws) {
    rc = SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu)", d);
    goto done;
  }
  const int grc = gsl_eigen_nonsymm(M, ev, ws);
  if (grc) {
    rc = SDV_ERROR(SDV_ENUMERIC, "exact: eigenvalues of the second-moment map: %s",
                   gsl_strerror(grc));
    goto done;
  }
  double g = side == SDV_SIDE_DISCRETE ? 0.0 : -INFINITY;
  for (size_t i = 0; i < n; i++) {
    const gsl_complex z = gsl_vector_complex_get(ev, i);
    const double v = side == SDV_SIDE_DISCRETE ? hypot(GSL_REAL(z), GSL_IMAG(z)) : GSL_REAL(z);
    if (v > g) g = v;
  }
  *growth = g;
done:
  if (ws) gsl_eigen_nonsymm_free(ws);
  if (ev) gsl_vector_complex_free(ev);
  gsl_matrix_free(M);
  return rc;
}

int sdv_exact_lin_stationary(const sdv_exact_lin *L, sdv_side side, double *S) {
  const size_t d = L->d;
  double growth;
  int rc = sdv_exact_lin_growth(L, side, &growth);
  if (rc) return rc;
  const bool disc = side == SDV_SIDE_DISCRETE;
  if (disc ? growth >= 1.0 : growth >= 0.0)
    return SDV_ERROR(
        SDV_EDOM, "exact: %s second moments diverge (growth %.17g %s), no stationary law",
        disc ? "discrete" : "SDE", growth, disc ? ">= 1 per step" : ">= 0 per unit time");
  if (L->diag) {
    for (size_t j = 0; j < d; j++) {
      double q;
      if (disc) {
        double rho, omr;
        sdv_exact_lin_coef_disc(L, j, j, &rho, &omr, &q);
        S[j] = q / omr;
      } else {
        double alpha;
        sdv_exact_lin_coef_sde(L, j, j, &alpha, &q);
        S[j] = q / alpha;
      }
    }
    return SDV_OK;
  }
  gsl_matrix *M = NULL;
  rc = build_matrix(L, side, &M);
  if (rc) return rc;
  const size_t n = d * d;
  /* DISCRETE: (I - Lin) s = q0;  SDE: -Lin s = q0;  q0 = fac qv vec(I). */
  const double fac = disc ? L->eta * L->eta : L->c2 * L->eta;
  gsl_matrix_scale(M, -1.0);
  if (disc)
    for (size_t p = 0; p < n; p++) gsl_matrix_set(M, p, p, gsl_matrix_get(M, p, p) + 1.0);
  gsl_vector *b = gsl_vector_calloc(n), *s = gsl_vector_alloc(n);
  gsl_permutation *perm = gsl_permutation_alloc(n);
  if (!b || !s || !perm) {
    rc = SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu)", d);
    goto done;
  }
  for (size_t j = 0; j < d; j++) gsl_vector_set(b, j * d + j, fac * L->qv);
  int sign;
  int grc = gsl_linalg_LU_decomp(M, perm, &sign);
  if (!grc) grc = gsl_linalg_LU_solve(M, perm, b, s);
  if (grc) {
    rc = SDV_ERROR(SDV_ENUMERIC, "exact: stationary second moment (LU): %s", gsl_strerror(grc));
    goto done;
  }
  for (size_t p = 0; p < n; p++) S[p] = gsl_vector_get(s, p);
done:
  if (perm) gsl_permutation_free(perm);
  if (s) gsl_vector_free(s);
  if (b) gsl_vector_free(b);
  gsl_matrix_free(M);
  return rc;
}
