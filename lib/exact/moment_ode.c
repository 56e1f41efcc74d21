/* Exact SDE moments of DSGD and DCSGD (linear compressors) on a quadratic.
 *
 * By Ito's formula on x x^T with dX = -H X dt + sqrt(eta) c S(X) dW and
 * S S^T = (1/N^2) sum_i [ V_i + Phihat_i(H X X^T H + V_i) ] (linear in X X^T):
 *   d E X / dt = -H E X,
 *   dS/dt      = -(H S + S H) + c^2 eta [ qv I + asum diag(H S H) - csum H S H ],
 * (c = diffusion_scale; c = 0 is the drift ODE, other c are wrong models on purpose).
 * Diagonal H: entry by entry, S_jl' = -alpha_jl S_jl + q_jl with
 *   alpha_jl = l_j + l_l - c^2 eta l_j l_l (delta_jl asum - csum),  q_jl = delta_jl c^2 eta qv,
 * so S_jl(t) = e^{-alpha t} x0_j x0_l + q (1 - e^{-alpha t})/alpha; for DCSGD-Bernoulli
 * alpha = 2 lambda - eta omega_bar lambda^2/N (theory §6.2, claim 6).
 * Dense H: the d + d^2 linear ODE by CVODE (Adams, Newton with the dense linear solver,
 * rtol 1e-11 by default, every return checked; set up in cvode_setup.c).
 *
 * Reference value (tests/test-exact.c, "closed forms"): DCSGD-Bernoulli omega = 4, N = 2,
 * lambda = 1.5, sigma = 0 (pure compression), eta = 0.02, x0 = 1, t = 1:
 * Var X_1 = e^{-a} - e^{-3}, a = 3 - 0.02 * 2 * 2.25 = 2.91, = 0.00468866150132...
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>

#include "exact/exact_private.h"
#include "exact/cvode_setup.h"

double sdv_exact_lin_mean_sde(const sdv_exact_lin *L, size_t j, double t) {
  return exp(-L->lam[j] * t) * L->x0[j];
}

double sdv_exact_lin_entry_sde(const sdv_exact_lin *L, size_t j, size_t l, double t) {
  double alpha, q;
  sdv_exact_lin_coef_sde(L, j, l, &alpha, &q);
  /* (1 - e^{-alpha t})/alpha without cancellation, = t at alpha = 0. */
  const double e = alpha == 0.0 ? t : -expm1(-alpha * t) / alpha;
  return exp(-alpha * t) * L->x0[j] * L->x0[l] + q * e;
}

typedef struct ode_data {
  const sdv_exact_lin *L;
  double *scratch; /* 2 d^2 */
} ode_data;

static int rhs(sunrealtype t, N_Vector y, N_Vector ydot, void *user) {
  (void)t;
  const ode_data *od = user;
  const sdv_exact_lin *L = od->L;
  const size_t d = L->d;
  if (L->cancel && *L->cancel) return -1; /* fatal: CVode returns, the caller says why */
  const double *Y = N_VGetArrayPointer(y);
  double *Yd = N_VGetArrayPointer(ydot);
  for (size_t j = 0; j < d; j++) {
    double v = 0.0;
    for (size_t l = 0; l < d; l++) v -= L->h[j * d + l] * Y[l];
    Yd[j] = v;
  }
  sdv_exact_lin_apply(L, SDV_SIDE_SDE, Y + d, Yd + d, od->scratch);
  const double qc = L->c2 * L->eta * L->qv;
  for (size_t j = 0; j < d; j++) Yd[d + j * d + j] += qc;
  return 0;
}

int sdv_exact_lin_run_sde(const sdv_exact_lin *L, const size_t *steps, size_t nt, double *mean,
                          double *S, const sdv_exact_options *opt, sdv_exact_info *info) {
  const size_t d = L->d, dd = d * d, n = d + dd;
  sdv_exact_cvode cv = {0};
  ode_data od = {L, malloc(2 * dd * sizeof(double))};
  int rc = SDV_OK;
  if (!od.scratch) {
    rc = SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu)", d);
    goto done;
  }
  if ((rc = sdv_exact_cvode_alloc(&cv, n))) {
    if (rc == SDV_ENOMEM) {
      rc = SDV_ERROR(SDV_ENOMEM, "exact: out of memory (CVODE vectors, n = %zu)", n);
      goto done;
    }
    goto fail;
  }
  double *Y = sdv_exact_cvode_state(&cv);
  double scale = 0.0;
  for (size_t j = 0; j < d; j++) {
    Y[j] = L->x0[j];
    for (size_t l = 0; l < d; l++) Y[d + j * d + l] = L->x0[j] * L->x0[l];
    if (L->x0[j] * L->x0[j] > scale) scale = L->x0[j] * L->x0[j];
  }
  /* Stationary level of the noise, for the absolute tolerance (x0 = 0 is common). */
  double lmin = INFINITY;
  for (size_t j = 0; j < d; j++)
    if (L->lam[j] < lmin) lmin = L->lam[j];
  const double level = L->c2 * L->eta * L->qv / (2.0 * lmin);
  if (level > scale) scale = level;
  if (!(scale > 0.0)) scale = 1.0;
  if ((rc = sdv_exact_cvode_init(&cv, CV_ADAMS, rhs, &od, opt->rtol, opt->atol * scale))) goto fail;
  if ((rc = sdv_exact_cvode_moments(&cv, steps, nt, L->eta, L->cancel, d, mean, S))) {
    if (rc == SDV_EINTR) goto done;
    goto fail;
  }
  if (info && (rc = sdv_exact_cvode_steps(&cv, &info->iterations))) goto fail;
  goto done;
fail:
  rc = SDV_ERROR(SDV_ENUMERIC, "exact: SDE moment ODE: %s failed (flag %d)", cv.what, cv.flag);
done:
  sdv_exact_cvode_free(&cv);
  free(od.scratch);
  return rc;
}
