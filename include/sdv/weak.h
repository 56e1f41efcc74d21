/* sdv/weak.h — weak-error studies: does the SDE reproduce the moments of the optimizer?
 *
 * For a model and a ladder of learning rates eta, the harness estimates E g(x_k) (discrete)
 * and E g(X_{k eta}) (SDE) at chosen times t = k eta, exactly where sdv/exact.h can and by
 * Monte Carlo (sdv/mc.h) elsewhere, and reports three things:
 *
 * 1. Rows: both sides with standard errors, their difference with a 95% confidence interval.
 * 2. Order fit: the slope of log|error| against log eta by weighted least squares
 *    (gsl_fit_wlinear, weights (error/se)^2), with a confidence interval. Rungs whose error is
 *    within z standard errors of 0 (exact: within its numerical error bound) are flagged
 *    "unresolved" and left out of the fit. When both sides are exact the order is the local
 *    slope of the two finest rungs extrapolated to eta -> 0 with the previous pair, its
 *    interval +- how far the extrapolation moved it. Verdict: PASS if the upper confidence
 *    bound is >= order - order_tol (the error decays at least like eta^order, up to the
 *    tolerance), provided the interval is narrow enough to say anything (half-width <=
 *    order_resolution) or lies wholly above order - order_tol (the error decays faster than
 *    claimed, however wide the interval). A FAIL needs evidence on the asymptotic end of the ladder: three or
 *    more resolved rungs, the finest pair too low as well, and, where the local slopes are
 *    still rising, their extrapolation too low; otherwise INCONCLUSIVE ("refine the ladder").
 *    Two exact rungs, or resolved errors that change sign, are INCONCLUSIVE too.
 * 3. The diffusion-sensitive statistic. An order-1 test cannot validate a diffusion: the
 *    noiseless ODE is also weakly order 1. So the harness separates the fluctuation part:
 *        F_disc(eta) = [E g(x_k) - g(xbar_k)] / eta,      xbar = noise-free recursion,
 *        F_sde(eta)  = [E g(X_t) - g(x~(t))] / eta,       x~ = the same integrator with the
 *                                                          diffusion switched off (so its
 *                                                          step-size bias cancels), or the
 *                                                          exact drift ODE on exact sides.
 *    Both tend to the same constant L when the diffusion is right; a wrong diffusion (or none)
 *    changes the limit of F_sde. The harness fits D(eta) = F_disc - F_sde = a + b eta
 *    (+ c eta^2 with 4 or more Monte Carlo rungs, or 3 or more exact ones) and tests a = 0 at
 *    level alpha (interval from the WLS covariance, inflated by the reduced chi-square when
 *    the fit is poor). On 3 Monte Carlo rungs a rejection by the line counts only if the
 *    parabola through them rejects too; on 2 rungs never (INCONCLUSIVE). When no side carries
 *    Monte Carlo noise the bound on |a| is derived from the data: twice the change of the
 *    intercept against the next fit (Richardson-type remainder) plus the exact routes'
 *    numerical error propagated through the fit (sdv_weak_side.num_err); no fixed floor. It
 *    is "resolved" only if L is distinguishable from 0 (and, exact, the bounds can tell a = 0
 *    from a = L). Reported with it: a / L, the relative error of the fluctuation as eta -> 0.
 *    Every INCONCLUSIVE test says why (sdv_weak_reason), and the summary gives the advice.
 *
 * Built-in negative controls (options.controls): the same study with the SDE's diffusion
 * scaled by 0 (the drift ODE) and by 2. A verdict counts only if the study REJECTS both: a
 * study without the power to tell a wrong diffusion from the right one passes nothing. The
 * overall verdict is PASS only if every order fit passes, every resolved diffusion statistic
 * passes, at least one is resolved, and every control is rejected; otherwise FAIL, or
 * INCONCLUSIVE when nothing was resolved. docs/math/weak.md has the details.
 */
#ifndef SDV_WEAK_H
#define SDV_WEAK_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sdv/model.h>
#include <sdv/process.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sdv_verdict {
  SDV_VERDICT_PASS = 0,
  SDV_VERDICT_FAIL = 1,
  SDV_VERDICT_INCONCLUSIVE = 2
} sdv_verdict;

const char *sdv_verdict_name(sdv_verdict v); /* "PASS", "FAIL", "INCONCLUSIVE" */

/* Why a test is INCONCLUSIVE, so that the advice can say what would help. */
typedef enum sdv_weak_reason {
  SDV_WEAK_DECIDED = 0,     /* the test reached PASS or FAIL */
  SDV_WEAK_MC_NOISE = 1,    /* Monte Carlo error limits it: more paths would help */
  SDV_WEAK_PREASYMPTOTIC = 2, /* curvature, local slopes still changing, a sign change or too
                               few rungs to tell pre-asymptotic from wrong: refine the ladder
                               toward smaller eta */
  SDV_WEAK_NOTHING = 3      /* the quantity is 0 within the numerical error of the exact route
                               (e.g. sigma = 0 removes the fluctuation part): nothing to resolve */
} sdv_weak_reason;

/* "decided", "more paths", "refine the ladder", "nothing to resolve" */
const char *sdv_weak_reason_name(sdv_weak_reason r);

/* Coupling of the two sides' Monte Carlo (docs/math/coupling.md). */
typedef enum sdv_weak_coupling {
  SDV_WEAK_COUPLING_CRN = 0, /* common random numbers where a coupling exists (default) */
  SDV_WEAK_COUPLING_NONE = 1 /* independent samples on the two sides */
} sdv_weak_coupling;

/* "crn", "none" */
const char *sdv_weak_coupling_name(sdv_weak_coupling c);

typedef struct sdv_weak_options {
  const double *eta;          /* ladder of learning rates (>= 2 distinct values, > 0) */
  size_t neta;
  const double *times;        /* SDE times t > 0; t/eta must be an integer for every eta
                                 (within 1e-9 relative) */
  size_t ntimes;
  const sdv_observable *obs;  /* observables (default: f only, when NULL) */
  size_t nobs;
  size_t paths;               /* Monte Carlo paths per side and rung (default 20000) */
  size_t substeps;            /* m, SDE step h = eta/m (default 4) */
  const sdv_integrator_type *integrator; /* default richardson */
  double alpha;               /* family-wise level of the verdict tests (default 0.01) */
  double order;               /* the claimed weak order (default 1) */
  double order_tol;           /* tolerance on the order (default 0.25) */
  double order_resolution;    /* the order counts as measured only if its confidence interval
                                 has half-width <= this (default 0.5); else INCONCLUSIVE */
  double fluct_rtol;          /* unused since the tolerance of noise-free data is derived
                                 from the data (docs/math/weak.md); still validated (>= 0)
                                 for compatibility (default 0.05) */
  bool exact;                 /* use exact references where they exist (default true) */
  bool controls;              /* run the built-in negative controls (default true) */
  size_t threads;             /* OpenMP threads, 0 = default */
  volatile sig_atomic_t *cancel; /* checked between blocks; SDV_EINTR when set (may be NULL) */
  void (*progress)(void *user, double fraction); /* master thread only; may be NULL */
  void *progress_user;
  double curvature_alpha;     /* level at which a 3-rung Monte Carlo fluctuation fit counts as
                                 curved (chi-square of the straight line, 1 dof); a rejection
                                 on a curved 3-rung ladder is INCONCLUSIVE (default 0.05) */
  double exact_tol_factor;    /* exact CVODE routes: the values are recomputed with rtol and
                                 atol multiplied by this, and the difference bounds the
                                 numerical error (default 100) */
  /* CRN (default): where both sides of a rung are Monte Carlo and the model has a coupling
   * (the method's step_coupled and a structured diffusion route), each path runs the
   * optimizer and the SDE on common random numbers (sdv/process.h, COUPLED): each side keeps
   * its law exactly, the optimizer's paths are the uncoupled ones bit for bit, and the error
   * is the mean of the per-path differences with their standard error. Controls are coupled
   * too. Where no coupling exists the rung runs uncoupled and the result says why. NONE:
   * independent sides, as before couplings existed. */
  sdv_weak_coupling coupling;
} sdv_weak_options;

void sdv_weak_options_default(sdv_weak_options *o);

typedef struct sdv_weak_side {
  double mean;        /* estimate of E g */
  double se;          /* its standard error (0 when exact) */
  bool exact;
  double ref;         /* g(xbar_k) or g(x~(t)): the noise-free reference */
  uint64_t nonfinite; /* Monte Carlo paths that diverged (excluded) */
  bool unstable;      /* heavy tails: the engine's flag that the standard error is unreliable */
  bool impossible;    /* the mean is not finite, or a non-negative observable (||x||^2,
                         ||grad f||^2, x_j^2, f of a quadratic) has a mean below 0 beyond its
                         95% interval: no estimate of E g (see sdv_weak_result.impossible) */
  double num_err;     /* exact sides: bound on the numerical error of mean - ref (ODE
                         tolerance and round-off, docs/math/weak.md); 0 for Monte Carlo */
} sdv_weak_side;

typedef struct sdv_weak_row {
  double eta, t;
  size_t step;       /* k = t/eta */
  size_t obs;        /* index into options.obs */
  sdv_weak_side disc, sde;
  double err, err_se, err_lo, err_hi; /* E g(x_k) - E g(X_t), 95% interval */
  bool resolved;                     /* |err| > z err_se (exact: |err| beyond the numerical
                                        error bound disc.num_err + sde.num_err) */
  double fl_disc, fl_sde, fl_se;     /* F_disc, F_sde and the se of their difference */
  /* Coupled rows: err and err_se are the mean and standard error of the per-path
   * differences, fl_sde = fl_disc - (err - (disc.ref - sde.ref)) / eta (the same as
   * (sde.mean - sde.ref) / eta when no path diverged), and vr is the variance-reduction
   * factor (disc.se^2 + sde.se^2) / err_se^2: the variance of the uncoupled estimate of err
   * over that of the coupled one, both from the same paths. NAN when not coupled. */
  bool coupled;
  double vr;
} sdv_weak_row;

typedef struct sdv_weak_test {
  size_t obs;
  double t;
  /* order fit */
  double slope, slope_se, slope_lo, slope_hi;
  size_t fit_points;
  bool sign_change;                  /* resolved errors of both signs: the ladder is not in
                                        the asymptotic regime, the order is INCONCLUSIVE */
  sdv_verdict order_verdict;
  /* diffusion-sensitive statistic */
  double limit, limit_se;            /* L: extrapolated F_disc */
  double intercept, intercept_se, intercept_lo, intercept_hi; /* a */
  double rel, rel_lo, rel_hi;        /* a / L with interval: the intercept's interval over
                                        |L|, widened by |a/L| times L's interval when L is a
                                        Monte Carlo estimate (whatever their correlation) */
  bool fluct_resolved;
  sdv_verdict diffusion_verdict;     /* INCONCLUSIVE when not resolved */
  /* Why each test is INCONCLUSIVE (SDV_WEAK_DECIDED otherwise). */
  sdv_weak_reason order_reason, diffusion_reason;
  /* Order: local slope of the finest resolved pair of rungs and its standard error (0 when
   * exact), and the local slopes extrapolated linearly in eta to eta -> 0 (NaN with fewer
   * than 3 resolved rungs). A FAIL needs the finest pair too low as well (weak.md). */
  double local_slope, local_slope_se;
  double slope_limit, slope_limit_se;
  /* Order statistic against its tolerance: the test passes iff order - slope <= order_stat_tol,
   * order_stat_tol = order_tol + z slope_se (Monte Carlo) or order_tol + the Richardson
   * half-width (exact); order_ratio = (order - slope) / order_stat_tol (<= 1 passes). */
  double order_stat_tol, order_ratio;
  /* Fluctuation fit: degree 1 (a + b eta) or 2 (+ c eta^2, with >= 4 Monte Carlo rungs or
   * >= 3 exact rungs); c and its standard error (NaN for degree 1); whether curvature was
   * detected where it could not be fitted (3 Monte Carlo rungs). */
  size_t fluct_degree;
  double curvature, curvature_se;
  bool curvature_detected;
  /* The bound |a| is tested against and |a| / that bound (<= 1 passes); for exact data its
   * two parts, the extrapolation remainder (how a moves with the ladder) and the propagated
   * numerical error of the exact routes. */
  double intercept_tol, intercept_ratio;
  double intercept_rem, intercept_num;
} sdv_weak_test;

typedef struct sdv_weak_control {
  double diffusion_scale;        /* 0 (ODE) or 2 */
  size_t ntests;
  sdv_weak_test *tests;          /* [ntests] (owned) */
  bool rejected;                 /* some resolved diffusion statistic rejected it */
} sdv_weak_control;

typedef struct sdv_weak_result {
  size_t nrows;
  sdv_weak_row *rows;            /* [neta * ntimes * nobs] (owned) */
  size_t ntests;
  sdv_weak_test *tests;          /* [ntimes * nobs] (owned) */
  size_t ncontrols;
  sdv_weak_control *controls;    /* [ncontrols] (owned) */
  sdv_verdict verdict;
  char summary[512];             /* one line saying why */
  double z_row;                  /* critical value used for the 95% intervals */
  double z_test;                 /* critical value used by the verdict tests */
  /* Non-finite and impossible estimates, per side (0 discrete, 1 SDE), counted in rows of
   * the study (controls excluded). Any of them, or an unstable optimizer, makes the tests
   * they feed and the verdict non-PASS, with the reason in the summary. */
  size_t nonfinite_rows[2];  /* rows whose mean is NaN or infinite */
  size_t impossible_rows[2]; /* rows whose mean is impossible (sdv_weak_side.impossible),
                                the non-finite ones included */
  double unstable_eta;       /* largest rung at which the noise-free optimizer diverges
                                (spectral radius of its mean map > 1, e.g. eta lambda > 2
                                for DSGD), else 0; quadratic objectives only */
  double unstable_growth;    /* that spectral radius */
  /* Coupling actually used: true if some row (of the study or a control) was coupled, and,
   * when options.coupling asked for CRN but some Monte Carlo rung ran uncoupled, why (else
   * empty). */
  bool coupled;
  char coupling_note[256];
} sdv_weak_result;

/* Runs a study. disc and sde are the model options of the two sides (sde may be NULL: the
 * same model); their eta is replaced by each rung's value. Returns SDV_OK with *out set (a
 * failing verdict is not an error), SDV_EINVAL (bad options, naming the field), SDV_ENOTSUP
 * (e.g. no SDE for this noise), SDV_EINTR (cancelled), SDV_ELIMIT, SDV_ENOMEM, or a
 * model/solver status. *out is NULL on failure. */
int sdv_weak_run(const sdv_model_options *disc, const sdv_model_options *sde,
                 const sdv_weak_options *o, sdv_weak_result **out);

/* The same study for models given as typed specs (sdv/model.h, sdv_model_spec): a callback
 * objective, component handles, arrays. The specs (and the objective they borrow) must stay
 * valid for the call; each rung builds its models from them with eta and diffusion_scale
 * replaced. sde may be NULL (the same model). */
int sdv_weak_run_spec(const sdv_model_spec *disc, const sdv_model_spec *sde,
                      const sdv_weak_options *o, sdv_weak_result **out);

void sdv_weak_result_free(sdv_weak_result *r); /* NULL is a no-op */

/* Weighted least squares helpers used by the harness (public for the claim suite).
 * Fits y = c0 + c1 x. With se == NULL (exact data) the fit is unweighted and the standard
 * errors come from the residuals; otherwise weights are 1/se^2 and the covariance is
 * inflated by max(1, chi2/dof). *dof receives n - 2. Returns SDV_OK, SDV_EINVAL (n < 2),
 * SDV_ENUMERIC. */
int sdv_weak_linfit(const double *x, const double *y, const double *se, size_t n, double *c0,
                    double *c1, double *se0, double *se1, size_t *dof);

/* Fits y = c[0] + c[1] x (+ c[2] x^2) of the given degree (1 or 2) to n >= degree + 1 points.
 * Weighted (1/se^2, covariance inflated by max(1, chi2/dof)) when se != NULL; otherwise
 * unweighted with residual-based standard errors (NaN when dof = 0). c and c_se hold
 * degree + 1 values; *chi2 the weighted residual sum of squares; *dof = n - degree - 1. If w0
 * is not NULL it receives n weights with c[0] = sum_i w0[i] y[i]. Returns SDV_OK, SDV_EINVAL
 * (bad degree, too few points), SDV_ENUMERIC, SDV_ENOMEM. */
int sdv_weak_polyfit(const double *x, const double *y, const double *se, size_t n,
                     size_t degree, double *c, double *c_se, double *chi2, size_t *dof,
                     double *w0);

/* The per-(time, observable) tests of the harness from one series of rows, sorted by
 * decreasing eta (all for the same time and observable; nrows <= 64). alpha_test is the
 * level of each test (the study's alpha after Bonferroni). Fills *T; its obs field is taken
 * from rows[0]. Public so that the rules can be checked on synthetic rows. Returns SDV_OK,
 * SDV_EINVAL (NULL pointers, nrows 0 or > 64), or a fit's error. */
int sdv_weak_test_rows(const sdv_weak_row *rows, size_t nrows, const sdv_weak_options *o,
                       double alpha_test, sdv_weak_test *T);

#ifdef __cplusplus
}
#endif
#endif
