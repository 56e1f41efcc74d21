/* Exact discrete moments of DSGD and DCSGD (linear compressors) on a quadratic.
 *
 * Mean:   E x_k = (I - eta H)^k x0.
 * Second: S_{k+1} = A S_k A + (eta^2/N^2) sum_i [ V_i + Phihat_i(H S_k H + V_i) ],
 *         A = I - eta H, V_i = v_i I, Phihat_i(M) = a_i diag(M) - c_i M  (theory §6.2;
 *         derivation in linear.c and docs/math/exact.md).
 * Diagonal H: every entry S_jl evolves alone, S_jl' = rho_jl S_jl + q_jl with
 *   rho_jl = (1 - eta l_j)(1 - eta l_l) + eta^2 l_j l_l (delta_jl asum - csum),
 *   q_jl   = delta_jl eta^2 qv,
 * so S_jl(k) = rho^k x0_j x0_l + q (1 - rho^k)/(1 - rho) in O(1) per entry and per time.
 * For Bernoulli this is rho = (1 - eta l)^2 + eta^2 omega_bar l^2/N and
 * q = eta^2 (sigma2_bar + omegasigma2_bar)/N on the diagonal; for rand-k the off-diagonal
 * rho carries -eta^2 beta l_j l_l, beta = (1/N^2) sum_i omega_i/(d-1).
 * Dense H: the d x d recursion, O(d^3) per step.
 *
 * Reference value (tests/test-exact.c, "closed forms"): DSGD, lambda = 2, sigma = 1.3, N = 3,
 * eta = 0.05, x0 = 1: E x_10^2 = 0.9^20 + 0.0025 * 1.69/3 * (1 - 0.9^20)/(1 - 0.81)
 * = 0.12808777500171...
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>

#include "exact/exact_private.h"

/* rho^k and sum_{n<k} rho^n, accurate when rho is close to 1 (omr = 1 - rho given exactly). */
static void geometric(double rho, double omr, size_t k, double *pow_k, double *sum_k) {
  if (k == 0) {
    *pow_k = 1.0;
    *sum_k = 0.0;
    return;
  }
  if (omr == 0.0) {
    *pow_k = 1.0;
    *sum_k = (double)k;
    return;
  }
  if (rho > 0.0 && fabs(omr) < 0.5) {
    const double lg = (double)k * log1p(-omr);
    *pow_k = exp(lg);
    *sum_k = -expm1(lg) / omr;
    return;
  }
  *pow_k = pow(rho, (double)k);
  *sum_k = (1.0 - *pow_k) / omr;
}

double sdv_exact_lin_mean_disc(const sdv_exact_lin *L, size_t j, size_t k) {
  return pow(1.0 - L->eta * L->lam[j], (double)k) * L->x0[j];
}

double sdv_exact_lin_entry_disc(const sdv_exact_lin *L, size_t j, size_t l, size_t k) {
  double rho, omr, q, pk, sk;
  sdv_exact_lin_coef_disc(L, j, l, &rho, &omr, &q);
  geometric(rho, omr, k, &pk, &sk);
  return pk * L->x0[j] * L->x0[l] + q * sk;
}

int sdv_exact_lin_run_disc(const sdv_exact_lin *L, const size_t *steps, size_t nt, double *mean,
                           double *S) {
  const size_t d = L->d, dd = d * d;
  double *m = malloc(d * sizeof *m), *mn = malloc(d * sizeof *mn);
  double *s = malloc(dd * sizeof *s), *sn = malloc(dd * sizeof *sn);
  double *scr = malloc(2 * dd * sizeof *scr);
  int rc = SDV_OK;
  if (!m || !mn || !s || !sn || !scr) {
    rc = SDV_ERROR(SDV_ENOMEM, "exact: out of memory (d = %zu)", d);
    goto done;
  }
  memcpy(m, L->x0, d * sizeof *m);
  for (size_t j = 0; j < d; j++)
    for (size_t l = 0; l < d; l++) s[j * d + l] = L->x0[j] * L->x0[l];
  const double qc = L->eta * L->eta * L->qv;
  size_t k = 0;
  for (size_t t = 0; t < nt; t++) {
    for (; k < steps[t]; k++) {
      if (L->cancel && *L->cancel) {
        rc = SDV_ERROR(SDV_EINTR, "exact: recursion cancelled at step %zu", k);
        goto done;
      }
      for (size_t j = 0; j < d; j++) {
        double v = m[j];
        for (size_t l = 0; l < d; l++) v -= L->eta * L->h[j * d + l] * m[l];
        mn[j] = v;
      }
      sdv_exact_lin_apply(L, SDV_SIDE_DISCRETE, s, sn, scr);
      for (size_t j = 0; j < d; j++) sn[j * d + j] += qc;
      double *sw = m;
      m = mn;
      mn = sw;
      sw = s;
      s = sn;
      sn = sw;
    }
    if (mean) memcpy(mean + t * d, m, d * sizeof *m);
    if (S) memcpy(S + t * dd, s, dd * sizeof *s);
  }
done:
  free(m);
  free(mn);
  free(s);
  free(sn);
  free(scr);
  return rc;
}
