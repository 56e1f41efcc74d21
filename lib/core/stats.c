/* Streaming moments (Welford; Chan, Golub & LeVeque 1979 for merging) and robust
 * location estimates. See sdv/stats.h. */
#include <sdv/stats.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

void sdv_acc_merge(sdv_acc *into, const sdv_acc *b) {
  if (b->n == 0) return;
  if (into->n == 0) {
    *into = *b;
    return;
  }
  const double na = (double)into->n, nb = (double)b->n, n = na + nb;
  const double delta = b->mean - into->mean;
  into->mean += delta * (nb / n);
  into->m2 += b->m2 + delta * delta * (na * nb / n);
  into->n += b->n;
}

double sdv_acc_mean(const sdv_acc *a) { return a->n ? a->mean : NAN; }
double sdv_acc_var(const sdv_acc *a) { return a->n > 1 ? a->m2 / (double)(a->n - 1) : NAN; }
double sdv_acc_se(const sdv_acc *a) {
  return a->n > 1 ? sqrt(sdv_acc_var(a) / (double)a->n) : NAN;
}

void sdv_acc2_reset(sdv_acc2 *a) { memset(a, 0, sizeof *a); }

void sdv_acc2_add(sdv_acc2 *a, double x, double y) {
  a->n += 1;
  const double n = (double)a->n;
  const double dx = x - a->mx, dy = y - a->my;
  a->mx += dx / n;
  a->my += dy / n;
  a->cxx += dx * (x - a->mx);
  a->cyy += dy * (y - a->my);
  a->cxy += dx * (y - a->my);
}

void sdv_acc2_merge(sdv_acc2 *into, const sdv_acc2 *b) {
  if (b->n == 0) return;
  if (into->n == 0) {
    *into = *b;
    return;
  }
  const double na = (double)into->n, nb = (double)b->n, n = na + nb, w = na * nb / n;
  const double dx = b->mx - into->mx, dy = b->my - into->my;
  into->mx += dx * (nb / n);
  into->my += dy * (nb / n);
  into->cxx += b->cxx + dx * dx * w;
  into->cyy += b->cyy + dy * dy * w;
  into->cxy += b->cxy + dx * dy * w;
  into->n += b->n;
}

double sdv_acc2_se_diff(const sdv_acc2 *a) {
  if (a->n < 2) return NAN;
  const double v = (a->cxx + a->cyy - 2.0 * a->cxy) / (double)(a->n - 1);
  return sqrt(fmax(v, 0.0) / (double)a->n);
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double sdv_median_of_means(const sdv_acc *groups, size_t ngroups, double *scratch) {
  size_t m = 0;
  for (size_t g = 0; g < ngroups; g++)
    if (groups[g].n) scratch[m++] = groups[g].mean;
  if (m == 0) return NAN;
  return sdv_quantile(scratch, m, 0.5);
}

double sdv_quantile(double *x, size_t n, double p) {
  if (n == 0) return NAN;
  qsort(x, n, sizeof *x, cmp_double);
  const double h = (double)(n - 1) * p;
  const size_t lo = (size_t)floor(h);
  const size_t hi = lo + 1 < n ? lo + 1 : lo;
  return x[lo] + (h - (double)lo) * (x[hi] - x[lo]);
}

double sdv_z_critical(double alpha) { return gsl_cdf_ugaussian_Qinv(alpha / 2.0); }
