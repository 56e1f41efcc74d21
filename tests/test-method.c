/* User methods (sdv_method_register) and method-owned scratch (sdv_work_scratch): a method
 * defined here, outside lib/, registered, built by name, simulated, coupled and studied. */
#include <math.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/model.h>
#include <sdv/process.h>
#include <sdv/weak.h>

#include "testutil.h"

/* "half-sgd": DSGD with half the step, x -= (eta/2)(grad f + Z) with Z the mean of the agents'
 * noise; SDE dX = -(1/2) grad f dt + sqrt(eta) (1/2) sqrt(Sigma) dW, Sigma the DSGD one.
 * Scratch: grad and z (2 d doubles), through sdv_work_scratch. */
static size_t half_scratch(const sdv_model *m) { return 2 * m->dim * sizeof(double); }

static int half_step(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                     sdv_stream *comp) {
  (void)comp;
  double *g = sdv_work_scratch(w), *z = g + m->dim;
  sdv_objective_gradient(m->objective, x, g);
  for (size_t i = 0; i < m->agents; i++) {
    sdv_model_draw_noise(m, i, noise, z);
    for (size_t j = 0; j < m->dim; j++) g[j] += z[j] / (double)m->agents;
  }
  for (size_t j = 0; j < m->dim; j++) x[j] -= 0.5 * m->eta * g[j];
  return SDV_OK;
}

static void half_drift(const sdv_model *m, sdv_work *w, const double *x, double *b) {
  double *g = sdv_work_scratch(w);
  sdv_objective_gradient(m->objective, x, g);
  for (size_t j = 0; j < m->dim; j++) b[j] = -0.5 * g[j];
}

static int half_diffusion(const sdv_model *m, sdv_work *w, const double *x, sdv_diffusion *D) {
  (void)w;
  (void)x;
  double v = 0.0;
  for (size_t i = 0; i < m->agents; i++) v += m->var[i];
  D->structure = SDV_DIFFUSION_SCALAR;
  D->scalar = 0.25 * v / ((double)m->agents * (double)m->agents);
  return SDV_OK;
}

static const sdv_method_type half_type = {.name = "half-sgd",
                                          .help = "test method",
                                          .step = half_step,
                                          .drift = half_drift,
                                          .diffusion = half_diffusion,
                                          .scratch = half_scratch};

static void register_once(void) {
  static int done = 0;
  if (!done) ck_assert_int_eq(sdv_method_register(&half_type), SDV_OK);
  done = 1;
}

START_TEST(register_errors) {
  ck_assert_int_eq(sdv_method_register(NULL), SDV_EINVAL);
  sdv_method_type t = half_type;
  t.name = "";
  ck_assert_int_eq(sdv_method_register(&t), SDV_EINVAL);
  t.name = "no-step";
  t.step = NULL;
  ck_assert_int_eq(sdv_method_register(&t), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "step"));
  t = half_type;
  t.name = "dsgd"; /* taken by a built-in */
  ck_assert_int_eq(sdv_method_register(&t), SDV_EINVAL);
  register_once();
  ck_assert_int_eq(sdv_method_register(&half_type), SDV_EINVAL); /* taken now */
}
END_TEST

START_TEST(user_method_by_name) {
  register_once();
  ck_assert_ptr_eq(sdv_method_type_from_name("half-sgd"), &half_type);
  const sdv_method_type *list[64];
  const size_t n = sdv_method_types(list, 64);
  bool found = false;
  for (size_t i = 0; i < n && i < 64; i++) found |= list[i] == &half_type;
  ck_assert(found);
  sdv_model_options o;
  sdv_model_options_default(&o);
  o.method = "half-sgd";
  o.dim = 3;
  o.agents = 2;
  o.sigma = "0";
  o.x0 = "1,2,3";
  o.eta = 0.2;
  sdv_model *m = NULL;
  ck_assert_msg(sdv_model_alloc(&m, &o) == SDV_OK, "%s", sdv_last_error());
  sdv_work *w = NULL;
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  const double *s = sdv_work_scratch(w);
  ck_assert_ptr_nonnull(s);
  for (size_t j = 0; j < 6; j++) ck_assert(s[j] == 0.0); /* zeroed */
  /* Noise-free (sigma = 0) step on f = |x|^2/2: x -= 0.1 x. */
  double x[3] = {1, 2, 3};
  sdv_stream a, b;
  sdv_stream_init(&a, 1, 0, SDV_PURPOSE_NOISE, 0);
  sdv_stream_init(&b, 1, 0, SDV_PURPOSE_COMPRESSOR, 0);
  ck_assert_int_eq(sdv_model_step(m, w, x, &a, &b), SDV_OK);
  for (size_t j = 0; j < 3; j++) ck_assert_double_eq_tol(x[j], 0.9 * (double)(j + 1), 1e-15);
  /* No coupled step: a COUPLED process is refused, naming the hook. */
  sdv_process_options po;
  sdv_process_options_default(&po);
  po.kind = SDV_PROCESS_COUPLED;
  sdv_process *p = NULL;
  ck_assert_int_eq(sdv_process_alloc(&p, m, &po), SDV_ENOTSUP);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "step_coupled"));
  sdv_work_free(w);
  sdv_model_free(m);
  /* Built-in methods have no scratch. */
  o.method = "dsgd";
  ck_assert_int_eq(sdv_model_alloc(&m, &o), SDV_OK);
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  ck_assert_ptr_null(sdv_work_scratch(w));
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

/* The weak harness runs a user method (no exact route, no coupling: independent sides) and
 * its verdict machinery works: a correct SDE passes; the same study against DSGD's SDE (twice
 * the drift, four times the diffusion) fails. */
START_TEST(user_method_weak_study) {
  register_once();
  static const double eta[3] = {0.2, 0.1, 0.05}, t = 1.0;
  sdv_model_options o;
  sdv_model_options_default(&o);
  o.method = "half-sgd";
  o.dim = 2;
  o.agents = 2;
  o.objective = "quadratic:lam=1,2";
  o.x0 = "1.5,-1";
  o.seed = 11;
  sdv_weak_options wo;
  sdv_weak_options_default(&wo);
  wo.eta = eta;
  wo.neta = 3;
  wo.times = &t;
  wo.ntimes = 1;
  wo.paths = 20000;
  wo.controls = false;
  sdv_weak_result *r = NULL;
  ck_assert_msg(sdv_weak_run(&o, NULL, &wo, &r) == SDV_OK, "%s", sdv_last_error());
  ck_assert(!r->coupled);
  ck_assert_ptr_nonnull(strstr(r->coupling_note, "step_coupled"));
  ck_assert_int_ne(r->verdict, SDV_VERDICT_FAIL);
  sdv_weak_result_free(r);
  sdv_model_options wrong = o;
  wrong.method = "dsgd";
  ck_assert_int_eq(sdv_weak_run(&o, &wrong, &wo, &r), SDV_OK);
  ck_assert_int_eq(r->verdict, SDV_VERDICT_FAIL);
  sdv_weak_result_free(r);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("method");
  TCase *tc = tcase_create("user methods");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, register_errors);
  tcase_add_test(tc, user_method_by_name);
  tcase_add_test(tc, user_method_weak_study);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sdv_test_run(suite()); }
