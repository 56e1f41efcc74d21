/* Shared building blocks for claim checks (verify/checks_*.c). */
#ifndef SDV_CHECKS_UTIL_H
#define SDV_CHECKS_UTIL_H

#include <sdv/model.h>
#include <sdv/weak.h>

#include "checks.h"

/* Runs a weak study of typed model specs (sdv_weak_run_spec; sde NULL: disc's own SDE; the
 * components they point to must outlive the call) with the context's threads and cancel flag,
 * writes every row to ctx->csv (header "study,eta,t,step,observable,..." on first use, with
 * `label` in the study column), and returns the result. */
int sdv_check_weak(const sdv_check_ctx *ctx, const char *label, const sdv_model_spec *disc,
                   const sdv_model_spec *sde, const sdv_weak_options *wo, sdv_weak_result **out);

/* The check's verdict: "PASS" (its test passed and its control was rejected),
 * "INCONCLUSIVE" (the test could not be decided: sdv_check_result.inconclusive; or a Monte
 * Carlo test passed without the power to reject its control) or "FAIL". */
const char *sdv_check_verdict(const sdv_check_result *r);

/* Fills res from the first test of a weak study: measured = fitted order or the fluctuation
 * statistic, control = the ODE control. what selects "order" or "fluctuation". */
void sdv_check_from_weak(sdv_check_result *res, const sdv_weak_result *w, const char *what);

/* Appends formatted text to res->note (keeps what is there). */
void sdv_check_note(sdv_check_result *res, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* v as a note writes a parameter: "%g", or, where shorter and exact, one significant digit
 * and a bare exponent ("1e-3" for 0.001, "1e6" for 1e+06), the notation of the claims.
 * Returns buf (n >= 32). */
const char *sdv_check_num(char *buf, size_t n, double v);

/* ---- A ledger of comparisons with one verdict (checks_moments.c, checks_trajectory.c) ----
 *
 * Each entry compares an estimate with a reference. A statistical entry has the standard
 * error of the difference (from the samples themselves); its tolerance is z se, where z is
 * the two-sided Bonferroni critical value for the ledger's family-wise level alpha over all
 * statistical entries. A deterministic entry (both numbers computed without sampling) has a
 * tolerance from the numerical accuracy of the two routes, stated where it is added. Every
 * entry gets ratio = |difference| / tolerance; the ledger passes iff every ratio is <= 1, so
 * a correct model fails with probability <= alpha. */
typedef struct sdv_ledger_entry {
  double diff; /* estimate - reference */
  double se;   /* statistical: se of the difference; deterministic: 0 */
  double tol;  /* deterministic: the tolerance; statistical: 0 (set by the ledger) */
  double bias; /* statistical: a bound on the estimator's bias, added to z se (else 0) */
  bool det;    /* deterministic entry (its tolerance may be 0: then any difference fails) */
  char what[80];
} sdv_ledger_entry;

typedef struct sdv_ledger {
  sdv_ledger_entry *e;
  size_t n, cap;
  bool oom; /* an allocation failed: the ledger is invalid (sdv_ledger_close says so) */
} sdv_ledger;

/* Adds a statistical comparison (se_est, se_ref >= 0; both 0 with a non-zero difference
 * makes the ratio infinite). */
void sdv_ledger_stat(sdv_ledger *L, double est, double se_est, double ref, double se_ref,
                     const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;
/* A statistical comparison whose estimator has a known bias bound >= 0 (e.g. an SDE
 * integrator's): tolerance z se + bias. */
void sdv_ledger_stat_biased(sdv_ledger *L, double est, double se_est, double ref, double bias,
                            const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;
/* Adds a deterministic comparison with tolerance tol > 0. */
void sdv_ledger_det(sdv_ledger *L, double est, double ref, double tol, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

typedef struct sdv_ledger_summary {
  size_t nstat, ndet; /* entries of each kind */
  double z;           /* critical value of the statistical entries */
  double worst;       /* largest ratio (0 for an empty ledger); NAN if an entry is NaN */
  char what[80];      /* the entry with the largest ratio */
} sdv_ledger_summary;

/* Computes the summary at family-wise level alpha. SDV_ENOMEM if an add failed. */
int sdv_ledger_close(const sdv_ledger *L, double alpha, sdv_ledger_summary *s);
/* Empties the ledger (keeps its memory). */
void sdv_ledger_reset(sdv_ledger *L);
void sdv_ledger_free(sdv_ledger *L);
/* The largest |diff| / (z se + bias) over a ledger's statistical entries: a control judged by the
 * critical value z of the model's own ledger (the same test). */
double sdv_ledger_worst_at(const sdv_ledger *L, double z);
/* Writes every entry as "comparison,difference,se,tolerance,ratio" rows (with the header)
 * at the summary's critical value. */
void sdv_ledger_write_csv(const sdv_ledger *L, const sdv_ledger_summary *s, FILE *f);
/* passes iff worst <= 1 (NaN fails). */
bool sdv_ledger_passes(const sdv_ledger_summary *s);

/* Mean and centered covariance of M samples of dimension d (row s at x[s * d]), with standard
 * errors: se_mean[j] = sd_j / sqrt(M); cov[j * d + l] the (1/M) centered product mean and
 * se_cov[j * d + l] the standard deviation of the centered products over sqrt(M) (the
 * delta-method error of estimating the means is O(1/M), negligible). All outputs d or d*d. */
void sdv_sample_moments(const double *x, size_t M, size_t d, double *mean, double *se_mean,
                        double *cov, double *se_cov);

#endif
