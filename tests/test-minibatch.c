/* Minibatch noise from the data (lib/model/shards.c, lib/model/minibatch.c,
 * lib/optimizer/minibatch.c; docs/math/minibatch.md): option parsing and every error path,
 * the shard partitions, the one-step mean and covariance of the discrete step against the
 * model's drift and a diffusion computed here directly as a d x d sum, the sampled increment's
 * covariance against the same sum, negative controls (a 10% larger diffusion, a missing 1/N)
 * that the same test must reject, the DSignSGD CLT formulas, and reproducibility.
 *
 * Statistical tests (check_moments, tests/optimizer-moments.h): each sample mean and each
 * entry of the sample covariance must lie within K = 4.5 standard errors of its estimator
 * (estimated from the draws). With 9 means and 45 covariance entries per comparison, a
 * correct model fails one comparison with probability at most 54 * P(|Z| > 4.5) = 54 * 6.8e-6
 * = 3.7e-4 (Bonferroni, normal approximation, M = 40000 draws), and the whole suite (7
 * comparisons that must pass) at most 2.6e-3; the seeds are fixed, so the outcome is
 * reproducible. A 10% error in Sigma moves every diagonal entry by about 10 standard errors
 * at this M, so a negative control passes by chance with negligible probability. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sdv/errors.h>
#include <sdv/model.h>

#include "model/minibatch.h"
#include "optimizer-moments.h"
#include "testutil.h"

#define K_SE 4.5
#define M_DRAWS 40000

/* 13 samples, 2 features, 3 classes: softmax has d = 3 (2 + 1) = 9. With N = 2 the iid shards
 * have 7 and 6 samples (unequal: the drift is (1/N) sum_i grad f_i, not grad f). */
static const char small_csv[] =
    "# x1, x2, class\n"
    "0.5,-1.2,0\n2.0,0.3,2\n-0.7,1.1,1\n1.3,0.8,0\n-1.9,-0.4,2\n"
    "0.2,2.1,1\n-0.6,-1.5,0\n1.1,-0.9,2\n0.9,1.7,1\n-1.4,0.6,0\n"
    "2.4,-0.2,1\n-0.3,-2.2,2\n0.7,0.4,0\n";
static const char real_csv[] = "0.5,-1.2,0.75\n2.0,0.3,-1.5\n-0.7,1.1,2.25\n1.3,0.8,0.1\n";

static char small_path[64], real_path[64], objective[160], wine[512];

static void setup(void) {
  sdv_test_temp_file(small_path, sizeof small_path, small_csv);
  sdv_test_temp_file(real_path, sizeof real_path, real_csv);
  snprintf(objective, sizeof objective, "softmax:data=%s:l2=0.1", small_path);
  const char *root = getenv("SDV_SOURCE_ROOT");
  snprintf(wine, sizeof wine, "softmax:data=%s/data/wine.csv", root ? root : ".");
}

static void teardown(void) {
  unlink(small_path);
  unlink(real_path);
}

static const double x_test[9] = {0.31, -0.72, 0.15, -0.44, 0.58, -0.2385, 0.87, 0.06, -0.51};

static void assert_error_names(const char *a, const char *b) {
  const char *e = sdv_last_error();
  ck_assert_msg(strstr(e, a) != NULL, "error '%s' does not name '%s'", e, a);
  if (b) ck_assert_msg(strstr(e, b) != NULL, "error '%s' does not name '%s'", e, b);
}

/* sdv_model_alloc's status for the pairs kv on top of the defaults. */
static int try_build(const char *const *kv) {
  sdv_model_options o;
  sdv_test_model_options(&o, kv);
  sdv_model *m = NULL;
  const int rc = sdv_model_alloc(&m, &o);
  if (rc) ck_assert_ptr_null(m);
  sdv_model_free(m);
  return rc;
}

/* ---- options and errors ---- */

START_TEST(test_option_errors) {
  sdv_model_options o;
  sdv_model_options_default(&o);
  ck_assert_str_eq(o.shards, "iid");
  ck_assert_int_eq(sdv_model_options_set(&o, "shards", "label-skew"), SDV_OK);
  ck_assert_str_eq(o.shards, "label-skew");
  ck_assert_int_eq(sdv_model_options_set(&o, "shard", "iid"), SDV_EINVAL);
  assert_error_names("'shard'", "shards");

  /* minibatch needs data samples. */
  const char *const nodata[] = {"noise", "minibatch", NULL};
  ck_assert_int_eq(try_build(nodata), SDV_EINVAL);
  assert_error_names("noise = minibatch", "quadratic");
  /* Malformed minibatch specs, a bad added law, minibatch for some agents only. */
  const char *const bad_specs[][2] = {{"minibatchx", "minibatch+LAW"},
                                      {"minibatch+", "minibatch+LAW"},
                                      {"minibatch+student-t:nu=-1", "nu"},
                                      {"minibatch+levy", "levy"}};
  for (size_t k = 0; k < 4; k++) {
    const char *const kv[] = {"objective", objective, "dim", "9", "noise", bad_specs[k][0], NULL};
    ck_assert_int_eq(try_build(kv), SDV_EINVAL);
    assert_error_names("noise", bad_specs[k][1]);
  }
  const char *const mixed[] = {"objective",          objective, "dim", "9", "agents", "2", "noise",
                               "minibatch;gaussian", NULL};
  ck_assert_int_eq(try_build(mixed), SDV_EINVAL);
  assert_error_names("noise", "every agent or for none");

  /* Bad shards specs. */
  const char *const bad_shards[][2] = {{"random", "unknown"},
                                       {"dirichlet", "alpha"},
                                       {"dirichlet:alpha=0", "alpha = 0"},
                                       {"dirichlet:alpha=-2", "alpha = -2"},
                                       {"iid:sed=3", "sed"},
                                       {"iid:seed=-1", "seed"},
                                       {"label-skew:alpha=1", "alpha"}};
  for (size_t k = 0; k < 7; k++) {
    const char *const kv[] = {"objective", objective,        "dim", "9", "noise", "minibatch",
                              "shards",    bad_shards[k][0], NULL};
    ck_assert_int_eq(try_build(kv), SDV_EINVAL);
    assert_error_names("shards", bad_shards[k][1]);
  }
  /* shards without minibatch noise. */
  const char *const no_mb[] = {"shards", "label-skew", NULL};
  ck_assert_int_eq(try_build(no_mb), SDV_EINVAL);
  assert_error_names("shards = 'label-skew'", "minibatch");
  /* More agents than samples; a Dirichlet split leaving agents empty (3 classes, alpha tiny:
   * each class goes almost entirely to one agent, so at most 3 of 8 agents get samples). */
  const char *const many[] = {"objective", objective, "dim", "9", "noise",
                              "minibatch", "agents",  "14",  NULL};
  ck_assert_int_eq(try_build(many), SDV_EINVAL);
  assert_error_names("shards", "14 agents");
  const char *const empty[] = {"objective", wine,     "dim", "42",     "noise",
                               "minibatch", "agents", "8",   "shards", "dirichlet:alpha=0.01",
                               NULL};
  ck_assert_int_eq(try_build(empty), SDV_EINVAL);
  assert_error_names("shards = 'dirichlet:alpha=0.01'", "gets no samples");
  /* Dirichlet needs class indices; least-squares has real targets (label-skew is fine). */
  char ls[160];
  snprintf(ls, sizeof ls, "least-squares:data=%s", real_path);
  const char *const lsd[] = {"objective",         ls,  "dim", "3", "noise", "minibatch", "shards",
                             "dirichlet:alpha=1", NULL};
  ck_assert_int_eq(try_build(lsd), SDV_EINVAL);
  assert_error_names("shards", "class indices");
  const char *const lsk[] = {"objective", ls,  "dim",    "3",          "noise", "minibatch",
                             "agents",    "2", "shards", "label-skew", NULL};
  ck_assert_int_eq(try_build(lsk), SDV_OK);
  /* DSignSGD's CLT drift needs a finite added variance. */
  const char *const sign_cauchy[] = {
      "objective", objective, "dim", "9", "method", "dsignsgd", "noise", "minibatch+cauchy", NULL};
  ck_assert_int_eq(try_build(sign_cauchy), SDV_ENOTSUP);
  assert_error_names("dsignsgd", "infinite variance");
  /* ... and so do the DSGD and DCSGD SDEs (the discrete step is fine). */
  const char *const t2[] = {"objective", objective, "dim", "9", "noise", "minibatch+student-t:nu=2",
                            NULL};
  sdv_model *m = sdv_test_model(t2);
  sdv_work *w = work(m);
  sdv_diffusion *D;
  ck_assert_int_eq(sdv_model_diffusion(m, w, x_test, &D), SDV_ENOTSUP);
  assert_error_names("dsgd", "infinite variance");
  double x[9];
  memcpy(x, x_test, sizeof x);
  sdv_stream s;
  sdv_stream_init(&s, 3, 0, SDV_PURPOSE_NOISE, 0);
  ck_assert_int_eq(sdv_model_step(m, w, x, &s, &s), SDV_OK);
  /* The public minibatch gradient refuses a model without minibatch noise and a bad agent. */
  ck_assert_int_eq(sdv_model_minibatch_gradient(m, w, 1, x_test, &s, x), SDV_EINVAL);
  assert_error_names("agent = 1", NULL);
  sdv_work_free(w);
  sdv_model_free(m);
  const char *const plain[] = {NULL};
  m = sdv_test_model(plain);
  w = work(m);
  ck_assert_int_eq(sdv_model_minibatch_gradient(m, w, 0, x_test, &s, x), SDV_EINVAL);
  assert_error_names("minibatch", NULL);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_description) {
  const char *const kv[] = {"objective", objective, "dim",    "9",
                            "agents",    "2",       "noise",  "minibatch+student-t:nu=5",
                            "sigma",     "0.3",     "shards", "dirichlet:alpha=2:seed=7",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  ck_assert(m->minibatch);
  ck_assert_uint_eq(m->samples, 13);
  ck_assert_ptr_nonnull(strstr(m->description, "noise=minibatch+student-t:nu=5"));
  ck_assert_ptr_nonnull(strstr(m->description, "shards=dirichlet:alpha=2:seed=7"));
  /* The added law's variance: sigma^2 nu/(nu-2)/B. */
  ck_assert_double_eq_tol(m->var[0], 0.09 * 5.0 / 3.0, 1e-15);
  sdv_model_free(m);
  /* Plain minibatch adds nothing, whatever --sigma says. */
  const char *const kv2[] = {"objective", objective, "dim", "9", "noise",
                             "minibatch", "sigma",   "2.5", NULL};
  m = sdv_test_model(kv2);
  ck_assert(m->minibatch && m->sigma[0] == 0.0 && m->var[0] == 0.0);
  ck_assert_ptr_nonnull(strstr(m->description, "shards=iid"));
  sdv_model_free(m);
}
END_TEST

/* The sample_label hook of the four data objectives and its wrapper's errors. */
START_TEST(test_labels) {
  static const char binary_csv[] = "0.5,-1.2,1\n2.0,0.3,0\n-0.7,1.1,1\n";
  char bin[64], spec[160];
  sdv_test_temp_file(bin, sizeof bin, binary_csv);
  struct {
    const char *fmt, *path;
    size_t dim;
    double want[3];
  } c[] = {{"softmax:data=%s", small_path, 9, {0, 2, 1}},
           {"mlp:data=%s:hidden=2", small_path, 2 * 3 + 3 * 3, {0, 2, 1}},
           {"logistic:data=%s", bin, 3, {1, 0, 1}},
           {"least-squares:data=%s", real_path, 3, {0.75, -1.5, 2.25}}};
  for (size_t k = 0; k < 4; k++) {
    snprintf(spec, sizeof spec, c[k].fmt, c[k].path);
    sdv_objective *o = NULL;
    ck_assert_msg(sdv_objective_alloc(&o, spec, c[k].dim) == SDV_OK, "%s: %s", spec,
                  sdv_last_error());
    for (size_t s = 0; s < 3; s++) {
      double y;
      ck_assert_int_eq(sdv_objective_sample_label(o, s, &y), SDV_OK);
      ck_assert_double_eq(y, c[k].want[s]);
    }
    double y;
    ck_assert_int_eq(sdv_objective_sample_label(o, 99, &y), SDV_EINVAL);
    assert_error_names("s = 99", NULL);
    sdv_objective_free(o);
  }
  sdv_objective *q = NULL;
  ck_assert_int_eq(sdv_objective_alloc(&q, "quadratic:lam=1", 2), SDV_OK);
  double y;
  ck_assert_int_eq(sdv_objective_sample_label(q, 0, &y), SDV_ENOTSUP);
  assert_error_names("quadratic", "sample_label");
  ck_assert(isnan(y));
  sdv_objective_free(q);
  unlink(bin);
}
END_TEST

/* ---- shards ---- */

static sdv_model *wine_model(size_t agents, const char *shards) {
  char n[16];
  snprintf(n, sizeof n, "%zu", agents);
  const char *const kv[] = {"objective", wine, "dim",    "42",   "noise", "minibatch",
                            "agents",    n,    "shards", shards, NULL};
  return sdv_test_model(kv);
}

/* Every sample appears exactly once; every agent has one at least. */
static void assert_partition(const sdv_model *m) {
  const size_t n = m->samples;
  char *seen = calloc(n, 1);
  ck_assert_ptr_nonnull(seen);
  ck_assert_uint_eq(m->shard_start[0], 0);
  ck_assert_uint_eq(m->shard_start[m->agents], n);
  for (size_t i = 0; i < m->agents; i++) ck_assert_uint_ge(sdv_shard_size(m, i), 1);
  for (size_t k = 0; k < n; k++) {
    ck_assert_uint_lt(m->shard_index[k], n);
    ck_assert(!seen[m->shard_index[k]]);
    seen[m->shard_index[k]] = 1;
  }
  free(seen);
}

static double label(const sdv_model *m, size_t s) {
  double y;
  ck_assert_int_eq(sdv_objective_sample_label(m->objective, s, &y), SDV_OK);
  return y;
}

START_TEST(test_shards_iid) {
  sdv_model *m = wine_model(4, "iid");
  ck_assert_uint_eq(m->samples, 178);
  assert_partition(m);
  const size_t sizes[4] = {45, 45, 44, 44};
  for (size_t i = 0; i < 4; i++) ck_assert_uint_eq(sdv_shard_size(m, i), sizes[i]);
  /* Within a shard the indices increase. */
  for (size_t i = 0; i < 4; i++)
    for (size_t k = m->shard_start[i] + 1; k < m->shard_start[i + 1]; k++)
      ck_assert_uint_lt(m->shard_index[k - 1], m->shard_index[k]);
  /* A random split: every agent sees every class. */
  for (size_t i = 0; i < 4; i++) {
    size_t count[3] = {0, 0, 0};
    for (size_t k = m->shard_start[i]; k < m->shard_start[i + 1]; k++)
      count[(size_t)label(m, m->shard_index[k])]++;
    for (size_t c = 0; c < 3; c++) ck_assert_uint_gt(count[c], 3);
  }
  /* The split depends on the shards seed, not on the model's --seed. */
  sdv_model *a = wine_model(4, "iid:seed=1"), *b = wine_model(4, "iid:seed=2");
  ck_assert_mem_eq(a->shard_index, m->shard_index, 178 * sizeof(size_t));
  ck_assert(memcmp(b->shard_index, m->shard_index, 178 * sizeof(size_t)) != 0);
  const char *const kv[] = {"objective", wine, "dim",  "42", "noise", "minibatch",
                            "agents",    "4",  "seed", "99", NULL};
  sdv_model *c = sdv_test_model(kv);
  ck_assert_mem_eq(c->shard_index, m->shard_index, 178 * sizeof(size_t));
  sdv_model_free(a);
  sdv_model_free(b);
  sdv_model_free(c);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_shards_label_skew) {
  sdv_model *m = wine_model(4, "label-skew");
  assert_partition(m);
  for (size_t i = 0; i < 4; i++) ck_assert_uint_eq(sdv_shard_size(m, i), i < 2 ? 45 : 44);
  /* Agents hold contiguous label ranges: max label of agent i <= min label of agent i + 1. */
  double lo[4], hi[4];
  for (size_t i = 0; i < 4; i++) {
    lo[i] = INFINITY, hi[i] = -INFINITY;
    for (size_t k = m->shard_start[i]; k < m->shard_start[i + 1]; k++) {
      const double y = label(m, m->shard_index[k]);
      lo[i] = fmin(lo[i], y), hi[i] = fmax(hi[i], y);
    }
  }
  for (size_t i = 0; i + 1 < 4; i++) ck_assert(hi[i] <= lo[i + 1]);
  /* The reference of lib/model/shards.c: class 0 (59 samples) fills shard 1 and part of 2. */
  ck_assert(hi[0] == 0.0 && lo[1] == 0.0 && hi[1] == 1.0);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_shards_dirichlet) {
  sdv_model *a = wine_model(3, "dirichlet:alpha=0.5:seed=11");
  sdv_model *b = wine_model(3, "dirichlet:alpha=0.5:seed=11");
  sdv_model *c = wine_model(3, "dirichlet:alpha=0.5:seed=12");
  assert_partition(a);
  assert_partition(c);
  /* Same seed: the same split, bit for bit; another seed: another split. */
  ck_assert_mem_eq(a->shard_start, b->shard_start, 4 * sizeof(size_t));
  ck_assert_mem_eq(a->shard_index, b->shard_index, 178 * sizeof(size_t));
  ck_assert(memcmp(a->shard_index, c->shard_index, 178 * sizeof(size_t)) != 0 ||
            memcmp(a->shard_start, c->shard_start, 4 * sizeof(size_t)) != 0);
  /* Heterogeneous: with alpha = 0.5 the shards' class mixes differ (some agent has a class
   * share below 1/5 of what iid would give). */
  bool skewed = false;
  for (size_t i = 0; i < 3; i++) {
    size_t count[3] = {0, 0, 0};
    for (size_t k = a->shard_start[i]; k < a->shard_start[i + 1]; k++)
      count[(size_t)label(a, a->shard_index[k])]++;
    const double ni = (double)sdv_shard_size(a, i);
    const double share[3] = {59.0 / 178, 71.0 / 178, 48.0 / 178};
    for (size_t k = 0; k < 3; k++) skewed = skewed || (double)count[k] < 0.2 * share[k] * ni;
  }
  ck_assert(skewed);
  /* Large alpha is close to iid: every agent gets every class. */
  sdv_model *d = wine_model(3, "dirichlet:alpha=1000");
  for (size_t i = 0; i < 3; i++) {
    size_t count[3] = {0, 0, 0};
    for (size_t k = d->shard_start[i]; k < d->shard_start[i + 1]; k++)
      count[(size_t)label(d, d->shard_index[k])]++;
    for (size_t k = 0; k < 3; k++) ck_assert_uint_gt(count[k], 10);
  }
  sdv_model_free(a);
  sdv_model_free(b);
  sdv_model_free(c);
  sdv_model_free(d);
}
END_TEST

/* ---- moments ---- */

/* Sigma(x) computed directly as d x d sums from the per-sample gradients (independent of
 * lib/model/minibatch.c): (1/N^2) sum_i [V_i + Phihat_i(V_i + gbar_i gbar_i^T)] with
 * V_i = C_i/B + var_i I, Phihat the compressor's linear map (rand-k:
 * (omega/(d-1)) (d diag(M) - M); none for DSGD). inv_n2 replaces 1/N^2 (negative control).
 * Also returns the expected mean -b = (1/N) sum_i gbar_i in mean. */
static void direct_sigma(const sdv_model *m, const double *x, double rand_k_omega, double inv_n2,
                         double *S, double *mean) {
  const size_t d = m->dim, N = m->agents;
  double *g = malloc(d * sizeof *g), *gbar = malloc(d * sizeof *gbar);
  double *V = malloc(d * d * sizeof *V);
  ck_assert(g && gbar && V);
  for (size_t k = 0; k < d * d; k++) S[k] = 0.0;
  for (size_t j = 0; j < d; j++) mean[j] = 0.0;
  for (size_t i = 0; i < N; i++) {
    const size_t ni = sdv_shard_size(m, i), lo = m->shard_start[i];
    for (size_t j = 0; j < d; j++) gbar[j] = 0.0;
    for (size_t k = 0; k < d * d; k++) V[k] = 0.0;
    for (size_t t = 0; t < ni; t++) {
      ck_assert_int_eq(sdv_objective_sample_gradient(m->objective, m->shard_index[lo + t], x, g),
                       SDV_OK);
      for (size_t j = 0; j < d; j++) gbar[j] += g[j] / (double)ni;
    }
    for (size_t t = 0; t < ni; t++) {
      sdv_objective_sample_gradient(m->objective, m->shard_index[lo + t], x, g);
      for (size_t j = 0; j < d; j++)
        for (size_t l = 0; l < d; l++)
          V[j * d + l] += (g[j] - gbar[j]) * (g[l] - gbar[l]) / ((double)ni * (double)m->batch);
    }
    for (size_t j = 0; j < d; j++) V[j * d + j] += m->var[i];
    for (size_t j = 0; j < d; j++) {
      mean[j] += gbar[j] / (double)N;
      for (size_t l = 0; l < d; l++) {
        double s = V[j * d + l];
        if (rand_k_omega > 0.0) {
          const double M = V[j * d + l] + gbar[j] * gbar[l];
          s += rand_k_omega / (double)(d - 1) * ((j == l ? (double)d * M : 0.0) - M);
        }
        S[j * d + l] += s * inv_n2;
      }
    }
  }
  free(g), free(gbar), free(V);
}

static sdv_model *small_model(const char *method, const char *noise, const char *compressor,
                              const char *batch, double scale) {
  char sc[32];
  snprintf(sc, sizeof sc, "%.17g", scale);
  const char *const kv[] = {
      "objective",       objective, "dim",   "9",   "agents", "2",    "batch",      batch,
      "noise",           noise,     "sigma", "0.4", "method", method, "compressor", compressor,
      "diffusion-scale", sc,        NULL};
  return sdv_test_model(kv);
}

START_TEST(test_dsgd_moments) {
  sdv_model *m = small_model("dsgd", "minibatch", "identity", "3", 1.0);
  ck_assert_uint_eq(sdv_shard_size(m, 0), 7);
  ck_assert_uint_eq(sdv_shard_size(m, 1), 6);
  double S[81], Sx[81], mean[9], S_noN[81];
  direct_sigma(m, x_test, 0.0, 0.25, S, mean);
  direct_sigma(m, x_test, 0.0, 0.5, S_noN, mean); /* 1/N instead of 1/N^2 */
  for (size_t k = 0; k < 81; k++) Sx[k] = 1.1 * S[k];
  /* The drift is -(1/N) sum_i grad f_i; the shards are unequal, so it is not -grad f. */
  double mb[9], g[9];
  minus_drift(m, x_test, mb);
  for (size_t j = 0; j < 9; j++) ck_assert_double_eq_tol(mb[j], mean[j], 1e-14);
  sdv_objective_gradient(m->objective, x_test, g);
  double gap = 0.0;
  for (size_t j = 0; j < 9; j++) gap += fabs(g[j] - mean[j]);
  ck_assert_double_gt(gap, 1e-3);
  /* The diffusion is on the sampled route. */
  sdv_work *w = work(m);
  sdv_diffusion *D;
  ck_assert_int_eq(sdv_model_diffusion(m, w, x_test, &D), SDV_OK);
  ck_assert_int_eq(D->structure, SDV_DIFFUSION_SAMPLED);
  sdv_work_free(w);
  /* Steps: mean and covariance; the wrong Sigmas must be rejected by the same test. */
  double *u = sample_steps(m, x_test, M_DRAWS, 41);
  ck_assert_int_eq(check_moments("dsgd-step", u, M_DRAWS, 9, mean, S, NULL, K_SE, 0), 0);
  fprintf(stderr, "(expected failures of deliberately wrong Sigmas follow)\n");
  ck_assert_int_gt(check_moments("dsgd-step-1.1", u, M_DRAWS, 9, mean, Sx, NULL, K_SE, 0), 0);
  ck_assert_int_gt(check_moments("dsgd-step-noN", u, M_DRAWS, 9, mean, S_noN, NULL, K_SE, 0), 0);
  free(u);
  /* The sampled increment: mean 0, covariance Sigma, symmetric. */
  const double zero[9] = {0};
  u = sample_increments(m, x_test, M_DRAWS, 43);
  ck_assert_int_eq(check_moments("dsgd-incr", u, M_DRAWS, 9, zero, S, NULL, K_SE, 1), 0);
  free(u);
  /* Negative control: a model whose diffusion is 10% too large. */
  sdv_model *bad = small_model("dsgd", "minibatch", "identity", "3", sqrt(1.1));
  u = sample_increments(bad, x_test, M_DRAWS, 43);
  ck_assert_int_gt(check_moments("dsgd-incr-1.1", u, M_DRAWS, 9, zero, S, NULL, K_SE, 0), 0);
  free(u);
  sdv_model_free(bad);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_dcsgd_moments) {
  /* rand-k with k = 3 of d = 9 (omega = 2) and Student-t nu = 5 added on top. */
  sdv_model *m = small_model("dcsgd", "minibatch+student-t:nu=5", "rand-k:k=3", "2", 1.0);
  ck_assert_double_eq_tol(m->var[0], 0.16 * 5.0 / 3.0 / 2.0, 1e-15);
  double S[81], Sx[81], mean[9];
  direct_sigma(m, x_test, 2.0, 0.25, S, mean);
  for (size_t k = 0; k < 81; k++) Sx[k] = 1.1 * S[k];
  double mb[9];
  minus_drift(m, x_test, mb);
  for (size_t j = 0; j < 9; j++) ck_assert_double_eq_tol(mb[j], mean[j], 1e-14);
  double *u = sample_steps(m, x_test, M_DRAWS, 47);
  ck_assert_int_eq(check_moments("dcsgd-step", u, M_DRAWS, 9, mean, S, NULL, K_SE, 0), 0);
  free(u);
  const double zero[9] = {0};
  u = sample_increments(m, x_test, M_DRAWS, 53);
  ck_assert_int_eq(check_moments("dcsgd-incr", u, M_DRAWS, 9, zero, S, NULL, K_SE, 1), 0);
  fprintf(stderr, "(expected failures of a deliberately wrong Sigma follow)\n");
  ck_assert_int_gt(check_moments("dcsgd-incr-1.1", u, M_DRAWS, 9, zero, Sx, NULL, K_SE, 0), 0);
  free(u);
  sdv_model_free(m);
}
END_TEST

/* DSignSGD: the CLT drift and diffusion against the formulas evaluated here, from the
 * per-sample gradients (exact arithmetic up to rounding). */
START_TEST(test_dsignsgd_formulas) {
  for (int added = 0; added < 2; added++) {
    sdv_model *m =
        small_model("dsignsgd", added ? "minibatch+gaussian" : "minibatch", "identity", "4", 1.0);
    const size_t d = 9, N = 2;
    double b[9], want_b[9] = {0}, want_d[9] = {0}, g[9];
    for (size_t i = 0; i < N; i++) {
      const size_t ni = sdv_shard_size(m, i), lo = m->shard_start[i];
      double mu[9] = {0}, m2[9] = {0};
      for (size_t t = 0; t < ni; t++) {
        sdv_objective_sample_gradient(m->objective, m->shard_index[lo + t], x_test, g);
        for (size_t j = 0; j < d; j++)
          mu[j] += g[j] / (double)ni, m2[j] += g[j] * g[j] / (double)ni;
      }
      for (size_t j = 0; j < d; j++) {
        const double s2 = (m2[j] - mu[j] * mu[j]) / 4.0 + (added ? 0.16 / 4.0 : 0.0);
        const double mij = erf(mu[j] / sqrt(2.0 * s2));
        want_b[j] -= mij / (double)N;
        want_d[j] += (1.0 - mij * mij) / (double)(N * N);
      }
    }
    sdv_work *w = work(m);
    sdv_model_drift(m, w, x_test, b);
    double *S = sigma_dense(m, w, x_test, SDV_DIFFUSION_DIAGONAL);
    for (size_t j = 0; j < d; j++) {
      ck_assert_double_eq_tol(b[j], want_b[j], 1e-12);
      ck_assert_double_eq_tol(S[j * d + j], want_d[j], 1e-12);
    }
    /* The diffusion without the drift's memo gives the same numbers. */
    sdv_work *w2 = work(m);
    double *S2 = sigma_dense(m, w2, x_test, SDV_DIFFUSION_DIAGONAL);
    ck_assert_mem_eq(S, S2, 81 * sizeof *S);
    free(S), free(S2);
    sdv_work_free(w2);
    sdv_work_free(w);
    sdv_model_free(m);
  }
}
END_TEST

/* The DSignSGD step's mean is E sign(g_i) exactly; with B = 12 the CLT drift is close to it.
 * The step's mean is compared with the drift within K standard errors plus a stated
 * approximation allowance of 0.05 per coordinate (the CLT error is O(1/sqrt(B))). */
START_TEST(test_dsignsgd_step) {
  sdv_model *m = small_model("dsignsgd", "minibatch", "identity", "12", 1.0);
  double mb[9];
  minus_drift(m, x_test, mb);
  double *u = sample_steps(m, x_test, 20000, 59);
  for (size_t j = 0; j < 9; j++) {
    double s = 0.0, s2 = 0.0;
    for (size_t t = 0; t < 20000; t++) s += u[t * 9 + j], s2 += u[t * 9 + j] * u[t * 9 + j];
    const double mu = s / 20000.0, se = sqrt((s2 / 20000.0 - mu * mu) / 20000.0);
    ck_assert_msg(fabs(mu - mb[j]) <= K_SE * se + 0.05, "coordinate %zu: step mean %g, CLT %g", j,
                  mu, mb[j]);
    /* Each coordinate of U lies in {-1, 0, 1} for N = 2. */
    for (size_t t = 0; t < 20000; t++) ck_assert(fabs(u[t * 9 + j]) <= 1.0 + 1e-12);
  }
  free(u);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_reproducible) {
  sdv_model *m = small_model("dcsgd", "minibatch+student-t:nu=5", "rand-k:k=3", "2", 1.0);
  double *a = sample_steps(m, x_test, 50, 5), *b = sample_steps(m, x_test, 50, 5);
  double *c = sample_steps(m, x_test, 50, 6);
  ck_assert_mem_eq(a, b, 450 * sizeof *a);
  ck_assert(memcmp(a, c, 450 * sizeof *a) != 0);
  free(a), free(b), free(c);
  a = sample_increments(m, x_test, 50, 5);
  b = sample_increments(m, x_test, 50, 5);
  ck_assert_mem_eq(a, b, 450 * sizeof *a);
  free(a), free(b);
  /* Agent i's minibatch gradient: the same draws give the same vector. */
  sdv_work *w = work(m);
  double g1[9], g2[9];
  sdv_stream s;
  sdv_stream_init(&s, 8, 0, SDV_PURPOSE_NOISE, 0);
  ck_assert_int_eq(sdv_model_minibatch_gradient(m, w, 1, x_test, &s, g1), SDV_OK);
  sdv_stream_init(&s, 8, 0, SDV_PURPOSE_NOISE, 0);
  ck_assert_int_eq(sdv_model_minibatch_gradient(m, w, 1, x_test, &s, g2), SDV_OK);
  ck_assert_mem_eq(g1, g2, sizeof g1);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

/* DSGD gained increment() for minibatch noise; it also serves --sde sampled with synthetic
 * noise: (1/N) sum_i Z_i, covariance (1/N^2) sum_i v_i I. Reference of lib/optimizer/dsgd.c:
 * N = 2, B = 2, Gaussian sigma = (0.5, 1.5): 0.3125 per coordinate. Same K_SE test. */
START_TEST(test_dsgd_sampled_route) {
  const char *const kv[] = {"dim", "3",       "agents", "2",       "batch", "2",
                            "sde", "sampled", "sigma",  "0.5,1.5", NULL};
  sdv_model *m = sdv_test_model(kv);
  const double x[3] = {0.4, -1.1, 2.385}, zero[3] = {0};
  double S[9] = {0};
  for (size_t j = 0; j < 3; j++) S[j * 3 + j] = 0.3125;
  sdv_work *w = work(m);
  sdv_diffusion *D;
  ck_assert_int_eq(sdv_model_diffusion(m, w, x, &D), SDV_OK);
  ck_assert_int_eq(D->structure, SDV_DIFFUSION_SAMPLED);
  sdv_work_free(w);
  double *u = sample_increments(m, x, M_DRAWS, 61);
  ck_assert_int_eq(check_moments("dsgd-sampled", u, M_DRAWS, 3, zero, S, NULL, K_SE, 1), 0);
  free(u);
  sdv_model_free(m);
}
END_TEST

static Suite *suite(void) {
  (void)step_moments, (void)phi_reference; /* shared helpers this suite does not need */
  Suite *s = suite_create("minibatch");
  TCase *tc = tcase_create("options");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_option_errors);
  tcase_add_test(tc, test_description);
  tcase_add_test(tc, test_labels);
  suite_add_tcase(s, tc);
  tc = tcase_create("shards");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_shards_iid);
  tcase_add_test(tc, test_shards_label_skew);
  tcase_add_test(tc, test_shards_dirichlet);
  suite_add_tcase(s, tc);
  tc = tcase_create("moments");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_dsgd_moments);
  tcase_add_test(tc, test_dcsgd_moments);
  tcase_add_test(tc, test_dsignsgd_formulas);
  tcase_add_test(tc, test_dsignsgd_step);
  tcase_add_test(tc, test_reproducible);
  tcase_add_test(tc, test_dsgd_sampled_route);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sdv_test_run(suite()); }
