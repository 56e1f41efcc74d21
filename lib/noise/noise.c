/* Noise-law registry, allocation from specs, and the helpers built on the type functions
 * (see sdv/noise.h). */
#include <sdv/errors.h>
#include <sdv/noise.h>

#include "core/registry.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void builtins(const void **list) {
  list[0] = sdv_noise_gaussian;
  list[1] = sdv_noise_student_t;
  list[2] = sdv_noise_cauchy;
  list[3] = NULL;
}

/* Built-in and user-registered types (lib/core/registry.h). */
static sdv_registry registry = {.what = "noise law", .builtins = builtins};

const sdv_noise_type *sdv_noise_type_from_name(const char *name) {
  return sdv_registry_find(&registry, name);
}

size_t sdv_noise_types(const sdv_noise_type **list, size_t max) {
  const void *all[SDV_REGISTRY_BUILTIN_MAX + SDV_REGISTRY_USER_MAX];
  const size_t n = sdv_registry_list(&registry, all, sizeof all / sizeof all[0]);
  for (size_t i = 0; i < n && i < max; i++) list[i] = all[i];
  return n;
}

/* Every function an instance is used through; help, init and sample_n are optional. */
static int check_type(const sdv_noise_type *t) {
  if (!t) return SDV_ERROR(SDV_EINVAL, "noise type: type = NULL");
  if (!t->name || !*t->name) return SDV_ERROR(SDV_EINVAL, "noise type: missing name");
  const char *missing = !t->sample        ? "sample"
                        : !t->cdf         ? "cdf"
                        : !t->sign_mean   ? "sign_mean"
                        : !t->sign_tail   ? "sign_tail"
                        : !t->density0    ? "density0"
                        : !t->variance    ? "variance"
                        : !t->batch_scale ? "batch_scale"
                                          : NULL;
  if (missing)
    return SDV_ERROR(SDV_EINVAL, "noise type '%s': required function '%s' is NULL", t->name,
                     missing);
  return SDV_OK;
}

int sdv_noise_register(const sdv_noise_type *type) {
  int rc = check_type(type);
  if (rc) return rc;
  return sdv_registry_add(&registry, type); /* documented as not thread-safe */
}

void sdv_noise_free(sdv_noise *n) {
  if (!n) return;
  free(n->state);
  free(n);
}

int sdv_noise_clone(sdv_noise **out, const sdv_noise *n) {
  if (!out) return SDV_ERROR(SDV_EINVAL, "noise clone: out is NULL");
  *out = NULL;
  if (!n) return SDV_ERROR(SDV_EINVAL, "noise clone: law is NULL");
  sdv_noise *c = calloc(1, sizeof *c);
  const size_t size = n->type->size ? n->type->size : 1;
  if (!c || !(c->state = malloc(size))) {
    free(c);
    return SDV_ERROR(SDV_ENOMEM, "noise %s: out of memory", n->type->name);
  }
  c->type = n->type;
  memcpy(c->state, n->state, n->type->size);
  *out = c;
  return SDV_OK;
}

/* Allocates the instance and its zeroed state, runs init and rejects unread keys. */
static int alloc_with_params(sdv_noise **out, const sdv_noise_type *type, sdv_params *p) {
  int rc = SDV_OK;
  sdv_noise *n = calloc(1, sizeof *n);
  if (!n) goto nomem;
  n->type = type;
  /* calloc(1, 0) may return NULL; a stateless law still gets a valid pointer. */
  n->state = calloc(1, type->size ? type->size : 1);
  if (!n->state) goto nomem;
  if (type->init && (rc = type->init(n->state, p))) goto fail;
  if ((rc = sdv_params_check_unused(p))) goto fail;
  *out = n;
  return SDV_OK;
nomem:
  rc = SDV_ERROR(SDV_ENOMEM, "noise %s: out of memory", type->name);
fail:
  sdv_noise_free(n);
  return rc;
}

int sdv_noise_alloc(sdv_noise **out, const char *spec) {
  *out = NULL;
  sdv_params p;
  int rc = sdv_params_parse(&p, spec);
  if (rc) goto done;
  const sdv_noise_type *type = sdv_noise_type_from_name(p.name);
  if (!type) {
    char names[512];
    rc = SDV_ERROR(SDV_EINVAL, "unknown noise law '%s'; known: %s", p.name,
                   sdv_registry_names(&registry, names, sizeof names));
    goto done;
  }
  rc = alloc_with_params(out, type, &p);
done:
  sdv_params_clear(&p);
  return rc;
}

int sdv_noise_alloc_type(sdv_noise **out, const sdv_noise_type *type, const char *params) {
  *out = NULL;
  int rc = check_type(type);
  if (rc) return rc;
  /* Reuse the spec parser (and its messages) by putting the type's name in front. */
  const size_t len = strlen(type->name) + 1 + (params ? strlen(params) : 0) + 1;
  char *spec = malloc(len);
  if (!spec) return SDV_ERROR(SDV_ENOMEM, "noise %s: out of memory", type->name);
  if (params && *params)
    snprintf(spec, len, "%s:%s", type->name, params);
  else
    snprintf(spec, len, "%s", type->name);
  sdv_params p;
  rc = sdv_params_parse(&p, spec);
  if (!rc) rc = alloc_with_params(out, type, &p);
  sdv_params_clear(&p);
  free(spec);
  return rc;
}

void sdv_noise_sample_n(const sdv_noise *n, sdv_stream *s, double *out, size_t count) {
  if (n->type->sample_n) {
    n->type->sample_n(n->state, s, out, count);
    return;
  }
  for (size_t i = 0; i < count; i++) out[i] = n->type->sample(n->state, s);
}

double sdv_noise_normal_score(const sdv_noise *n, double t) {
  if (isnan(t)) return t;
  const double lower = n->type->cdf(n->state, -fabs(t)); /* P(T <= -|t|) <= 1/2 */
  /* Phi^-1(DBL_MIN) is about -37.5: where the tail underflows, the score is beyond it. */
  const double z = lower > 0.0 ? gsl_cdf_ugaussian_Pinv(lower) : -38.5;
  return t > 0.0 ? -z : t < 0.0 ? z : 0.0;
}

bool sdv_noise_sign_pairs(const sdv_noise *n, const double *y, size_t count, double *m,
                          double *tail) {
  return n->type->sign_pairs && n->type->sign_pairs(n->state, y, count, m, tail);
}

void sdv_noise_sample_coupled(const sdv_noise *n, sdv_stream *s, double *out, double *normal,
                              size_t count) {
  if (n->type->sample_coupled) {
    n->type->sample_coupled(n->state, s, out, normal, count);
    return;
  }
  sdv_noise_sample_n(n, s, out, count);
  for (size_t i = 0; i < count; i++) normal[i] = sdv_noise_normal_score(n, out[i]);
}

/* 1 - m^2 = (1 - |m|)(1 + |m|) = t (2 - t) with t = 1 - |m| from the type, so the factor that
 * vanishes for large |y| keeps its relative accuracy. */
double sdv_noise_sign_var(const sdv_noise *n, double y) {
  const double t = n->type->sign_tail(n->state, y);
  return t * (2.0 - t);
}

double sdv_noise_ell(const sdv_noise *n) { return 2.0 * n->type->density0(n->state); }
