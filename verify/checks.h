/* The claim suite: one check per claim of the theory (docs/claims.md lists them).
 *
 * A check measures something about the optimizer and its SDE, compares it with a prediction
 * (a formula, evaluated), and returns a verdict that can fail. Every check also runs a
 * NEGATIVE CONTROL: a deliberately wrong model or prediction that the same measurement must
 * reject. A check counts as passed only if its own test passes AND its control is rejected
 * (a test that cannot tell right from wrong proves nothing).
 *
 * Checks live in files by family or by theme within a family (verify/checks_<theme>.c), each
 * exporting a NULL-name-terminated array; verify/checks.c concatenates them in a fixed order.
 */
#ifndef SDV_CHECKS_H
#define SDV_CHECKS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sdv_check_ctx {
  uint64_t seed;                 /* the run's seed (--seed); checks derive model seeds from it */
  bool full;                     /* --full: larger samples, tighter intervals */
  size_t threads;                /* OpenMP threads (0 = default) */
  volatile sig_atomic_t *cancel; /* pass to the engine; SDV_EINTR when set */
  FILE *csv;                     /* this check's CSV file (write a header line first); never
                                    NULL while a check runs */
} sdv_check_ctx;

typedef struct sdv_check_result {
  char measured[256];   /* what was measured, one line */
  char prediction[256]; /* the predicted value: formula = number */
  double predicted;     /* the prediction (NAN if it is a relation, e.g. "slope >= 0.75") */
  double value;         /* the measurement */
  double lo, hi;        /* its confidence interval (lo = hi = value when exact) */
  bool exact;           /* measured without Monte Carlo */
  bool pass;            /* the check's own test */
  /* Set (with pass = false) when the data cannot decide the test, e.g. the weak harness says
   * INCONCLUSIVE: more paths or a finer ladder would help, and the note says which. The
   * check is then reported INCONCLUSIVE, never FAIL: a correct model must not fail for lack
   * of data. A test that decided against the model leaves it false. */
  bool inconclusive;
  char control[256];    /* the negative control: which wrong model or prediction */
  double control_value; /* what the control measured (NAN if not a number) */
  bool control_rejected;
  char note[512];       /* test statistic, false-failure rate, caveats */
  double ratio;         /* |measured - predicted| / the test's tolerance: passes iff <= 1
                           (NAN, printed as such, where a check states no single ratio) */
  double control_ratio; /* the same for the control: rejected iff > 1 */
} sdv_check_result;

typedef struct sdv_check {
  const char *id;     /* stable short id, e.g. "dsgd-order"; NULL terminates a family */
  const char *claim;  /* the claim in one line */
  const char *family; /* "weak", "stationary", "dsignsgd", "heavy-tails", "scaling",
                         "conformance", "nonquadratic", "minibatch" */
  /* Runs the check. Returns SDV_OK with res filled (a failed claim is NOT an error),
   * SDV_EINTR when cancelled, or another status for a genuine error (with message). */
  int (*run)(const sdv_check_ctx *ctx, sdv_check_result *res);
} sdv_check;

/* Families (each a NULL-id-terminated array in its own file). */
extern const sdv_check sdv_checks_weak[];
extern const sdv_check sdv_checks_stationary[];  /* claims 4-6 */
extern const sdv_check sdv_checks_stability[];   /* claim 7 (family "stationary") */
extern const sdv_check sdv_checks_covariance[];  /* claim 16 (family "stationary") */
extern const sdv_check sdv_checks_dsignsgd[];    /* claims 8-11 */
extern const sdv_check sdv_checks_heavy_tails[]; /* claim 12 (family "heavy-tails") */
extern const sdv_check sdv_checks_sign_drift[];  /* claims 13-14 (family "dsignsgd") */
extern const sdv_check sdv_checks_scaling[];
extern const sdv_check sdv_checks_conformance[];
extern const sdv_check sdv_checks_nonquadratic[];
extern const sdv_check sdv_checks_moments[];
extern const sdv_check sdv_checks_trajectory[];
extern const sdv_check sdv_checks_minibatch[];
extern const sdv_check sdv_checks_realdata[]; /* family "minibatch": weak studies */
extern const sdv_check sdv_checks_coupling[];
extern const sdv_check sdv_checks_hetero[];
extern const sdv_check sdv_checks_lsq[]; /* family "minibatch" */

/* All checks in suite order; returns how many and sets *list (static storage). */
size_t sdv_checks_all(const sdv_check *const **list);

/* Helpers for check authors. */

/* Seed for sub-study k of a check: a fixed function of (run seed, check id, k). */
uint64_t sdv_check_seed(const sdv_check_ctx *ctx, const char *id, unsigned k);

/* Interval test: is pred inside [lo, hi]? (Exact values: lo == hi == value, so use a
 * relative tolerance instead, see sdv_check_close.) */
bool sdv_check_inside(double pred, double lo, double hi);

/* |a - b| <= rtol * |b|. */
bool sdv_check_close(double a, double b, double rtol);

#endif
