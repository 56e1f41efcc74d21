/* Tests of the model object (lib/model): options, validation of every field, derived
 * per-agent values, the minibatch noise draw, observables, the description, scratch.
 * Reference value from lib/model/model.c: student-t:nu=3, sigma = 2.385, B = 4 gives
 * var = 2.385^2 * 3 / 4 and scale = NAN. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/model.h>

#include "core/work.h"
#include "testutil.h"

/* The error message contains every needle. */
static void assert_error_names(const char *a, const char *b) {
  const char *e = sdv_last_error();
  ck_assert_msg(strstr(e, a) != NULL, "error '%s' does not name '%s'", e, a);
  if (b) ck_assert_msg(strstr(e, b) != NULL, "error '%s' does not name '%s'", e, b);
}

/* ---- defaults ---- */

START_TEST(test_defaults) {
  sdv_model_options o;
  sdv_model_options_default(&o);
  ck_assert_str_eq(o.method, "dsgd");
  ck_assert_uint_eq(o.dim, 1);
  ck_assert_uint_eq(o.agents, 1);
  ck_assert_uint_eq(o.batch, 1);
  ck_assert(o.eta == 0.1);
  ck_assert_str_eq(o.objective, "quadratic:lam=1");
  ck_assert_str_eq(o.noise, "gaussian");
  ck_assert_str_eq(o.sigma, "1");
  ck_assert_str_eq(o.compressor, "identity");
  ck_assert_str_eq(o.x0, "1");
  ck_assert(o.seed == 1);
  ck_assert_int_eq(o.sde_route, SDV_SDE_AUTO);
  ck_assert(o.diffusion_scale == 1.0);

  sdv_model *m = sdv_test_model(NULL);
  ck_assert_ptr_eq(m->method, sdv_method_dsgd);
  ck_assert_uint_eq(m->dim, 1);
  ck_assert_uint_eq(m->agents, 1);
  ck_assert(m->var[0] == 1.0 && m->scale[0] == 1.0 && m->omega[0] == 0.0);
  ck_assert_ptr_null(m->compressor);
  ck_assert(m->x0[0] == 1.0);
  ck_assert_str_eq(m->description,
                   "dsgd dim=1 agents=1 batch=1 eta=0.1 "
                   "objective=quadratic:lam=1 noise=gaussian sigma=1 x0=1 "
                   "seed=1 sde=auto diffusion-scale=1");
  sdv_model_free(m);
}
END_TEST

/* ---- options_set ---- */

START_TEST(test_options_set) {
  sdv_model_options o;
  const char *const kv[] = {"method",
                            "dcsgd",
                            "dim",
                            "4",
                            "agents",
                            "3",
                            "batch",
                            "2",
                            "eta",
                            "0.0375",
                            "objective",
                            "quadratic:lam=0.5..2",
                            "noise",
                            "student-t:nu=5",
                            "sigma",
                            "0.5,1,2.385",
                            "compressor",
                            "rand-k:k=2",
                            "x0",
                            "0.3,-1.2,2.385,0.7",
                            "seed",
                            "18446744073709551615",
                            "sde",
                            "sampled",
                            "diffusion-scale",
                            "0.5",
                            NULL};
  sdv_test_model_options(&o, kv);
  ck_assert_str_eq(o.method, "dcsgd");
  ck_assert_uint_eq(o.dim, 4);
  ck_assert_uint_eq(o.agents, 3);
  ck_assert_uint_eq(o.batch, 2);
  ck_assert(o.eta == 0.0375);
  ck_assert_str_eq(o.objective, "quadratic:lam=0.5..2");
  ck_assert_str_eq(o.noise, "student-t:nu=5");
  ck_assert_str_eq(o.sigma, "0.5,1,2.385");
  ck_assert_str_eq(o.compressor, "rand-k:k=2");
  ck_assert_str_eq(o.x0, "0.3,-1.2,2.385,0.7");
  ck_assert(o.seed == UINT64_MAX);
  ck_assert_int_eq(o.sde_route, SDV_SDE_SAMPLED);
  ck_assert(o.diffusion_scale == 0.5);
  ck_assert_int_eq(sdv_model_options_set(&o, "sde", "auto"), SDV_OK);
  ck_assert_int_eq(o.sde_route, SDV_SDE_AUTO);
}
END_TEST

START_TEST(test_options_set_errors) {
  sdv_model_options o;
  sdv_model_options_default(&o);
  static const struct {
    const char *name, *value, *needle;
  } bad[] = {
      {"eta", "nan", "eta"},
      {"eta", "inf", "eta"},
      {"eta", "0.1x", "eta"},
      {"dim", "-3", "dim"},
      {"dim", "2.5", "dim"},
      {"agents", "four", "agents"},
      {"batch", "", "batch"},
      {"seed", "-1", "seed"},
      {"sde", "exact", "sde_route"},
      {"diffusion-scale", "nan", "diffusion_scale"},
      {"learning-rate", "0.1", "learning-rate"},
      {"Eta", "0.1", "Eta"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    sdv_clear_error();
    ck_assert_msg(sdv_model_options_set(&o, bad[k].name, bad[k].value) == SDV_EINVAL,
                  "--%s=%s accepted", bad[k].name, bad[k].value);
    /* Unknown names are named; bad values are named with the option. */
    assert_error_names(bad[k].needle, strcmp(bad[k].needle, bad[k].name) ? bad[k].value : NULL);
  }
  ck_assert_int_eq(sdv_model_options_set(&o, "eta", NULL), SDV_EINVAL);
  ck_assert_int_eq(sdv_model_options_set(&o, NULL, "1"), SDV_EINVAL);
  /* Nothing above changed the options. */
  ck_assert(o.eta == 0.1);
  ck_assert_uint_eq(o.dim, 1);
}
END_TEST

/* ---- validation in sdv_model_alloc ---- */

typedef struct bad_case {
  const char *name, *value; /* the one option changed from the valid base */
  int status;
  const char *needle1, *needle2;
} bad_case;

/* A valid base model: dcsgd, d = 3, N = 2. */
static void base_options(sdv_model_options *o) {
  const char *const kv[] = {"method",     "dcsgd",
                            "dim",        "3",
                            "agents",     "2",
                            "eta",        "0.05",
                            "objective",  "quadratic:lam=0.5,1.3,2.1",
                            "sigma",      "0.7,1.9",
                            "compressor", "rand-k:k=2",
                            "x0",         "0.3,-1.2,2.385",
                            NULL};
  sdv_test_model_options(o, kv);
}

START_TEST(test_invalid_options) {
  static const bad_case cases[] = {
      /* compressor parameters */
      {"compressor", "rand-k:k=0", SDV_EINVAL, "compressor", "rand-k:k=0"},
      {"compressor", "rand-k:k=4", SDV_EINVAL, "compressor", "rand-k:k=4"},
      {"compressor", "bernoulli:p=0", SDV_EINVAL, "compressor", "bernoulli:p=0"},
      {"compressor", "bernoulli:p=1.5", SDV_EINVAL, "compressor", "bernoulli:p=1.5"},
      {"compressor", "bernoulli:p=-0.25", SDV_EINVAL, "compressor", "p=-0.25"},
      {"compressor", "qsgd:s=0", SDV_EINVAL, "compressor", "qsgd:s=0"},
      {"compressor", "rand-k:K=2", SDV_EINVAL, "compressor", "rand-k:K=2"},
      {"compressor", "top-k:k=1", SDV_EINVAL, "compressor", "top-k"},
      {"compressor", "identity;rand-k:k=1;identity", SDV_EINVAL, "compressor", "3 specs"},
      {"compressor", "identity;", SDV_EINVAL, "compressor", "identity;"},
      /* noise */
      {"noise", "student-t:nu=0", SDV_EINVAL, "noise", "student-t:nu=0"},
      {"noise", "student-t:nu=-1.5", SDV_EINVAL, "noise", "nu=-1.5"},
      {"noise", "laplace", SDV_EINVAL, "noise", "laplace"},
      {"noise", "gaussian;cauchy;gaussian", SDV_EINVAL, "noise", "3 specs"},
      /* sigma */
      {"sigma", "-0.5", SDV_EINVAL, "sigma", "-0.5"},
      {"sigma", "0.7,-2.385", SDV_EINVAL, "sigma", "-2.385"},
      {"sigma", "0.7,1.9,2.385", SDV_EINVAL, "sigma", "3 values; expected 1 or 2 (agents)"},
      {"sigma", "0.7,nan", SDV_EINVAL, "sigma", "nan"},
      {"sigma", "", SDV_EINVAL, "sigma", NULL},
      /* x0 */
      {"x0", "0.3,-1.2", SDV_EINVAL, "x0", "2 values; expected 1 or 3 (dim)"},
      {"x0", "0.3,inf,1", SDV_EINVAL, "x0", "inf"},
      /* names */
      {"method", "adam", SDV_EINVAL, "method", "adam"},
      {"objective", "rosenbrock", SDV_EINVAL, "objective", "rosenbrock"},
      {"objective", "quadratic:lam=-1", SDV_EINVAL, "objective", "lam=-1"},
      /* numbers */
      {"eta", "-0.5", SDV_EINVAL, "eta", "-0.5"},
      {"eta", "0", SDV_EINVAL, "eta = 0", NULL},
      {"dim", "0", SDV_EINVAL, "dim = 0", NULL},
      {"agents", "0", SDV_EINVAL, "agents = 0", NULL},
      {"batch", "0", SDV_EINVAL, "batch = 0", NULL},
      {"diffusion-scale", "-1.25", SDV_EINVAL, "diffusion_scale", "-1.25"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    sdv_model_options o;
    base_options(&o);
    ck_assert_int_eq(sdv_model_options_set(&o, cases[k].name, cases[k].value), SDV_OK);
    sdv_model *m = (sdv_model *)&o; /* must be reset to NULL */
    sdv_clear_error();
    const int rc = sdv_model_alloc(&m, &o);
    ck_assert_msg(rc == cases[k].status, "--%s=%s: status %d, expected %d (%s)", cases[k].name,
                  cases[k].value, rc, cases[k].status, sdv_last_error());
    ck_assert_ptr_null(m);
    assert_error_names(cases[k].needle1, cases[k].needle2);
  }
}
END_TEST

/* Values that cannot come through options_set but can be put in the struct directly. */
START_TEST(test_invalid_struct) {
  sdv_model_options o;
  sdv_model *m = NULL;
  const double bad_eta[] = {NAN, INFINITY, -INFINITY, -0.0, 0.0};
  for (size_t k = 0; k < 5; k++) {
    base_options(&o);
    o.eta = bad_eta[k];
    ck_assert_int_eq(sdv_model_alloc(&m, &o), SDV_EINVAL);
    ck_assert_ptr_null(m);
    assert_error_names("eta", NULL);
  }
  base_options(&o);
  o.diffusion_scale = NAN;
  ck_assert_int_eq(sdv_model_alloc(&m, &o), SDV_EINVAL);
  assert_error_names("diffusion_scale = nan", NULL);
  base_options(&o);
  o.sde_route = (sdv_sde_route)7;
  ck_assert_int_eq(sdv_model_alloc(&m, &o), SDV_EINVAL);
  assert_error_names("sde_route = 7", NULL);
  ck_assert_int_eq(sdv_model_alloc(&m, NULL), SDV_EINVAL);
  ck_assert_ptr_null(m);
  ck_assert_int_eq(sdv_model_alloc(NULL, &o), SDV_EINVAL);
}
END_TEST

START_TEST(test_invalid_method_specific) {
  sdv_model *m = NULL;
  sdv_model_options o;
  /* A compressor given to a method that does not compress. */
  const char *const dsgd[] = {"method", "dsgd", "compressor", "rand-k:k=1", NULL};
  sdv_test_model_options(&o, dsgd);
  ck_assert_int_eq(sdv_model_alloc(&m, &o), SDV_EINVAL);
  ck_assert_ptr_null(m);
  assert_error_names("compressor = 'rand-k:k=1'", "only used by dcsgd");
  const char *const sign[] = {"method", "dsignsgd", "compressor", "bernoulli:p=0.5", NULL};
  sdv_test_model_options(&o, sign);
  ck_assert_int_eq(sdv_model_alloc(&m, &o), SDV_EINVAL);
  assert_error_names("compressor", "dsignsgd");
  /* The sampled route exists only where a method has increment() (DSGD has one since
   * minibatch noise; DSignSGD's diffusion is always in closed form). */
  const char *const sampled[] = {"method", "dsignsgd", "sde", "sampled", NULL};
  sdv_test_model_options(&o, sampled);
  ck_assert_int_eq(sdv_model_alloc(&m, &o), SDV_ENOTSUP);
  assert_error_names("sde_route = sampled", "dsignsgd");
  /* DSignSGD needs the law of the minibatch mean: not known for t_3 with B > 1. */
  const char *const t3[] = {"method", "dsignsgd", "noise", "student-t:nu=3", "batch", "4", NULL};
  sdv_test_model_options(&o, t3);
  ck_assert_int_eq(sdv_model_alloc(&m, &o), SDV_ENOTSUP);
  ck_assert_ptr_null(m);
  assert_error_names("B = 4", "student-t");
  /* ... but it is for B = 1, for Cauchy and Gaussian at any B, and for sigma = 0. */
  const char *const ok1[] = {"method", "dsignsgd", "noise", "student-t:nu=3", NULL};
  sdv_model_free(sdv_test_model(ok1));
  const char *const ok2[] = {"method", "dsignsgd", "noise", "cauchy", "batch", "4", NULL};
  sdv_model_free(sdv_test_model(ok2));
  const char *const ok3[] = {"method", "dsignsgd", "noise", "student-t:nu=3", "batch", "4",
                             "sigma",  "0",        NULL};
  sdv_model_free(sdv_test_model(ok3));
  /* DSGD accepts the same heavy-tailed minibatch (the step averages literally). */
  const char *const ok4[] = {"method", "dsgd", "noise", "student-t:nu=1.5", "batch", "4", NULL};
  sdv_model_free(sdv_test_model(ok4));
}
END_TEST

/* ---- derived per-agent values ---- */

START_TEST(test_derived) {
  const char *const kv[] = {"method",     "dcsgd",
                            "dim",        "4",
                            "agents",     "4",
                            "batch",      "4",
                            "noise",      "gaussian;student-t:nu=3;cauchy;cauchy",
                            "sigma",      "0.5,2.385,1.25,0",
                            "compressor", "bernoulli:p=0.25;rand-k:k=2;identity;qsgd:s=2",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  /* var = sigma^2 Var T / B; Var t_3 = 3; Cauchy infinite; sigma = 0 means no noise. */
  ck_assert_rel(m->var[0], 0.25 / 4.0, 1e-15);
  ck_assert_rel(m->var[1], 2.385 * 2.385 * 3.0 / 4.0, 1e-15);
  ck_assert(isinf(m->var[2]) && m->var[2] > 0);
  ck_assert(m->var[3] == 0.0);
  /* scale = sigma c_B: Gaussian B^-1/2, t_3 not stable (NAN), Cauchy 1. */
  ck_assert_rel(m->scale[0], 0.25, 1e-15);
  ck_assert(isnan(m->scale[1]));
  ck_assert_rel(m->scale[2], 1.25, 1e-15);
  ck_assert(m->scale[3] == 0.0);
  /* omega: Bernoulli 1/p - 1, rand-k d/k - 1, identity 0, qsgd its declared bound. */
  ck_assert_rel(m->omega[0], 3.0, 1e-15);
  ck_assert_rel(m->omega[1], 1.0, 1e-15);
  ck_assert(m->omega[2] == 0.0);
  ck_assert(m->omega[3] > 0.0 && m->omega[3] == sdv_compressor_omega(m->compressor[3]));
  for (size_t i = 0; i < 4; i++) ck_assert_ptr_nonnull(m->compressor[i]);
  sdv_model_free(m);

  /* B = 1: every law has scale sigma, and t_3 has finite variance 3 sigma^2. */
  const char *const kv1[] = {"agents", "2",         "noise", "student-t:nu=3;gaussian",
                             "sigma",  "2.385,0.5", NULL};
  m = sdv_test_model(kv1);
  ck_assert_rel(m->scale[0], 2.385, 1e-15);
  ck_assert_rel(m->var[0], 3.0 * 2.385 * 2.385, 1e-15);
  ck_assert_rel(m->var[1], 0.25, 1e-15);
  ck_assert_ptr_null(m->compressor);
  ck_assert(m->omega[0] == 0.0 && m->omega[1] == 0.0);
  sdv_model_free(m);
}
END_TEST

/* ---- minibatch noise ---- */

START_TEST(test_draw_noise) {
  const char *const kv[] = {"dim",   "3",         "agents", "3",
                            "batch", "3",         "noise",  "gaussian;student-t:nu=5;cauchy",
                            "sigma", "0.7,1.9,0", NULL};
  sdv_model *m = sdv_test_model(kv);
  double z[3], t[9];
  sdv_stream s, r;
  /* Stable law: d draws scaled by sigma / sqrt(B). */
  sdv_stream_init(&s, 11, 2, SDV_PURPOSE_NOISE, 0);
  sdv_stream_init(&r, 11, 2, SDV_PURPOSE_NOISE, 0);
  sdv_model_draw_noise(m, 0, &s, z);
  sdv_noise_sample_n(m->noise[0], &r, t, 3);
  for (size_t j = 0; j < 3; j++) ck_assert_rel(z[j], t[j] * 0.7 / sqrt(3.0), 1e-15);
  /* Not stable: B draws per coordinate, coordinate by coordinate, averaged. */
  sdv_model_draw_noise(m, 1, &s, z);
  for (size_t k = 0; k < 9; k++) t[k] = sdv_noise_sample(m->noise[1], &r);
  for (size_t j = 0; j < 3; j++)
    ck_assert_rel(z[j], 1.9 * (t[3 * j] + t[3 * j + 1] + t[3 * j + 2]) / 3.0, 1e-14);
  /* sigma = 0: exact zeros, and the d draws are still consumed, so later agents' draws do
   * not depend on it. */
  sdv_model_draw_noise(m, 2, &s, z);
  for (size_t j = 0; j < 3; j++) ck_assert(z[j] == 0.0);
  sdv_noise_sample_n(m->noise[2], &r, t, 3);
  ck_assert(sdv_stream_u64(&s) == sdv_stream_u64(&r));
  sdv_model_free(m);
}
END_TEST

/* ---- observables ---- */

START_TEST(test_observables) {
  const char *const kv[] = {"dim", "3", "objective", "quadratic:lam=0.5,1.5,2.5", NULL};
  sdv_model *m = sdv_test_model(kv);
  sdv_work *w = NULL;
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  const double x[3] = {0.3, -1.2, 2.385};
  const double lam[3] = {0.5, 1.5, 2.5};
  double f = 0, n2 = 0, g2 = 0;
  for (size_t j = 0; j < 3; j++) {
    f += 0.5 * lam[j] * x[j] * x[j];
    n2 += x[j] * x[j];
    g2 += lam[j] * x[j] * lam[j] * x[j];
  }
  static const struct {
    const char *text;
    sdv_observable_kind kind;
    size_t index;
  } ok[] = {{"f", SDV_OBS_F, 0},   {"norm2", SDV_OBS_NORM2, 0}, {"grad2", SDV_OBS_GRAD2, 0},
            {"x:2", SDV_OBS_X, 1}, {"x2:3", SDV_OBS_X2, 2},     {"x:1", SDV_OBS_X, 0}};
  const double want[] = {f, n2, g2, -1.2, 2.385 * 2.385, 0.3};
  for (size_t k = 0; k < 6; k++) {
    sdv_observable o;
    char buf[32];
    ck_assert_int_eq(sdv_observable_parse(&o, ok[k].text, 3), SDV_OK);
    ck_assert_int_eq(o.kind, ok[k].kind);
    if (o.kind == SDV_OBS_X || o.kind == SDV_OBS_X2) ck_assert_uint_eq(o.index, ok[k].index);
    ck_assert_str_eq(sdv_observable_name(&o, buf, sizeof buf), ok[k].text);
    ck_assert_rel(sdv_observable_eval(&o, m, w, x), want[k], 1e-15);
  }
  static const char *const bad[] = {"x:0", "x:4", "x2:17", "x:", "x:abc", "x2:-1",
                                    "y",   "F",   "f ",    "",   "x:1.5"};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    sdv_observable o;
    sdv_clear_error();
    ck_assert_msg(sdv_observable_parse(&o, bad[k], 3) == SDV_EINVAL, "'%s' accepted", bad[k]);
    char quoted[32];
    snprintf(quoted, sizeof quoted, "'%s'", bad[k]);
    assert_error_names(quoted, NULL);
  }
  sdv_observable o;
  ck_assert_int_eq(sdv_observable_parse(&o, NULL, 3), SDV_EINVAL);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

static double user_fn(void *user, size_t dim, const double *x) {
  return *(const double *)user * x[dim - 1];
}

START_TEST(test_observable_user) {
  const char *const kv[] = {"dim", "2", NULL};
  sdv_model *m = sdv_test_model(kv);
  double factor = 2.385;
  sdv_observable o = {.kind = SDV_OBS_USER, .fn = user_fn, .user = &factor, .label = "mine"};
  const double x[2] = {0.3, -1.2};
  char buf[16];
  ck_assert_rel(sdv_observable_eval(&o, m, NULL, x), -1.2 * 2.385, 1e-15);
  ck_assert_str_eq(sdv_observable_name(&o, buf, sizeof buf), "mine");
  o.label = NULL;
  ck_assert_str_eq(sdv_observable_name(&o, buf, sizeof buf), "user");
  sdv_model_free(m);
}
END_TEST

/* ---- description ---- */

START_TEST(test_description) {
  const char *const kv[] = {"method",
                            "dcsgd",
                            "dim",
                            "3",
                            "agents",
                            "3",
                            "batch",
                            "2",
                            "eta",
                            "0.1",
                            "objective",
                            "quadratic:lam=0.5..2",
                            "noise",
                            "gaussian;cauchy;gaussian",
                            "sigma",
                            "0.30,0.3,0.3",
                            "compressor",
                            "rand-k:k=2",
                            "x0",
                            "0.3,-1.2,2.385",
                            "seed",
                            "42",
                            "sde",
                            "sampled",
                            "diffusion-scale",
                            "0.5",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  char want[512];
  snprintf(want, sizeof want,
           "dcsgd dim=3 agents=3 batch=2 eta=0.1 objective=quadratic:lam=0.5..2 "
           "noise=gaussian;cauchy;gaussian sigma=0.3 compressor=%s x0=0.3,-1.2,2.385 seed=42 "
           "sde=sampled diffusion-scale=0.5",
           m->compressor[0]->spec);
  ck_assert_str_eq(m->description, want);
  sdv_model_free(m);
  /* Equal specs collapse to one; numbers are printed shortest-exact. */
  const char *const kv2[] = {"method",     "dcsgd",
                             "agents",     "2",
                             "noise",      "cauchy;cauchy",
                             "compressor", "identity;bernoulli:p=0.5",
                             "eta",        "0.30000000000000004",
                             NULL};
  m = sdv_test_model(kv2);
  snprintf(want, sizeof want,
           "dcsgd dim=1 agents=2 batch=1 eta=0.30000000000000004 objective=quadratic:lam=1 "
           "noise=cauchy sigma=1 compressor=%s;%s x0=1 seed=1 sde=auto diffusion-scale=1",
           m->compressor[0]->spec, m->compressor[1]->spec);
  ck_assert_str_eq(m->description, want);
  sdv_model_free(m);
}
END_TEST

/* ---- scratch ---- */

START_TEST(test_work) {
  sdv_model_free(NULL);
  sdv_work_free(NULL);
  const char *const kv[] = {
      "method", "dcsgd", "dim", "5", "agents", "2", "compressor", "rand-k:k=2;qsgd:s=1", NULL};
  sdv_model *m = sdv_test_model(kv);
  sdv_work *w = NULL;
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  ck_assert_ptr_eq(w->model, m);
  double *v[] = {w->grad, w->gi, w->ci, w->acc, w->noise, w->tmp, w->xi};
  for (size_t k = 0; k < 7; k++) {
    ck_assert_ptr_nonnull(v[k]);
    for (size_t j = 0; j < 5; j++) v[k][j] = 2.385; /* writable, d entries (ASan checks) */
  }
  for (size_t i = 0; i < 2; i++) {
    ck_assert_ptr_nonnull(w->comp[i]);
    ck_assert_ptr_ne(w->comp[i], m->compressor[i]);
    ck_assert_ptr_ne(w->comp[i]->state, m->compressor[i]->state);
    ck_assert_str_eq(w->comp[i]->spec, m->compressor[i]->spec);
  }
  ck_assert_ptr_nonnull(w->diff);
  ck_assert_uint_eq(w->diff->dim, 5);
  sdv_work_free(w);
  sdv_model_free(m);
  m = sdv_test_model(NULL);
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  ck_assert_ptr_null(w->comp);
  sdv_work_free(w);
  sdv_model_free(m);
  ck_assert_int_eq(sdv_work_alloc(&w, NULL), SDV_EINVAL);
  ck_assert_ptr_null(w);
}
END_TEST

/* ---- DCSGD's closed-form diffusion: memo and per-work caching (lib/optimizer/dcsgd.c) ---- */

/* Sigma(x) on a fresh work: the reference for the memoised and cached evaluations. */
static void fresh_diffusion(const sdv_model *m, const double *x, sdv_diffusion *out) {
  sdv_work *w = NULL;
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  sdv_diffusion *D;
  ck_assert_int_eq(sdv_model_diffusion(m, w, x, &D), SDV_OK);
  out->structure = D->structure;
  out->beta = D->beta;
  memcpy(out->diag, D->diag, m->dim * sizeof *out->diag);
  memcpy(out->u, D->u, m->dim * sizeof *out->u);
  sdv_work_free(w);
}

static void assert_same_diffusion(const sdv_diffusion *a, const sdv_diffusion *b, size_t d) {
  ck_assert_int_eq(a->structure, b->structure);
  ck_assert(memcmp(a->diag, b->diag, d * sizeof *a->diag) == 0);
  if (a->structure == SDV_DIFFUSION_DIAG_RANK1) {
    ck_assert(memcmp(&a->beta, &b->beta, sizeof a->beta) == 0);
    ck_assert(memcmp(a->u, b->u, d * sizeof *a->u) == 0);
  }
}

/* N = 3 (D divides by N^2 = 9) and N = 4 (multiplies by 1/16, exact): D_j computed here by
 * hand, with the division, must match bit for bit; the drift's memo is used at its own x
 * only. */
START_TEST(test_dcsgd_diffusion_memo) {
  const char *agents = _i == 0 ? "3" : "4";
  const char *sigma = _i == 0 ? "0.3,2.385,1.1" : "0.3,2.385,1.1,0.7";
  const char *const kv[] = {"method",     "dcsgd",      "dim",       "7",
                            "agents",     agents,       "sigma",     sigma,
                            "compressor", "rand-k:k=3", "objective", "quadratic:lam=0.5..2",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  const size_t d = 7, n = m->agents;
  sdv_work *w = NULL;
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  sdv_diffusion *want = NULL, *D;
  ck_assert_int_eq(sdv_diffusion_alloc(&want, d, false), SDV_OK);
  double x1[7], x2[7], b[7], g[7];
  for (size_t j = 0; j < d; j++) {
    x1[j] = 1.7 - 0.6185 * (double)j;
    x2[j] = x1[j] * 1.25 + 0.0625;
  }
  /* By hand: D_j = (base + asum g_j^2) / N^2, beta = csum / N^2. */
  double base = 0.0, asum = 0.0, csum = 0.0;
  for (size_t i = 0; i < n; i++) {
    double a, c;
    ck_assert_int_eq(m->compressor[i]->type->linear(m->compressor[i]->state, d, &a, &c), SDV_OK);
    base += m->var[i] + a * m->var[i] - c * m->var[i];
    asum += a;
    csum += c;
  }
  const double n2 = (double)(n * n);
  sdv_objective_gradient(m->objective, x1, g);
  sdv_model_drift(m, w, x1, b);
  for (size_t j = 0; j < d; j++) ck_assert(b[j] == -g[j]);
  ck_assert_int_eq(sdv_model_diffusion(m, w, x1, &D), SDV_OK); /* memo at x1 */
  ck_assert_int_eq(D->structure, SDV_DIFFUSION_DIAG_RANK1);
  for (size_t j = 0; j < d; j++) {
    const double dj = (base + asum * g[j] * g[j]) / n2;
    ck_assert_msg(memcmp(&D->diag[j], &dj, sizeof dj) == 0,
                  "N = %zu: diag[%zu] = %.17g, want %.17g", n, j, D->diag[j], dj);
    ck_assert(D->u[j] == g[j]);
  }
  ck_assert(D->beta == csum / n2);
  fresh_diffusion(m, x1, want);
  assert_same_diffusion(D, want, d);
  /* Drift at x1, diffusion at x2: the memo must not be used. */
  sdv_model_drift(m, w, x1, b);
  ck_assert_int_eq(sdv_model_diffusion(m, w, x2, &D), SDV_OK);
  fresh_diffusion(m, x2, want);
  assert_same_diffusion(D, want, d);
  /* b may be x itself (the memo records x first). */
  memcpy(b, x2, sizeof b);
  sdv_model_drift(m, w, b, b);
  ck_assert_int_eq(sdv_model_diffusion(m, w, x2, &D), SDV_OK);
  assert_same_diffusion(D, want, d);
  sdv_diffusion_free(want);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

/* The model-only decisions are kept per work, but a model without an SDE is reported on
 * every call, and the sampled route stays sampled. */
START_TEST(test_dcsgd_diffusion_cached_route) {
  const double x[3] = {0.5, -1.25, 2.385};
  sdv_diffusion *D;
  const char *const heavy[] = {"method", "dcsgd",          "dim", "3", "compressor", "rand-k:k=1",
                               "noise",  "student-t:nu=2", NULL};
  sdv_model *m = sdv_test_model(heavy);
  sdv_work *w = NULL;
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  for (int k = 0; k < 2; k++) {
    ck_assert_int_eq(sdv_model_diffusion(m, w, x, &D), SDV_ENOTSUP);
    assert_error_names("infinite", "agent 1");
  }
  sdv_work_free(w);
  sdv_model_free(m);
  const char *const sampled[] = {"method",     "dcsgd", "dim",     "3", "compressor",
                                 "rand-k:k=1", "sde",   "sampled", NULL};
  const char *const qsgd[] = {"method", "dcsgd", "dim", "3", "compressor", "qsgd:s=2", NULL};
  const char *const *specs[] = {sampled, qsgd};
  for (size_t c = 0; c < 2; c++) {
    m = sdv_test_model(specs[c]);
    ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
    for (int k = 0; k < 2; k++) {
      ck_assert_int_eq(sdv_model_diffusion(m, w, x, &D), SDV_OK);
      ck_assert_int_eq(D->structure, SDV_DIFFUSION_SAMPLED);
    }
    sdv_work_free(w);
    sdv_model_free(m);
  }
}
END_TEST

static Suite *model_suite(void) {
  Suite *s = suite_create("model");
  struct {
    const char *name;
    const TTest *test;
  } cases[] = {{"defaults", test_defaults},
               {"options_set", test_options_set},
               {"options_set_errors", test_options_set_errors},
               {"invalid_options", test_invalid_options},
               {"invalid_struct", test_invalid_struct},
               {"invalid_method_specific", test_invalid_method_specific},
               {"derived", test_derived},
               {"draw_noise", test_draw_noise},
               {"observables", test_observables},
               {"observable_user", test_observable_user},
               {"description", test_description},
               {"work", test_work},
               {"dcsgd_diffusion_cached_route", test_dcsgd_diffusion_cached_route}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    TCase *tc = tcase_create(cases[k].name);
    tcase_add_test(tc, cases[k].test);
    suite_add_tcase(s, tc);
  }
  TCase *tc = tcase_create("dcsgd_diffusion_memo");
  tcase_add_loop_test(tc, test_dcsgd_diffusion_memo, 0, 2);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sdv_test_run(model_suite()); }
