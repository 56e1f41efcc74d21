/* A weak study of DSGD on your own objective, from C, with no text: README "The typed API". */
#include <stdio.h>
#include <sdv/sdv.h>

static double f(void *u, size_t d, const double *x) { double v = 0; for (size_t j = 0; j < d; j++) v += x[j] * x[j] * (0.25 * x[j] * x[j] + 0.5); return v; }
static void grad(void *u, size_t d, const double *x, double *g) { for (size_t j = 0; j < d; j++) g[j] = x[j] * x[j] * x[j] + x[j]; }

int main(void) {
  sdv_objective *obj = NULL;
  sdv_objective_alloc_callback(&obj, 2, f, grad, NULL, NULL);
  const double sigma[] = {2, 3}, eta[] = {0.1, 0.05, 0.025, 0.0125}, t = 0.5;
  sdv_model_spec m;
  sdv_model_spec_default(&m);
  m.method = sdv_method_dsgd, m.dim = 2, m.agents = 2, m.objective = obj;
  m.sigma = sigma, m.nsigma = 2;
  sdv_weak_options w;
  sdv_weak_options_default(&w);
  w.eta = eta, w.neta = 4, w.times = &t, w.ntimes = 1, w.paths = 4000;
  sdv_weak_result *r = NULL;
  if (sdv_weak_run_spec(&m, NULL, &w, &r)) { fprintf(stderr, "%s\n", sdv_last_error()); return 3; }
  printf("order %.2f, a/L = %.3f, VR %.0f: %s\n", r->tests[0].slope, r->tests[0].rel, r->rows[3].vr, sdv_verdict_name(r->verdict));
  const int pass = r->verdict == SDV_VERDICT_PASS;
  sdv_weak_result_free(r);
  sdv_objective_free(obj);
  return pass ? 0 : 1;
}
