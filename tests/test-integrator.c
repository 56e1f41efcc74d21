/* Quick tests of lib/sim: the integrator registry, one Euler–Maruyama and one Richardson
 * step against hand computations (the reference values in euler.c and richardson.c), the
 * process's streams and draw order, options and errors, heavy tails, diverged paths, and the
 * first two moments of short SDE paths against the exact moments of the discretisation.
 *
 * Statistical tolerance: each Monte Carlo mean is compared with its exact value within
 * K = 5 standard errors of the mean itself (normal approximation, two-sided false-failure
 * probability 5.7e-7 per comparison; this file makes 12 such comparisons, family-wise rate
 * < 1e-5). Seeds are fixed, so the outcome is reproducible. The weak-order fits are in
 * slow-integrator.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/process.h>
#include <sdv/stats.h>

#include "core/work.h"
#include "testutil.h"

#define K_SE 5.0

static sdv_process *process(const sdv_model *m, sdv_process_kind kind, const sdv_integrator_type *t,
                            size_t substeps, uint32_t sub) {
  sdv_process_options po;
  sdv_process_options_default(&po);
  po.kind = kind;
  po.integrator = t;
  po.substeps = substeps;
  po.sub = sub;
  sdv_process *p = NULL;
  ck_assert_msg(sdv_process_alloc(&p, m, &po) == SDV_OK, "process: %s", sdv_last_error());
  return p;
}

/* The reference model of euler.c / richardson.c. */
static const char *const REF[] = {
    "method", "dsgd", "eta", "0.3",   "agents", "2", "objective", "quadratic:lam=1.7",
    "sigma",  "0.8",  "x0",  "2.385", NULL};

/* ================= registry ================= */

static int dummy_step(const sdv_model *m, sdv_work *w, double h, double *const *x, const double *xi,
                      sdv_stream *s, double *scratch) {
  return sdv_integrator_em_step(m, w, h, x[0], xi, s, scratch);
}

START_TEST(test_registry) {
  ck_assert_ptr_eq(sdv_integrator_type_from_name("euler"), sdv_integrator_euler);
  ck_assert_ptr_eq(sdv_integrator_type_from_name("richardson"), sdv_integrator_richardson);
  ck_assert_ptr_null(sdv_integrator_type_from_name("milstein"));
  ck_assert_ptr_null(sdv_integrator_type_from_name(NULL));
  ck_assert(sdv_integrator_euler->weak_order == 1.0 && sdv_integrator_euler->replicas == 1);
  ck_assert(sdv_integrator_richardson->weak_order == 2.0);
  ck_assert(sdv_integrator_richardson->replicas == 2);
  ck_assert(sdv_integrator_richardson->weight[0] == 2.0);
  ck_assert(sdv_integrator_richardson->weight[1] == -1.0);
  const sdv_integrator_type *list[8];
  const size_t n0 = sdv_integrator_types(list, 8);
  ck_assert_uint_ge(n0, 2);

  static const sdv_integrator_type user = {.name = "user-em",
                                           .help = "test",
                                           .weak_order = 1,
                                           .replicas = 1,
                                           .weight = {1.0},
                                           .normals = 1,
                                           .scratch = 2,
                                           .step = dummy_step};
  ck_assert_int_eq(sdv_integrator_register(&user), SDV_OK);
  ck_assert_ptr_eq(sdv_integrator_type_from_name("user-em"), &user);
  ck_assert_uint_eq(sdv_integrator_types(list, 8), n0 + 1);
  ck_assert_int_eq(sdv_integrator_register(&user), SDV_EINVAL); /* name taken */

  ck_assert_int_eq(sdv_integrator_register(NULL), SDV_EINVAL);
  sdv_integrator_type bad = user;
  bad.name = "bad";
  bad.step = NULL;
  ck_assert_int_eq(sdv_integrator_register(&bad), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "step"));
  bad.step = dummy_step;
  bad.replicas = 0;
  ck_assert_int_eq(sdv_integrator_register(&bad), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "replicas = 0"));
  bad.replicas = SDV_INTEGRATOR_REPLICAS_MAX + 1;
  ck_assert_int_eq(sdv_integrator_register(&bad), SDV_EINVAL);
  bad.replicas = 1;
  bad.weak_order = 0.0;
  ck_assert_int_eq(sdv_integrator_register(&bad), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "weak_order"));
}
END_TEST

/* ================= one step against hand computations ================= */

START_TEST(test_euler_reference) {
  sdv_model *m = sdv_test_model(REF);
  sdv_work *w = NULL;
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  double x = 2.385, xi = -0.61, scratch[2];
  ck_assert_int_eq(sdv_integrator_em_step(m, w, 0.05, &x, &xi, NULL, scratch), SDV_OK);
  ck_assert_close(x, 2.1400129602953193, 1e-14); /* euler.c's opening comment */
  /* Through the type table, as the process calls it. */
  double y = 2.385, *ys[1] = {&y};
  ck_assert_int_eq(sdv_integrator_euler->step(m, w, 0.05, ys, &xi, NULL, scratch), SDV_OK);
  ck_assert(y == x);
  /* xi == NULL: the model draws normals from s itself (same numbers as a copy of s). */
  sdv_stream s, s2;
  sdv_stream_init(&s, 5, 2, SDV_PURPOSE_BROWNIAN, 0);
  s2 = s;
  const double xi2 = sdv_stream_normal(&s2);
  double a = 2.385, b = 2.385;
  ck_assert_int_eq(sdv_integrator_em_step(m, w, 0.05, &a, NULL, &s, scratch), SDV_OK);
  ck_assert_int_eq(sdv_integrator_em_step(m, w, 0.05, &b, &xi2, NULL, scratch), SDV_OK);
  ck_assert(a == b);
  sdv_work_free(w);
  sdv_model_free(m);

  /* diffusion_scale = 0: the drift ODE's Euler step, no stream needed. */
  const char *const kv[] = {
      "method",          "dsgd", "eta", "0.3", "objective", "quadratic:lam=1.7", "sigma", "0.8",
      "diffusion-scale", "0",    NULL};
  m = sdv_test_model(kv);
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  x = 2.385;
  ck_assert_int_eq(sdv_integrator_em_step(m, w, 0.05, &x, NULL, NULL, scratch), SDV_OK);
  ck_assert_close(x, 2.385 * (1.0 - 0.05 * 1.7), 1e-15);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

/* The Euler step's vectorised update, the drift-to-diffusion hand-over inside it
 * (w->pair_x, lib/sim/euler.c) and DCSGD's fused step (em_step, taken when the step is given
 * its normals and the scale is 1) against the step written out: b from the drift and S xi from
 * the diffusion, each on a fresh work, x' = x + h b + sqrt(eta h) z, bit for bit, along 25
 * steps of DCSGD rand-k (closed form, diagonal minus rank 1) at d = 1, 6 and 67, and also
 * with the model drawing its own normals (xi == NULL) and with a diffusion scale != 1. */
START_TEST(test_euler_bitwise) {
  const size_t dims[] = {1, 6, 67};
  const size_t d = dims[_i % 3];
  const bool scaled = _i >= 3;
  char dim[16], comp[32];
  snprintf(dim, sizeof dim, "%zu", d);
  snprintf(comp, sizeof comp, "rand-k:k=%zu", d > 2 ? d / 3 : 1);
  const char *const kv[] = {"method",
                            "dcsgd",
                            "dim",
                            dim,
                            "agents",
                            "3",
                            "eta",
                            "0.07",
                            "objective",
                            d == 1 ? "quadratic:lam=0.5" : "quadratic:lam=0.5..2",
                            "sigma",
                            "1.3,0.4,2.385",
                            "compressor",
                            comp,
                            "x0",
                            "1.5",
                            "diffusion-scale",
                            scaled ? "0.75" : "1",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  sdv_work *w = NULL, *wb = NULL, *wz = NULL;
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  double *x = malloc(d * sizeof *x), *y = malloc(d * sizeof *y), *xi = malloc(d * sizeof *xi);
  double *b = malloc(d * sizeof *b), *z = malloc(d * sizeof *z);
  double *scratch = malloc(2 * d * sizeof *scratch);
  ck_assert(x && y && xi && b && z && scratch);
  for (size_t j = 0; j < d; j++) x[j] = y[j] = 1.5 - 0.37 * (double)j;
  const double h = 0.07 / 4;
  sdv_stream s, t;
  sdv_stream_init(&s, 9, 1, SDV_PURPOSE_BROWNIAN, 0);
  for (int k = 0; k < 25; k++) {
    const bool own = k % 2 == 1; /* odd steps: em_step draws its own normals from s */
    t = s;
    sdv_stream_normals(&t, xi, d);
    ck_assert_int_eq(sdv_integrator_em_step(m, w, h, x, own ? NULL : xi, &s, scratch), SDV_OK);
    if (!own) s = t;
    ck_assert_int_eq(sdv_work_alloc(&wb, m), SDV_OK);
    ck_assert_int_eq(sdv_work_alloc(&wz, m), SDV_OK);
    sdv_model_drift(m, wb, y, b);
    ck_assert_int_eq(sdv_model_diffusion_apply(m, wz, y, xi, z), SDV_OK);
    sdv_work_free(wb);
    sdv_work_free(wz);
    const double c = sqrt(m->eta * h);
    for (size_t j = 0; j < d; j++) y[j] += h * b[j] + c * z[j];
    for (size_t j = 0; j < d; j++)
      ck_assert_msg(memcmp(&x[j], &y[j], sizeof x[j]) == 0,
                    "d = %zu, step %d: x[%zu] = %.17g, by hand %.17g", d, k, j, x[j], y[j]);
  }
  ck_assert(!w->pair_x); /* the hand-over never outlives the step */
  free(x);
  free(y);
  free(xi);
  free(b);
  free(z);
  free(scratch);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

START_TEST(test_richardson_reference) {
  sdv_model *m = sdv_test_model(REF);
  sdv_work *w = NULL;
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  double f = 2.385, c = 2.385, *x[2] = {&f, &c}, xi[2] = {-0.61, 1.3}, scratch[3];
  ck_assert_int_eq(sdv_integrator_richardson->step(m, w, 0.05, x, xi, NULL, scratch), SDV_OK);
  ck_assert_close(f, 2.2216559251320405, 1e-14); /* richardson.c's opening comment */
  ck_assert_close(c, 2.216077958450408, 1e-14);
  ck_assert_close(2.0 * f - c, 2.227233891813673, 1e-14);
  /* The coarse increment is the sum of the fine ones: with xi2 = -xi1 the coarse step sees
   * no noise at all. */
  f = c = 2.385;
  xi[1] = 0.61;
  ck_assert_int_eq(sdv_integrator_richardson->step(m, w, 0.05, x, xi, NULL, scratch), SDV_OK);
  ck_assert_close(c, 2.385 * (1.0 - 0.05 * 1.7), 1e-15);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

/* ================= processes: streams, draw order, reproducibility ================= */

START_TEST(test_discrete_streams) {
  const char *const kv[] = {"method",     "dcsgd",
                            "dim",        "3",
                            "agents",     "2",
                            "eta",        "0.07",
                            "objective",  "quadratic:lam=0.5,1.3,2.1",
                            "sigma",      "0.9,0.4",
                            "compressor", "rand-k:k=2",
                            "x0",         "0.3,-1.2,2.385",
                            "seed",       "91",
                            NULL};
  sdv_model *m = sdv_test_model(kv);
  sdv_process *p = process(m, SDV_PROCESS_DISCRETE, NULL, 1, 6);
  sdv_process_start(p, 13);
  ck_assert_int_eq(sdv_process_advance(p, 4), SDV_OK);
  ck_assert_int_eq(sdv_process_advance(p, 3), SDV_OK);
  ck_assert_uint_eq(sdv_process_steps(p), 7);
  ck_assert_close(sdv_process_time(p), 7 * 0.07, 1e-15);
  /* The same 7 steps by hand on the documented streams: identical bits. */
  sdv_work *w = NULL;
  ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
  sdv_stream ns, cs;
  sdv_stream_init(&ns, 91, 13, SDV_PURPOSE_NOISE, 6);
  sdv_stream_init(&cs, 91, 13, SDV_PURPOSE_COMPRESSOR, 6);
  double x[3] = {0.3, -1.2, 2.385};
  for (int k = 0; k < 7; k++) ck_assert_int_eq(sdv_model_step(m, w, x, &ns, &cs), SDV_OK);
  ck_assert(memcmp(x, sdv_process_state(p, 0), sizeof x) == 0);
  ck_assert_ptr_null(sdv_process_state(p, 1));
  ck_assert_uint_eq(sdv_process_replicas(p), 1);
  /* Restarting the path reproduces it; another path or another sub does not. */
  double y[3];
  sdv_process_start(p, 13);
  ck_assert_uint_eq(sdv_process_steps(p), 0);
  ck_assert(memcmp(sdv_process_state(p, 0), m->x0, sizeof y) == 0);
  ck_assert_int_eq(sdv_process_advance(p, 7), SDV_OK);
  ck_assert(memcmp(x, sdv_process_state(p, 0), sizeof x) == 0);
  sdv_process_start(p, 14);
  ck_assert_int_eq(sdv_process_advance(p, 7), SDV_OK);
  memcpy(y, sdv_process_state(p, 0), sizeof y);
  ck_assert(memcmp(x, y, sizeof x) != 0);
  sdv_process *q = process(m, SDV_PROCESS_DISCRETE, NULL, 1, 7);
  sdv_process_start(q, 13);
  ck_assert_int_eq(sdv_process_advance(q, 7), SDV_OK);
  ck_assert(memcmp(x, sdv_process_state(q, 0), sizeof x) != 0);
  /* observe: g at the state. */
  const sdv_observable g = {.kind = SDV_OBS_X2, .index = 2};
  ck_assert(sdv_process_observe(q, &g) == sdv_process_state(q, 0)[2] * sdv_process_state(q, 0)[2]);
  sdv_process_free(q);
  sdv_process_free(p);
  sdv_work_free(w);
  sdv_model_free(m);
}
END_TEST

/* The SDE draws type->normals * d normals per integrator step from (seed, path, BROWNIAN,
 * sub), in order: rebuild both integrators' paths by hand. */
START_TEST(test_sde_draw_order) {
  const char *const kv[] = {"method", "dsgd", "dim", "2",          "agents",
                            "1",      "eta",  "0.2", "objective",  "quadratic:lam=0.5,1.3",
                            "sigma",  "0.9",  "x0",  "2.385,-0.7", "seed",
                            "17",     NULL};
  sdv_model *m = sdv_test_model(kv);
  const double lam[2] = {0.5, 1.3}, h = 0.2 / 3, c = sqrt(0.2 * h) * 0.9;
  for (int type = 0; type < 2; type++) {
    const sdv_integrator_type *t = type ? sdv_integrator_richardson : sdv_integrator_euler;
    sdv_process *p = process(m, SDV_PROCESS_SDE, t, 3, 4);
    ck_assert(!sdv_process_sampled(p));
    ck_assert_ptr_eq(sdv_process_get_options(p)->integrator, t);
    sdv_process_start(p, 11);
    ck_assert_int_eq(sdv_process_advance(p, 2), SDV_OK);
    sdv_stream s;
    sdv_stream_init(&s, 17, 11, SDV_PURPOSE_BROWNIAN, 4);
    double f[2] = {2.385, -0.7}, co[2] = {2.385, -0.7};
    for (int k = 0; k < 6; k++) {
      double xi[4];
      for (int i = 0; i < (type ? 4 : 2); i++) xi[i] = sdv_stream_normal(&s);
      for (int j = 0; j < 2; j++) {
        if (!type) {
          f[j] += -h * lam[j] * f[j] + c * xi[j];
          continue;
        }
        const double c2 = sqrt(0.2 * h / 2) * 0.9;
        f[j] += -h / 2 * lam[j] * f[j] + c2 * xi[j];
        f[j] += -h / 2 * lam[j] * f[j] + c2 * xi[2 + j];
        co[j] += -h * lam[j] * co[j] + c * (xi[j] + xi[2 + j]) * M_SQRT1_2;
      }
    }
    for (int j = 0; j < 2; j++) {
      ck_assert_close(sdv_process_state(p, 0)[j], f[j], 1e-13);
      if (type) ck_assert_close(sdv_process_state(p, 1)[j], co[j], 1e-13);
    }
    const sdv_observable g = {.kind = SDV_OBS_X, .index = 0};
    ck_assert_close(sdv_process_observe(p, &g), type ? 2 * f[0] - co[0] : f[0], 1e-13);
    sdv_process_free(p);
  }
  sdv_model_free(m);
}
END_TEST

/* A compressor that declares a wrong linear form, a = 0 and c = 1: then D_j = (1 + a - c) v
 * / N^2 = 0 while u = grad f != 0, and Sigma = -(1/N^2) g g^T is not PSD. DCSGD's fused Euler
 * step (lib/optimizer/dcsgd.c) must hand over with x untouched and the general path must
 * report it, exactly as without the fused step (literal). */
static size_t wrong_size(size_t dim) { return dim ? 1 : 0; }
static int wrong_init(void *state, size_t dim, sdv_params *params) {
  (void)state;
  (void)dim;
  (void)params;
  return SDV_OK;
}
static double wrong_omega(const void *state, size_t dim) {
  (void)state;
  (void)dim;
  return 0.0;
}
static void wrong_apply(void *state, size_t dim, const double *v, double *out, sdv_stream *s) {
  (void)state;
  (void)s;
  memcpy(out, v, dim * sizeof *v);
}
static int wrong_linear(const void *state, size_t dim, double *a, double *c) {
  (void)state;
  (void)dim;
  *a = 0.0;
  *c = 1.0;
  return SDV_OK;
}
static const sdv_compressor_type wrong_type = {.name = "test-indefinite",
                                               .help = "declares an indefinite linear form",
                                               .size = wrong_size,
                                               .init = wrong_init,
                                               .omega = wrong_omega,
                                               .apply = wrong_apply,
                                               .linear = wrong_linear};

START_TEST(test_euler_fused_fallback) {
  /* Once per process (a second registration, without CK_FORK, is refused by name). */
  if (!sdv_compressor_type_from_name("test-indefinite"))
    ck_assert_int_eq(sdv_compressor_register(&wrong_type), SDV_OK);
  for (int literal = 0; literal < 2; literal++) {
    const char *const kv[] = {"method",     "dcsgd",
                              "dim",        "5",
                              "agents",     "2",
                              "eta",        "0.1",
                              "objective",  "quadratic:lam=1",
                              "sigma",      "1",
                              "compressor", "test-indefinite",
                              "literal",    literal ? "yes" : "no",
                              NULL};
    sdv_model *m = sdv_test_model(kv);
    sdv_work *w = NULL;
    ck_assert_int_eq(sdv_work_alloc(&w, m), SDV_OK);
    double x[5] = {1, -2, 3, 0.5, 1e-3}, xi[5] = {0.3, -1, 2, 0.1, -0.7}, scratch[10];
    const double x0[5] = {1, -2, 3, 0.5, 1e-3};
    ck_assert_int_eq(sdv_integrator_em_step(m, w, 0.025, x, xi, NULL, scratch), SDV_EDOM);
    ck_assert_msg(strstr(sdv_last_error(), "not positive semi-definite"), "%s", sdv_last_error());
    ck_assert(memcmp(x, x0, sizeof x) == 0);
    sdv_work_free(w);
    sdv_model_free(m);
  }
}
END_TEST

/* ================= options and errors ================= */

START_TEST(test_errors) {
  sdv_model *m = sdv_test_model(REF);
  sdv_process_options po;
  sdv_process_options_default(&po);
  ck_assert_int_eq(po.kind, SDV_PROCESS_DISCRETE);
  ck_assert_uint_eq(po.substeps, 1);
  sdv_process *p = (sdv_process *)&po;
  ck_assert_int_eq(sdv_process_alloc(NULL, m, &po), SDV_EINVAL);
  ck_assert_int_eq(sdv_process_alloc(&p, NULL, &po), SDV_EINVAL);
  ck_assert_ptr_null(p);
  ck_assert_int_eq(sdv_process_alloc(&p, m, NULL), SDV_EINVAL);
  po.substeps = 0;
  ck_assert_int_eq(sdv_process_alloc(&p, m, &po), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "substeps = 0"));
  po.substeps = 1;
  po.kind = (sdv_process_kind)7;
  ck_assert_int_eq(sdv_process_alloc(&p, m, &po), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "kind = 7"));
  po.kind = SDV_PROCESS_SDE;
  sdv_integrator_type bad = *sdv_integrator_euler;
  bad.replicas = 0;
  po.integrator = &bad;
  ck_assert_int_eq(sdv_process_alloc(&p, m, &po), SDV_EINVAL);
  ck_assert_ptr_nonnull(strstr(sdv_last_error(), "replicas"));
  po.integrator = NULL; /* defaults to euler */
  ck_assert_int_eq(sdv_process_alloc(&p, m, &po), SDV_OK);
  ck_assert_ptr_eq(sdv_process_get_options(p)->integrator, sdv_integrator_euler);
  sdv_process_free(p);
  sdv_process_free(NULL);
  sdv_model_free(m);
}
END_TEST

/* Cauchy noise: the SDE does not exist (refused at alloc), the optimizer still runs. */
START_TEST(test_heavy_tails) {
  const char *const kv[] = {"method",     "dsgd",   "dim",   "2",         "agents",
                            "3",          "eta",    "0.1",   "objective", "quadratic:lam=0.5,1.3",
                            "noise",      "cauchy", "sigma", "0.6",       "x0",
                            "2.385,-0.7", NULL};
  sdv_model *m = sdv_test_model(kv);
  sdv_process_options po;
  sdv_process_options_default(&po);
  po.kind = SDV_PROCESS_SDE;
  sdv_process *p = NULL;
  ck_assert_int_eq(sdv_process_alloc(&p, m, &po), SDV_ENOTSUP);
  ck_assert_ptr_null(p);
  p = process(m, SDV_PROCESS_DISCRETE, NULL, 1, 0);
  sdv_process_start(p, 3);
  ck_assert_int_eq(sdv_process_advance(p, 50), SDV_OK);
  ck_assert(!sdv_process_diverged(p));
  ck_assert(isfinite(sdv_process_state(p, 0)[0]) && isfinite(sdv_process_state(p, 0)[1]));
  sdv_process_free(p);
  sdv_model_free(m);
}
END_TEST

/* x_{k+1} = (1 - 3) x_k doubles |x| every step: inf after ~1024 steps, then diverged. */
START_TEST(test_diverged) {
  const char *const kv[] = {"method", "dsgd", "eta", "1.5",   "objective", "quadratic:lam=2",
                            "sigma",  "0",    "x0",  "2.385", NULL};
  sdv_model *m = sdv_test_model(kv);
  const sdv_observable g = {.kind = SDV_OBS_X};
  for (int kind = 0; kind < 2; kind++) {
    sdv_process *p = process(m, (sdv_process_kind)kind, NULL, 1, 0);
    sdv_process_start(p, 0);
    ck_assert_int_eq(sdv_process_advance(p, 10), SDV_OK);
    ck_assert(!sdv_process_diverged(p));
    ck_assert_close(sdv_process_observe(p, &g), 2.385 * 1024.0, 1e-15);
    ck_assert_int_eq(sdv_process_advance(p, 1100), SDV_OK);
    ck_assert(sdv_process_diverged(p));
    ck_assert(isnan(sdv_process_observe(p, &g)));
    ck_assert_int_eq(sdv_process_advance(p, 5), SDV_OK); /* left alone */
    ck_assert_uint_eq(sdv_process_steps(p), 1110);
    sdv_process_start(p, 0); /* a restart clears the mark */
    ck_assert(!sdv_process_diverged(p));
    ck_assert(sdv_process_observe(p, &g) == 2.385);
    sdv_process_free(p);
  }
  sdv_model_free(m);
}
END_TEST

/* ================= moments of short paths vs the exact discretisation ================= */

/* Mean over `paths` paths of g after `steps` optimizer steps; checked against `exact`. */
static void check_moment(sdv_process *p, size_t paths, size_t steps, const sdv_observable *g,
                         double exact, const char *what) {
  sdv_acc a;
  sdv_acc_reset(&a);
  int rc = SDV_OK; /* asserted once: Check makes a system call per ck_assert */
  for (size_t i = 0; i < paths; i++) {
    sdv_process_start(p, i);
    rc |= sdv_process_advance(p, steps);
    sdv_acc_add(&a, sdv_process_observe(p, g));
  }
  ck_assert_int_eq(rc, SDV_OK);
  const double mean = sdv_acc_mean(&a), se = sdv_acc_se(&a);
  ck_assert_msg(fabs(mean - exact) <= K_SE * se, "%s: MC %.6g +- %.2g, exact %.6g", what, mean, se,
                exact);
}

/* EM on a linear SDE dX = -lam X dt + c0 dW + c1 X dW (d = 1) has exact moments:
 * E X_{n+1} = (1 - lam h) E X_n, E X_{n+1}^2 = ((1 - lam h)^2 + c1^2 h) E X_n^2 + c0^2 h
 * (c0 c1 = 0 here). Richardson: 2 E_{h/2} - E_h. */
static void em_moments(double lam, double c0sq, double c1sq, double x0, double h, size_t n,
                       double *m1, double *m2) {
  double a = x0, s = x0 * x0;
  for (size_t k = 0; k < n; k++) {
    a *= 1.0 - lam * h;
    s = ((1.0 - lam * h) * (1.0 - lam * h) + c1sq * h) * s + c0sq * h;
  }
  *m1 = a;
  *m2 = s;
}

static void check_linear(const char *const *kv, double lam, double c0sq, double c1sq, double x0,
                         double eta, const char *what) {
  sdv_model *m = sdv_test_model(kv);
  const sdv_observable gx = {.kind = SDV_OBS_X}, gx2 = {.kind = SDV_OBS_X2};
  const size_t steps = 3, sub = 2, paths = 20000;
  for (int type = 0; type < 2; type++) {
    const sdv_integrator_type *t = type ? sdv_integrator_richardson : sdv_integrator_euler;
    sdv_process *p = process(m, SDV_PROCESS_SDE, t, sub, 1);
    const double h = eta / (double)sub;
    double m1, m2, f1, f2;
    em_moments(lam, c0sq, c1sq, x0, h, steps * sub, &m1, &m2);
    if (type) {
      em_moments(lam, c0sq, c1sq, x0, h / 2, 2 * steps * sub, &f1, &f2);
      m1 = 2 * f1 - m1;
      m2 = 2 * f2 - m2;
    }
    char label[128];
    snprintf(label, sizeof label, "%s %s E x", what, t->name);
    check_moment(p, paths, steps, &gx, m1, label);
    snprintf(label, sizeof label, "%s %s E x^2", what, t->name);
    check_moment(p, paths, steps, &gx2, m2, label);
    sdv_process_free(p);
  }
  sdv_model_free(m);
}

START_TEST(test_moments_ou) {
  /* DSGD: Sigma = sigma^2 / N, additive noise c0^2 = eta sigma^2 / N. */
  const char *const kv[] = {
      "method", "dsgd", "agents", "3",     "eta",  "0.4", "objective", "quadratic:lam=1.3",
      "sigma",  "1.7",  "x0",     "2.385", "seed", "23",  NULL};
  check_linear(kv, 1.3, 0.4 * 1.7 * 1.7 / 3, 0.0, 2.385, 0.4, "dsgd");
}
END_TEST

START_TEST(test_moments_gbm) {
  /* DCSGD-Bernoulli(p), sigma = 0: Sigma = omega (lam x)^2 / N, so c1^2 = eta omega lam^2 / N;
   * both the structured route and the sampled route (same second moment) are checked. */
  const double omega = 1.0 / 0.4 - 1.0, c1sq = 0.4 * omega * 1.3 * 1.3 / 2;
  const char *const kv[] = {"method", "dcsgd", "agents",     "2",
                            "eta",    "0.4",   "objective",  "quadratic:lam=1.3",
                            "sigma",  "0",     "compressor", "bernoulli:p=0.4",
                            "x0",     "2.385", "seed",       "29",
                            NULL};
  check_linear(kv, 1.3, 0.0, c1sq, 2.385, 0.4, "dcsgd-bernoulli");
  const char *const kvs[] = {"method", "dcsgd",   "agents",     "2",
                             "eta",    "0.4",     "objective",  "quadratic:lam=1.3",
                             "sigma",  "0",       "compressor", "bernoulli:p=0.4",
                             "x0",     "2.385",   "seed",       "31",
                             "sde",    "sampled", NULL};
  sdv_model *m = sdv_test_model(kvs);
  sdv_process *p = process(m, SDV_PROCESS_SDE, NULL, 1, 0);
  ck_assert(sdv_process_sampled(p));
  sdv_process_free(p);
  sdv_model_free(m);
  check_linear(kvs, 1.3, 0.0, c1sq, 2.385, 0.4, "dcsgd-bernoulli sampled");
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("integrator");
  TCase *tc;
  tc = tcase_create("registry");
  tcase_add_test(tc, test_registry);
  suite_add_tcase(s, tc);
  tc = tcase_create("reference steps");
  tcase_add_test(tc, test_euler_reference);
  tcase_add_test(tc, test_richardson_reference);
  tcase_add_loop_test(tc, test_euler_bitwise, 0, 6);
  tcase_add_test(tc, test_euler_fused_fallback);
  suite_add_tcase(s, tc);
  tc = tcase_create("streams");
  tcase_add_test(tc, test_discrete_streams);
  tcase_add_test(tc, test_sde_draw_order);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_add_test(tc, test_errors);
  tcase_add_test(tc, test_heavy_tails);
  tcase_add_test(tc, test_diverged);
  suite_add_tcase(s, tc);
  tc = tcase_create("moments");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_moments_ou);
  tcase_add_test(tc, test_moments_gbm);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return sdv_test_run(suite()); }
