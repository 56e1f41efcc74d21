/* The method registry and the thin wrappers of sdv/model.h over a method's type table.
 *
 * diffusion_scale s is applied here, once, so that every consumer sees the same (possibly
 * deliberately wrong) model: sdv_model_diffusion returns s^2 Sigma(x), diffusion_apply
 * returns s S(x) xi, and noise_increment returns s times a zero-mean draw with covariance
 * Sigma(x). The method files never look at s.
 */
#include <math.h>

#include <sdv/errors.h>
#include <sdv/model.h>

#include "core/registry.h"
#include "core/work.h"
#include "optimizer/coupled.h"

static void builtins(const void **list) {
  list[0] = sdv_method_dsgd;
  list[1] = sdv_method_dcsgd;
  list[2] = sdv_method_dsignsgd;
  list[3] = NULL;
}

/* Built-in and user-registered methods (lib/core/registry.h). */
static sdv_registry registry = {.what = "method", .builtins = builtins};

const sdv_method_type *sdv_method_type_from_name(const char *name) {
  return sdv_registry_find(&registry, name);
}

int sdv_method_register(const sdv_method_type *t) {
  if (!t) return SDV_ERROR(SDV_EINVAL, "method type: type = NULL");
  if (!t->name || !*t->name) return SDV_ERROR(SDV_EINVAL, "method type: missing name");
  const char *missing = !t->step        ? "step"
                        : !t->drift     ? "drift"
                        : !t->diffusion ? "diffusion"
                                        : NULL;
  if (missing)
    return SDV_ERROR(SDV_EINVAL, "method type '%s': required function '%s' is NULL", t->name,
                     missing);
  return sdv_registry_add(&registry, t); /* documented as not thread-safe */
}

size_t sdv_method_types(const sdv_method_type **list, size_t max) {
  const void *all[SDV_REGISTRY_BUILTIN_MAX + SDV_REGISTRY_USER_MAX];
  const size_t n = sdv_registry_list(&registry, all, sizeof all / sizeof all[0]);
  for (size_t i = 0; i < n && i < max; i++) list[i] = all[i];
  return n;
}

int sdv_model_step(const sdv_model *m, sdv_work *w, double *x, sdv_stream *noise,
                   sdv_stream *comp) {
  return m->method->step(m, w, x, noise, comp);
}

void sdv_model_drift(const sdv_model *m, sdv_work *w, const double *x, double *b) {
  m->method->drift(m, w, x, b);
}

/* Multiplies the covariance by s2 = diffusion_scale^2 in place; S scales by |s|. */
static void scale_covariance(sdv_diffusion *D, double s2) {
  const size_t d = D->dim;
  switch (D->structure) {
  case SDV_DIFFUSION_SCALAR:
    D->scalar *= s2;
    break;
  case SDV_DIFFUSION_DIAGONAL:
    for (size_t j = 0; j < d; j++) D->diag[j] *= s2;
    break;
  case SDV_DIFFUSION_DIAG_RANK1:
    for (size_t j = 0; j < d; j++) D->diag[j] *= s2;
    D->beta *= s2;
    break;
  case SDV_DIFFUSION_DENSE:
    for (size_t j = 0; j < d * d; j++) D->dense[j] *= s2;
    break;
  case SDV_DIFFUSION_SAMPLED:
    break;
  }
}

int sdv_model_diffusion(const sdv_model *m, sdv_work *w, const double *x, sdv_diffusion **D) {
  *D = w->diff;
  const int rc = m->method->diffusion(m, w, x, w->diff);
  if (rc) return rc;
  if (m->diffusion_scale != 1.0) scale_covariance(w->diff, m->diffusion_scale * m->diffusion_scale);
  return SDV_OK;
}

int sdv_model_diffusion_apply(const sdv_model *m, sdv_work *w, const double *x, const double *xi,
                              double *out) {
  sdv_diffusion *D;
  int rc = sdv_model_diffusion(m, w, x, &D);
  if (rc) return rc;
  if (D->structure == SDV_DIFFUSION_SAMPLED)
    return SDV_ERROR(SDV_ENOTSUP,
                     "%s: the diffusion has no closed form here (sampled route); use "
                     "sdv_model_noise_increment",
                     m->method->name);
  return sdv_diffusion_apply(D, xi, out);
}

int sdv_model_noise_increment(const sdv_model *m, sdv_work *w, const double *x, sdv_stream *s,
                              double *out) {
  sdv_diffusion *D;
  int rc = sdv_model_diffusion(m, w, x, &D);
  if (rc) return rc;
  if (D->structure != SDV_DIFFUSION_SAMPLED) {
    sdv_stream_normals(s, w->xi, m->dim);
    return sdv_diffusion_apply(D, w->xi, out);
  }
  if (!m->method->increment)
    return SDV_ERROR(SDV_ENOTSUP, "%s: sampled diffusion without an increment() function",
                     m->method->name);
  if ((rc = m->method->increment(m, w, x, s, out))) return rc;
  if (m->diffusion_scale != 1.0)
    for (size_t j = 0; j < m->dim; j++) out[j] *= m->diffusion_scale;
  return SDV_OK;
}

void sdv_coupled_finish(size_t d, const double *acc, double a2, sdv_stream *aux, double *xi) {
  if (!(a2 > 0.0)) {
    sdv_stream_normals(aux, xi, d);
    return;
  }
  const double c = -1.0 / sqrt(a2);
  for (size_t j = 0; j < d; j++) xi[j] = c * acc[j];
}
