/* Quick tests of the Monte Carlo engine (lib/mc): agreement with the closed-form moments of
 * theory §6.1-6.2 (discrete and SDE), the same bits for any thread count and any split into
 * block ranges (also through pack/unpack), non-finite counting, the heavy-tail flag, cancellation
 * and progress, the resource guard and invalid options.
 *
 * Statistical tolerance: every Monte Carlo mean is compared with its closed form within
 * K = 5 of its own standard errors (normal approximation; two-sided false-failure
 * probability 5.7e-7 per comparison). The closed-form TCase makes 270 comparisons, so the
 * family-wise false-failure rate is below 2e-4 (union bound). For the SDE the integrator's
 * own bias (Richardson, known exactly on these linear moment equations) is first asserted
 * to be below 0.5 standard errors, so it cannot use up the tolerance. The heavy-tail flag
 * tests rely on the rule's separation at n = 10^4: the statistic's 0.1% quantile is about 13
 * for Cauchy iterates and its 99% quantile below 2 for Gaussian ones, against tail_c = 5
 * (slow-mc.c measures both rates over many seeds). Seeds are fixed. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/mc.h>

#include "testutil.h"

#define K_SE 5.0

static sdv_mc_result *run(const sdv_model *m, const sdv_process_options *po, const size_t *steps,
                          size_t nt, const sdv_observable *obs, size_t no,
                          const sdv_mc_options *o) {
  sdv_mc_result *r = NULL;
  ck_assert_msg(sdv_mc_run(&r, m, po, steps, nt, obs, no, o) == SDV_OK, "run: %s",
                sdv_last_error());
  ck_assert(sdv_mc_result_complete(r));
  return r;
}

static sdv_mc_summary get(const sdv_mc_result *r, size_t t, size_t o) {
  sdv_mc_summary s;
  ck_assert_int_eq(sdv_mc_result_get(r, t, o, &s), SDV_OK);
  return s;
}

/* ================= closed forms (theory §6.1, §6.2) ================= */

typedef struct lin_case {
  const char *name, *method, *compressor, *lam, *x0text;
  size_t d, N;
  double omega, sigma, eta;
  double lam_v[3], x0[3];
} lin_case;

/* x_0 x_1 for the cross moment of rand-k. */
static double prod01(void *user, size_t d, const double *x) { return x[0] * x[1]; }

/* EM (step h, n steps) of E X_j, E X_j^2 and E X_0 X_1 for DCSGD/DSGD on a diagonal
 * quadratic: linear recursions, exact. beta = rank-1 coefficient (rand-k). */
static void em_exact(const lin_case *c, double beta, double h, size_t n, double *m1, double *m2,
                     double *p01) {
  const double N = (double)c->N, s2 = c->sigma * c->sigma;
  for (size_t j = 0; j < c->d; j++) {
    const double l = c->lam_v[j];
    double a = c->x0[j], s = a * a;
    for (size_t k = 0; k < n; k++) {
      a *= 1 - l * h;
      s = ((1 - l * h) * (1 - l * h) + h * c->eta * c->omega * l * l / N) * s +
          h * c->eta * (s2 + c->omega * s2) / N;
    }
    m1[j] = a;
    m2[j] = s;
  }
  const double l0 = c->lam_v[0], l1 = c->lam_v[1];
  *p01 = c->x0[0] * c->x0[1] *
         pow((1 - l0 * h) * (1 - l1 * h) - h * c->eta * beta * l0 * l1, (double)n);
}

static void check_case(const lin_case *c, uint64_t seed) {
  char seedtext[32];
  snprintf(seedtext, sizeof seedtext, "%llu", (unsigned long long)seed);
  char dtext[8], ntext[8], etatext[32], sigtext[32];
  snprintf(dtext, sizeof dtext, "%zu", c->d);
  snprintf(ntext, sizeof ntext, "%zu", c->N);
  snprintf(etatext, sizeof etatext, "%.17g", c->eta);
  snprintf(sigtext, sizeof sigtext, "%.17g", c->sigma);
  const char *const kv[] = {"method",  c->method, "dim",        dtext,         "agents",
                            ntext,     "eta",     etatext,      "objective",   c->lam,
                            "sigma",   sigtext,   "compressor", c->compressor, "x0",
                            c->x0text, "seed",    seedtext,     NULL};
  sdv_model *m = sdv_test_model(kv);
  const bool randk = strncmp(c->compressor, "rand-k", 6) == 0;
  const double N = (double)c->N, s2 = c->sigma * c->sigma, eta = c->eta;
  const double beta = randk ? c->omega / (N * ((double)c->d - 1)) : 0.0;
  sdv_observable obs[7];
  size_t no = 0;
  for (size_t j = 0; j < c->d; j++) {
    obs[no++] = (sdv_observable){.kind = SDV_OBS_X, .index = j};
    obs[no++] = (sdv_observable){.kind = SDV_OBS_X2, .index = j};
  }
  if (randk) obs[no++] = (sdv_observable){.kind = SDV_OBS_USER, .fn = prod01, .label = "x0x1"};
  const size_t steps[4] = {0, 4, 12, 25};
  sdv_mc_options o;
  sdv_mc_options_default(&o);
  o.paths = 4000;
  o.threads = 2;
  for (int kind = 0; kind < 2; kind++) {
    sdv_process_options po;
    sdv_process_options_default(&po);
    po.kind = (sdv_process_kind)kind;
    po.integrator = sdv_integrator_richardson;
    po.substeps = 4;
    sdv_mc_result *r = run(m, &po, steps, 4, obs, no, &o);
    for (size_t t = 1; t < 4; t++) {
      const double k = (double)steps[t], time = k * eta;
      double e1[3], e2[3], e01, re1[3], re2[3], re01, f1[3], f2[3], f01;
      const double h = eta / 4.0;
      em_exact(c, beta, h, steps[t] * 4, re1, re2, &re01);
      em_exact(c, beta, h / 2, steps[t] * 8, f1, f2, &f01);
      for (size_t j = 0; j < c->d; j++) {
        const double l = c->lam_v[j], x0 = c->x0[j];
        if (kind == 0) { /* discrete recursion */
          const double rho = (1 - eta * l) * (1 - eta * l) + eta * eta * c->omega * l * l / N;
          const double q = eta * eta * (s2 + c->omega * s2) / N;
          e1[j] = pow(1 - eta * l, k) * x0;
          e2[j] = pow(rho, k) * x0 * x0 + q * (1 - pow(rho, k)) / (1 - rho);
        } else { /* SDE moment ODE */
          const double a = 2 * l - eta * c->omega * l * l / N, cc = eta * (s2 + c->omega * s2) / N;
          e1[j] = exp(-l * time) * x0;
          e2[j] = x0 * x0 * exp(-a * time) + cc / a * (1 - exp(-a * time));
        }
      }
      const double l0 = c->lam_v[0], l1 = c->lam_v[1];
      e01 = kind == 0 ? c->x0[0] * c->x0[1] *
                            pow((1 - eta * l0) * (1 - eta * l1) - eta * eta * beta * l0 * l1, k)
                      : c->x0[0] * c->x0[1] * exp(-(l0 + l1 + eta * beta * l0 * l1) * time);
      for (size_t i = 0; i < no; i++) {
        const sdv_mc_summary s = get(r, t, i);
        const size_t j = obs[i].index;
        double exact, bias = 0.0;
        if (obs[i].kind == SDV_OBS_X) {
          exact = e1[j];
          bias = 2 * f1[j] - re1[j] - e1[j];
        } else if (obs[i].kind == SDV_OBS_X2) {
          exact = e2[j];
          bias = 2 * f2[j] - re2[j] - e2[j];
        } else {
          exact = e01;
          bias = 2 * f01 - re01 - e01;
        }
        ck_assert_uint_eq(s.n, o.paths);
        ck_assert_uint_eq(s.nonfinite, 0);
        if (kind == 1)
          ck_assert_msg(fabs(bias) <= 0.5 * s.se, "%s: integrator bias %.3g vs se %.3g", c->name,
                        bias, s.se);
        ck_assert_msg(fabs(s.mean - exact) <= K_SE * s.se,
                      "%s seed %llu %s t=%zu obs %zu: MC %.6g +- %.2g, exact %.6g", c->name,
                      (unsigned long long)seed, kind ? "SDE" : "discrete", steps[t], i, s.mean,
                      s.se, exact);
        ck_assert(!s.unstable);
      }
    }
    /* Time 0 observes x0 on every path: exact, zero variance. */
    ck_assert(get(r, 0, 0).mean == c->x0[0] && get(r, 0, 0).var == 0.0);
    sdv_mc_result_free(r);
  }
  sdv_model_free(m);
}

static const lin_case CASES[] = {
    {"dsgd",
     "dsgd",
     "identity",
     "quadratic:lam=0.8,1.9",
     "2.385,-1.1",
     2,
     2,
     0.0,
     0.7,
     0.1,
     {0.8, 1.9},
     {2.385, -1.1}},
    {"dcsgd-bernoulli",
     "dcsgd",
     "bernoulli:p=0.6",
     "quadratic:lam=0.8,1.9",
     "2.385,-1.1",
     2,
     2,
     1.0 / 0.6 - 1.0,
     0.7,
     0.1,
     {0.8, 1.9},
     {2.385, -1.1}},
    {"dcsgd-rand-k",
     "dcsgd",
     "rand-k:k=2",
     "quadratic:lam=0.8,1.9,1.3",
     "2.385,-1.1,0.6",
     3,
     2,
     0.5,
     0.7,
     0.1,
     {0.8, 1.9, 1.3},
     {2.385, -1.1, 0.6}},
};

START_TEST(test_closed_forms) {
  static const uint64_t seeds[3] = {11, 1234567, 987654321};
  for (int s = 0; s < 3; s++) check_case(&CASES[_i], seeds[s]);
}
END_TEST

/* ================= reproducibility ================= */

/* Bitwise equality of two summaries, field by field (the struct has padding). */
static bool same_summary(const sdv_mc_summary *x, const sdv_mc_summary *y) {
  const double a[7] = {x->mean, x->se, x->var, x->mom, x->maxabs, x->tail_stat, 0.0};
  const double b[7] = {y->mean, y->se, y->var, y->mom, y->maxabs, y->tail_stat, 0.0};
  return x->n == y->n && x->nonfinite == y->nonfinite && x->unstable == y->unstable &&
         memcmp(a, b, sizeof a) == 0;
}

static void assert_same(const sdv_mc_result *a, const sdv_mc_result *b) {
  const size_t nt = sdv_mc_result_times(a), no = sdv_mc_result_observables(a);
  const size_t G = sdv_mc_result_groups(a);
  ck_assert_uint_eq(nt, sdv_mc_result_times(b));
  ck_assert_uint_eq(G, sdv_mc_result_groups(b));
  for (size_t t = 0; t < nt; t++)
    for (size_t o = 0; o < no; o++) {
      const sdv_mc_summary x = get(a, t, o), y = get(b, t, o);
      ck_assert(same_summary(&x, &y));
      ck_assert(memcmp(sdv_mc_result_acc(a, t, o), sdv_mc_result_acc(b, t, o), sizeof(sdv_acc)) ==
                0);
      ck_assert(memcmp(sdv_mc_result_group_accs(a, t, o), sdv_mc_result_group_accs(b, t, o),
                       G * sizeof(sdv_acc)) == 0);
    }
}

static const char *const RK[] = {"method",     "dcsgd",
                                 "dim",        "3",
                                 "agents",     "2",
                                 "eta",        "0.1",
                                 "objective",  "quadratic:lam=0.8,1.9,1.3",
                                 "sigma",      "0.7",
                                 "compressor", "rand-k:k=2",
                                 "x0",         "2.385,-1.1,0.6",
                                 "seed",       "77",
                                 NULL};
static const size_t STEPS[3] = {1, 7, 20};
static const sdv_observable OBS[3] = {
    {.kind = SDV_OBS_F}, {.kind = SDV_OBS_X, .index = 1}, {.kind = SDV_OBS_NORM2}};

START_TEST(test_threads_same_bits) {
  sdv_model *m = sdv_test_model(RK);
  sdv_process_options po;
  sdv_process_options_default(&po);
  po.kind = (sdv_process_kind)_i;
  po.substeps = 2;
  sdv_mc_options o;
  sdv_mc_options_default(&o);
  o.paths = 3001; /* 188 blocks of 16: not a power of two, a short last block */
  o.block = 16;
  o.threads = 1;
  sdv_mc_result *a = run(m, &po, STEPS, 3, OBS, 3, &o);
  o.threads = 2;
  sdv_mc_result *b = run(m, &po, STEPS, 3, OBS, 3, &o);
  o.threads = 3;
  sdv_mc_result *c = run(m, &po, STEPS, 3, OBS, 3, &o);
  assert_same(a, b);
  assert_same(a, c);
  ck_assert_uint_eq(sdv_mc_result_groups(a), 16);
  sdv_mc_result_free(a);
  sdv_mc_result_free(b);
  sdv_mc_result_free(c);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_split_same_bits) {
  sdv_model *m = sdv_test_model(RK);
  sdv_process_options po;
  sdv_process_options_default(&po);
  sdv_mc_options o;
  sdv_mc_options_default(&o);
  o.paths = 3001;
  o.block = 16;
  o.threads = 2;
  const size_t nb = sdv_mc_blocks(&o);
  ck_assert_uint_eq(nb, 188);
  sdv_mc_result *full = run(m, &po, STEPS, 3, OBS, 3, &o);
  /* Two halves, and four unaligned pieces starting from an empty range. */
  const size_t cuts[2][5] = {{0, 77, 188, 188, 188}, {0, 0, 5, 130, 188}};
  for (int c = 0; c < 2; c++) {
    sdv_mc_result *acc = NULL, *part = NULL;
    ck_assert_int_eq(sdv_mc_run_blocks(&acc, m, &po, STEPS, 3, OBS, 3, &o, 0, cuts[c][1]), SDV_OK);
    for (int i = 1; i < 4; i++) {
      ck_assert_int_eq(
          sdv_mc_run_blocks(&part, m, &po, STEPS, 3, OBS, 3, &o, cuts[c][i], cuts[c][i + 1]),
          SDV_OK);
      if (i == 1) {
        size_t b0, b1;
        sdv_mc_result_range(part, &b0, &b1);
        ck_assert(b0 == cuts[c][1] && b1 == cuts[c][2]);
        sdv_mc_summary s;
        if (b1 < nb) ck_assert_int_eq(sdv_mc_result_get(part, 0, 0, &s), SDV_EINVAL);
      }
      if (c == 1) { /* the second split travels through pack/unpack, as between ranks */
        const size_t len = sdv_mc_result_packed_size(part);
        unsigned char *img = malloc(len);
        ck_assert_ptr_nonnull(img);
        ck_assert_int_eq(sdv_mc_result_pack(part, img, len - 1), SDV_EINVAL);
        ck_assert_int_eq(sdv_mc_result_pack(part, img, len), SDV_OK);
        sdv_mc_result_free(part);
        part = NULL;
        ck_assert_int_eq(sdv_mc_result_unpack(&part, img, len - 1), SDV_EINVAL);
        ck_assert_ptr_null(part);
        img[0] ^= 1;
        ck_assert_int_eq(sdv_mc_result_unpack(&part, img, len), SDV_EINVAL);
        img[0] ^= 1;
        ck_assert_int_eq(sdv_mc_result_unpack(&part, img, len), SDV_OK);
        free(img);
      }
      ck_assert_msg(sdv_mc_merge(acc, part) == SDV_OK, "merge: %s", sdv_last_error());
      sdv_mc_result_free(part);
    }
    ck_assert(sdv_mc_result_complete(acc));
    assert_same(full, acc);
    sdv_mc_result_free(acc);
  }
  /* Merging what is not adjacent, or another configuration, is refused; into unchanged. */
  sdv_mc_result *x = NULL, *y = NULL;
  ck_assert_int_eq(sdv_mc_run_blocks(&x, m, &po, STEPS, 3, OBS, 3, &o, 0, 10), SDV_OK);
  ck_assert_int_eq(sdv_mc_run_blocks(&y, m, &po, STEPS, 3, OBS, 3, &o, 11, 20), SDV_OK);
  ck_assert_int_eq(sdv_mc_merge(x, y), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "not adjacent"));
  sdv_mc_result_free(y);
  o.paths = 3002;
  ck_assert_int_eq(sdv_mc_run_blocks(&y, m, &po, STEPS, 3, OBS, 3, &o, 10, 20), SDV_OK);
  ck_assert_int_eq(sdv_mc_merge(x, y), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "paths 3001/3002"));
  size_t b0, b1;
  sdv_mc_result_range(x, &b0, &b1);
  ck_assert(b0 == 0 && b1 == 10);
  ck_assert_int_eq(sdv_mc_merge(x, NULL), SDV_EINVAL);
  sdv_mc_result_free(x);
  sdv_mc_result_free(y);
  sdv_mc_result_free(full);
  sdv_model_free(m);
}
END_TEST

/* ================= accumulators: the reference values of mc.c ================= */

static double counter_value(void *user, size_t d, const double *x) {
  static const double v[4] = {1.0, -2.0, 3.0, INFINITY};
  int *k = user;
  return v[(*k)++ % 4];
}

START_TEST(test_reference_values) {
  const char *const kv[] = {"method", "dsgd", "sigma", "0", NULL};
  sdv_model *m = sdv_test_model(kv);
  sdv_process_options po;
  sdv_process_options_default(&po);
  int calls = 0;
  const sdv_observable g = {.kind = SDV_OBS_USER, .fn = counter_value, .user = &calls};
  const size_t steps[1] = {3};
  sdv_mc_options o;
  sdv_mc_options_default(&o);
  o.paths = 4; /* 4 groups of one block of one path; one thread calls g in path order */
  o.threads = 1;
  ck_assert_uint_eq(sdv_mc_blocks(&o), 4);
  sdv_mc_result *r = run(m, &po, steps, 1, &g, 1, &o);
  ck_assert_uint_eq(sdv_mc_result_groups(r), 4);
  const sdv_mc_summary s = get(r, 0, 0);
  ck_assert_uint_eq(s.n, 3);
  ck_assert_uint_eq(s.nonfinite, 1);
  ck_assert_close(s.mean, 2.0 / 3.0, 1e-15);
  ck_assert_close(s.var, 57.0 / 9.0, 1e-15);
  ck_assert_close(s.se, sqrt(57.0 / 27.0), 1e-15);
  ck_assert(s.maxabs == 3.0);
  ck_assert(s.mom == 1.0); /* median of the group means 1, -2, 3 (group 4 has no value) */
  ck_assert_close(s.tail_stat, sqrt(3.0) * 9.0 / 14.0, 1e-15);
  ck_assert(!s.unstable);
  sdv_mc_result_free(r);
  /* Block sizes: min(B, floor(M/G)). */
  o.paths = 1000;
  ck_assert_uint_eq(sdv_mc_blocks(&o), 17); /* B = 62 */
  o.paths = 100000;
  ck_assert_uint_eq(sdv_mc_blocks(&o), 1563); /* B = 64 */
  o.paths = 0;
  ck_assert_uint_eq(sdv_mc_blocks(&o), 0);
  sdv_model_free(m);
}
END_TEST

/* ================= non-finite values ================= */

/* DCSGD-Bernoulli(1/4), sigma = 0, eta lam = 1.5: x is multiplied by 1 or by 1 - 1.5 * 4 = -5,
 * far beyond the second-moment stability threshold; |x_k| = 2.385 * 5^B, B ~ Bin(k, 1/4), so
 * x^2 overflows once B > 220 and x once B > 441. At k = 880 about half of the x^2 values are
 * inf; at k = 3000 every path has diverged: P(B <= 441) = 2.1e-43 for B ~ Bin(3000, 1/4), so
 * the false-failure rate of that assertion over 600 paths is 1.2e-40. (At k = 2000 it would be
 * 1.1e-3 per path, 0.49 for the test: the earlier version of this test was a coin toss.) */
START_TEST(test_nonfinite) {
  const char *const kv[] = {"method",     "dcsgd",
                            "eta",        "1.5",
                            "objective",  "quadratic:lam=1",
                            "sigma",      "0",
                            "compressor", "bernoulli:p=0.25",
                            "x0",         "2.385",
                            "seed",       "5",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  sdv_process_options po;
  sdv_process_options_default(&po);
  const sdv_observable obs[2] = {{.kind = SDV_OBS_X}, {.kind = SDV_OBS_X2}};
  const size_t steps[3] = {100, 880, 3000};
  sdv_mc_options o;
  sdv_mc_options_default(&o);
  o.paths = 600;
  sdv_mc_result *r = run(m, &po, steps, 3, obs, 2, &o);
  for (size_t t = 0; t < 3; t++)
    for (size_t i = 0; i < 2; i++) {
      const sdv_mc_summary s = get(r, t, i);
      ck_assert_uint_eq(s.n + s.nonfinite, o.paths);
    }
  const sdv_mc_summary x = get(r, 1, 0), x2 = get(r, 1, 1);
  ck_assert_uint_eq(x.nonfinite, 0);
  ck_assert(x2.nonfinite > 100 && x2.nonfinite < 500);
  ck_assert(isfinite(x2.mean) && isfinite(x.mean));
  ck_assert_uint_eq(get(r, 2, 0).nonfinite, o.paths);
  ck_assert(isnan(get(r, 2, 0).mean) && get(r, 2, 0).n == 0);

  /* The same numbers path by path: counts exact, mean over the finite values only. */
  sdv_process *p = NULL;
  ck_assert_int_eq(sdv_process_alloc(&p, m, &po), SDV_OK);
  sdv_acc a;
  sdv_acc_reset(&a);
  uint64_t bad = 0;
  int rc = SDV_OK; /* asserted once: Check makes a system call per ck_assert */
  for (size_t i = 0; i < o.paths; i++) {
    sdv_process_start(p, i);
    rc |= sdv_process_advance(p, 880);
    const double v = sdv_process_observe(p, &obs[1]);
    if (isfinite(v))
      sdv_acc_add(&a, v);
    else
      bad++;
  }
  ck_assert_int_eq(rc, SDV_OK);
  ck_assert_uint_eq(bad, x2.nonfinite);
  ck_assert_uint_eq(a.n, x2.n);
  ck_assert_rel(x2.mean, sdv_acc_mean(&a), 1e-12);
  sdv_process_free(p);
  sdv_mc_result_free(r);
  sdv_model_free(m);
}
END_TEST

/* ================= heavy tails ================= */

START_TEST(test_heavy_tail_flag) {
  static const uint64_t seeds[3] = {3, 4444, 90001};
  for (int law = 0; law < 2; law++)
    for (int s = 0; s < 3; s++) {
      char seed[16];
      snprintf(seed, sizeof seed, "%llu", (unsigned long long)seeds[s]);
      const char *const kv[] = {"method",    "dsgd",
                                "eta",       "0.1",
                                "objective", "quadratic:lam=1",
                                "noise",     law ? "gaussian" : "cauchy",
                                "sigma",     "1",
                                "x0",        "0.5",
                                "seed",      seed,
                                NULL};
      sdv_model *m = sdv_test_model(kv);
      sdv_process_options po;
      sdv_process_options_default(&po);
      const sdv_observable obs[2] = {{.kind = SDV_OBS_X}, {.kind = SDV_OBS_X2}};
      const size_t steps[2] = {10, 30};
      sdv_mc_options o;
      sdv_mc_options_default(&o);
      o.paths = 10000;
      sdv_mc_result *r = run(m, &po, steps, 2, obs, 2, &o);
      for (size_t t = 0; t < 2; t++)
        for (size_t i = 0; i < 2; i++) {
          const sdv_mc_summary v = get(r, t, i);
          ck_assert_msg(v.unstable == !law, "%s seed %s t %zu obs %zu: tail_stat %g",
                        law ? "gaussian" : "cauchy", seed, t, i, v.tail_stat);
          ck_assert(isfinite(v.mom));
        }
      sdv_mc_result_free(r);
      sdv_model_free(m);
    }
}
END_TEST

/* ================= cancel and progress ================= */

typedef struct progress_log {
  size_t calls, last, total;
  volatile sig_atomic_t *cancel;
  size_t cancel_at;
} progress_log;

static void progress(void *user, size_t done, size_t total) {
  progress_log *l = user;
  ck_assert(done > l->last && done <= total);
  l->calls++;
  l->last = done;
  l->total = total;
  if (l->cancel && l->calls == l->cancel_at) *l->cancel = 1;
}

START_TEST(test_cancel_progress) {
  sdv_model *m = sdv_test_model(RK);
  sdv_process_options po;
  sdv_process_options_default(&po);
  sdv_mc_options o;
  sdv_mc_options_default(&o);
  o.paths = 2000;
  o.block = 8;
  o.threads = 2;
  volatile sig_atomic_t flag = 0;
  progress_log log = {0};
  o.progress = progress;
  o.progress_user = &log;
  o.cancel = &flag;
  sdv_mc_result *r = run(m, &po, STEPS, 3, OBS, 3, &o);
  ck_assert(log.calls >= 2 && log.last == sdv_mc_blocks(&o) && log.total == log.last);
  sdv_mc_result_free(r);
  /* Cancelled from the progress callback after the first chunk. */
  log = (progress_log){.cancel = &flag, .cancel_at = 1};
  r = (sdv_mc_result *)&log;
  ck_assert_int_eq(sdv_mc_run(&r, m, &po, STEPS, 3, OBS, 3, &o), SDV_EINTR);
  ck_assert_ptr_null(r);
  ck_assert_uint_eq(log.calls, 1);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "cancelled"));
  /* Already set: nothing runs. */
  log = (progress_log){0};
  ck_assert_int_eq(sdv_mc_run(&r, m, &po, STEPS, 3, OBS, 3, &o), SDV_EINTR);
  ck_assert_uint_eq(log.calls, 0);
  sdv_model_free(m);
}
END_TEST

/* ================= resource guard ================= */

START_TEST(test_resource_guard) {
  sdv_model *m = sdv_test_model(RK);
  sdv_process_options po;
  sdv_process_options_default(&po);
  sdv_mc_options o;
  sdv_mc_options_default(&o);
  sdv_mc_result *r = NULL;
  /* A grid of 10^5 times x 400 observables: gigabytes of accumulators. */
  const size_t nt = 100000, no = 400;
  size_t *steps = malloc(nt * sizeof *steps);
  sdv_observable *obs = calloc(no, sizeof *obs);
  ck_assert(steps && obs);
  for (size_t t = 0; t < nt; t++) steps[t] = t + 1;
  ck_assert_int_eq(sdv_mc_run(&r, m, &po, steps, nt, obs, no, &o), SDV_ELIMIT);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "max_bytes"));
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "MiB"));
  /* max_bytes itself. */
  o.max_bytes = 1000;
  ck_assert_int_eq(sdv_mc_run(&r, m, &po, STEPS, 3, OBS, 3, &o), SDV_ELIMIT);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "max_bytes = 1000"));
  sdv_mc_options_default(&o);
  /* 10^12 paths x 20 steps: refused by the work guard. */
  o.paths = 1000000000000;
  ck_assert_int_eq(sdv_mc_run(&r, m, &po, STEPS, 3, OBS, 3, &o), SDV_ELIMIT);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "max_work"));
  ck_assert_ptr_null(r);
  /* M = SIZE_MAX: the block count must not wrap to 0 (issue 15: "mc result: NULL
   * argument"), nor the paths counted by the work guard. */
  o.paths = SIZE_MAX;
  ck_assert_uint_eq(sdv_mc_blocks(&o), SIZE_MAX / 64 + 1);
  ck_assert_int_eq(sdv_mc_run(&r, m, &po, STEPS, 3, OBS, 3, &o), SDV_ELIMIT);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "max_work"));
  ck_assert_int_eq(sdv_mc_run_blocks(&r, m, &po, STEPS, 3, OBS, 3, &o, 0, sdv_mc_blocks(&o)),
                   SDV_ELIMIT);
  ck_assert_ptr_null(r);
  /* sdv_mc_memory is the guard's own figure. */
  sdv_mc_options_default(&o);
  double bytes = 0.0;
  ck_assert_int_eq(sdv_mc_memory(m, nt, no, &o, &bytes), SDV_OK);
  ck_assert_double_gt(bytes, (double)o.max_bytes);
  ck_assert_int_eq(sdv_mc_memory(m, 3, 3, &o, &bytes), SDV_OK);
  ck_assert_double_lt(bytes, (double)o.max_bytes);
  ck_assert_double_gt(bytes, 0.0);
  free(steps);
  free(obs);
  sdv_model_free(m);
}
END_TEST

/* ================= invalid arguments ================= */

#define EXPECT_EINVAL(call, word)                                                              \
  do {                                                                                         \
    ck_assert_int_eq((call), SDV_EINVAL);                                                      \
    ck_assert_msg(strstr(sdv_last_error(), word), "message '%s' lacks '%s'", sdv_last_error(), \
                  word);                                                                       \
  } while (0)

START_TEST(test_invalid) {
  sdv_model *m = sdv_test_model(RK);
  sdv_process_options po;
  sdv_process_options_default(&po);
  sdv_mc_options o;
  sdv_mc_options_default(&o);
  sdv_mc_result *r = NULL;
  o.paths = 0;
  EXPECT_EINVAL(sdv_mc_run(&r, m, &po, STEPS, 3, OBS, 3, &o), "paths = 0");
  o.paths = 100;
  o.block = 0;
  EXPECT_EINVAL(sdv_mc_run(&r, m, &po, STEPS, 3, OBS, 3, &o), "block = 0");
  o.block = 64;
  o.groups = 0;
  EXPECT_EINVAL(sdv_mc_run(&r, m, &po, STEPS, 3, OBS, 3, &o), "groups = 0");
  o.groups = SDV_MC_GROUPS_MAX + 1;
  EXPECT_EINVAL(sdv_mc_run(&r, m, &po, STEPS, 3, OBS, 3, &o), "groups = 1025");
  o.groups = 16;
  o.threads = -2;
  EXPECT_EINVAL(sdv_mc_run(&r, m, &po, STEPS, 3, OBS, 3, &o), "threads = -2");
  o.threads = 0;
  o.tail_c = 0.0;
  EXPECT_EINVAL(sdv_mc_run(&r, m, &po, STEPS, 3, OBS, 3, &o), "tail_c = 0");
  o.tail_c = 5.0;
  o.max_work = NAN;
  EXPECT_EINVAL(sdv_mc_run(&r, m, &po, STEPS, 3, OBS, 3, &o), "max_work");
  o.max_work = 1e14;
  EXPECT_EINVAL(sdv_mc_run(&r, m, &po, STEPS, 3, OBS, 3, NULL), "options");
  EXPECT_EINVAL(sdv_mc_run(NULL, m, &po, STEPS, 3, OBS, 3, &o), "out");
  EXPECT_EINVAL(sdv_mc_run(&r, NULL, &po, STEPS, 3, OBS, 3, &o), "model");
  EXPECT_EINVAL(sdv_mc_run(&r, m, NULL, STEPS, 3, OBS, 3, &o), "process options");
  const size_t bad_steps[3] = {1, 7, 7};
  EXPECT_EINVAL(sdv_mc_run(&r, m, &po, bad_steps, 3, OBS, 3, &o), "steps[2] = 7");
  EXPECT_EINVAL(sdv_mc_run(&r, m, &po, STEPS, 0, OBS, 3, &o), "steps");
  EXPECT_EINVAL(sdv_mc_run(&r, m, &po, STEPS, 3, OBS, 0, &o), "observables");
  const sdv_observable bad_obs[2] = {{.kind = SDV_OBS_F}, {.kind = SDV_OBS_X2, .index = 3}};
  EXPECT_EINVAL(sdv_mc_run(&r, m, &po, STEPS, 3, bad_obs, 2, &o), "index = 3");
  const sdv_observable no_fn = {.kind = SDV_OBS_USER};
  EXPECT_EINVAL(sdv_mc_run(&r, m, &po, STEPS, 3, &no_fn, 1, &o), "fn");
  po.substeps = 0;
  EXPECT_EINVAL(sdv_mc_run(&r, m, &po, STEPS, 3, OBS, 3, &o), "substeps = 0");
  po.substeps = 1;
  po.kind = (sdv_process_kind)9;
  EXPECT_EINVAL(sdv_mc_run(&r, m, &po, STEPS, 3, OBS, 3, &o), "kind = 9");
  po.kind = SDV_PROCESS_DISCRETE;
  const size_t nb = sdv_mc_blocks(&o);
  EXPECT_EINVAL(sdv_mc_run_blocks(&r, m, &po, STEPS, 3, OBS, 3, &o, 3, 2), "b0, b1");
  EXPECT_EINVAL(sdv_mc_run_blocks(&r, m, &po, STEPS, 3, OBS, 3, &o, 0, nb + 1), "b0, b1");
  ck_assert_ptr_null(r);
  /* Out-of-range reads of a complete result. */
  r = run(m, &po, STEPS, 3, OBS, 3, &o);
  sdv_mc_summary s;
  EXPECT_EINVAL(sdv_mc_result_get(r, 3, 0, &s), "out of range");
  EXPECT_EINVAL(sdv_mc_result_get(r, 0, 3, &s), "out of range");
  ck_assert_ptr_null(sdv_mc_result_acc(r, 3, 0));
  ck_assert_ptr_null(sdv_mc_result_group_accs(r, 0, 3));
  sdv_mc_result_free(r);
  sdv_mc_result_free(NULL);
  /* A model without an SDE fails at process allocation, with the model's status. */
  const char *const kv[] = {"method", "dsgd", "noise", "cauchy", NULL};
  sdv_model *c = sdv_test_model(kv);
  po.kind = SDV_PROCESS_SDE;
  ck_assert_int_eq(sdv_mc_run(&r, c, &po, STEPS, 3, OBS, 1, &o), SDV_ENOTSUP);
  ck_assert_ptr_null(r);
  sdv_model_free(c);
  sdv_model_free(m);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("mc");
  TCase *tc;
  tc = tcase_create("closed forms");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, test_closed_forms, 0, 3);
  suite_add_tcase(s, tc);
  tc = tcase_create("reproducibility");
  tcase_set_timeout(tc, 30);
  tcase_add_loop_test(tc, test_threads_same_bits, 0, 2);
  tcase_add_test(tc, test_split_same_bits);
  suite_add_tcase(s, tc);
  tc = tcase_create("accumulators");
  tcase_add_test(tc, test_reference_values);
  suite_add_tcase(s, tc);
  tc = tcase_create("non-finite");
  tcase_set_timeout(tc, 20);
  tcase_add_test(tc, test_nonfinite);
  suite_add_tcase(s, tc);
  tc = tcase_create("heavy tails");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_heavy_tail_flag);
  suite_add_tcase(s, tc);
  tc = tcase_create("cancel");
  tcase_set_timeout(tc, 20);
  tcase_add_test(tc, test_cancel_progress);
  suite_add_tcase(s, tc);
  tc = tcase_create("resource guard");
  tcase_set_timeout(tc, 20);
  tcase_add_test(tc, test_resource_guard);
  suite_add_tcase(s, tc);
  tc = tcase_create("invalid");
  tcase_add_test(tc, test_invalid);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sdv_test_run(suite()); }
