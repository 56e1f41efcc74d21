/* User methods (sdv_method_register) and method-owned scratch (sdv_work_scratch): a method
 * defined here, outside lib/, registered, built by name, simulated, coupled and studied. */
#include <math.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/exact.h>
#include <sdv/model.h>
#include <sdv/process.h>
#include <sdv/weak.h>

#include "testutil.h"

/* "half-sgd": DSGD with half the step, x -= (eta/2)(grad f + Z) with Z the mean of the agents'
 * noise; SDE dX = -(1/2) grad f dt + sqrt(eta) (1/2) sqrt(Sigma) dW, Sigma the DSGD one.
 * Scratch: grad and z (2 d doubles), through sdv_work_scratch. */
static size_t half_scratch(const sdv_model *m) { return 2 * m->dim * sizeof(double); }

/* x -= c eta (grad f + mean_i Z_i), the agents' noise drawn one by one (scratch: g, z). */
static void scaled_step(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                        double c) {
  double *g = sdv_work_scratch(w), *z = g + m->dim;
  sdv_objective_gradient(m->objective, x, g);
  for (size_t i = 0; i < m->agents; i++) {
    sdv_model_draw_noise(m, i, noise, z);
    for (size_t j = 0; j < m->dim; j++) g[j] += z[j] / (double)m->agents;
  }
  for (size_t j = 0; j < m->dim; j++) x[j] -= c * m->eta * g[j];
}

static int half_step(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                     sdv_stream *comp) {
  (void)comp;
  scaled_step(m, w, x, noise, 0.5);
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

/* "plain-sgd": DSGD written out by a user, agent by agent (no shortcut), declaring the LINEAR
 * family (sdv_method_family): lib/exact then gives it DSGD's exact references, and the test
 * below holds that claim against this very step(). */
static int plain_step(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                      sdv_stream *comp) {
  (void)comp;
  scaled_step(m, w, x, noise, 1.0);
  return SDV_OK;
}

static void plain_drift(const sdv_model *m, sdv_work *w, const double *x, double *b) {
  double *g = sdv_work_scratch(w);
  sdv_objective_gradient(m->objective, x, g);
  for (size_t j = 0; j < m->dim; j++) b[j] = -g[j];
}

static int plain_diffusion(const sdv_model *m, sdv_work *w, const double *x, sdv_diffusion *D) {
  (void)w;
  (void)x;
  double v = 0.0;
  for (size_t i = 0; i < m->agents; i++) v += m->var[i];
  D->structure = SDV_DIFFUSION_SCALAR;
  D->scalar = v / ((double)m->agents * (double)m->agents);
  return SDV_OK;
}

static const sdv_method_type plain_type = {.name = "plain-sgd",
                                           .help = "test method (DSGD, declared LINEAR)",
                                           .step = plain_step,
                                           .drift = plain_drift,
                                           .diffusion = plain_diffusion,
                                           .scratch = half_scratch,
                                           .family = SDV_METHOD_FAMILY_LINEAR};

static void register_once(void) {
  static int done = 0;
  if (!done) {
    ck_assert_int_eq(sdv_method_register(&half_type), SDV_OK);
    ck_assert_int_eq(sdv_method_register(&plain_type), SDV_OK);
  }
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

/* A method's declared family decides the exact route, not its name: "plain-sgd" (LINEAR)
 * gets DSGD's references, bit for bit; "half-sgd" (no family) gets none. And the claim holds
 * for the user's own step(): Monte Carlo of plain_step agrees with the exact E x_j and
 * E x_j^2 (4000 paths, |z| < 5 per value: a false failure about 6e-7 per value, 12 values).
 * A step 10% too long fails it at about 30 se. */
START_TEST(user_method_family_exact) {
  register_once();
  sdv_model_options o;
  sdv_model_options_default(&o);
  o.method = "plain-sgd";
  o.dim = 2;
  o.agents = 3;
  o.objective = "quadratic:lam=0.5,2";
  o.sigma = "1,0.5,2";
  o.x0 = "1,-2";
  o.eta = 0.1;
  sdv_model *m = NULL, *ref = NULL, *half = NULL;
  ck_assert_msg(sdv_model_alloc(&m, &o) == SDV_OK, "%s", sdv_last_error());
  o.method = "dsgd";
  ck_assert_int_eq(sdv_model_alloc(&ref, &o), SDV_OK);
  o.method = "half-sgd";
  ck_assert_int_eq(sdv_model_alloc(&half, &o), SDV_OK);
  ck_assert_int_eq(sdv_exact_supported(half, SDV_SIDE_DISCRETE, NULL, false), SDV_ENOTSUP);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "half-sgd"));
  const size_t steps[3] = {1, 5, 20};
  double mean[6], second[12], rmean[6], rsecond[12];
  ck_assert_int_eq(sdv_exact_moments(m, SDV_SIDE_DISCRETE, steps, 3, mean, second, NULL, NULL),
                   SDV_OK);
  ck_assert_int_eq(
      sdv_exact_moments(ref, SDV_SIDE_DISCRETE, steps, 3, rmean, rsecond, NULL, NULL), SDV_OK);
  ck_assert(memcmp(mean, rmean, sizeof mean) == 0 && memcmp(second, rsecond, sizeof second) == 0);
  enum { P = 4000 };
  double s1[6] = {0}, s2[6] = {0}, q1[6] = {0}, q2[6] = {0};
  sdv_work *w = NULL;
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  for (size_t p = 0; p < P; p++) {
    double x[2] = {1, -2};
    sdv_stream a, b;
    sdv_stream_init(&a, 7, p, SDV_PURPOSE_NOISE, 0);
    sdv_stream_init(&b, 7, p, SDV_PURPOSE_COMPRESSOR, 0);
    for (size_t k = 1, t = 0; t < 3; k++) {
      ck_assert_int_eq(sdv_model_step(m, w, x, &a, &b), SDV_OK);
      if (k != steps[t]) continue;
      for (size_t j = 0; j < 2; j++) {
        const double v = x[j], v2 = v * v;
        s1[2 * t + j] += v;
        q1[2 * t + j] += v * v;
        s2[2 * t + j] += v2;
        q2[2 * t + j] += v2 * v2;
      }
      t++;
    }
  }
  for (size_t c = 0; c < 6; c++) {
    const double m1 = s1[c] / P, se1 = sqrt((q1[c] / P - m1 * m1) / (P - 1));
    const double m2 = s2[c] / P, se2 = sqrt((q2[c] / P - m2 * m2) / (P - 1));
    const size_t t = c / 2, j = c % 2;
    ck_assert_msg(fabs(m1 - mean[c]) < 5.0 * se1, "E x_%zu at step %zu: MC %g +- %g, exact %g", j,
                  steps[t], m1, se1, mean[c]);
    const double e2 = second[t * 4 + j * 2 + j];
    ck_assert_msg(fabs(m2 - e2) < 5.0 * se2, "E x_%zu^2 at step %zu: MC %g +- %g, exact %g", j,
                  steps[t], m2, se2, e2);
  }
  sdv_work_free(w);
  sdv_model_free(m);
  sdv_model_free(ref);
  sdv_model_free(half);
}
END_TEST

/* sdv_integrator_default: Richardson, Euler where the SDE takes the sampled route (a model
 * whose compressor has no linear form), Richardson for NULL; a process's NULL integrator is
 * Euler. */
START_TEST(integrator_defaults) {
  sdv_model_options o;
  sdv_model_options_default(&o);
  o.method = "dcsgd";
  o.dim = 3;
  o.compressor = "rand-k:k=1";
  sdv_model *lin = NULL, *smp = NULL;
  ck_assert_int_eq(sdv_model_alloc(&lin, &o), SDV_OK);
  o.compressor = "qsgd:s=1";
  ck_assert_int_eq(sdv_model_alloc(&smp, &o), SDV_OK);
  ck_assert_ptr_eq(sdv_integrator_default(lin), sdv_integrator_type_from_name("richardson"));
  ck_assert_ptr_eq(sdv_integrator_default(smp), sdv_integrator_type_from_name("euler"));
  ck_assert_ptr_eq(sdv_integrator_default(NULL), sdv_integrator_type_from_name("richardson"));
  sdv_process_options po;
  sdv_process_options_default(&po);
  ck_assert_ptr_eq(sdv_process_options_integrator(&po), sdv_integrator_type_from_name("euler"));
  po.integrator = sdv_integrator_type_from_name("richardson");
  ck_assert_ptr_eq(sdv_process_options_integrator(&po), po.integrator);
  sdv_model_free(lin);
  sdv_model_free(smp);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("method");
  TCase *tc = tcase_create("user methods");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, register_errors);
  tcase_add_test(tc, user_method_by_name);
  tcase_add_test(tc, user_method_weak_study);
  tcase_add_test(tc, user_method_family_exact);
  tcase_add_test(tc, integrator_defaults);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sdv_test_run(suite()); }
