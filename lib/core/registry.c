#include "registry.h"

#include <sdv/errors.h>

#include <stdio.h>
#include <string.h>

static const char *type_name(const void *type) { return *(const char *const *)type; }

/* The built-in list: the static one, or the one r->builtins writes into buf. */
static const void *const *builtin_list(const sdv_registry *r,
                                       const void *buf[SDV_REGISTRY_BUILTIN_MAX + 1]) {
  if (r->builtin) return r->builtin;
  buf[0] = NULL;
  if (r->builtins) r->builtins(buf);
  return buf;
}

const void *sdv_registry_find(const sdv_registry *r, const char *name) {
  if (!name) return NULL;
  const void *buf[SDV_REGISTRY_BUILTIN_MAX + 1];
  for (const void *const *t = builtin_list(r, buf); *t; t++)
    if (strcmp(type_name(*t), name) == 0) return *t;
  for (size_t i = 0; i < r->nuser; i++)
    if (strcmp(type_name(r->user[i]), name) == 0) return r->user[i];
  return NULL;
}

int sdv_registry_add(sdv_registry *r, const void *type) {
  if (!type || !type_name(type) || !*type_name(type))
    return SDV_ERROR(SDV_EINVAL, "%s type: missing name", r->what);
  if (sdv_registry_find(r, type_name(type)))
    return SDV_ERROR(SDV_EINVAL, "%s type '%s' is already registered", r->what,
                     type_name(type));
  if (r->nuser == SDV_REGISTRY_USER_MAX)
    return SDV_ERROR(SDV_ELIMIT, "%s registry is full (%d user types)", r->what,
                     SDV_REGISTRY_USER_MAX);
  r->user[r->nuser++] = type;
  return SDV_OK;
}

size_t sdv_registry_list(const sdv_registry *r, const void **list, size_t max) {
  size_t n = 0;
  const void *buf[SDV_REGISTRY_BUILTIN_MAX + 1];
  for (const void *const *t = builtin_list(r, buf); *t; t++, n++)
    if (n < max) list[n] = *t;
  for (size_t i = 0; i < r->nuser; i++, n++)
    if (n < max) list[n] = r->user[i];
  return n;
}

const char *sdv_registry_names(const sdv_registry *r, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  const void *list[64];
  size_t n = sdv_registry_list(r, list, 64);
  for (size_t i = 0; i < n && i < 64; i++) {
    int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", type_name(list[i]));
    if (w < 0 || (size_t)w >= len - used) break;
    used += (size_t)w;
  }
  return buf;
}
