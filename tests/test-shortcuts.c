/* The exact shortcuts of the optimizers' step() against the literal per-agent simulation
 * (model option literal), and the faster stream primitives they rest on.
 *
 * A shortcut draws other numbers than the literal step, so the two are compared in law:
 *   - two-sample Kolmogorov-Smirnov on one-step updates: sqrt(n/2) D_n,n < 2.225 has
 *     false-failure rate 1e-4 per comparison (2 exp(-2 x^2));
 *   - two-sample chi-square on the sign sums of DSignSGD, at the 1 - 1e-4 quantile.
 * The file makes 14 such comparisons plus 3 one-sample goodness-of-fit tests of the binomial
 * sampler at 1e-4 each and one mean test at 7e-6: family-wise false-failure rate below 2e-3
 * (union bound). Seeds are
 * fixed. Where a shortcut consumes the same numbers as the literal step (rand-k subsets with
 * zero noise) the two are compared bit for bit. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sf_gamma.h>

#include <sdv/errors.h>
#include <sdv/model.h>
#include <sdv/noise.h>
#include <sdv/rng.h>

#include "core/work.h"
#include "noise/student_t.h"
#include "testutil.h"

#define KS_CRIT 2.225 /* sqrt(n/2) D for n = m: false-failure rate 1e-4 */

static sdv_model *model_from(const char *const *kv, int literal) {
  sdv_model_options o;
  sdv_test_model_options(&o, kv);
  ck_assert_int_eq(sdv_model_options_set(&o, "literal", literal ? "yes" : "no"), SDV_OK);
  sdv_model *m = sdv_test_model_alloc(&o);
  ck_assert(m->literal == (literal != 0));
  return m;
}

static sdv_work *work_for(const sdv_model *m) {
  sdv_work *w = NULL;
  ck_assert_msg(sdv_work_alloc(&w, m) == SDV_OK, "work: %s", sdv_last_error());
  return w;
}

/* n one-step updates from x, each on streams (seed, t, NOISE/COMPRESSOR, 0); returns the
 * n values of stat(U) for U = (x - x_next)/eta (malloc'd). stat < 0 means sum_j U_j. */
static double *one_steps(const sdv_model *m, const double *x, size_t n, uint64_t seed, int stat) {
  const size_t d = m->dim;
  sdv_work *w = work_for(m);
  double *out = malloc(n * sizeof *out), *y = malloc(d * sizeof *y);
  ck_assert(out && y);
  for (size_t t = 0; t < n; t++) {
    sdv_stream ns, cs;
    sdv_stream_init(&ns, seed, t, SDV_PURPOSE_NOISE, 0);
    sdv_stream_init(&cs, seed, t, SDV_PURPOSE_COMPRESSOR, 0);
    memcpy(y, x, d * sizeof *y);
    ck_assert_int_eq(sdv_model_step(m, w, y, &ns, &cs), SDV_OK);
    double v = 0.0;
    for (size_t j = 0; j < d; j++)
      if (stat < 0 || (size_t)stat == j) v += (x[j] - y[j]) / m->eta;
    out[t] = v;
  }
  free(y);
  sdv_work_free(w);
  return out;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* sqrt(n m / (n + m)) sup |F_a - F_b| for samples a[n], b[m] (sorted in place). */
static double ks2(double *a, size_t n, double *b, size_t m) {
  qsort(a, n, sizeof *a, cmp_double);
  qsort(b, m, sizeof *b, cmp_double);
  size_t i = 0, j = 0;
  double dmax = 0.0;
  while (i < n && j < m) {
    const double v = a[i] <= b[j] ? a[i] : b[j];
    while (i < n && a[i] == v) i++;
    while (j < m && b[j] == v) j++;
    dmax = fmax(dmax, fabs((double)i / (double)n - (double)j / (double)m));
  }
  return sqrt((double)n * (double)m / (double)(n + m)) * dmax;
}

/* Shortcut and literal models of the same spec: KS on coordinate `stat` (or the sum). */
static void compare_in_law(const char *const *kv, const double *x, size_t n, int stat,
                           const char *what) {
  sdv_model *fast = model_from(kv, 0), *slow = model_from(kv, 1);
  double *a = one_steps(fast, x, n, 2385, stat), *b = one_steps(slow, x, n, 4711, stat);
  const double ks = ks2(a, n, b, n);
  ck_assert_msg(ks < KS_CRIT, "%s, statistic %d: KS %g >= %g", what, stat, ks, KS_CRIT);
  free(a);
  free(b);
  sdv_model_free(fast);
  sdv_model_free(slow);
}

/* ---- streams ---- */

/* The ziggurat of Marsaglia & Tsang / Doornik as the opening comment of lib/core/rng.c
 * states it, with its table computed here from the recurrence: sdv's normals must be these
 * numbers bit for bit (which checks the written-out table and the fast paths). */
#define ZC 256
#define ZR 3.6541528853610088
static double zx[ZC + 1], zr[ZC], zf[ZC + 1];
static void ref_tables(void) {
  const double V = 4.92867323399e-3;
  double f = exp(-0.5 * ZR * ZR);
  zx[0] = V / f;
  zx[1] = ZR;
  zx[ZC] = 0.0;
  for (int i = 2; i < ZC; i++) {
    zx[i] = sqrt(-2.0 * log(V / zx[i - 1] + f));
    f = exp(-0.5 * zx[i] * zx[i]);
  }
  for (int i = 0; i < ZC; i++) zr[i] = zx[i + 1] / zx[i];
  for (int i = 0; i <= ZC; i++) zf[i] = exp(-0.5 * zx[i] * zx[i]);
}
static double ref_normal(sdv_stream *s) {
  for (;;) {
    const uint64_t w = sdv_stream_u64(s);
    const int i = (int)(w & 0xFF);
    const double u = 2.0 * (((double)(w >> 12) + 0.5) * 0x1p-52) - 1.0;
    if (fabs(u) < zr[i]) return u * zx[i];
    if (i == 0) {
      double a, b;
      do {
        a = log(sdv_stream_uniform(s)) / ZR;
        b = log(sdv_stream_uniform(s));
      } while (-2.0 * b < a * a);
      return u < 0 ? a - ZR : ZR - a;
    }
    /* The wedge: accept x if a height uniform between f(x_i) and f(x_{i+1}) is below f(x). */
    const double x = u * zx[i];
    if (zf[i] + sdv_stream_uniform(s) * (zf[i + 1] - zf[i]) < exp(-0.5 * x * x)) return x;
  }
}

START_TEST(test_normals_match_reference_ziggurat) {
  ref_tables();
  enum { N = 200000 };
  double *x = malloc(N * sizeof *x);
  ck_assert_ptr_nonnull(x);
  sdv_stream a, b, c;
  sdv_stream_init(&a, 7, 1, SDV_PURPOSE_BROWNIAN, 0);
  sdv_stream_init(&b, 7, 1, SDV_PURPOSE_BROWNIAN, 0);
  sdv_stream_init(&c, 7, 1, SDV_PURPOSE_BROWNIAN, 0);
  /* Uneven block lengths so that misses and refills fall everywhere in a block. */
  for (size_t i = 0, len = 1; i < N; i += len, len = len % 97 + 3)
    sdv_stream_normals(&a, x + i, i + len <= N ? len : N - i);
  for (size_t i = 0; i < N; i++) {
    const double r = ref_normal(&b);
    ck_assert_msg(x[i] == r, "draw %zu: %.17g != %.17g", i, x[i], r);
    ck_assert(sdv_stream_normal(&c) == r);
  }
  ck_assert_uint_eq(sdv_stream_u64(&a), sdv_stream_u64(&b)); /* same position after */
  free(x);
}
END_TEST

/* One-sample chi-square of n Binomial(N, p) draws against the pmf, at 1 - 1e-4. */
static void binomial_fit(size_t N, double p, size_t n, uint64_t seed) {
  size_t *count = calloc(N + 1, sizeof *count);
  ck_assert_ptr_nonnull(count);
  sdv_stream s;
  sdv_stream_init(&s, seed, 0, SDV_PURPOSE_SAMPLING, 0);
  for (size_t t = 0; t < n; t++) {
    const size_t k = sdv_stream_binomial(&s, N, p);
    ck_assert_uint_le(k, N);
    count[k]++;
  }
  /* Cells with expected count < 5 pooled into their neighbour. */
  double chi2 = 0.0, obs = 0.0, expct = 0.0;
  int cells = 0;
  for (size_t k = 0; k <= N; k++) {
    const double lp = gsl_sf_lnchoose((unsigned)N, (unsigned)k) + (double)k * log(p) +
                      (double)(N - k) * log1p(-p);
    obs += (double)count[k];
    expct += (double)n * exp(lp);
    if (expct >= 5.0 || k == N) {
      chi2 += (obs - expct) * (obs - expct) / fmax(expct, 1e-300);
      cells++;
      obs = expct = 0.0;
    }
  }
  const double crit = gsl_cdf_chisq_Qinv(1e-4, cells - 1);
  ck_assert_msg(chi2 < crit, "Binomial(%zu, %g): chi2 %g >= %g (%d cells)", N, p, chi2, crit,
                cells);
  free(count);
}

START_TEST(test_binomial) {
  binomial_fit(8, 0.2385, 100000, 1);  /* byte lanes */
  binomial_fit(8, 0.871, 100000, 2);   /* byte lanes, p > 1/2 */
  binomial_fit(300, 0.1234, 50000, 3); /* inversion, more than one chunk of 256 trials */
  /* The tie rule of the byte lanes: p = 100.9/256 is 0.9/256 above the byte grid, which a
   * rule that ignored the tie's second uniform would miss by 8 standard errors here; the
   * mean success rate must lie within 4.5 standard errors of p (false-failure rate 7e-6). */
  {
    const double p = 100.9 / 256.0;
    const size_t draws = 20000, n = 64;
    sdv_stream s;
    sdv_stream_init(&s, 4, 4, SDV_PURPOSE_SAMPLING, 0);
    double sum = 0.0;
    for (size_t t = 0; t < draws; t++) sum += (double)sdv_stream_binomial(&s, n, p);
    const double trials = (double)(draws * n), rate = sum / trials;
    const double se = sqrt(p * (1.0 - p) / trials);
    ck_assert_msg(fabs(rate - p) < 4.5 * se, "rate %.6f vs p %.6f (se %.2g)", rate, p, se);
  }
  sdv_stream s;
  sdv_stream_init(&s, 1, 2, SDV_PURPOSE_SAMPLING, 9);
  ck_assert_uint_eq(sdv_stream_binomial(&s, 8, 0.0), 0);
  ck_assert_uint_eq(sdv_stream_binomial(&s, 8, -0.5), 0);
  ck_assert_uint_eq(sdv_stream_binomial(&s, 8, NAN), 0);
  ck_assert_uint_eq(sdv_stream_binomial(&s, 8, 1.0), 8);
  ck_assert_uint_eq(sdv_stream_binomial(&s, 0, 0.5), 0);
}
END_TEST

/* The byte-lane rule of lib/core/rng.c written out plainly: trial i of a word is byte i (low
 * byte first); a byte below floor(256 p) succeeds, above fails, equal draws a uniform (in
 * trial order) compared with frac(256 p). sdv's vectorised byte comparison must give the
 * same counts and leave the stream at the same place, for every n <= 64 and for p on and
 * next to the byte grid (where ties are most frequent in effect). */
static size_t ref_binomial_lanes(sdv_stream *s, size_t n, double p) {
  const unsigned top = (unsigned)(256.0 * p);
  const double frac = 256.0 * p - (double)top;
  size_t k = 0;
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t w = sdv_stream_u64(s);
    for (size_t l = 0; l < 8 && i + l < n; l++) {
      const unsigned b = (unsigned)(w >> (8 * l)) & 0xFF;
      if (b < top) k++;
      if (b == top && sdv_stream_uniform(s) < frac) k++;
    }
  }
  return k;
}

START_TEST(test_binomial_lanes_match_rule) {
  const double ps[] = {1e-9, 1.0 / 256, 0.5 / 256,   0.2385,      100.0 / 256, 100.9 / 256,
                       0.5,  0.871,     255.0 / 256, 255.5 / 256, 1.0 - 1e-12};
  for (size_t q = 0; q < sizeof ps / sizeof *ps; q++)
    for (size_t n = 1; n <= 64; n++) {
      sdv_stream a, b;
      sdv_stream_init(&a, 11, n, SDV_PURPOSE_SAMPLING, (uint32_t)q);
      sdv_stream_init(&b, 11, n, SDV_PURPOSE_SAMPLING, (uint32_t)q);
      for (int t = 0; t < 300; t++)
        ck_assert_uint_eq(sdv_stream_binomial(&a, n, ps[q]), ref_binomial_lanes(&b, n, ps[q]));
      ck_assert_uint_eq(sdv_stream_u64(&a), sdv_stream_u64(&b));
    }
}
END_TEST

/* ---- the literal option ---- */

START_TEST(test_literal_option) {
  sdv_model_options o;
  sdv_model_options_default(&o);
  ck_assert(!o.literal);
  ck_assert_int_eq(sdv_model_options_set(&o, "literal", "1"), SDV_OK);
  ck_assert(o.literal);
  ck_assert_int_eq(sdv_model_options_set(&o, "literal", "no"), SDV_OK);
  ck_assert(!o.literal);
  ck_assert_int_eq(sdv_model_options_set(&o, "literal", "maybe"), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "literal = 'maybe'"));
  ck_assert_int_eq(sdv_model_options_set(&o, "literal", "yes"), SDV_OK);
  sdv_model *m = NULL;
  ck_assert_int_eq(sdv_model_alloc(&m, &o), SDV_OK);
  ck_assert_ptr_nonnull(strstr(m->description, " literal=yes"));
  sdv_model_free(m);
}
END_TEST

/* ---- DCSGD with rand-k ---- */

static const double X5[5] = {0.3, -1.2, 2.385, 0.7, -0.45};

/* Without noise both steps use only the compressor stream: the same subsets, the same bits,
 * and the same stream positions. */
static void same_subsets(const char *const *kv, const char *what) {
  sdv_model *fast = model_from(kv, 0), *slow = model_from(kv, 1);
  sdv_work *wf = work_for(fast), *ws = work_for(slow);
  ck_assert(wf->all_subsets);
  for (uint64_t t = 0; t < 200; t++) {
    double a[5], b[5];
    memcpy(a, X5, sizeof a);
    memcpy(b, X5, sizeof b);
    sdv_stream n1, c1, n2, c2;
    sdv_stream_init(&n1, 5, t, SDV_PURPOSE_NOISE, 0);
    sdv_stream_init(&c1, 5, t, SDV_PURPOSE_COMPRESSOR, 0);
    sdv_stream_init(&n2, 5, t, SDV_PURPOSE_NOISE, 0);
    sdv_stream_init(&c2, 5, t, SDV_PURPOSE_COMPRESSOR, 0);
    ck_assert_int_eq(sdv_model_step(fast, wf, a, &n1, &c1), SDV_OK);
    ck_assert_int_eq(sdv_model_step(slow, ws, b, &n2, &c2), SDV_OK);
    for (int j = 0; j < 5; j++)
      ck_assert_msg(a[j] == b[j], "%s: step %d coord %d", what, (int)t, j);
    ck_assert(c1.next == c2.next && c1.avail == c2.avail);
    /* The literal step draws d noise values per agent, the shortcut k. */
    ck_assert(n1.next < n2.next || (n1.next == n2.next && n1.avail > n2.avail));
  }
  sdv_work_free(wf);
  sdv_work_free(ws);
  sdv_model_free(fast);
  sdv_model_free(slow);
}

/* Mixed compressor types (rand-k for agent 1, identity and Bernoulli for the others) take no
 * sparsifier shortcut: the non-literal step is the literal one, bit for bit and stream for
 * stream (with noise, so a wrongly taken shortcut would also change the noise draws). */
START_TEST(test_mixed_compressors_no_shortcut) {
  const char *const kv[] = {"method", "dcsgd", "dim", "5", "agents", "3", "eta", "0.05",
                            "compressor", "rand-k:k=2;identity;bernoulli:p=0.5", "sigma", "0.7",
                            NULL};
  sdv_model *fast = model_from(kv, 0), *slow = model_from(kv, 1);
  sdv_work *wf = work_for(fast), *ws = work_for(slow);
  ck_assert(!wf->all_subsets);
  for (uint64_t t = 0; t < 50; t++) {
    double a[5], b[5];
    memcpy(a, X5, sizeof a);
    memcpy(b, X5, sizeof b);
    sdv_stream n1, c1, n2, c2;
    sdv_stream_init(&n1, 9, t, SDV_PURPOSE_NOISE, 0);
    sdv_stream_init(&c1, 9, t, SDV_PURPOSE_COMPRESSOR, 0);
    sdv_stream_init(&n2, 9, t, SDV_PURPOSE_NOISE, 0);
    sdv_stream_init(&c2, 9, t, SDV_PURPOSE_COMPRESSOR, 0);
    ck_assert_int_eq(sdv_model_step(fast, wf, a, &n1, &c1), SDV_OK);
    ck_assert_int_eq(sdv_model_step(slow, ws, b, &n2, &c2), SDV_OK);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    ck_assert(n1.next == n2.next && n1.avail == n2.avail);
    ck_assert(c1.next == c2.next && c1.avail == c2.avail);
  }
  sdv_work_free(wf);
  sdv_work_free(ws);
  sdv_model_free(fast);
  sdv_model_free(slow);
}
END_TEST

START_TEST(test_rand_k_same_subsets) {
  /* N = 3 (the update divides by N), N = 4 and N = 1 (powers of two: the update multiplies
   * by the exact 1/N), and Student-t agents (the per-agent path instead of the batched
   * Gaussian one). */
  const char *const kv[] = {"method",     "dcsgd",
                            "dim",        "5",
                            "agents",     "3",
                            "eta",        "0.0375",
                            "objective",  "quadratic:lam=0.5,1.3,2.1,0.8,1.7",
                            "sigma",      "0",
                            "compressor", "rand-k:k=2;rand-k:k=3;rand-k:k=1",
                            NULL};
  same_subsets(kv, "N = 3");
  const char *const kv4[] = {"method",     "dcsgd",
                             "dim",        "5",
                             "agents",     "4",
                             "eta",        "0.0375",
                             "objective",  "quadratic:lam=0.5,1.3,2.1,0.8,1.7",
                             "sigma",      "0",
                             "compressor", "rand-k:k=2;rand-k:k=3;rand-k:k=1;rand-k:k=5",
                             NULL};
  same_subsets(kv4, "N = 4");
  const char *const kv1[] = {
      "method", "dcsgd", "dim",        "5",          "agents",
      "1",      "eta",   "0.0375",     "objective",  "quadratic:lam=0.5,1.3,2.1,0.8,1.7",
      "sigma",  "0",     "compressor", "rand-k:k=3", NULL};
  same_subsets(kv1, "N = 1");
  const char *const kvt[] = {"method",     "dcsgd",
                             "dim",        "5",
                             "agents",     "2",
                             "eta",        "0.0375",
                             "objective",  "quadratic:lam=0.5,1.3,2.1,0.8,1.7",
                             "noise",      "student-t:nu=5",
                             "sigma",      "0",
                             "compressor", "rand-k:k=2;rand-k:k=4",
                             NULL};
  same_subsets(kvt, "student-t N = 2");
}
END_TEST

START_TEST(test_rand_k_same_law) {
  const char *const kv[] = {"method",     "dcsgd",
                            "dim",        "5",
                            "agents",     "3",
                            "eta",        "0.0375",
                            "objective",  "quadratic:lam=0.5,1.3,2.1,0.8,1.7",
                            "noise",      "gaussian;student-t:nu=5;gaussian",
                            "sigma",      "1.3,0.7,2.385",
                            "batch",      "2",
                            "compressor", "rand-k:k=2;rand-k:k=3;rand-k:k=1",
                            NULL};
  compare_in_law(kv, X5, 20000, 0, "dcsgd rand-k");
  compare_in_law(kv, X5, 20000, 2, "dcsgd rand-k");
  compare_in_law(kv, X5, 20000, -1, "dcsgd rand-k");
}
END_TEST

/* ---- DSGD with Gaussian agents ---- */

START_TEST(test_dsgd_gaussian_same_law) {
  const char *const kv[] = {"method",    "dsgd",
                            "dim",       "5",
                            "agents",    "4",
                            "eta",       "0.0375",
                            "objective", "quadratic:lam=0.5,1.3,2.1,0.8,1.7",
                            "sigma",     "1.3,0.7,2.385,0",
                            "batch",     "3",
                            NULL};
  compare_in_law(kv, X5, 20000, 1, "dsgd gaussian");
  compare_in_law(kv, X5, 20000, -1, "dsgd gaussian");
}
END_TEST

/* ---- DSignSGD with equal agents ---- */

/* Two-sample chi-square on the sign sums N U_j (integers -N..N in steps of 2). */
static void sign_sums_same_law(const char *const *kv, const double *x, size_t j, size_t n) {
  sdv_model *fast = model_from(kv, 0), *slow = model_from(kv, 1);
  const size_t N = fast->agents;
  double *a = one_steps(fast, x, n, 11, (int)j), *b = one_steps(slow, x, n, 12, (int)j);
  size_t *ca = calloc(N + 1, sizeof *ca), *cb = calloc(N + 1, sizeof *cb);
  ck_assert(ca && cb);
  for (size_t t = 0; t < n; t++) {
    const double sa = a[t] * (double)N, sb = b[t] * (double)N;
    const long ka = lround((sa + (double)N) / 2.0), kb = lround((sb + (double)N) / 2.0);
    ck_assert(ka >= 0 && (size_t)ka <= N && kb >= 0 && (size_t)kb <= N);
    ck_assert(fabs(sa - (2.0 * (double)ka - (double)N)) < 1e-9);
    ca[ka]++;
    cb[kb]++;
  }
  double chi2 = 0.0;
  int cells = 0;
  for (size_t k = 0; k <= N; k++) {
    if (ca[k] + cb[k] == 0) continue;
    const double e = 0.5 * (double)(ca[k] + cb[k]); /* equal sample sizes */
    chi2 += ((double)ca[k] - e) * ((double)ca[k] - e) / e +
            ((double)cb[k] - e) * ((double)cb[k] - e) / e;
    cells++;
  }
  const double crit = gsl_cdf_chisq_Qinv(1e-4, cells - 1);
  ck_assert_msg(chi2 < crit, "dsignsgd coord %zu: chi2 %g >= %g", j, chi2, crit);
  free(a);
  free(b);
  free(ca);
  free(cb);
  sdv_model_free(fast);
  sdv_model_free(slow);
}

START_TEST(test_dsignsgd_binomial_same_law) {
  /* y_j = lam_j x_j / sigma covers the centre (0.19), the shoulder and the tail. */
  const char *const t3[] = {"method",    "dsignsgd",
                            "dim",       "5",
                            "agents",    "8",
                            "eta",       "0.0375",
                            "objective", "quadratic:lam=0.5,1.3,2.1,0.8,1.7",
                            "noise",     "student-t:nu=3",
                            "sigma",     "0.8",
                            NULL};
  const char *const gs[] = {
      "method", "dsignsgd", "dim",    "5",         "agents",
      "5",      "eta",      "0.0375", "objective", "quadratic:lam=0.5,1.3,2.1,0.8,1.7",
      "noise",  "gaussian", "sigma",  "2.385",     "batch",
      "3",      NULL};
  sign_sums_same_law(t3, X5, 0, 20000);
  sign_sums_same_law(t3, X5, 1, 20000);
  sign_sums_same_law(t3, X5, 2, 20000);
  sign_sums_same_law(gs, X5, 1, 20000);
  sign_sums_same_law(gs, X5, 4, 20000);
}
END_TEST

/* The equal-agents step (lib/optimizer/dsignsgd.c, its loops cloned for AVX2) against the
 * same step written out with the same draws, bit for bit, along 30 steps: y = g / scale,
 * q = (1 - |m(y)|)/2 from the law, B_j ~ Binomial(N, q_j) in coordinate order from the noise
 * stream, x_j -= eta (sign(y_j)(N - 2 B_j) / N). N = 5 and 8, d = 7 (a vector tail). */
START_TEST(test_dsignsgd_binomial_step_by_hand) {
  const char *agents = _i ? "8" : "5";
  const char *const kv[] = {"method", "dsignsgd", "dim",    "7",         "agents",
                            agents,   "eta",      "0.0375", "objective", "quadratic:lam=0.5..2",
                            "noise",  "gaussian", "sigma",  "1.3",       NULL};
  sdv_model *m = model_from(kv, 0);
  sdv_work *w = work_for(m);
  const size_t d = 7, n = m->agents;
  double x[7] = {0.9, 0.6, 0.3, 0.0, -0.3, -0.6, -0.9}, y[7], g[7]; /* g_3 = 0: sign +1 */
  memcpy(y, x, sizeof x);
  sdv_stream s, t, comp;
  sdv_stream_init(&s, 5, 2, SDV_PURPOSE_NOISE, 0);
  sdv_stream_init(&comp, 5, 2, SDV_PURPOSE_COMPRESSOR, 0);
  t = s;
  for (int k = 0; k < 30; k++) {
    ck_assert_int_eq(sdv_model_step(m, w, x, &s, &comp), SDV_OK);
    sdv_objective_gradient(m->objective, y, g);
    const double inv = 1.0 / m->scale[0];
    for (size_t j = 0; j < d; j++) {
      const double yj = g[j] * inv;
      const double q = 0.5 * m->noise[0]->type->sign_tail(m->noise[0]->state, yj);
      const double b = (double)sdv_stream_binomial(&t, n, q);
      const double a = (yj < 0.0 ? -1.0 : 1.0) * ((double)n - 2.0 * b);
      y[j] -= m->eta * (a / (double)n);
    }
    for (size_t j = 0; j < d; j++)
      ck_assert_msg(memcmp(&x[j], &y[j], sizeof x[j]) == 0,
                    "N = %zu, step %d: x[%zu] %.17g != %.17g", n, k, j, x[j], y[j]);
  }
  ck_assert_uint_eq(sdv_stream_u64(&s), sdv_stream_u64(&t)); /* same draws consumed */
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_dsignsgd_unequal_agents_stay_literal) {
  /* Different scales: no shortcut, so a default model reproduces the literal one bitwise. */
  const char *const kv[] = {"method",    "dsignsgd",
                            "dim",       "5",
                            "agents",    "3",
                            "eta",       "0.0375",
                            "objective", "quadratic:lam=0.5,1.3,2.1,0.8,1.7",
                            "noise",     "student-t:nu=3",
                            "sigma",     "0.8,0.8,0.9",
                            NULL};
  sdv_model *fast = model_from(kv, 0), *slow = model_from(kv, 1);
  sdv_work *w = work_for(fast);
  ck_assert(!w->same_law);
  double *a = one_steps(fast, X5, 50, 3, -1), *b = one_steps(slow, X5, 50, 3, -1);
  for (int t = 0; t < 50; t++) ck_assert(a[t] == b[t]);
  free(a);
  free(b);
  sdv_work_free(w);
  sdv_model_free(fast);
  sdv_model_free(slow);
}
END_TEST

/* The equal-agent drift and diffusion (one law evaluation, memoised between them) against
 * the type's own functions, and the memo against a fresh evaluation. */
START_TEST(test_dsignsgd_equal_agents_sde) {
  const char *const kv[] = {"method",    "dsignsgd",
                            "dim",       "5",
                            "agents",    "4",
                            "eta",       "0.0375",
                            "objective", "quadratic:lam=0.5,1.3,2.1,0.8,1.7",
                            "noise",     "student-t:nu=3",
                            "sigma",     "0.8",
                            NULL};
  sdv_model *m = model_from(kv, 0);
  sdv_work *w = work_for(m), *w2 = work_for(m);
  ck_assert(w->same_law);
  const double lam[5] = {0.5, 1.3, 2.1, 0.8, 1.7};
  const double xs[3][5] = {
      {0.3, -1.2, 2.385, 0.7, -0.45}, {1e-9, -30.0, 1.0, 1.732, 0.0}, {-0.02, 4.0, -2.0, 1e3, 0.5}};
  for (int r = 0; r < 3; r++) {
    double b[5];
    sdv_diffusion *D = NULL, *D2 = NULL;
    sdv_model_drift(m, w, xs[r], b);
    ck_assert_int_eq(sdv_model_diffusion(m, w, xs[r], &D), SDV_OK);   /* from the memo */
    ck_assert_int_eq(sdv_model_diffusion(m, w2, xs[r], &D2), SDV_OK); /* computed */
    ck_assert_int_eq(D->structure, SDV_DIFFUSION_DIAGONAL);
    for (int j = 0; j < 5; j++) {
      const double y = lam[j] * xs[r][j] / 0.8;
      const double mj = sdv_noise_sign_mean(m->noise[0], y);
      const double vj = sdv_noise_sign_var(m->noise[0], y) / 4.0;
      ck_assert_msg(fabs(b[j] + mj) <= 4e-16 * fabs(mj), "b[%d] = %.17g, -m = %.17g", j, b[j], -mj);
      ck_assert_msg(fabs(D->diag[j] - vj) <= 2e-15 * vj, "D[%d] = %.17g, want %.17g", j, D->diag[j],
                    vj);
      ck_assert(D->diag[j] == D2->diag[j]);
    }
  }
  sdv_work_free(w);
  sdv_work_free(w2);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_student_t_pair_accuracy) {
  sdv_noise *t3 = NULL, *t5 = NULL, *g = NULL;
  ck_assert_int_eq(sdv_noise_alloc(&t3, "student-t:nu=3"), SDV_OK);
  ck_assert_int_eq(sdv_noise_alloc(&t5, "student-t:nu=5"), SDV_OK);
  ck_assert_int_eq(sdv_noise_alloc(&g, "gaussian"), SDV_OK);
  double m, t, y1 = 1.0;
  ck_assert(!sdv_student_t_sign_pair(t5, 1.0, &m, &t));
  ck_assert(!sdv_student_t_sign_pair(g, 1.0, &m, &t));
  ck_assert(!sdv_student_t_sign_pair(t3, INFINITY, &m, &t));
  ck_assert(!sdv_student_t_sign_pairs(t5, &y1, 1, &m, &t));
  ck_assert(!sdv_student_t_sign_pairs(g, &y1, 1, &m, &t));
  /* Against the type's separately computed m and 1 - |m| (libm atan, an independent route)
   * over 600 decades: each is within 1.1e-15 of the truth (test below, docs/math/noise.md),
   * so 2e-15 apart at most; where 1 - |m| is subnormal (|y| > 1e102) only absolutely, to a
   * few units of 2^-1074. */
  for (double ay = 1e-300; ay < 1e300; ay *= 1.37) {
    for (int sgn = -1; sgn <= 1; sgn += 2) {
      const double y = sgn * ay;
      ck_assert(sdv_student_t_sign_pair(t3, y, &m, &t));
      const double m0 = sdv_noise_sign_mean(t3, y), t0 = t3->type->sign_tail(t3->state, y);
      ck_assert_msg(fabs(m - m0) <= 2e-15 * fabs(m0), "m(%g) = %.17g vs %.17g", y, m, m0);
      ck_assert_msg(fabs(t - t0) <= 2e-15 * t0 + 0x1p-1070, "t(%g) = %.17g vs %.17g", y, t, t0);
    }
  }
  ck_assert(sdv_student_t_sign_pair(t3, 0.0, &m, &t) && m == 0.0 && t == 1.0);
  sdv_noise_free(t3);
  sdv_noise_free(t5);
  sdv_noise_free(g);
}
END_TEST

/* Reference |m| and 1 - |m| for nu = 3 in long double (64-bit significand, ~1e-19): with
 * s = |y|/sqrt3 and r = min(s, 1/s), (2/pi)(atan r + r/(1+r^2)) on the near side and
 * (2/pi)(atan r - r/(1+r^2)) on the far side, the latter by its series
 * sum_k (-1)^(k+1) (2k/(2k+1)) r^(2k+1) below r = 1/4, where the difference would cancel
 * (about 40 terms reach 1e-48). */
static void nu3_reference(double ay, long double *mabs, long double *tail) {
  const long double s = (long double)ay / sqrtl(3.0L), two_pi = 0.5L / atanl(1.0L);
  const int far = s > 1.0L;
  const long double r = far ? 1.0L / s : s, r2 = r * r, sc = r / (1.0L + r2);
  if (!far) {
    *mabs = two_pi * (atanl(r) + sc);
    *tail = 1.0L - *mabs;
    return;
  }
  long double g = 0.0L;
  if (r < 0.25L) {
    long double power = r;
    for (int k = 1; k <= 40; k++) {
      power *= -r2;
      g -= (2.0L * k / (2.0L * k + 1.0L)) * power;
    }
  } else {
    g = atanl(r) - sc;
  }
  *tail = two_pi * g;
  *mabs = 1.0L - *tail;
}

/* The kernel's accuracy, as docs/math/noise.md and lib/noise/student_t.c state it: measured
 * on 1e7 points (log-uniform in |y| on [1e-30, 1e30] and on [0.1, 10]) the relative error is
 * <= 5.8e-16 for m and <= 1.1e-15 for 1 - |m|. Here 2e5 points of the same two ranges (a
 * fixed xorshift sequence) against 8e-16 and 1.5e-15. */
START_TEST(test_student_t_pair_vs_long_double) {
  sdv_noise *t3 = NULL;
  ck_assert_int_eq(sdv_noise_alloc(&t3, "student-t:nu=3"), SDV_OK);
  uint64_t x = UINT64_C(0x9E3779B97F4A7C15);
  double worst_m = 0.0, worst_t = 0.0;
  for (int i = 0; i < 200000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const double u = (double)(x >> 11) * 0x1p-53;
    const double ay = i % 2 ? pow(10.0, -30.0 + 60.0 * u) : pow(10.0, -1.0 + 2.0 * u);
    double m, t;
    long double mr, tr;
    ck_assert(sdv_student_t_sign_pair(t3, -ay, &m, &t));
    nu3_reference(ay, &mr, &tr);
    const double em = (double)fabsl((-(long double)m - mr) / mr);
    const double et = (double)fabsl(((long double)t - tr) / tr);
    worst_m = fmax(worst_m, em);
    worst_t = fmax(worst_t, et);
    ck_assert_msg(em <= 8e-16, "m(%.17g): relative error %g", -ay, em);
    ck_assert_msg(et <= 1.5e-15, "t(%.17g): relative error %g", -ay, et);
  }
  ck_assert(worst_m > 0.0 && worst_t > 0.0); /* the reference is finer than double */
  sdv_noise_free(t3);
}
END_TEST

/* The batch call gives the scalar call's bits for every y (whichever clone the CPU runs:
 * on an AVX2 machine the vectorised AVX2 build against the scalar SSE2 code), with the edge
 * cases: +-0, the switch at |y| = sqrt3 and its neighbours, |m| = 1/2 (y = 0.7648), subnormal
 * and huge y, +-inf (-> +-1 and 0) and NaN (-> NaN), at every offset of a vector. */
START_TEST(test_student_t_pairs_match_scalar) {
  sdv_noise *t3 = NULL;
  ck_assert_int_eq(sdv_noise_alloc(&t3, "student-t:nu=3"), SDV_OK);
  enum { NB = 4099 };
  static double y[NB], m[NB], t[NB];
  const double sqrt3 = 1.7320508075688772935;
  const double special[] = {0.0,
                            -0.0,
                            sqrt3,
                            nextafter(sqrt3, 0.0),
                            nextafter(sqrt3, 4.0),
                            -sqrt3,
                            0.76484,
                            0.7648,
                            0x1p-1074,
                            -1e-310,
                            1e-300,
                            1e150,
                            -1e300,
                            1.0,
                            -2.385,
                            INFINITY,
                            -INFINITY,
                            NAN};
  const size_t ns = sizeof special / sizeof *special;
  uint64_t x = UINT64_C(0xD1B54A32D192ED03);
  for (size_t j = 0; j < NB; j++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const double u = (double)(x >> 11) * 0x1p-53;
    y[j] = j < ns ? special[j] : (x >> 63 ? -1.0 : 1.0) * pow(10.0, -8.0 + 16.0 * u);
    if (j >= 3 * ns && j < 4 * ns) y[j] = special[j - 3 * ns]; /* another vector offset */
  }
  ck_assert(sdv_student_t_sign_pairs(t3, y, NB, m, t));
  for (size_t j = 0; j < NB; j++) {
    double ms, ts;
    if (isnan(y[j])) {
      ck_assert(isnan(m[j]) && isnan(t[j]));
    } else if (isinf(y[j])) {
      ck_assert(m[j] == copysign(1.0, y[j]) && t[j] == 0.0);
    } else {
      ck_assert(sdv_student_t_sign_pair(t3, y[j], &ms, &ts));
      ck_assert_msg(memcmp(&ms, &m[j], sizeof ms) == 0 && memcmp(&ts, &t[j], sizeof ts) == 0,
                    "y = %.17g: batch (%a, %a), scalar (%a, %a)", y[j], m[j], t[j], ms, ts);
    }
  }
  /* Any n, including 0 (nothing written) and 1. */
  m[0] = -7.0;
  ck_assert(sdv_student_t_sign_pairs(t3, y, 0, m, t) && m[0] == -7.0);
  ck_assert(sdv_student_t_sign_pairs(t3, y + 5, 1, m, t));
  ck_assert(sdv_student_t_sign_pair(t3, y[5], &y[0], &y[1]) && m[0] == y[0] && t[0] == y[1]);
  sdv_noise_free(t3);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("shortcuts");
  TCase *rng = tcase_create("streams");
  tcase_add_test(rng, test_normals_match_reference_ziggurat);
  tcase_add_test(rng, test_binomial);
  tcase_add_test(rng, test_binomial_lanes_match_rule);
  tcase_set_timeout(rng, 20);
  suite_add_tcase(s, rng);
  TCase *opt = tcase_create("option");
  tcase_add_test(opt, test_literal_option);
  suite_add_tcase(s, opt);
  TCase *rk = tcase_create("dcsgd-rand-k");
  tcase_add_test(rk, test_rand_k_same_subsets);
  tcase_add_test(rk, test_mixed_compressors_no_shortcut);
  tcase_add_test(rk, test_rand_k_same_law);
  tcase_set_timeout(rk, 30);
  suite_add_tcase(s, rk);
  TCase *ds = tcase_create("dsgd-gaussian");
  tcase_add_test(ds, test_dsgd_gaussian_same_law);
  tcase_set_timeout(ds, 30);
  suite_add_tcase(s, ds);
  TCase *sg = tcase_create("dsignsgd-binomial");
  tcase_add_test(sg, test_dsignsgd_binomial_same_law);
  tcase_add_loop_test(sg, test_dsignsgd_binomial_step_by_hand, 0, 2);
  tcase_add_test(sg, test_dsignsgd_unequal_agents_stay_literal);
  tcase_set_timeout(sg, 30);
  suite_add_tcase(s, sg);
  TCase *sde = tcase_create("dsignsgd-equal-agents-sde");
  tcase_add_test(sde, test_dsignsgd_equal_agents_sde);
  tcase_add_test(sde, test_student_t_pair_accuracy);
  tcase_add_test(sde, test_student_t_pair_vs_long_double);
  tcase_add_test(sde, test_student_t_pairs_match_scalar);
  tcase_set_timeout(sde, 20);
  suite_add_tcase(s, sde);
  return s;
}

int main(void) { return sdv_test_run(suite()); }
