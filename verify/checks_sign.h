/* Shared by the DSignSGD claim files (checks_dsignsgd.c, checks_sign_drift.c,
 * checks_heavy_tails.c; docs/claims/dsignsgd.md): the theory's closed forms for the sign
 * drift's slope and cubic coefficient, the heterogeneous averages and the stationary
 * second moments they predict, model construction, and the families' CSV layout.
 *
 * DSignSGD's stationary level on a diagonal quadratic, per coordinate with curvature lambda:
 *     s0     = eta / (2 N lambda a1),        E f_inf = eta d / (4 N a1) (1 + O(eta)),
 *     s_SDE  = s0 [1 + (eta lambda / (2 N a1)) (3 a3/a1 - a2)] + O(eta^3),
 *     s_disc = s_SDE + eta^2 / (4N) + O(eta^3),
 * a1 = (1/N) sum ell_i/sigma_i = ell/sigma_H for one noise law, a2 = (1/N) sum ell_i^2/sigma_i^2,
 * a3 = (1/N) sum ell_i kappa_i/sigma_i^3, ell_nu = 2 Gamma((nu+1)/2)/(sqrt(nu pi) Gamma(nu/2)),
 * kappa_nu = (nu+1)/(6 nu) (Gaussian: sqrt(2/pi), 1/6). Source: the theory reference,
 * sections 1, 6.3, 8, 9 and claims 8-14 (derived by moment expansion there).
 * Private to the verify/ program.
 */
#ifndef SDV_CHECKS_SIGN_H
#define SDV_CHECKS_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sdv/errors.h>
#include <sdv/exact.h>
#include <sdv/model.h>

#include "checks.h"

/* Theory §1: the slope and cubic coefficient of 2F_nu - 1 at 0 (nu = INFINITY: Gaussian),
 * evaluated from their closed forms, independently of the noise code under test. */
double t_ell(double nu);
double t_kappa(double nu);

/* The heterogeneous averages of §1 for n agents with scales sigma[i] and laws nu[i]. */
typedef struct sign_avg {
  double a1, a2, a3;
  double sigma_h; /* harmonic mean of the scales */
} sign_avg;

sign_avg sign_averages(size_t n, const double *sigma, const double *nu);

/* Per-coordinate stationary second moments of §6.3: leading s0, SDE and discrete to O(eta^2). */
typedef struct sign_pred {
  double s0, s_sde, s_disc;
  double first; /* |s_disc / s0 - 1| to first order: the size of the O(eta) correction */
} sign_pred;

sign_pred sign_predict(const sign_avg *a, size_t n, double eta, double lam);

/* A model of these files: a method on the diagonal quadratic lam[dim], the agents' laws (each
 * a component spec; 1 or agents of them), sigma and x0 as numbers (1 or agents, 1 or dim),
 * and a compressor spec for every agent (NULL: identity). */
typedef struct sign_spec {
  const char *method; /* "dsignsgd", "dsgd", "dcsgd" */
  size_t dim, agents;
  double eta;
  const double *lam;
  const char *const *noise;
  size_t nnoise;
  const double *sigma;
  size_t nsigma;
  const char *compressor;
  const double *x0;
  size_t nx0;
  uint64_t seed;
} sign_spec;

/* Builds p's model through the typed API; free it with check_model_free (checks_spec.h). */
int sign_model(sdv_model **m, const sign_spec *p);

/* Exact stationary E f of a freshly built model of p (freed again; p's seed is not used). */
int sign_exact_level(sdv_side side, const sign_spec *p, double *level);

/* One long-format CSV for every check of these files: quantity, label, swept x, measured,
 * predicted, tolerance (absolute, on the measured scale; NAN when not a comparison). */
void sign_csv_header(const sdv_check_ctx *ctx);
void sign_csv_row(const sdv_check_ctx *ctx, const char *quantity, const char *label, double x,
                  double measured, double predicted, double tol);

/* Least-squares slope of log y against log x (n <= 16), by the library's straight-line fit
 * (sdv_weak_linfit, unweighted); NAN if the fit fails. */
double sign_loglog_slope(const double *x, const double *y, size_t n);

static inline bool sign_cancelled(const sdv_check_ctx *ctx) { return ctx->cancel && *ctx->cancel; }

#define CANCEL_CHECK(ctx)                                                        \
  do {                                                                           \
    if (sign_cancelled(ctx)) return SDV_ERROR(SDV_EINTR, "verify: interrupted"); \
  } while (0)

#endif
