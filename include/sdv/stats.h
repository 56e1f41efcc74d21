/* sdv/stats.h — streaming moments that merge exactly, and robust estimates.
 *
 * sdv_acc is Welford's running mean and sum of squared deviations; sdv_acc_merge combines two
 * accumulators with Chan, Golub & LeVeque's pairwise formula. Merging the same accumulators in
 * the same order gives the same bits, which is how Monte Carlo results stay identical for any
 * thread or process count (blocks are merged in block order).
 */
#ifndef SDV_STATS_H
#define SDV_STATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sdv_acc {
  uint64_t n;  /* number of values */
  double mean; /* running mean */
  double m2;   /* sum of squared deviations from the mean */
} sdv_acc;

static inline void sdv_acc_reset(sdv_acc *a) {
  a->n = 0;
  a->mean = 0.0;
  a->m2 = 0.0;
}

/* Adds one value (Welford). */
static inline void sdv_acc_add(sdv_acc *a, double x) {
  a->n += 1;
  const double delta = x - a->mean;
  a->mean += delta / (double)a->n;
  a->m2 += delta * (x - a->mean);
}

/* into <- into (+) b (Chan et al.). b may be empty; into may be empty. */
void sdv_acc_merge(sdv_acc *into, const sdv_acc *b);

/* Sample mean (NAN if empty), unbiased variance (NAN if n < 2), standard error of the mean
 * sqrt(var/n) (NAN if n < 2). */
double sdv_acc_mean(const sdv_acc *a);
double sdv_acc_var(const sdv_acc *a);
double sdv_acc_se(const sdv_acc *a);

/* Paired accumulator for (x, y) observed on the same path: means, variances and covariance,
 * so that the standard error of mean(x) - mean(y) accounts for their correlation. */
typedef struct sdv_acc2 {
  uint64_t n;
  double mx, my;
  double cxx, cyy, cxy; /* co-moments (sums of products of deviations) */
} sdv_acc2;

void sdv_acc2_reset(sdv_acc2 *a);
void sdv_acc2_add(sdv_acc2 *a, double x, double y);
void sdv_acc2_merge(sdv_acc2 *into, const sdv_acc2 *b);
/* Standard error of mean(x) - mean(y): sqrt((var x + var y - 2 cov)/n); NAN if n < 2. */
double sdv_acc2_se_diff(const sdv_acc2 *a);

/* Median of the means of the non-empty groups (median of means, a heavy-tail-robust
 * estimate of location). scratch holds ngroups doubles. NAN if no group is non-empty. */
double sdv_median_of_means(const sdv_acc *groups, size_t ngroups, double *scratch);

/* The p-quantile (0 <= p <= 1) of x[0..n) by linear interpolation of the sorted values
 * (type 7). Sorts x in place. NAN if n == 0. */
double sdv_quantile(double *x, size_t n, double p);

/* Two-sided standard-normal critical value z with P(|Z| > z) = alpha, 0 < alpha < 1. */
double sdv_z_critical(double alpha);

#ifdef __cplusplus
}
#endif
#endif
