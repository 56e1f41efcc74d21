/* Exact law of a discrete lattice method on a diagonal quadratic, one coordinate at a time.
 *
 * The method declares the lattice (sdv_method_type.lattice and lattice_law, sdv/model.h):
 * with H = diag(lambda) coordinate j is a Markov chain of its own on x0_j + h Z, moving from
 * x to x - h s with s in {-K, ..., K} of law lattice_law(lambda x). DSignSGD (theory §6.3):
 * h = eta/N, K = N, s = sum_i sign_i, agent i sending +1 with probability
 * p_i = (1 + m_i(lambda x / scale_i))/2 (a deterministic sign(lambda x) when sigma_i = 0, 0 at
 * x = 0), its law the N three-point laws convolved (O(N^2) per cell; lib/optimizer/dsignsgd.c).
 * A plugin's method (examples/majority-vote: K = 1) gets the same route by declaring the
 * hooks. The probability vector over cells is pushed forward exactly. Only the edge cells
 * whose cumulated mass is <= lattice_cut are dropped after each step, and the dropped mass
 * is reported. Coordinates are independent, so E x_j x_l = E x_j E x_l for j != l.
 * Stationary law (DSignSGD, the SIGN family, only): the same push-forward from the cell nearest
 * 0 (in x0's parity class when N is even, since s then is even), averaged over two consecutive steps (the chain has period
 * 2 when N is odd), until the estimated remaining error of E x and E x^2, extrapolated from
 * the geometric decay of their changes, is below stationary_tol relative.
 *
 * Reference values (tests/test-exact.c, "lattice"): the first three steps agree with a
 * brute-force enumeration of all 4^3 sign patterns (N = 2, sigma = (0.7, 1.9)); the
 * stationary law of homogeneous Gaussian agents obeys
 *     s_disc / s0 - 1 = (eta A / N)(pi/8 + (N - 1)/2) + O(eta^2),
 * s0 = eta sigma / (2 N lambda ell), A = ell lambda / sigma (theory §6.3).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>

#include "exact/exact_private.h"

typedef struct chain {
  const sdv_model *m;
  double lam, x0, h;
  size_t n;      /* K: s in {-K, ..., K} */
  double *p, *q; /* [cap] current and next probability vectors */
  size_t cap;
  long base;     /* cell index (x = x0 + h * cell) of p[0] */
  size_t lo, hi; /* live range [lo, hi] of buffer indices */
  double *law;   /* [2K+1] law of s */
  double *tmp;   /* the method's scratch */
  double cut, dropped;
} chain;

static int chain_init(chain *c, const sdv_model *m, double lam, double x0, long start, double cut) {
  memset(c, 0, sizeof *c);
  c->m = m;
  c->lam = lam;
  c->x0 = x0;
  size_t scratch;
  int rc = m->method->lattice(m, &c->h, &c->n, &scratch);
  if (rc) return rc;
  c->cut = cut;
  c->cap = 64 + 8 * c->n;
  c->p = calloc(c->cap, sizeof *c->p);
  c->q = calloc(c->cap, sizeof *c->q);
  c->law = malloc((2 * c->n + 1) * sizeof *c->law);
  c->tmp = malloc((scratch ? scratch : 1) * sizeof *c->tmp);
  if (!c->p || !c->q || !c->law || !c->tmp)
    return SDV_ERROR(SDV_ENOMEM, "exact: lattice: out of memory (K = %zu)", c->n);
  c->lo = c->hi = c->cap / 2;
  c->base = start - (long)c->lo;
  c->p[c->lo] = 1.0;
  return SDV_OK;
}

static void chain_free(chain *c) {
  free(c->p);
  free(c->q);
  free(c->law);
  free(c->tmp);
}

/* Makes room for K cells on either side of the live range (re-centring or growing). */
static int chain_room(chain *c) {
  const size_t n = c->n;
  if (c->lo >= n && c->hi + n < c->cap) return SDV_OK;
  const size_t live = c->hi - c->lo + 1;
  size_t cap = c->cap;
  while (cap < 2 * live + 4 * n + 64) cap *= 2;
  double *p = calloc(cap, sizeof *p), *q = calloc(cap, sizeof *q);
  if (!p || !q) {
    free(p);
    free(q);
    return SDV_ERROR(SDV_ENOMEM, "exact: lattice: out of memory (%zu cells)", cap);
  }
  const size_t lo = (cap - live) / 2;
  memcpy(p + lo, c->p + c->lo, live * sizeof *p);
  c->base += (long)c->lo - (long)lo;
  free(c->p);
  free(c->q);
  c->p = p;
  c->q = q;
  c->cap = cap;
  c->lo = lo;
  c->hi = lo + live - 1;
  return SDV_OK;
}

static int chain_step(chain *c) {
  int rc = chain_room(c);
  if (rc) return rc;
  const size_t n = c->n, lo = c->lo - n, hi = c->hi + n;
  for (size_t i = lo; i <= hi; i++) c->q[i] = 0.0;
  for (size_t i = c->lo; i <= c->hi; i++) {
    const double pi = c->p[i];
    if (pi == 0.0) continue;
    const double x = c->x0 + c->h * (double)(c->base + (long)i);
    c->m->method->lattice_law(c->m, c->lam * x, c->law, c->tmp);
    /* Cell i moves to i - s, s = k - K for k = 0..2K. */
    for (size_t k = 0; k <= 2 * n; k++) c->q[i + n - k] += pi * c->law[k];
  }
  for (size_t i = c->lo; i <= c->hi; i++) c->p[i] = 0.0;
  double *sw = c->p;
  c->p = c->q;
  c->q = sw;
  c->lo = lo;
  c->hi = hi;
  /* Drop edge cells whose cumulated mass stays within the cut. */
  double acc = 0.0;
  while (c->lo < c->hi && acc + c->p[c->lo] <= c->cut) {
    acc += c->p[c->lo];
    c->p[c->lo++] = 0.0;
  }
  c->dropped += acc;
  acc = 0.0;
  while (c->hi > c->lo && acc + c->p[c->hi] <= c->cut) {
    acc += c->p[c->hi];
    c->p[c->hi--] = 0.0;
  }
  c->dropped += acc;
  return SDV_OK;
}

static void chain_moments(const chain *c, double *mass, double *m1, double *m2) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0;
  for (size_t i = c->lo; i <= c->hi; i++) {
    const double x = c->x0 + c->h * (double)(c->base + (long)i), p = c->p[i];
    s0 += p;
    s1 += p * x;
    s2 += p * x * x;
  }
  *mass = s0;
  *m1 = s1;
  *m2 = s2;
}

int sdv_exact_lattice_run(const sdv_model *m, double lam, double x0, const size_t *steps, size_t nt,
                          double *mean, double *second, double *mass, double *dropped,
                          const sdv_exact_options *opt) {
  chain c;
  int rc = chain_init(&c, m, lam, x0, 0, opt->lattice_cut);
  if (rc) goto done;
  size_t k = 0;
  double s0 = 1.0;
  for (size_t t = 0; t < nt; t++) {
    for (; k < steps[t]; k++)
      if ((rc = chain_step(&c))) goto done;
    double m1, m2;
    chain_moments(&c, &s0, &m1, &m2);
    mean[t] = m1;
    second[t] = m2;
  }
  if (mass) *mass = s0;
  if (dropped) *dropped = c.dropped;
done:
  chain_free(&c);
  return rc;
}

int sdv_exact_lattice_stationary(const sdv_model *m, double lam, double x0, double *mean,
                                 double *second, const sdv_exact_options *opt,
                                 sdv_exact_info *info) {
  double h;
  size_t K, scratch;
  int rc = m->method->lattice(m, &h, &K, &scratch);
  if (rc) return rc;
  long start = lround(-x0 / h);
  /* With N even every move is an even number of cells: stay in x0's class. */
  if (m->agents % 2 == 0 && (start % 2 + 2) % 2 != 0)
    start += fabs(x0 + h * (double)(start + 1)) < fabs(x0 + h * (double)(start - 1)) ? 1 : -1;
  chain c;
  rc = chain_init(&c, m, lam, x0, start, opt->lattice_cut);
  if (rc) goto done;
  enum { CHECK = 64 }; /* iterations between convergence checks */
  double mass, p1, p2, a1 = 0.0, a2 = 0.0, prev1 = NAN, prev2 = NAN, dprev = NAN;
  int good = 0;
  chain_moments(&c, &mass, &p1, &p2);
  size_t it;
  for (it = 1; it <= opt->max_iterations; it++) {
    if ((rc = chain_step(&c))) goto done;
    double c1, c2;
    chain_moments(&c, &mass, &c1, &c2);
    /* Two-step average: the stationary law even when the chain has period 2. */
    a1 = 0.5 * (p1 + c1) / mass;
    a2 = 0.5 * (p2 + c2) / mass;
    p1 = c1;
    p2 = c2;
    if (it % CHECK) continue;
    const double dcur = fabs(a2 - prev2) + fabs(a1 - prev1) * sqrt(a2);
    prev1 = a1;
    prev2 = a2;
    if (dcur == 0.0) break;
    if (isfinite(dprev) && dcur < dprev) {
      const double r = dcur / dprev;
      const double err = dcur * r / (1.0 - r);
      good = err <= opt->stationary_tol * a2 ? good + 1 : 0;
      if (good >= 2) break;
    } else {
      good = 0;
    }
    dprev = dcur;
  }
  if (it > opt->max_iterations) {
    rc = SDV_ERROR(SDV_ENUMERIC,
                   "exact: DSignSGD lattice stationary law not converged after %zu iterations "
                   "(lambda = %g, eta = %g); raise max_iterations",
                   opt->max_iterations, lam, m->eta);
    goto done;
  }
  *mean = a1;
  *second = a2;
  if (info) {
    info->iterations += it;
    info->truncated_mass += c.dropped;
  }
done:
  chain_free(&c);
  return rc;
}
