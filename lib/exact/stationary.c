/* Exact stationary law of the DSignSGD SDE on a diagonal quadratic, one coordinate at a time.
 *
 * Coordinate j of dX = -mbar(X) dt + sqrt(eta) c S(X) dW is an autonomous 1-D diffusion with
 *     mbar(x) = (1/N) sum_i m_i(lambda x / scale_i),
 *     D(x)    = c^2 eta (1/N^2) sum_i (1 - m_i(lambda x / scale_i)^2)   (generator (D/2) d2/dx2),
 * c = diffusion_scale. Zero probability flux, -mbar p - (1/2)(D p)' = 0, gives
 *     p(x) proportional to exp( -Phi(x) ) / D(x),   Phi(x) = int_0^x 2 mbar(u)/D(u) du
 * (theory §6.3). mbar is odd and D even, so E X = 0 and E X^2 = int_0^inf x^2 p / int_0^inf p.
 * Both integrals are composite 20-point Gauss-Legendre over panels of width
 * min(sqrt(s0), min_i scale_i/lambda)/4, s0 = c^2 eta/(2 N lambda a1) the Phase-3 level;
 * Phi at each node is itself a Gauss-Legendre integral from the panel's left end. The sweep
 * stops once log p has fallen 80 below its value at 0 (beyond that Phi only grows). c = 0
 * gives the point mass at 0.
 *
 * Reference value (tests/test-exact.c, "sign sde"): homogeneous Gaussian agents,
 *     s_SDE / s0 - 1 = (eta A / N)(pi/8 - 1/2) + O(eta^2),  A = ell lambda / sigma;
 * in general s_SDE = s0 [1 + (eta lambda/(2 N a1))(3 a3/a1 - a2)] + O(eta^3).
 */
#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>

#include <sdv/errors.h>

#include "exact/exact_private.h"

double sdv_exact_sign_a1(const sdv_model *m) {
  double a1 = 0.0;
  for (size_t i = 0; i < m->agents; i++) a1 += sdv_noise_ell(m->noise[i]) / m->scale[i];
  return a1 / (double)m->agents;
}

typedef struct coord {
  const sdv_model *m;
  double lam;
  double dscale; /* c^2 eta / N^2 */
} coord;

/* 2 mbar(x) / D(x) and log D(x). */
static void coefs(const coord *c, double x, double *ratio, double *logd) {
  const sdv_model *m = c->m;
  double mb = 0.0, dv = 0.0;
  for (size_t i = 0; i < m->agents; i++) {
    const double y = c->lam * x / m->scale[i];
    mb += sdv_noise_sign_mean(m->noise[i], y);
    dv += sdv_noise_sign_var(m->noise[i], y);
  }
  const double D = c->dscale * dv;
  *ratio = 2.0 * (mb / (double)m->agents) / D;
  *logd = log(D);
}

static double phi_increment(const coord *c, double a, double b,
                            const gsl_integration_glfixed_table *t, int *bad) {
  double s = 0.0;
  for (size_t k = 0; k < t->n; k++) {
    double xk, wk, r, ld;
    if (gsl_integration_glfixed_point(a, b, k, &xk, &wk, t)) {
      *bad = 1;
      return NAN;
    }
    coefs(c, xk, &r, &ld);
    s += wk * r;
  }
  return s;
}

int sdv_exact_sign_sde_stationary(const sdv_model *m, double lam, double *second) {
  const double c2 = m->diffusion_scale * m->diffusion_scale;
  if (c2 == 0.0) {
    *second = 0.0; /* no noise: the law is the point mass at the minimizer */
    return SDV_OK;
  }
  const size_t n = m->agents;
  const coord c = {m, lam, c2 * m->eta / ((double)n * (double)n)};
  const double a1 = sdv_exact_sign_a1(m);
  double width = sqrt(c2 * m->eta / (2.0 * (double)n * lam * a1));
  for (size_t i = 0; i < n; i++)
    if (m->scale[i] / lam < width) width = m->scale[i] / lam;
  width /= 4.0;
  gsl_integration_glfixed_table *t = gsl_integration_glfixed_table_alloc(20);
  if (!t) return SDV_ERROR(SDV_ENOMEM, "exact: out of memory (Gauss-Legendre table)");
  double r0, ld0;
  coefs(&c, 0.0, &r0, &ld0);
  const double ref = -ld0; /* log p(0) up to the constant */
  double phi_a = 0.0, z = 0.0, z2 = 0.0;
  int bad = 0, rc = SDV_OK;
  const size_t max_panels = 10000000;
  size_t panel;
  for (panel = 0; panel < max_panels; panel++) {
    const double a = (double)panel * width, b = a + width;
    double pmax = -INFINITY;
    for (size_t k = 0; k < t->n; k++) {
      double xk, wk, r, ld;
      if (gsl_integration_glfixed_point(a, b, k, &xk, &wk, t)) bad = 1;
      const double phi = phi_a + phi_increment(&c, a, xk, t, &bad);
      coefs(&c, xk, &r, &ld);
      const double lp = -phi - ld - ref;
      if (lp > pmax) pmax = lp;
      if (isfinite(lp)) {
        const double w = wk * exp(lp);
        z += w;
        z2 += w * xk * xk;
      }
    }
    if (bad) break;
    phi_a += phi_increment(&c, a, b, t, &bad);
    if (!(pmax > -80.0) || !isfinite(phi_a)) break;
  }
  gsl_integration_glfixed_table_free(t);
  if (bad || panel == max_panels || !(z > 0.0))
    rc = SDV_ERROR(SDV_ENUMERIC,
                   "exact: DSignSGD SDE stationary quadrature failed (lambda = %g, eta = %g, "
                   "%zu panels)",
                   lam, m->eta, panel);
  else
    *second = z2 / z;
  return rc;
}
