/* Noise-law registry, allocation from specs, and the helpers built on the type functions
 * (see sdv/noise.h). */
#include <sdv/errors.h>
#include <sdv/noise.h>

#include "core/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* User-registered types. The built-in tables are static in their own files and reachable only
 * through their exported pointers, which are not constant expressions in C, so the built-in
 * list is assembled on the caller's stack for every lookup, on a copy of this registry:
 * lookups never write shared state and may run on several threads. */
static sdv_registry user_types = {.what = "noise law"};

#define SDV_NOISE_NBUILTIN 3

static sdv_registry snapshot(const void *builtin[SDV_NOISE_NBUILTIN + 1]) {
  builtin[0] = sdv_noise_gaussian;
  builtin[1] = sdv_noise_student_t;
  builtin[2] = sdv_noise_cauchy;
  builtin[3] = NULL;
  sdv_registry r = user_types;
  r.builtin = builtin;
  return r;
}

const sdv_noise_type *sdv_noise_type_from_name(const char *name) {
  const void *builtin[SDV_NOISE_NBUILTIN + 1];
  const sdv_registry r = snapshot(builtin);
  return sdv_registry_find(&r, name);
}

size_t sdv_noise_types(const sdv_noise_type **list, size_t max) {
  const void *builtin[SDV_NOISE_NBUILTIN + 1];
  const sdv_registry r = snapshot(builtin);
  const void *all[SDV_NOISE_NBUILTIN + SDV_REGISTRY_USER_MAX];
  const size_t n = sdv_registry_list(&r, all, sizeof all / sizeof all[0]);
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
  const void *builtin[SDV_NOISE_NBUILTIN + 1];
  sdv_registry r = snapshot(builtin);
  if ((rc = sdv_registry_add(&r, type))) return rc;
  /* Registration is documented as not thread-safe, so writing the copy back is allowed. */
  r.builtin = NULL;
  user_types = r;
  return SDV_OK;
}

void sdv_noise_free(sdv_noise *n) {
  if (!n) return;
  free(n->state);
  free(n);
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
    const void *builtin[SDV_NOISE_NBUILTIN + 1];
    const sdv_registry r = snapshot(builtin);
    rc = SDV_ERROR(SDV_EINVAL, "unknown noise law '%s'; known: %s", p.name,
                   sdv_registry_names(&r, names, sizeof names));
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

/* 1 - m^2 = (1 - |m|)(1 + |m|) = t (2 - t) with t = 1 - |m| from the type, so the factor that
 * vanishes for large |y| keeps its relative accuracy. */
double sdv_noise_sign_var(const sdv_noise *n, double y) {
  const double t = n->type->sign_tail(n->state, y);
  return t * (2.0 - t);
}

double sdv_noise_ell(const sdv_noise *n) { return 2.0 * n->type->density0(n->state); }
