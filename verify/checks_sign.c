/* The DSignSGD claim files' shared closed forms and helpers (see checks_sign.h). */
#include "checks_sign.h"
#include "checks_spec.h"

#include <math.h>
#include <stdio.h>

#include <sdv/weak.h>

double t_ell(double nu) {
  if (isinf(nu)) return sqrt(2.0 / M_PI);
  return 2.0 * exp(lgamma(0.5 * (nu + 1.0)) - lgamma(0.5 * nu)) / sqrt(nu * M_PI);
}
double t_kappa(double nu) { return isinf(nu) ? 1.0 / 6.0 : (nu + 1.0) / (6.0 * nu); }

sign_avg sign_averages(size_t n, const double *sigma, const double *nu) {
  sign_avg a = {0.0, 0.0, 0.0, 0.0};
  double inv = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double l = t_ell(nu[i]), s = sigma[i];
    a.a1 += l / s;
    a.a2 += l * l / (s * s);
    a.a3 += l * t_kappa(nu[i]) / (s * s * s);
    inv += 1.0 / s;
  }
  a.a1 /= (double)n;
  a.a2 /= (double)n;
  a.a3 /= (double)n;
  a.sigma_h = (double)n / inv;
  return a;
}

sign_pred sign_predict(const sign_avg *a, size_t n, double eta, double lam) {
  const double N = (double)n;
  sign_pred p;
  p.s0 = eta / (2.0 * N * lam * a->a1);
  p.s_sde = p.s0 * (1.0 + eta * lam / (2.0 * N * a->a1) * (3.0 * a->a3 / a->a1 - a->a2));
  p.s_disc = p.s_sde + eta * eta / (4.0 * N);
  p.first = fabs(p.s_sde / p.s0 - 1.0) + eta * eta / (4.0 * N * p.s0);
  return p;
}

int sign_model(sdv_model **m, const sign_spec *p) {
  *m = NULL;
  const sdv_method_type *method;
  int rc = mspec_method(p->method, &method);
  if (rc) return rc;
  mspec v;
  mspec_init(&v, method, p->dim, p->agents, p->eta, p->seed);
  rc = mspec_quadratic(&v, p->lam);
  for (size_t k = 0; !rc && k < p->nnoise; k++) rc = mspec_noise(&v, p->noise[k]);
  if (!rc && p->compressor) rc = mspec_compressor(&v, p->compressor);
  if (rc) {
    mspec_clear(&v);
    return rc;
  }
  mspec_sigma(&v, p->sigma, p->nsigma);
  mspec_x0(&v, p->x0, p->nx0);
  return mspec_take(&v, m);
}

int sign_exact_level(sdv_side side, const sign_spec *p, double *level) {
  sign_spec q = *p;
  q.seed = 1; /* exact: nothing is drawn */
  sdv_model *m = NULL;
  int rc = sign_model(&m, &q);
  if (rc) return rc;
  const sdv_observable f = {.kind = SDV_OBS_F};
  rc = sdv_exact_stationary(m, side, &f, 1, level, NULL, NULL);
  check_model_free(m);
  return rc;
}

void sign_csv_header(const sdv_check_ctx *ctx) {
  fprintf(ctx->csv, "quantity,label,x,measured,predicted,tolerance\n");
}
void sign_csv_row(const sdv_check_ctx *ctx, const char *quantity, const char *label, double x,
                  double measured, double predicted, double tol) {
  fprintf(ctx->csv, "%s,%s,%.17g,%.17g,%.17g,%.17g\n", quantity, label, x, measured, predicted,
          tol);
}

double sign_loglog_slope(const double *x, const double *y, size_t n) {
  double lx[16], ly[16], c0, c1, se0, se1;
  size_t dof;
  if (n > 16) return NAN;
  for (size_t i = 0; i < n; i++) {
    lx[i] = log(x[i]);
    ly[i] = log(y[i]);
  }
  if (sdv_weak_linfit(lx, ly, NULL, n, &c0, &c1, &se0, &se1, &dof)) return NAN;
  return c1;
}
