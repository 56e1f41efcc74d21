/* Models for the claim suite from the typed API (see checks_spec.h). */
#include "checks_spec.h"

#include <string.h>

#include <sdv/errors.h>

int mspec_method(const char *name, const sdv_method_type **out) {
  if (!(*out = sdv_method_type_from_name(name)))
    return SDV_ERROR(SDV_EINVAL, "verify: method = '%s' is unknown", name ? name : "(null)");
  return SDV_OK;
}

void mspec_init(mspec *v, const sdv_method_type *method, size_t dim, size_t agents, double eta,
                uint64_t seed) {
  memset(v, 0, sizeof *v);
  sdv_model_spec_default(&v->s);
  v->s.method = method;
  v->s.dim = dim;
  v->s.agents = agents;
  v->s.eta = eta;
  v->s.seed = seed;
}

int mspec_objective(mspec *v, const char *spec) {
  sdv_objective_free(v->objective);
  const int rc = sdv_objective_alloc(&v->objective, spec, v->s.dim);
  v->s.objective = v->objective;
  return rc;
}

int mspec_quadratic(mspec *v, const double *lam) {
  sdv_objective_free(v->objective);
  const int rc = sdv_objective_alloc_quadratic(&v->objective, v->s.dim, lam);
  v->s.objective = v->objective;
  return rc;
}

int mspec_noise(mspec *v, const char *spec) {
  if (v->s.nnoise == MSPEC_MAX)
    return SDV_ERROR(SDV_ELIMIT, "verify: more than %d noise laws in one model", MSPEC_MAX);
  const int rc = sdv_noise_alloc(&v->noise[v->s.nnoise], spec);
  if (rc) return rc;
  v->s.noise = (const sdv_noise *const *)v->noise;
  v->s.nnoise++;
  return SDV_OK;
}

int mspec_compressor(mspec *v, const char *spec) {
  if (v->s.ncompressor == MSPEC_MAX)
    return SDV_ERROR(SDV_ELIMIT, "verify: more than %d compressors in one model", MSPEC_MAX);
  const int rc = sdv_compressor_alloc(&v->comp[v->s.ncompressor], spec, v->s.dim);
  if (rc) return rc;
  v->s.compressor = (const sdv_compressor *const *)v->comp;
  v->s.ncompressor++;
  return SDV_OK;
}

void mspec_sigma(mspec *v, const double *sigma, size_t n) {
  v->s.sigma = sigma;
  v->s.nsigma = n;
}

void mspec_x0(mspec *v, const double *x0, size_t n) {
  v->s.x0 = x0;
  v->s.nx0 = n;
}

int mspec_build(const mspec *v, sdv_model **m) { return sdv_model_alloc_spec(m, &v->s); }

int mspec_take(mspec *v, sdv_model **m) {
  const int rc = sdv_model_alloc_spec(m, &v->s);
  if (!rc) v->objective = NULL; /* check_model_free frees it with the model */
  mspec_clear(v);
  return rc;
}

void mspec_clear(mspec *v) {
  for (size_t k = 0; k < v->s.nnoise; k++) sdv_noise_free(v->noise[k]);
  for (size_t k = 0; k < v->s.ncompressor; k++) sdv_compressor_free(v->comp[k]);
  sdv_objective_free(v->objective);
  memset(v, 0, sizeof *v);
}

void check_model_free(sdv_model *m) {
  if (!m) return;
  sdv_objective *f = m->objective_borrowed ? m->objective : NULL;
  sdv_model_free(m);
  sdv_objective_free(f);
}
