/* The typed model API (sdv_model_spec, sdv_model_alloc_spec, sdv_weak_run_spec): models from
 * numbers, arrays and component handles, without text. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/mc.h>
#include <sdv/model.h>
#include <sdv/weak.h>

#include "testutil.h"

/* The same model from text and from handles has the same fields and the same Monte Carlo
 * numbers, bit for bit, on both sides. */
START_TEST(spec_equals_text) {
  sdv_model_options o;
  sdv_model_options_default(&o);
  o.method = "dcsgd";
  o.dim = 3;
  o.agents = 2;
  o.batch = 2;
  o.eta = 0.05;
  o.objective = "quartic";
  o.noise = "student-t:nu=5;gaussian";
  o.sigma = "1,2";
  o.compressor = "rand-k:k=1";
  o.x0 = "1,-1,0.5";
  o.seed = 7;
  sdv_model *a = NULL, *b = NULL;
  ck_assert_msg(sdv_model_alloc(&a, &o) == SDV_OK, "%s", sdv_last_error());

  sdv_objective *f = NULL;
  sdv_noise *t5 = NULL, *g = NULL;
  sdv_compressor *rk = NULL;
  ck_assert_int_eq(sdv_objective_alloc(&f, "quartic", 3), SDV_OK);
  ck_assert_int_eq(sdv_noise_alloc(&t5, "student-t:nu=5"), SDV_OK);
  ck_assert_int_eq(sdv_noise_alloc(&g, "gaussian"), SDV_OK);
  ck_assert_int_eq(sdv_compressor_alloc(&rk, "rand-k:k=1", 3), SDV_OK);
  const sdv_noise *laws[2] = {t5, g};
  const sdv_compressor *comps[1] = {rk};
  const double sigma[2] = {1, 2}, x0[3] = {1, -1, 0.5};
  sdv_model_spec s;
  sdv_model_spec_default(&s);
  s.method = sdv_method_dcsgd;
  s.dim = 3;
  s.agents = 2;
  s.batch = 2;
  s.eta = 0.05;
  s.objective = f;
  s.noise = laws;
  s.nnoise = 2;
  s.sigma = sigma;
  s.nsigma = 2;
  s.compressor = comps;
  s.ncompressor = 1;
  s.x0 = x0;
  s.nx0 = 3;
  s.seed = 7;
  ck_assert_msg(sdv_model_alloc_spec(&b, &s) == SDV_OK, "%s", sdv_last_error());
  /* The handles were copied: the caller may free its own. */
  sdv_noise_free(t5);
  sdv_noise_free(g);
  sdv_compressor_free(rk);
  for (size_t i = 0; i < 2; i++) {
    ck_assert(a->var[i] == b->var[i] && a->omega[i] == b->omega[i]);
    ck_assert(a->scale[i] == b->scale[i] || (isnan(a->scale[i]) && isnan(b->scale[i])));
  }
  ck_assert_mem_eq(a->x0, b->x0, 3 * sizeof(double));
  const size_t steps[2] = {0, 10};
  const sdv_observable obs[2] = {{.kind = SDV_OBS_F}, {.kind = SDV_OBS_X, .index = 2}};
  sdv_mc_options mo;
  sdv_mc_options_default(&mo);
  mo.paths = 500;
  for (int kind = 0; kind < 2; kind++) {
    sdv_process_options po;
    sdv_process_options_default(&po);
    po.kind = kind ? SDV_PROCESS_SDE : SDV_PROCESS_DISCRETE;
    sdv_mc_result *ra = NULL, *rb = NULL;
    ck_assert_int_eq(sdv_mc_run(&ra, a, &po, steps, 2, obs, 2, &mo), SDV_OK);
    ck_assert_int_eq(sdv_mc_run(&rb, b, &po, steps, 2, obs, 2, &mo), SDV_OK);
    for (size_t k = 0; k < 2; k++) {
      sdv_mc_summary x, y;
      sdv_mc_result_get(ra, 1, k, &x);
      sdv_mc_result_get(rb, 1, k, &y);
      ck_assert_mem_eq(&x.mean, &y.mean, sizeof(double));
      ck_assert_mem_eq(&x.se, &y.se, sizeof(double));
    }
    sdv_mc_result_free(ra);
    sdv_mc_result_free(rb);
  }
  ck_assert_ptr_nonnull(strstr(b->description, "dcsgd dim=3 agents=2"));
  ck_assert_ptr_nonnull(strstr(b->description, "compressor=rand-k:k=1"));
  sdv_model_free(a);
  sdv_model_free(b);
  sdv_objective_free(f); /* borrowed by b: freed by the caller, after the model */
}
END_TEST

/* A diagonal quadratic from numbers (sdv_objective_alloc_quadratic) in a spec gives the model
 * that the text "quadratic:lam=..." gives: the same Monte Carlo numbers on both sides, bit for
 * bit, as the claim suite relies on (verify/ builds its quadratics this way). */
START_TEST(quadratic_from_numbers_equals_text) {
  const double lam[3] = {0.35, 1.0 / 3.0, 2.385}, sigma[2] = {0.7, 1.9}, x0[3] = {1.5, -0.2, 0.9};
  sdv_model_options o;
  sdv_model_options_default(&o);
  o.method = "dcsgd";
  o.dim = 3;
  o.agents = 2;
  o.eta = 0.07;
  o.objective = "quadratic:lam=0.34999999999999998,0.33333333333333331,2.3849999999999998";
  o.sigma = "0.69999999999999996,1.8999999999999999";
  o.compressor = "bernoulli:p=0.5";
  o.x0 = "1.5,-0.20000000000000001,0.90000000000000002";
  o.seed = 11;
  sdv_model *a = NULL, *b = NULL;
  ck_assert_msg(sdv_model_alloc(&a, &o) == SDV_OK, "%s", sdv_last_error());
  sdv_objective *f = NULL;
  sdv_compressor *c = NULL;
  ck_assert_msg(sdv_objective_alloc_quadratic(&f, 3, lam) == SDV_OK, "%s", sdv_last_error());
  ck_assert_int_eq(sdv_compressor_alloc(&c, "bernoulli:p=0.5", 3), SDV_OK);
  const sdv_compressor *comps[1] = {c};
  sdv_model_spec s;
  sdv_model_spec_default(&s);
  s.method = sdv_method_dcsgd;
  s.dim = 3;
  s.agents = 2;
  s.eta = 0.07;
  s.objective = f;
  s.sigma = sigma;
  s.nsigma = 2;
  s.compressor = comps;
  s.ncompressor = 1;
  s.x0 = x0;
  s.nx0 = 3;
  s.seed = 11;
  ck_assert_msg(sdv_model_alloc_spec(&b, &s) == SDV_OK, "%s", sdv_last_error());
  sdv_compressor_free(c);
  ck_assert_mem_eq(a->objective->state, b->objective->state, 3 * sizeof(double));
  ck_assert_mem_eq(a->sigma, b->sigma, 2 * sizeof(double));
  ck_assert_mem_eq(a->x0, b->x0, 3 * sizeof(double));
  const size_t steps[2] = {0, 25};
  const sdv_observable obs[2] = {{.kind = SDV_OBS_F}, {.kind = SDV_OBS_X2, .index = 1}};
  sdv_mc_options mo;
  sdv_mc_options_default(&mo);
  mo.paths = 400;
  for (int kind = 0; kind < 2; kind++) {
    sdv_process_options po;
    sdv_process_options_default(&po);
    po.kind = kind ? SDV_PROCESS_SDE : SDV_PROCESS_DISCRETE;
    sdv_mc_result *ra = NULL, *rb = NULL;
    ck_assert_int_eq(sdv_mc_run(&ra, a, &po, steps, 2, obs, 2, &mo), SDV_OK);
    ck_assert_int_eq(sdv_mc_run(&rb, b, &po, steps, 2, obs, 2, &mo), SDV_OK);
    for (size_t k = 0; k < 2; k++) {
      sdv_mc_summary x, y;
      sdv_mc_result_get(ra, 1, k, &x);
      sdv_mc_result_get(rb, 1, k, &y);
      ck_assert_mem_eq(&x.mean, &y.mean, sizeof(double));
      ck_assert_mem_eq(&x.se, &y.se, sizeof(double));
    }
    sdv_mc_result_free(ra);
    sdv_mc_result_free(rb);
  }
  sdv_model_free(a);
  sdv_model_free(b);
  sdv_objective_free(f); /* borrowed by b: freed after it */
}
END_TEST

/* Minibatch noise from the typed API: minibatch = true with sigma 0 is the text "minibatch",
 * shards as the text option; the same model, path for path, as sdv_model_alloc builds from
 * text (the text parser is a client of the same builder). */
START_TEST(spec_minibatch_equals_text) {
  const char *root = getenv("SDV_SOURCE_ROOT");
  char data[1024];
  snprintf(data, sizeof data, "least-squares:data=%s/data/wine.csv", root ? root : ".");
  sdv_model_options o;
  sdv_model_options_default(&o);
  o.method = "dcsgd";
  o.dim = 14;
  o.agents = 3;
  o.batch = 4;
  o.eta = 0.02;
  o.objective = data;
  o.noise = "minibatch";
  o.compressor = "rand-k:k=3";
  o.x0 = "0";
  o.shards = "label-skew";
  sdv_model *a = NULL, *b = NULL;
  ck_assert_msg(sdv_model_alloc(&a, &o) == SDV_OK, "%s", sdv_last_error());
  sdv_objective *f = NULL;
  sdv_compressor *rk = NULL;
  ck_assert_int_eq(sdv_objective_alloc(&f, data, 14), SDV_OK);
  ck_assert_int_eq(sdv_compressor_alloc(&rk, "rand-k:k=3", 14), SDV_OK);
  const sdv_compressor *comps[1] = {rk};
  const double zero = 0.0;
  sdv_model_spec s;
  sdv_model_spec_default(&s);
  s.method = sdv_method_dcsgd;
  s.dim = 14;
  s.agents = 3;
  s.batch = 4;
  s.eta = 0.02;
  s.objective = f;
  s.sigma = &zero;
  s.nsigma = 1;
  s.compressor = comps;
  s.ncompressor = 1;
  s.x0 = &zero;
  s.nx0 = 1;
  s.minibatch = true;
  s.shards = "label-skew";
  ck_assert_msg(sdv_model_alloc_spec(&b, &s) == SDV_OK, "%s", sdv_last_error());
  ck_assert(a->minibatch && b->minibatch && a->samples == b->samples && b->samples == 178);
  ck_assert_ptr_nonnull(strstr(b->description, "shards=label-skew"));
  const size_t steps[2] = {0, 5};
  const sdv_observable obs[1] = {{.kind = SDV_OBS_F}};
  sdv_mc_options mo;
  sdv_mc_options_default(&mo);
  mo.paths = 200;
  sdv_process_options po;
  sdv_process_options_default(&po);
  sdv_mc_result *ra = NULL, *rb = NULL;
  ck_assert_int_eq(sdv_mc_run(&ra, a, &po, steps, 2, obs, 1, &mo), SDV_OK);
  ck_assert_int_eq(sdv_mc_run(&rb, b, &po, steps, 2, obs, 1, &mo), SDV_OK);
  sdv_mc_summary x, y;
  sdv_mc_result_get(ra, 1, 0, &x);
  sdv_mc_result_get(rb, 1, 0, &y);
  ck_assert_mem_eq(&x.mean, &y.mean, sizeof(double));
  sdv_mc_result_free(ra);
  sdv_mc_result_free(rb);
  /* Shards without minibatch noise: refused, naming the field. */
  sdv_model *c = NULL;
  s.minibatch = false;
  ck_assert_int_eq(sdv_model_alloc_spec(&c, &s), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "shards = 'label-skew'"));
  sdv_model_free(a);
  sdv_model_free(b);
  sdv_compressor_free(rk);
  sdv_objective_free(f);
}
END_TEST

/* f(x) = sum_j x_j^4/4 + x_j^2/2 by callbacks. */
static double quartic_value(void *user, size_t d, const double *x) {
  (void)user;
  double v = 0;
  for (size_t j = 0; j < d; j++) v += 0.25 * x[j] * x[j] * x[j] * x[j] + 0.5 * x[j] * x[j];
  return v;
}
static void quartic_gradient(void *user, size_t d, const double *x, double *g) {
  (void)user;
  for (size_t j = 0; j < d; j++) g[j] = x[j] * x[j] * x[j] + x[j];
}

/* A callback objective in a coupled weak study: PASS with both controls rejected (and, with
 * the SDE's diffusion variance 20% too large, FAIL). */
START_TEST(callback_objective_weak_study) {
  sdv_objective *f = NULL;
  ck_assert_int_eq(
      sdv_objective_alloc_callback(&f, 2, quartic_value, quartic_gradient, NULL, NULL), SDV_OK);
  const double sigma[2] = {2, 3}, x0[1] = {1};
  sdv_model_spec s;
  sdv_model_spec_default(&s);
  s.dim = 2;
  s.agents = 2;
  s.objective = f;
  s.sigma = sigma;
  s.nsigma = 2;
  s.x0 = x0;
  s.nx0 = 1;
  s.seed = 77;
  static const double eta[4] = {0.1, 0.05, 0.025, 0.0125}, t = 0.5;
  sdv_weak_options wo;
  sdv_weak_options_default(&wo);
  wo.eta = eta;
  wo.neta = 4;
  wo.times = &t;
  wo.ntimes = 1;
  wo.paths = 4000;
  wo.substeps = 2;
  wo.integrator = sdv_integrator_euler;
  sdv_weak_result *r = NULL;
  ck_assert_msg(sdv_weak_run_spec(&s, NULL, &wo, &r) == SDV_OK, "%s", sdv_last_error());
  ck_assert(r->coupled);
  ck_assert_msg(r->verdict == SDV_VERDICT_PASS, "%s", r->summary);
  sdv_weak_result_free(r);
  sdv_model_spec wrong = s;
  wrong.diffusion_scale = sqrt(1.2);
  wo.controls = false;
  ck_assert_int_eq(sdv_weak_run_spec(&s, &wrong, &wo, &r), SDV_OK);
  ck_assert_int_eq(r->tests[0].diffusion_verdict, SDV_VERDICT_FAIL);
  sdv_weak_result_free(r);
  sdv_objective_free(f);
}
END_TEST

static void expect_einval(const sdv_model_spec *s, const char *field) {
  sdv_model *m = (sdv_model *)1;
  ck_assert_int_eq(sdv_model_alloc_spec(&m, s), SDV_EINVAL);
  ck_assert_ptr_null(m);
  ck_assert_msg(strstr(sdv_last_error(), field) != NULL, "message '%s' should name '%s'",
                sdv_last_error(), field);
}

START_TEST(errors_name_fields) {
  sdv_objective *f = NULL;
  ck_assert_int_eq(sdv_objective_alloc(&f, "quadratic:lam=1", 2), SDV_OK);
  sdv_model_spec s;
  sdv_model_spec_default(&s);
  s.dim = 2;
  expect_einval(&s, "objective");
  s.objective = f;
  s.eta = -1;
  expect_einval(&s, "eta = -1");
  s.eta = 0.1;
  s.dim = 3;
  expect_einval(&s, "dim = 3");
  s.dim = 2;
  const double sig[3] = {1, 2, 3};
  s.agents = 2;
  s.sigma = sig;
  s.nsigma = 3;
  expect_einval(&s, "sigma has 3 values");
  s.nsigma = 2;
  const double neg[2] = {1, -2};
  s.sigma = neg;
  expect_einval(&s, "sigma = -2");
  s.sigma = sig;
  sdv_compressor *c = NULL;
  ck_assert_int_eq(sdv_compressor_alloc(&c, "rand-k:k=1", 2), SDV_OK);
  const sdv_compressor *cs[1] = {c};
  s.compressor = cs;
  s.ncompressor = 1;
  expect_einval(&s, "compressor"); /* dsgd does not compress */
  s.compressor = NULL;
  s.ncompressor = 0;
  const double bad[1] = {NAN};
  s.x0 = bad;
  s.nx0 = 1;
  expect_einval(&s, "x0[0]");
  s.nx0 = 0;
  s.diffusion_scale = -1;
  expect_einval(&s, "diffusion_scale");
  s.diffusion_scale = 1;
  s.batch = 0;
  expect_einval(&s, "batch = 0");
  s.batch = 1;
  sdv_model *m = NULL;
  ck_assert_msg(sdv_model_alloc_spec(&m, &s) == SDV_OK, "%s", sdv_last_error());
  ck_assert(m->sigma[1] == 2 && m->x0[1] == 1.0 && m->noise[0]->type == sdv_noise_gaussian);
  sdv_model_free(m);
  ck_assert_int_eq(sdv_model_alloc_spec(NULL, &s), SDV_EINVAL);
  sdv_compressor_free(c);
  sdv_objective_free(f);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("spec");
  TCase *tc = tcase_create("typed model API");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, spec_equals_text);
  tcase_add_test(tc, quadratic_from_numbers_equals_text);
  tcase_add_test(tc, spec_minibatch_equals_text);
  tcase_add_test(tc, callback_objective_weak_study);
  tcase_add_test(tc, errors_name_fields);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sdv_test_run(suite()); }
