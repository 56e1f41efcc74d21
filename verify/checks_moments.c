/* Claim-suite family "moments" (see verify/checks.h and docs/claims/moments.md): the
 * hypothesis of the Li-Tai-E weak-approximation theorem, checked on the code users run.
 *
 * An SDE dX = b dt + sqrt(eta) S dW is the order-1 model of x_{k+1} = x_k - eta U(x_k) when
 * its coefficients are the one-step moments of U (theory §2):
 *     E[U | x] = -b(x),      Cov[U | x] = Sigma(x) = S(x) S(x)^T.
 * For DSGD, DCSGD and DSignSGD this holds EXACTLY at every x (no O(eta) term), for every
 * objective. So each check takes a few states x of a non-quadratic objective with N > 1
 * agents, heterogeneous scales and laws, and B > 1 where the method allows it, and compares
 * three things, each on its own route:
 *   (a) the optimizer: M updates U = (x - step(x))/eta drawn with the model's step(), both the
 *       shortcut path and the literal per-agent path (sample mean and covariance with their
 *       standard errors);
 *   (b) the SDE: b(x) from the model's drift() and Sigma(x) = S S^T with S's columns from
 *       sdv_model_diffusion_apply() on the unit vectors (the closed-form roots: scalar,
 *       diagonal, diagonal minus rank 1), or, on the sampled route (QSGD, natural
 *       compression), the sample covariance of M draws of the model's increment();
 *   (c) an independent reference written here from the theory, sharing no function with (a)
 *       or (b) but the objective's gradient (itself checked against finite differences of f):
 *       noise variances from the law's parameters, compressor error covariances from their
 *       definitions (theory §3; natural compression by exact integration of its piecewise
 *       quadratic variance against the Gaussian, QSGD by Monte Carlo over the noise only), and
 *       DSignSGD's m = 2F(y) - 1 and 1 - m^2 from GSL's CDFs of the Gaussian, Student-t and
 *       Cauchy laws (incomplete-beta and erfc routes, not sdv's sign functions).
 * Comparisons (a)-(b), (a)-(c) and sampled (b)-(c) are statistical (z-tests with the samples'
 * own standard errors, Bonferroni over all entries of the check at family-wise level 1e-4, so
 * a correct model fails with probability <= 1e-4). (b)-(c) and the gradient are deterministic,
 * with a tolerance from the routes' accuracy: DET_RTOL below.
 *
 * Controls (both must be rejected by the statistical comparison with the optimizer's samples):
 * the same SDE with its diffusion's variance 10% too large (diffusion_scale sqrt(1.1)), and
 * with a missing 1/N (diffusion_scale sqrt(N)).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_math.h>

#include <sdv/errors.h>
#include <sdv/model.h>

#include "checks.h"
#include "checks_spec.h"
#include "checks_util.h"

#ifndef SDV_DATA_DIR
#define SDV_DATA_DIR "data"
#endif

/* Family-wise false-failure rate of one check (all its statistical comparisons). */
#define MOMENTS_ALPHA 1e-4
/* Deterministic comparisons (SDE coefficients against the reference): both sides are
 * closed forms evaluated in double precision (GSL's CDFs carry ~1e-14 relative error, the
 * rank-1 root reproduces Sigma to a few ulps of its largest entry), so 1e-9 of the scale
 * leaves a margin of 1e4 while the smallest realistic error (a 1% term) is 1e7 tolerances. */
#define DET_RTOL 1e-9
/* The first control's factor on the SDE's diffusion variance. */
static const double CTL_VAR = 1.1;
#define MAXD 40
#define MAXN 4
#define MAXSTATES 3

typedef enum { LAW_GAUSS, LAW_T, LAW_CAUCHY } law_kind;
typedef enum { C_ID, C_BERN, C_RANDK, C_QSGD, C_NATURAL } comp_kind;

typedef struct agent_spec {
  law_kind law;
  double nu; /* Student-t */
  double sigma;
  comp_kind comp;
  double par; /* p, k or s */
} agent_spec;

typedef struct os_case {
  const char *label;
  const char *method;
  size_t dim, agents, batch;
  const char *objective; /* spec; "@iris" is the Iris logistic loss, "@wine-mlp" the MLP on Wine
                            (its states are the objective's seeded initial point and a shift of
                            it, not x[][]) */
  agent_spec ag[MAXN];
  size_t nstates;
  double x[MAXSTATES][MAXD];
} os_case;

/* ---- the reference (c) ---- */

/* Upper tail Q(y) = P(T > y), y >= 0, of agent i's unit law. */
static double law_q(const agent_spec *a, double y) {
  switch (a->law) {
  case LAW_GAUSS:
    return gsl_cdf_ugaussian_Q(y);
  case LAW_T:
    return gsl_cdf_tdist_Q(y, a->nu);
  case LAW_CAUCHY:
    return gsl_cdf_cauchy_Q(y, 1.0);
  }
  return NAN;
}

/* Per-coordinate variance of agent i's minibatch noise (mean of B draws sigma T). */
static double law_var(const agent_spec *a, size_t batch) {
  switch (a->law) {
  case LAW_GAUSS:
    return a->sigma * a->sigma / (double)batch;
  case LAW_T:
    return a->sigma * a->sigma * a->nu / (a->nu - 2.0) / (double)batch;
  case LAW_CAUCHY:
    return INFINITY;
  }
  return NAN;
}

/* E over u ~ N(g, s^2) of natural compression's variance (2a - |u|)(|u| - a),
 * a = 2^floor(log2 |u|): on each dyadic shell [2^e, 2^(e+1)) of v = |u| the variance is the
 * quadratic -v^2 + 3 a v - 2 a^2, integrated exactly against the two Gaussian densities of
 * v = u > 0 and v = -u > 0 (truncated-normal moments). Shells below 2^-60 contribute less than
 * 2^-120 and are dropped; shells beyond |g| + 40 s carry no mass in double precision. */
static double natural_expected_var(double g, double s) {
  double total = 0.0;
  const double vmax = fabs(g) + 40.0 * s;
  for (int e = -60; ldexp(1.0, e) < vmax; e++) {
    const double a = ldexp(1.0, e), lo = a, hi = 2.0 * a;
    /* c0 + c1 v + c2 v^2 */
    const double c0 = -2.0 * a * a, c1 = 3.0 * a, c2 = -1.0;
    for (int side = 0; side < 2; side++) {
      const double mu = side ? -g : g; /* v ~ N(mu, s^2) restricted to [lo, hi) */
      const double za = (lo - mu) / s, zb = (hi - mu) / s;
      const double P = gsl_cdf_ugaussian_P(zb) - gsl_cdf_ugaussian_P(za);
      if (P <= 0.0) continue;
      const double pa = exp(-0.5 * za * za) / sqrt(2.0 * M_PI);
      const double pb = exp(-0.5 * zb * zb) / sqrt(2.0 * M_PI);
      const double m1 = pa - pb;               /* int z phi */
      const double m2 = P + za * pa - zb * pb; /* int z^2 phi */
      const double ev = mu * P + s * m1;       /* int v phi */
      const double ev2 = mu * mu * P + 2.0 * mu * s * m1 + s * s * m2;
      total += c0 * P + c1 * ev + c2 * ev2;
    }
  }
  return total;
}

/* Monte Carlo over the Gaussian noise only of QSGD's error covariance diagonal
 * E ||u||^2/s^2 q_j (1 - q_j), u = g + Z, r_j = s |u_j| / ||u||, q_j = r_j - floor r_j
 * (theory §3): mean[j] and se[j]. The compressor code is not used. */
static void qsgd_expected_var(const double *g, size_t d, double sd, double s, size_t M,
                              uint64_t seed, uint32_t sub, double *mean, double *se) {
  double sum[MAXD] = {0}, sum2[MAXD] = {0}, u[MAXD];
  sdv_stream st;
  sdv_stream_init(&st, seed, 0, SDV_PURPOSE_USER + 1, sub);
  for (size_t k = 0; k < M; k++) {
    double n2 = 0.0;
    for (size_t j = 0; j < d; j++) {
      u[j] = g[j] + sd * sdv_stream_normal(&st);
      n2 += u[j] * u[j];
    }
    const double nrm = sqrt(n2);
    for (size_t j = 0; j < d; j++) {
      const double r = s * fabs(u[j]) / nrm, q = r - floor(r);
      const double v = n2 / (s * s) * q * (1.0 - q);
      sum[j] += v;
      sum2[j] += v * v;
    }
  }
  for (size_t j = 0; j < d; j++) {
    mean[j] = sum[j] / (double)M;
    se[j] = sqrt(fmax(0.0, sum2[j] / (double)M - mean[j] * mean[j]) / (double)(M - 1));
  }
}

/* The reference one-step moments at x: mean[j] = E U_j, cov[j d + l] = Cov(U_j, U_l), with
 * standard errors where part of it is Monte Carlo (QSGD), else 0. */
static void reference_moments(const os_case *c, const double *g, uint64_t seed, uint32_t sub,
                              size_t qsgd_paths, double *mean, double *cov, double *se_cov,
                              double *mu4) {
  const size_t d = c->dim, N = c->agents;
  const double N2 = (double)N * (double)N;
  memset(cov, 0, d * d * sizeof *cov);
  memset(se_cov, 0, d * d * sizeof *se_cov);
  for (size_t j = 0; j < d; j++) mu4[j] = NAN;
  if (strcmp(c->method, "dsignsgd") == 0) {
    /* Also the fourth central moment of U_j = (1/N) sum_i s_i (independent signs with means
     * m_i): sum_i E Y_i^4 + 3 sum_{i != k} E Y_i^2 E Y_k^2 over N^4, with E Y^2 = 1 - m^2 and
     * E Y^4 = (1 - m^2)(1 + 3 m^2); it gives the exact standard error of the sample variance
     * under the reference law. */
    for (size_t j = 0; j < d; j++) {
      double msum = 0.0, vsum = 0.0, m4 = 0.0, v2 = 0.0;
      for (size_t i = 0; i < N; i++) {
        const agent_spec *a = &c->ag[i];
        const double scale = a->law == LAW_GAUSS ? a->sigma / sqrt((double)c->batch) : a->sigma;
        const double y = g[j] / scale, Q = law_q(a, fabs(y));
        const double m = (y > 0) - (y < 0) ? copysign(1.0 - 2.0 * Q, y) : 0.0;
        const double v = 4.0 * Q * (1.0 - Q);
        msum += m;
        vsum += v;
        m4 += v * (1.0 + 3.0 * m * m);
        v2 += v * v;
      }
      mean[j] = msum / (double)N;
      cov[j * d + j] = vsum / N2;
      mu4[j] = (m4 + 3.0 * (vsum * vsum - v2)) / (N2 * N2);
    }
    return;
  }
  for (size_t j = 0; j < d; j++) mean[j] = g[j];
  for (size_t i = 0; i < N; i++) {
    const agent_spec *a = &c->ag[i];
    const double v = law_var(a, c->batch);
    const bool dcsgd = strcmp(c->method, "dcsgd") == 0;
    for (size_t j = 0; j < d; j++) cov[j * d + j] += v / N2;
    if (!dcsgd || a->comp == C_ID) continue;
    if (a->comp == C_BERN) {
      const double w = 1.0 / a->par - 1.0;
      for (size_t j = 0; j < d; j++) cov[j * d + j] += w * (g[j] * g[j] + v) / N2;
    } else if (a->comp == C_RANDK) {
      const double w = (double)d / a->par - 1.0, c1 = w / ((double)d - 1.0);
      for (size_t j = 0; j < d; j++)
        for (size_t l = 0; l < d; l++) {
          const double M = g[j] * g[l] + (j == l ? v : 0.0);
          cov[j * d + l] += c1 * ((j == l ? (double)d * M : 0.0) - M) / N2;
        }
    } else if (a->comp == C_NATURAL) {
      for (size_t j = 0; j < d; j++) cov[j * d + j] += natural_expected_var(g[j], sqrt(v)) / N2;
    } else if (a->comp == C_QSGD) {
      double m[MAXD], s[MAXD];
      qsgd_expected_var(g, d, sqrt(v), a->par, qsgd_paths, seed, sub * MAXN + (uint32_t)i, m, s);
      for (size_t j = 0; j < d; j++) {
        cov[j * d + j] += m[j] / N2;
        se_cov[j * d + j] = hypot(se_cov[j * d + j], s[j] / N2);
      }
    }
  }
}

/* ---- the model of a case (typed: checks_spec.h) ---- */

/* Agent a's law, from its component spec. */
static int add_law(mspec *v, const agent_spec *a) {
  if (a->law == LAW_GAUSS) return mspec_noise(v, "gaussian");
  if (a->law == LAW_CAUCHY) return mspec_noise(v, "cauchy");
  char spec[64];
  snprintf(spec, sizeof spec, "student-t:nu=%.17g", a->nu);
  return mspec_noise(v, spec);
}

/* Agent a's compressor, from its component spec (a name and at most one parameter). */
static int add_compressor(mspec *v, const agent_spec *a) {
  char spec[64];
  switch (a->comp) {
  case C_ID:
    return mspec_compressor(v, "identity");
  case C_BERN:
    snprintf(spec, sizeof spec, "bernoulli:p=%.17g", a->par);
    break;
  case C_RANDK:
    snprintf(spec, sizeof spec, "rand-k:k=%.0f", a->par);
    break;
  case C_QSGD:
    snprintf(spec, sizeof spec, "qsgd:s=%.0f", a->par);
    break;
  case C_NATURAL:
    return mspec_compressor(v, "natural");
  }
  return mspec_compressor(v, spec);
}

/* The case's objective: its own spec, or a data set's ("@iris", "@wine-mlp") under
 * SDV_DATA_DIR. */
static int add_objective(mspec *v, const os_case *c) {
  const char *dir = getenv("SDV_DATA_DIR");
  char spec[1024];
  if (strcmp(c->objective, "@iris") == 0)
    snprintf(spec, sizeof spec, "logistic:data=%s/iris-versicolor-virginica.csv:l2=0.1",
             dir && *dir ? dir : SDV_DATA_DIR);
  else if (strcmp(c->objective, "@wine-mlp") == 0)
    snprintf(spec, sizeof spec, "mlp:data=%s/wine.csv:hidden=2:l2=0.01:seed=3",
             dir && *dir ? dir : SDV_DATA_DIR);
  else
    snprintf(spec, sizeof spec, "%s", c->objective);
  return mspec_objective(v, spec);
}

/* The case's model spec: eta 0.05, x0 = 0; sigma comes from sigma[agents] (the caller's). */
static int case_spec(const os_case *c, uint64_t seed, double *sigma, mspec *v) {
  const sdv_method_type *method;
  int rc = mspec_method(c->method, &method);
  if (rc) return rc;
  static const double zero = 0.0;
  mspec_init(v, method, c->dim, c->agents, 0.05, seed);
  v->s.batch = c->batch;
  mspec_x0(v, &zero, 1);
  for (size_t i = 0; i < c->agents; i++) sigma[i] = c->ag[i].sigma;
  mspec_sigma(v, sigma, c->agents);
  const bool compress = strcmp(c->method, "dcsgd") == 0;
  rc = add_objective(v, c);
  for (size_t i = 0; !rc && i < c->agents; i++)
    if (!(rc = add_law(v, &c->ag[i])) && compress) rc = add_compressor(v, &c->ag[i]);
  return rc;
}

/* ---- the optimizer's side (a) ---- */

/* M updates U = (x - step(x)) / eta into U[s d + j]; sample s uses the streams of path s. */
static int draw_updates(const sdv_model *m, sdv_work *w, const double *x, size_t M, uint32_t sub,
                        double *U) {
  const size_t d = m->dim;
  double y[MAXD];
  sdv_stream ns, cs;
  for (size_t s = 0; s < M; s++) {
    sdv_stream_init(&ns, m->seed, s, SDV_PURPOSE_NOISE, sub);
    sdv_stream_init(&cs, m->seed, s, SDV_PURPOSE_COMPRESSOR, sub);
    memcpy(y, x, d * sizeof *y);
    int rc = sdv_model_step(m, w, y, &ns, &cs);
    if (rc) return rc;
    for (size_t j = 0; j < d; j++) U[s * d + j] = (x[j] - y[j]) / m->eta;
  }
  return SDV_OK;
}

/* ---- the SDE's side (b) ---- */

typedef struct sde_coeffs {
  double b[MAXD];
  double cov[MAXD * MAXD], se_cov[MAXD * MAXD];
  bool sampled;
} sde_coeffs;

static int sde_at(const sdv_model *m, sdv_work *w, const double *x, size_t M, uint32_t sub,
                  double *scratch, sde_coeffs *out) {
  const size_t d = m->dim;
  sdv_model_drift(m, w, x, out->b);
  double S[MAXD * MAXD], e[MAXD], col[MAXD];
  out->sampled = false;
  for (size_t j = 0; j < d; j++) {
    memset(e, 0, sizeof e);
    e[j] = 1.0;
    int rc = sdv_model_diffusion_apply(m, w, x, e, col);
    if (rc == SDV_ENOTSUP) {
      out->sampled = true;
      break;
    }
    if (rc) return rc;
    for (size_t i = 0; i < d; i++) S[i * d + j] = col[i];
  }
  if (!out->sampled) {
    for (size_t i = 0; i < d; i++)
      for (size_t l = 0; l < d; l++) {
        double s = 0.0;
        for (size_t j = 0; j < d; j++) s += S[i * d + j] * S[l * d + j];
        out->cov[i * d + l] = s;
        out->se_cov[i * d + l] = 0.0;
      }
    return SDV_OK;
  }
  sdv_clear_error();
  sdv_stream st;
  for (size_t s = 0; s < M; s++) {
    sdv_stream_init(&st, m->seed, s, SDV_PURPOSE_BROWNIAN, sub);
    int rc = sdv_model_noise_increment(m, w, x, &st, scratch + s * d);
    if (rc) return rc;
  }
  double mean[MAXD], se_mean[MAXD];
  sdv_sample_moments(scratch, M, d, mean, se_mean, out->cov, out->se_cov);
  return SDV_OK;
}

/* ---- one check ---- */

typedef struct os_run {
  sdv_ledger main, ctl[2];
  double *U, *V; /* M x d samples */
} os_run;

/* Five-point central difference of f along coordinate j at x with step h. */
static double fd5(const sdv_objective *obj, const double *x, size_t d, size_t j, double h,
                  double *fbig) {
  double y[MAXD], f[4];
  const double off[4] = {-2.0, -1.0, 1.0, 2.0};
  for (int k = 0; k < 4; k++) {
    memcpy(y, x, d * sizeof *y);
    y[j] += off[k] * h;
    f[k] = sdv_objective_value(obj, y);
    *fbig = fmax(*fbig, fabs(f[k]));
  }
  return (f[0] - 8.0 * f[1] + 8.0 * f[2] - f[3]) / (12.0 * h);
}

/* The gradient against finite differences of the objective's value: D(h/2) of the five-point
 * stencil, with tolerance 2 |D(h) - D(h/2)| (its truncation error is O(h^4), so the change
 * from h to h/2 is 15/16 of D(h)'s error and 15 times D(h/2)'s) plus the rounding bound
 * 12 eps max|f| / h of the stencil at h/2 (sum of |weights| 18/12 over h/2, doubled). */
static void check_gradient(sdv_ledger *L, const sdv_objective *obj, const double *x, size_t d,
                           size_t state) {
  double g[MAXD];
  sdv_objective_gradient(obj, x, g);
  for (size_t j = 0; j < d; j++) {
    const double h = 1e-3 * fmax(1.0, fabs(x[j]));
    double fm = fabs(sdv_objective_value(obj, x));
    const double D1 = fd5(obj, x, d, j, h, &fm), D2 = fd5(obj, x, d, j, 0.5 * h, &fm);
    const double tol = 2.0 * fabs(D1 - D2) + 12.0 * GSL_DBL_EPSILON * fm / h;
    sdv_ledger_det(L, g[j], D2, tol, "state %zu: grad_%zu vs finite differences of f", state + 1,
                   j + 1);
  }
}

/* Compares sample moments (mean, cov with se) of M samples of U with a target (mean, cov with
 * se): the SDE's (-b, Sigma) or the reference's. Each standard error is the larger of the
 * sample's own and the one the target's covariance implies for M samples (Gaussian fourth
 * moments for the covariance entries, or the exact fourth central moments mu4 where the
 * reference has them, i.e. DSignSGD; else NULL): where every sample is equal (a sign far in its
 * tail) the sample's own standard error is 0 although the estimate is not exact. */
static void compare_samples(sdv_ledger *L, size_t d, size_t M, const double *mu4,
                            const double *mean, const double *se_mean, const double *cov,
                            const double *se_cov, const double *tmean, const double *tcov,
                            const double *tse_cov, const char *what, size_t state) {
  const double rm = 1.0 / sqrt((double)M);
  for (size_t j = 0; j < d; j++)
    sdv_ledger_stat(L, mean[j], fmax(se_mean[j], sqrt(fmax(tcov[j * d + j], 0.0)) * rm), tmean[j],
                    0.0, "state %zu: E U_%zu, %s", state + 1, j + 1, what);
  for (size_t j = 0; j < d; j++)
    for (size_t l = j; l < d; l++) {
      const double vj = fmax(tcov[j * d + j], 0.0), vl = fmax(tcov[l * d + l], 0.0);
      const double null_var = j == l && mu4 && isfinite(mu4[j])
                                  ? fmax(mu4[j] - vj * vj, 0.0)
                                  : vj * vl + tcov[j * d + l] * tcov[j * d + l];
      const double null_se = sqrt(null_var) * rm;
      sdv_ledger_stat(L, cov[j * d + l], fmax(se_cov[j * d + l], null_se), tcov[j * d + l],
                      tse_cov[j * d + l], "state %zu: Cov(U_%zu, U_%zu), %s", state + 1, j + 1,
                      l + 1, what);
    }
}

/* Runs one case into the ledgers: main (the model) and the two controls. */
static int run_case(const sdv_check_ctx *ctx, const os_case *c, uint64_t seed, size_t M,
                    os_run *R) {
  mspec v;
  double sigma[MAXN];
  mspec_init(&v, NULL, 0, 0, 0.0, 0); /* owns nothing yet: safe to clear at done */
  const size_t d = c->dim;
  const double ctl_scale[2] = {sqrt(CTL_VAR), sqrt((double)c->agents)};
  char ctl_what[48];
  snprintf(ctl_what, sizeof ctl_what, "step vs SDE with %g x variance", CTL_VAR);
  sdv_model *m[2] = {NULL, NULL}, *mc[2] = {NULL, NULL};
  sdv_work *w[2] = {NULL, NULL}, *wc[2] = {NULL, NULL};
  int rc = case_spec(c, seed, sigma, &v);
  if (rc) goto done;
  sdv_model_spec o = v.s;
  for (int lit = 0; lit < 2; lit++) {
    o.literal = lit;
    if ((rc = sdv_model_alloc_spec(&m[lit], &o)) || (rc = sdv_work_alloc(&w[lit], m[lit])))
      goto done;
  }
  o.literal = false;
  for (int k = 0; k < 2; k++) {
    o.diffusion_scale = ctl_scale[k];
    if ((rc = sdv_model_alloc_spec(&mc[k], &o)) || (rc = sdv_work_alloc(&wc[k], mc[k]))) goto done;
  }
  for (size_t st = 0; st < c->nstates && rc == SDV_OK; st++) {
    if (ctx->cancel && *ctx->cancel) {
      rc = SDV_ERROR(SDV_EINTR, "moments: interrupted");
      break;
    }
    double xs[MAXD];
    const double *x = c->x[st];
    if (strcmp(c->objective, "@wine-mlp") == 0) {
      /* The network's seeded starting point, and a point along its first steps' direction:
       * every weight moved by a fixed pattern of size 0.3 (the loss is far from its minimum at
       * both, so the gradient has every sign and scale). */
      if ((rc = sdv_objective_initial_point(m[0]->objective, xs))) break;
      for (size_t j = 0; st > 0 && j < d; j++) xs[j] += 0.3 * sin(1.7 * (double)j + 0.4);
      x = xs;
    }
    const uint32_t sub = (uint32_t)st;
    check_gradient(&R->main, m[0]->objective, x, d, st);
    double g[MAXD], rmean[MAXD], rcov[MAXD * MAXD], rse[MAXD * MAXD], mu4[MAXD];
    sdv_objective_gradient(m[0]->objective, x, g);
    reference_moments(c, g, seed, sub, M, rmean, rcov, rse, mu4);
    sde_coeffs sde, ctl;
    if ((rc = sde_at(m[0], w[0], x, M, sub, R->V, &sde))) break;
    double nb[MAXD];
    for (size_t j = 0; j < d; j++) nb[j] = -sde.b[j];
    /* (b) against (c): the drift exactly; Sigma exactly or, sampled, statistically. */
    double scale_b = 0.0, scale_c = 0.0;
    for (size_t j = 0; j < d; j++) scale_b = fmax(scale_b, fabs(rmean[j]));
    for (size_t j = 0; j < d * d; j++) scale_c = fmax(scale_c, fabs(rcov[j]));
    for (size_t j = 0; j < d; j++)
      sdv_ledger_det(&R->main, nb[j], rmean[j], DET_RTOL * scale_b,
                     "state %zu: SDE drift_%zu vs reference", st + 1, j + 1);
    for (size_t j = 0; j < d; j++)
      for (size_t l = j; l < d; l++) {
        if (sde.sampled)
          sdv_ledger_stat(&R->main, sde.cov[j * d + l], sde.se_cov[j * d + l], rcov[j * d + l],
                          rse[j * d + l], "state %zu: SDE Sigma_%zu%zu (sampled) vs reference",
                          st + 1, j + 1, l + 1);
        else if (rse[j * d + l] > 0.0)
          sdv_ledger_stat(&R->main, sde.cov[j * d + l], 0.0, rcov[j * d + l], rse[j * d + l],
                          "state %zu: SDE Sigma_%zu%zu vs reference (MC)", st + 1, j + 1, l + 1);
        else
          sdv_ledger_det(&R->main, sde.cov[j * d + l], rcov[j * d + l], DET_RTOL * scale_c,
                         "state %zu: SDE Sigma_%zu%zu vs reference", st + 1, j + 1, l + 1);
      }
    /* (a) against (b) and (c), shortcut and literal. */
    for (int lit = 0; lit < 2; lit++) {
      if ((rc = draw_updates(m[lit], w[lit], x, M, sub * 2 + (uint32_t)lit, R->U))) break;
      double mean[MAXD], se_mean[MAXD], cov[MAXD * MAXD], se_cov[MAXD * MAXD];
      sdv_sample_moments(R->U, M, d, mean, se_mean, cov, se_cov);
      compare_samples(&R->main, d, M, mu4, mean, se_mean, cov, se_cov, nb, sde.cov, sde.se_cov,
                      lit ? "literal step vs SDE" : "step vs SDE", st);
      compare_samples(&R->main, d, M, mu4, mean, se_mean, cov, se_cov, rmean, rcov, rse,
                      lit ? "literal step vs reference" : "step vs reference", st);
      if (lit) continue;
      for (int k = 0; k < 2; k++) {
        if ((rc = sde_at(mc[k], wc[k], x, M, sub, R->V, &ctl))) break;
        compare_samples(&R->ctl[k], d, M, mu4, mean, se_mean, cov, se_cov, nb, ctl.cov, ctl.se_cov,
                        k ? "step vs SDE without 1/N" : ctl_what, st);
      }
      if (rc) break;
    }
  }
done:
  for (int k = 0; k < 2; k++) {
    sdv_work_free(w[k]);
    sdv_model_free(m[k]);
    sdv_work_free(wc[k]);
    sdv_model_free(mc[k]);
  }
  mspec_clear(&v); /* after the models, which borrow its objective */
  return rc;
}

/* Runs the cases of one check and fills res. */
static int run_cases(const sdv_check_ctx *ctx, sdv_check_result *res, const char *id,
                     const os_case *cases, size_t ncases, size_t paths) {
  const size_t M = ctx->full ? 4 * paths : paths;
  os_run R = {0};
  int rc = SDV_OK;
  size_t dmax = 1;
  for (size_t k = 0; k < ncases; k++) dmax = cases[k].dim > dmax ? cases[k].dim : dmax;
  if (!(R.U = malloc(M * dmax * sizeof *R.U)) || !(R.V = malloc(M * dmax * sizeof *R.V))) {
    rc = SDV_ERROR(SDV_ENOMEM, "%s: %zu samples", id, M);
    goto done;
  }
  size_t nstates = 0;
  for (size_t k = 0; k < ncases && rc == SDV_OK; k++) {
    rc = run_case(ctx, &cases[k], sdv_check_seed(ctx, id, (unsigned)k), M, &R);
    nstates += cases[k].nstates;
  }
  if (rc) goto done;
  sdv_ledger_summary s;
  if ((rc = sdv_ledger_close(&R.main, MOMENTS_ALPHA, &s))) goto done;
  if (R.ctl[0].oom || R.ctl[1].oom) {
    rc = SDV_ERROR(SDV_ENOMEM, "%s: out of memory (control ledger)", id);
    goto done;
  }
  /* The controls are judged with the main ledger's critical value (the same test). */
  const double w0 = sdv_ledger_worst_at(&R.ctl[0], s.z), w1 = sdv_ledger_worst_at(&R.ctl[1], s.z);
  snprintf(res->measured, sizeof res->measured,
           "largest |difference|/tolerance over %zu one-step moment comparisons (%zu states, "
           "%zu samples each, step/literal/SDE/reference)",
           s.nstat + s.ndet, nstates, M);
  snprintf(res->prediction, sizeof res->prediction,
           "E U = -b(x), Cov U = S S^T(x) at every x (exact), i.e. ratio <= 1");
  res->predicted = 1.0;
  res->value = s.worst;
  res->lo = res->hi = s.worst;
  res->exact = false;
  res->ratio = s.worst;
  res->pass = sdv_ledger_passes(&s);
  snprintf(res->control, sizeof res->control,
           "SDE with %g x diffusion variance; SDE without the 1/N (x N variance)", CTL_VAR);
  res->control_value = fmin(w0, w1);
  res->control_ratio = fmin(w0, w1);
  res->control_rejected = w0 > 1.0 && w1 > 1.0;
  sdv_check_note(res,
                 "%zu statistical comparisons at z = %.2f (Bonferroni, family-wise false-failure "
                 "rate %g), %zu deterministic at %g relative; worst: %s (%.3g tol)",
                 s.nstat, s.z, MOMENTS_ALPHA, s.ndet, DET_RTOL, s.what, s.worst);
  sdv_check_note(res, "controls: %g x variance at %.3g tol, missing 1/N at %.3g tol", CTL_VAR, w0,
                 w1);
  sdv_ledger_write_csv(&R.main, &s, ctx->csv);
done:
  sdv_ledger_free(&R.main);
  sdv_ledger_free(&R.ctl[0]);
  sdv_ledger_free(&R.ctl[1]);
  free(R.U);
  free(R.V);
  return rc;
}

/* clang-format off */
#define G(s) {LAW_GAUSS, 0.0, (s), C_ID, 0.0}
#define GC(s, c, p) {LAW_GAUSS, 0.0, (s), (c), (p)}
#define T(nu, s) {LAW_T, (nu), (s), C_ID, 0.0}
#define TC(nu, s, c, p) {LAW_T, (nu), (s), (c), (p)}
#define CAU(s) {LAW_CAUCHY, 0.0, (s), C_ID, 0.0}

/* DSGD on the quartic: Gaussian agents with unequal scales (the one-Gaussian shortcut) and a
 * mix with a Student-t(9) agent on the double well (nu > 8 keeps the covariance's standard
 * error itself reliable: its estimate needs the 8th moment). */
static int run_dsgd(const sdv_check_ctx *ctx, sdv_check_result *res) {
  static const os_case cases[] = {
      {"gauss", "dsgd", 3, 3, 2, "quartic:lam=0.7,1.3,2.1", {G(0.8), G(1.6), G(2.5)}, 2,
       {{0.9, -1.3, 0.4}, {-0.2, 0.6, 1.7}}},
      {"mixed", "dsgd", 3, 3, 3, "double-well:a=1.2", {G(0.6), T(9.0, 1.4), G(2.0)}, 2,
       {{1.5, -0.3, 0.8}, {0.1, 1.1, -1.9}}},
  };
  return run_cases(ctx, res, "onestep-dsgd", cases, 2, 60000);
}

/* DCSGD with the linear compressors on the Iris logistic loss (d = 5): equal rand-k agents (the
 * kept-coordinates shortcut, the diagonal-minus-rank-1 root); rand-k with unequal k, a
 * Student-t(9) agent and Bernoulli, B = 2; and rand-k on a dense quadratic. */
static int run_dcsgd_linear(const sdv_check_ctx *ctx, sdv_check_result *res) {
  static const os_case cases[] = {
      {"randk", "dcsgd", 5, 3, 2, "@iris",
       {GC(0.3, C_RANDK, 2), GC(0.5, C_RANDK, 2), GC(0.2, C_RANDK, 2)}, 2,
       {{0.4, -1.1, 0.8, 1.5, -0.6}, {-1.2, 0.5, 2.0, -0.4, 0.9}}},
      {"mixed", "dcsgd", 5, 3, 2, "@iris",
       {GC(0.3, C_RANDK, 1), TC(9.0, 0.25, C_RANDK, 3), GC(0.4, C_BERN, 0.4)}, 2,
       {{0.4, -1.1, 0.8, 1.5, -0.6}, {1.0, 1.0, -1.0, 0.5, 0.0}}},
      {"dense", "dcsgd", 4, 2, 1, "dense-quadratic:lam=0.5..2:seed=11",
       {GC(0.7, C_RANDK, 2), GC(0.4, C_RANDK, 3)}, 1, {{0.9, -0.6, 1.3, 0.2}}},
  };
  return run_cases(ctx, res, "onestep-dcsgd-linear", cases, 3, 60000);
}

/* DCSGD with the nonlinear compressors (QSGD and natural compression: the SDE's sampled
 * route), on the quartic. */
static int run_dcsgd_nonlinear(const sdv_check_ctx *ctx, sdv_check_result *res) {
  static const os_case cases[] = {
      {"qsgd", "dcsgd", 3, 2, 2, "quartic:lam=0.6,1.0,1.8",
       {GC(0.4, C_QSGD, 2), GC(0.25, C_QSGD, 1)}, 2, {{1.1, -0.7, 0.5}, {-0.4, 1.3, 0.9}}},
      {"natural", "dcsgd", 3, 2, 1, "quartic:lam=0.6,1.0,1.8",
       {GC(0.3, C_NATURAL, 0), GC(0.6, C_NATURAL, 0)}, 2, {{1.1, -0.7, 0.5}, {-0.4, 1.3, 0.9}}},
  };
  return run_cases(ctx, res, "onestep-dcsgd-nonlinear", cases, 2, 60000);
}

/* DSignSGD, Gaussian: equal agents (the binomial shortcut) and unequal scales, B > 1, at
 * states whose signal-to-noise ratios y = d_j f / scale_i run from 0.1 to about 10, so m is
 * tested far from 0 as well as near it. */
static int run_dsignsgd_gauss(const sdv_check_ctx *ctx, sdv_check_result *res) {
  static const os_case cases[] = {
      {"equal", "dsignsgd", 4, 4, 3, "quartic:lam=0.5,1.0,1.5,2.0",
       {G(1.3), G(1.3), G(1.3), G(1.3)}, 2, {{0.1, -0.6, 1.0, 1.6}, {-1.4, 0.3, -0.8, 0.05}}},
      {"unequal", "dsignsgd", 4, 3, 2, "double-well:a=1",
       {G(0.4), G(1.1), G(3.0)}, 2, {{0.2, -1.5, 1.9, 0.7}, {-2.1, 1.2, -0.5, 1.05}}},
  };
  return run_cases(ctx, res, "onestep-dsignsgd-gauss", cases, 2, 60000);
}

/* DSignSGD, heavy tails: Student-t(3) equal agents (the nu = 3 kernels), and a mix of
 * Student-t(2.5), Cauchy and Gaussian agents; Cauchy agents with B = 4 (the mean of B
 * Cauchy draws has the same scale: batching does not help). */
static int run_dsignsgd_heavy(const sdv_check_ctx *ctx, sdv_check_result *res) {
  static const os_case cases[] = {
      {"t3", "dsignsgd", 3, 3, 1, "quartic:lam=0.8,1.2,2.0",
       {T(3.0, 0.7), T(3.0, 0.7), T(3.0, 0.7)}, 2, {{0.15, -0.9, 1.7}, {2.3, 0.5, -1.2}}},
      {"mixed", "dsignsgd", 3, 3, 1, "quartic:lam=0.8,1.2,2.0",
       {T(2.5, 0.5), CAU(1.5), G(0.8)}, 2, {{0.15, -0.9, 1.7}, {2.3, 0.5, -1.2}}},
      {"cauchy-batch", "dsignsgd", 3, 2, 4, "quartic:lam=0.8,1.2,2.0",
       {CAU(0.6), CAU(1.8)}, 1, {{0.4, -1.3, 2.2}}},
  };
  return run_cases(ctx, res, "onestep-dsignsgd-heavy", cases, 3, 60000);
}

/* Real data, a real model: the one-hidden-layer tanh network with softmax output on the Wine
 * data (13 standardised features, 3 classes, H = 2: d = 37), at its seeded starting point and a
 * shifted point, for all three methods with N > 1, B = 2 and unequal scales. The gradient is
 * the network's backpropagation, checked here against finite differences of its loss. */
static int run_mlp(const sdv_check_ctx *ctx, sdv_check_result *res) {
  static const os_case cases[] = {
      {"dsgd", "dsgd", 37, 3, 2, "@wine-mlp", {G(0.3), G(0.6), G(0.45)}, 2, {{0}}},
      {"dcsgd rand-8", "dcsgd", 37, 2, 2, "@wine-mlp",
       {GC(0.2, C_RANDK, 8), GC(0.4, C_RANDK, 8)}, 2, {{0}}},
      {"dsignsgd", "dsignsgd", 37, 3, 2, "@wine-mlp", {G(0.1), G(0.3), G(0.2)}, 2, {{0}}},
  };
  return run_cases(ctx, res, "onestep-mlp", cases, 3, 40000);
}
/* clang-format on */

const sdv_check sdv_checks_moments[] = {
    {"onestep-dsgd",
     "DSGD: the optimizer's step (shortcut and literal) has mean -b(x) and covariance "
     "Sigma(x) of its SDE at non-quadratic states, with N > 1, B > 1, unequal scales and laws",
     "moments", run_dsgd},
    {"onestep-dcsgd-linear",
     "DCSGD with rand-k and Bernoulli on logistic regression: step and SDE (rank-1 root) match "
     "the one-step moments of theory §4.2",
     "moments", run_dcsgd_linear},
    {"onestep-dcsgd-nonlinear",
     "DCSGD with QSGD and natural compression: step and sampled SDE match E Phi_C(g + Z) "
     "computed independently",
     "moments", run_dcsgd_nonlinear},
    {"onestep-dsignsgd-gauss",
     "DSignSGD, Gaussian noise: step (binomial shortcut and literal) and SDE match m = erf and "
     "1 - m^2 where |m| is far from 0",
     "moments", run_dsignsgd_gauss},
    {"onestep-dsignsgd-heavy",
     "DSignSGD, Student-t and Cauchy noise: step and SDE match 2F_nu - 1 and 1 - m^2 from "
     "GSL's CDFs, B = 4 Cauchy agents included",
     "moments", run_dsignsgd_heavy},
    {"onestep-mlp",
     "a one-hidden-layer network on real data (Wine, d = 37): DSGD, DCSGD rand-k and DSignSGD "
     "steps match their SDEs' coefficients and independent references",
     "moments", run_mlp},
    {NULL, NULL, NULL, NULL},
};
