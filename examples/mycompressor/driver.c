/* driver.c — using sdv as a library: register your own components, check them and run a
 * weak study, all through the public API (no `sdv` command, no plugin).
 *
 *   ./driver [--quick]
 *
 * Steps (each prints one line "ok ..." or "FAIL ..."; exit status 0 only if all pass):
 *  1. register natural-dithering and alpha-stable (example_register_all);
 *  2. natural dithering: the reference values of its header comment (exact covariance, omega);
 *  3. natural dithering: sdv's conformance check (sdv_compressor_conformance) at d = 8;
 *  4. alpha-stable: draws equal gsl_ran_levy's on the same stream, bit for bit;
 *  5. alpha-stable: F at reference points, and F against the empirical CDF of 2e5 draws;
 *  6. DCSGD with natural dithering takes the generic sampled SDE route, and a weak study
 *     of it runs;
 *  7. weak study of DSignSGD with alpha-stable noise (the drift uses sign_mean).
 * The weak studies must run; their verdict is printed (PASS expected, not required: a correct
 * model fails a study with probability about its level alpha = 0.01).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include <sdv/sdv.h>

#include "mycomponents.h"

static int failures = 0;

static void report(int ok, const char *what, const char *detail) {
  printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what, detail ? ": " : "", detail ? detail : "");
  if (!ok) failures++;
}

/* Relative closeness for reference values. */
static int close_to(double got, double want, double rel) {
  return fabs(got - want) <= rel * fabs(want);
}

static void check_reference_values(void) {
  sdv_compressor *c = NULL;
  double diag[3], u[3], beta;
  char buf[256];
  int ok = sdv_compressor_alloc(&c, "natural-dithering:s=2", 2) == SDV_OK;
  const double v2[2] = {3.0, -4.0};
  ok = ok && sdv_compressor_covariance(c, v2, diag, &beta, u) == SDV_OK &&
       close_to(diag[0], 1.0, 1e-14) && close_to(diag[1], 1.5, 1e-14) && beta == 0.0;
  sdv_compressor_free(c);
  c = NULL;
  const double v3[3] = {1.0, 2.385, -7.5};
  const double want[3] = {0.98334037988944, 0.63529729310896, 1.53120459502494};
  ok = ok && sdv_compressor_alloc(&c, "natural-dithering:s=3", 3) == SDV_OK &&
       sdv_compressor_covariance(c, v3, diag, &beta, u) == SDV_OK;
  for (size_t j = 0; ok && j < 3; j++) ok = close_to(diag[j], want[j], 1e-12);
  sdv_compressor_free(c);
  c = NULL;
  ok = ok && sdv_compressor_alloc(&c, "natural-dithering:s=3", 8) == SDV_OK &&
       sdv_compressor_omega(c) == 0.25;
  sdv_compressor_free(c);
  /* A bad parameter must be refused with a message naming it. */
  const int bad = sdv_compressor_alloc(&c, "natural-dithering:s=0", 4);
  snprintf(buf, sizeof buf, "s=0 -> %s (%s)", sdv_strerror(bad), sdv_last_error());
  ok = ok && bad == SDV_EINVAL && strstr(sdv_last_error(), "s = 0") != NULL;
  report(ok, "natural-dithering reference values and parameter check", buf);
}

static void check_conformance(void) {
  sdv_compressor *c = NULL;
  sdv_conformance_report *r = NULL;
  sdv_conformance_options o;
  sdv_conformance_options_default(&o);
  char buf[320];
  int rc = sdv_compressor_alloc(&c, "natural-dithering:s=3", 8);
  if (!rc) rc = sdv_compressor_conformance(c, &o, &r);
  if (rc)
    snprintf(buf, sizeof buf, "%s", sdv_last_error());
  else
    snprintf(buf, sizeof buf, "%zu statistics, %s", r->nrows, r->note);
  report(!rc && r->pass, "natural-dithering conformance (d = 8)", buf);
  sdv_conformance_report_free(r);
  sdv_compressor_free(c);
}

static void check_alpha_stable_sampler(void) {
  sdv_noise *n = NULL;
  int rc = sdv_noise_alloc(&n, "alpha-stable:alpha=1.5");
  if (rc) {
    report(0, "alpha-stable allocation", sdv_last_error());
    return;
  }
  sdv_stream a, b;
  sdv_stream_init(&a, 7, 3, SDV_PURPOSE_USER, 0);
  sdv_stream_init(&b, 7, 3, SDV_PURPOSE_USER, 0);
  gsl_rng *r = sdv_stream_gsl_rng_alloc(&b); /* borrows b */
  size_t same = 0;
  const size_t draws = 10000;
  for (size_t i = 0; r && i < draws; i++)
    same += sdv_noise_sample(n, &a) == gsl_ran_levy(r, 1.0, 1.5);
  gsl_rng_free(r);
  char buf[128];
  snprintf(buf, sizeof buf, "%zu of %zu draws identical", same, draws);
  report(same == draws, "alpha-stable sampler = gsl_ran_levy on the same stream", buf);
  sdv_noise_free(n);
}

static void check_alpha_stable_cdf(size_t draws) {
  sdv_noise *n = NULL;
  if (sdv_noise_alloc(&n, "alpha-stable:alpha=1.5")) {
    report(0, "alpha-stable allocation", sdv_last_error());
    return;
  }
  const sdv_noise_type *t = n->type;
  /* 30-digit references (Zolotarev integral in mpmath) for alpha = 1.5. */
  const int ok_ref =
      close_to(t->cdf(n->state, 2.385), 0.92195510808707885, 1e-9) &&
      close_to(t->cdf(n->state, 1.0), 0.75634202439927046, 1e-9) &&
      close_to(t->cdf(n->state, -10.0), 1.0 - 0.99336019080223153, 1e-8) &&
      close_to(t->density0(n->state), 0.28735275145216445, 1e-14) &&
      t->sign_mean(n->state, 0.0) == 0.0 &&
      close_to(t->sign_mean(n->state, 1e-300), 2 * 0.28735275145216445e-300, 1e-14) &&
      close_to(t->batch_scale(n->state, 8), 0.5, 1e-15);
  report(ok_ref, "alpha-stable F, m, p(0) and batch_scale at reference points", NULL);

  /* Empirical CDF of `draws` draws against F at 5 points. Each count is binomial; with
   * k = 4.0 standard errors per point the family-wise false-failure rate is about 5 * 6.3e-5
   * = 3e-4 (normal approximation, fixed seed). */
  const double y[5] = {-3.7, -0.6, 0.3, 1.0, 2.385};
  size_t below[5] = {0};
  sdv_stream s;
  sdv_stream_init(&s, 11, 0, SDV_PURPOSE_USER, 1);
  for (size_t i = 0; i < draws; i++) {
    const double x = sdv_noise_sample(n, &s);
    for (size_t k = 0; k < 5; k++) below[k] += x <= y[k];
  }
  double worst = 0.0;
  for (size_t k = 0; k < 5; k++) {
    const double F = t->cdf(n->state, y[k]);
    const double se = sqrt(F * (1.0 - F) / (double)draws);
    worst = fmax(worst, fabs((double)below[k] / (double)draws - F) / se);
  }
  char buf[128];
  snprintf(buf, sizeof buf, "max |z| = %.2f over 5 points, bound 4.0, %zu draws", worst, draws);
  report(worst <= 4.0, "alpha-stable F against the empirical CDF", buf);
  sdv_noise_free(n);
}

/* natural-dithering declares no linear() form, so DCSGD's SDE must take the generic route:
 * sdv_model_diffusion reports SDV_DIFFUSION_SAMPLED and the SDE side draws its increments
 * from the method's increment() (the compressed update itself, randomly signed). */
static void check_sampled_route(const sdv_model_options *mo) {
  sdv_model *m = NULL;
  sdv_work *w = NULL;
  sdv_diffusion *D = NULL;
  double x[2] = {0.7, -1.3}, z[2];
  sdv_stream s;
  sdv_stream_init(&s, 5, 0, SDV_PURPOSE_USER, 2);
  int rc = sdv_model_alloc(&m, mo);
  if (!rc) rc = sdv_work_alloc(&w, m);
  if (!rc) rc = sdv_model_diffusion(m, w, x, &D);
  const int sampled = !rc && D->structure == SDV_DIFFUSION_SAMPLED;
  if (!rc) rc = sdv_model_noise_increment(m, w, x, &s, z);
  report(!rc && sampled && isfinite(z[0]) && isfinite(z[1]),
         "dcsgd + natural-dithering uses the generic sampled SDE route",
         rc ? sdv_last_error() : NULL);
  sdv_work_free(w);
  sdv_model_free(m);
}

static void weak_study(const char *label, const sdv_model_options *mo, size_t paths) {
  static const double eta[3] = {0.2, 0.1, 0.05};
  static const double times[1] = {1.0};
  sdv_weak_options o;
  sdv_weak_options_default(&o);
  o.eta = eta;
  o.neta = 3;
  o.times = times;
  o.ntimes = 1;
  o.paths = paths;
  sdv_weak_result *res = NULL;
  const int rc = sdv_weak_run(mo, NULL, &o, &res);
  char buf[700];
  if (rc)
    snprintf(buf, sizeof buf, "%s (%s)", sdv_strerror(rc), sdv_last_error());
  else
    snprintf(buf, sizeof buf, "verdict %s: %s", sdv_verdict_name(res->verdict), res->summary);
  report(rc == SDV_OK, label, buf);
  sdv_weak_result_free(res);
}

int main(int argc, char **argv) {
  gsl_set_error_handler_off(); /* sdv checks GSL statuses; GSL's default handler aborts */
  const int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  const size_t paths = quick ? 4000 : 20000;

  int rc = example_register_all();
  report(rc == SDV_OK, "register natural-dithering and alpha-stable", rc ? sdv_last_error() : NULL);
  if (rc) return 1;

  check_reference_values();
  check_conformance();
  check_alpha_stable_sampler();
  check_alpha_stable_cdf(quick ? 50000 : 200000);

  sdv_model_options mo;
  sdv_model_options_default(&mo);
  mo.dim = 2;
  mo.agents = 2;
  mo.objective = "quadratic:lam=1,2";
  mo.x0 = "1.5,-1";
  mo.method = "dcsgd";
  mo.compressor = "natural-dithering:s=2";
  check_sampled_route(&mo);
  weak_study("weak study: dcsgd + natural-dithering (sampled SDE route)", &mo, paths);

  sdv_model_options_default(&mo);
  mo.dim = 2;
  mo.agents = 2;
  mo.objective = "quadratic:lam=1,2";
  mo.x0 = "1.5,-1";
  mo.method = "dsignsgd";
  mo.noise = "alpha-stable:alpha=1.5";
  weak_study("weak study: dsignsgd + alpha-stable noise", &mo, paths);

  printf("driver: %d failure(s)\n", failures);
  return failures ? 1 : 0;
}
