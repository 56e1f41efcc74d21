/* DSGD/DCSGD configurations on quadratics, shared by the stationary family's files
 * (checks_stationary.c, checks_stability.c, checks_covariance.c; docs/claims/stationary.md).
 *
 * A configuration is a handful of numbers; the checks evaluate their predictions from these
 * numbers and build the model under test from the same numbers (cfg_model), so a prediction
 * and the model cannot drift apart. Private to the verify/ program.
 */
#ifndef SDV_CHECKS_QUADRATIC_H
#define SDV_CHECKS_QUADRATIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sdv/exact.h>
#include <sdv/mc.h>
#include <sdv/model.h>

#include "checks.h"

#define MAXD 8
#define MAXN 4
/* Family-wise false-failure rate of one check's Monte Carlo tests. */
#define ALPHA 1e-5
/* Exact value vs closed form: both are exact, so only round-off separates them. */
#define RTOL_EXACT 1e-9

typedef enum comp_kind { COMP_NONE, COMP_BERNOULLI, COMP_RANDK } comp_kind;

/* A DSGD/DCSGD configuration on a quadratic; predictions are computed from these numbers,
 * and the model is built from the same numbers. */
typedef struct cfg {
  const char *name;
  comp_kind comp;
  double eta;
  size_t d, N;
  double lam[MAXD];      /* diagonal H (ignored when objective is set) */
  double sigma[MAXN];    /* Gaussian per-agent standard deviations, B = 1 */
  double par[MAXN];      /* Bernoulli p or rand-k k, per agent */
  double x0[MAXD];       /* start; all zero means x0 = 1 */
  const char *objective; /* overrides the diagonal quadratic (dense H) */
} cfg;

typedef struct cfg_means {
  double s2, os2, ob; /* sigma2_bar, omegasigma2_bar, omega_bar */
  double beta;        /* rand-k rank-one coefficient (1/N^2) sum_i omega_i/(d-1) */
} cfg_means;

/* omega of agent i's compressor (0 without compression). */
double cfg_omega(const cfg *c, size_t i);
/* The agents' averages of sigma^2, omega sigma^2 and omega, and rand-k's beta. */
cfg_means cfg_averages(const cfg *c);
double cfg_lam_min(const cfg *c);
double cfg_lam_max(const cfg *c);

/* Builds the model of c (its DCSGD/DSGD method follows comp) with the given diffusion scale,
 * from c's numbers through the typed API (checks_spec.h). The model owns its objective: free
 * it with check_model_free. */
int cfg_model(const cfg *c, uint64_t seed, double dscale, sdv_model **m);

/* Exact stationary E f of a side of m. */
int cfg_exact_f(const sdv_model *m, sdv_side side, double *v);

/* One CSV row "part,config,eta,d,N,quantity,measured,se,predicted,tolerance,pass" (c may be
 * NULL); the header is written on first use. */
void cfg_csv_row(const sdv_check_ctx *ctx, const char *part, const cfg *c, const char *quantity,
                 double measured, double se, double predicted, double tolerance, bool pass);

/* Monte Carlo options with the context's threads and cancel flag. */
void cfg_mc_defaults(const sdv_check_ctx *ctx, sdv_mc_options *mo, size_t paths);

#endif
