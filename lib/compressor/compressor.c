/* Compressor registry, instances and the covariance helper (see sdv/compressor.h).
 *
 * The built-in list is filled once at run time (as GSL's gsl_rng_types_setup does) because
 * the exported type pointers live in other translation units and are not constant
 * expressions; pthread_once makes the first lookup safe from any thread.
 */
#include <sdv/compressor.h>
#include <sdv/errors.h>

#include "core/registry.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const void *builtin[6];
static sdv_registry registry = {.what = "compressor", .builtin = builtin};
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void builtin_fill(void) {
  builtin[0] = sdv_compressor_identity;
  builtin[1] = sdv_compressor_bernoulli;
  builtin[2] = sdv_compressor_rand_k;
  builtin[3] = sdv_compressor_qsgd;
  builtin[4] = sdv_compressor_natural;
  builtin[5] = NULL;
}

static sdv_registry *reg(void) {
  pthread_once(&builtin_once, builtin_fill);
  return &registry;
}

const sdv_compressor_type *sdv_compressor_type_from_name(const char *name) {
  return sdv_registry_find(reg(), name);
}

int sdv_compressor_register(const sdv_compressor_type *type) {
  if (!type) return SDV_ERROR(SDV_EINVAL, "compressor type: NULL");
  const char *n = type->name ? type->name : "(unnamed)";
  if (!type->size) return SDV_ERROR(SDV_EINVAL, "compressor type '%s': missing size hook", n);
  if (!type->init) return SDV_ERROR(SDV_EINVAL, "compressor type '%s': missing init hook", n);
  if (!type->omega) return SDV_ERROR(SDV_EINVAL, "compressor type '%s': missing omega hook", n);
  if (!type->apply) return SDV_ERROR(SDV_EINVAL, "compressor type '%s': missing apply hook", n);
  return sdv_registry_add(reg(), type);
}

size_t sdv_compressor_types(const sdv_compressor_type **list, size_t max) {
  return sdv_registry_list(reg(), (const void **)list, max);
}

/* Shortest text that reads back as the same double, so "0.30" and "0.3" give one spec. */
static void format_number(char *buf, size_t len, double x) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, len, "%.*g", prec, x);
    if (strtod(buf, NULL) == x) return;
  }
}

/* "name:key=value..." with keys sorted and numeric values in shortest round-trip form. */
static char *canonical_spec(const sdv_params *p) {
  size_t order[SDV_PARAMS_MAX];
  for (size_t i = 0; i < p->n; i++) order[i] = i;
  for (size_t i = 1; i < p->n; i++) /* insertion sort: at most SDV_PARAMS_MAX keys */
    for (size_t j = i; j > 0 && strcmp(p->key[order[j - 1]], p->key[order[j]]) > 0; j--) {
      size_t t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  size_t len = strlen(p->name) + 1;
  for (size_t i = 0; i < p->n; i++) len += strlen(p->key[i]) + strlen(p->value[i]) + 32;
  char *spec = malloc(len);
  if (!spec) return NULL;
  size_t used = (size_t)snprintf(spec, len, "%s", p->name);
  for (size_t i = 0; i < p->n; i++) {
    const char *key = p->key[order[i]], *value = p->value[order[i]];
    char num[40];
    char *end;
    double x = strtod(value, &end);
    if (end != value && *end == '\0') {
      format_number(num, sizeof num, x);
      value = num;
    }
    used += (size_t)snprintf(spec + used, len - used, ":%s=%s", key, value);
  }
  return spec;
}

/* Builds an instance from parsed parameters (p is borrowed). */
static int alloc_parsed(sdv_compressor **out, const sdv_compressor_type *type, size_t dim,
                        sdv_params *p) {
  int rc;
  sdv_compressor *c = NULL;
  if (dim < 1) {
    rc = SDV_ERROR(SDV_EINVAL, "compressor %s: dim = %zu must be >= 1", type->name, dim);
    goto fail;
  }
  c = calloc(1, sizeof *c);
  if (!c) goto nomem;
  c->type = type;
  c->dim = dim;
  c->size = type->size(dim);
  /* size() reports an overflowing state as SIZE_MAX: refuse it here rather than ask the
   * allocator for it (sanitizers treat such a request as an error). */
  if (c->size == SIZE_MAX) {
    rc = SDV_ERROR(SDV_ELIMIT,
                   "compressor %s: dim = %zu is too large (its state does not fit in memory)",
                   type->name, dim);
    goto fail;
  }
  /* calloc(0) may return NULL; a stateless type still gets a valid pointer. */
  c->state = calloc(1, c->size ? c->size : 1);
  c->spec = canonical_spec(p);
  if (!c->state || !c->spec) goto nomem;
  if ((rc = type->init(c->state, dim, p))) goto fail;
  if ((rc = sdv_params_check_unused(p))) goto fail;
  *out = c;
  return SDV_OK;
nomem:
  rc = SDV_ERROR(SDV_ENOMEM, "compressor %s: out of memory", type->name);
fail:
  sdv_compressor_free(c);
  return rc;
}

int sdv_compressor_alloc(sdv_compressor **out, const char *spec, size_t dim) {
  if (!out) return SDV_ERROR(SDV_EINVAL, "sdv_compressor_alloc: out = NULL");
  *out = NULL;
  sdv_params p;
  int rc = sdv_params_parse(&p, spec);
  if (rc) goto done;
  const sdv_compressor_type *type = sdv_compressor_type_from_name(p.name);
  if (!type) {
    char names[512];
    rc = SDV_ERROR(SDV_EINVAL, "unknown compressor '%s'; known: %s", p.name,
                   sdv_registry_names(reg(), names, sizeof names));
    goto done;
  }
  rc = alloc_parsed(out, type, dim, &p);
done:
  sdv_params_clear(&p);
  return rc;
}

int sdv_compressor_alloc_type(sdv_compressor **out, const sdv_compressor_type *type,
                              size_t dim, const char *params) {
  if (!out) return SDV_ERROR(SDV_EINVAL, "sdv_compressor_alloc_type: out = NULL");
  *out = NULL;
  if (!type || !type->name || !type->size || !type->init || !type->omega || !type->apply)
    return SDV_ERROR(SDV_EINVAL, "sdv_compressor_alloc_type: incomplete compressor type");
  /* Reuse the spec parser: "name" or "name:params". */
  size_t len = strlen(type->name) + (params ? strlen(params) : 0) + 2;
  char *spec = malloc(len);
  if (!spec) return SDV_ERROR(SDV_ENOMEM, "compressor %s: out of memory", type->name);
  if (params && *params)
    snprintf(spec, len, "%s:%s", type->name, params);
  else
    snprintf(spec, len, "%s", type->name);
  sdv_params p;
  int rc = sdv_params_parse(&p, spec);
  free(spec);
  if (rc == SDV_OK) rc = alloc_parsed(out, type, dim, &p);
  sdv_params_clear(&p);
  return rc;
}

sdv_compressor *sdv_compressor_clone(const sdv_compressor *c) {
  if (!c) return NULL;
  sdv_compressor *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  *d = *c;
  d->state = malloc(c->size ? c->size : 1);
  d->spec = malloc(strlen(c->spec) + 1);
  if (!d->state || !d->spec) {
    free(d->state);
    free(d->spec);
    free(d);
    return NULL;
  }
  /* Relocatable by contract: a byte copy is a complete, independent instance. */
  memcpy(d->state, c->state, c->size);
  strcpy(d->spec, c->spec);
  return d;
}

void sdv_compressor_free(sdv_compressor *c) {
  if (!c) return;
  free(c->state);
  free(c->spec);
  free(c);
}

int sdv_compressor_linear(const sdv_compressor *c, double *a, double *cc) {
  if (!c->type->linear)
    return SDV_ERROR(SDV_ENOTSUP, "compressor %s: no linear covariance form", c->spec);
  return c->type->linear(c->state, c->dim, a, cc);
}

int sdv_compressor_covariance(const sdv_compressor *c, const double *v, double *diag,
                              double *beta, double *u) {
  if (c->type->covariance) return c->type->covariance(c->state, c->dim, v, diag, beta, u);
  if (!c->type->linear)
    return SDV_ERROR(SDV_ENOTSUP, "compressor %s: no closed-form covariance", c->spec);
  double a, cc;
  int rc = c->type->linear(c->state, c->dim, &a, &cc);
  if (rc) return rc;
  /* Phi = a Diag(v_j^2) - c v v^T. */
  for (size_t j = 0; j < c->dim; j++) {
    diag[j] = a * v[j] * v[j];
    u[j] = v[j];
  }
  *beta = cc;
  return SDV_OK;
}
