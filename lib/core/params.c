/* Component spec parsing: NAME[:KEY=VALUE...] (see sdv/params.h). */
#include <sdv/errors.h>
#include <sdv/params.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char *dup_range(const char *a, size_t n) {
  char *s = malloc(n + 1);
  if (s) {
    memcpy(s, a, n);
    s[n] = '\0';
  }
  return s;
}

void sdv_params_clear(sdv_params *p) {
  free(p->name);
  for (size_t i = 0; i < p->n; i++) {
    free(p->key[i]);
    free(p->value[i]);
  }
  memset(p, 0, sizeof *p);
}

int sdv_params_parse(sdv_params *p, const char *spec) {
  memset(p, 0, sizeof *p);
  if (spec == NULL || *spec == '\0') return SDV_ERROR(SDV_EINVAL, "empty component spec");
  const char *colon = strchr(spec, ':');
  size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
  if (nlen == 0) return SDV_ERROR(SDV_EINVAL, "component spec '%s' has an empty name", spec);
  if (!(p->name = dup_range(spec, nlen))) return SDV_ERROR(SDV_ENOMEM, "out of memory");
  const char *s = colon;
  while (s) {
    s++; /* skip ':' */
    const char *end = strchr(s, ':');
    size_t len = end ? (size_t)(end - s) : strlen(s);
    const char *eq = memchr(s, '=', len);
    if (!eq)
      return SDV_ERROR(SDV_EINVAL, "%s: parameter '%.*s' is not KEY=VALUE", p->name, (int)len,
                       s);
    size_t klen = (size_t)(eq - s), vlen = len - klen - 1;
    if (klen == 0 || vlen == 0)
      return SDV_ERROR(SDV_EINVAL, "%s: parameter '%.*s' has an empty key or value", p->name,
                       (int)len, s);
    if (p->n == SDV_PARAMS_MAX)
      return SDV_ERROR(SDV_EINVAL, "%s: more than %d parameters", p->name, SDV_PARAMS_MAX);
    for (size_t i = 0; i < p->n; i++)
      if (strlen(p->key[i]) == klen && strncmp(p->key[i], s, klen) == 0)
        return SDV_ERROR(SDV_EINVAL, "%s: parameter '%s' given twice", p->name, p->key[i]);
    p->key[p->n] = dup_range(s, klen);
    p->value[p->n] = dup_range(eq + 1, vlen);
    p->n++;
    if (!p->key[p->n - 1] || !p->value[p->n - 1]) return SDV_ERROR(SDV_ENOMEM, "out of memory");
    s = end;
  }
  return SDV_OK;
}

static int find(const sdv_params *p, const char *key) {
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->key[i], key) == 0) return (int)i;
  return -1;
}

bool sdv_params_has(const sdv_params *p, const char *key) { return find(p, key) >= 0; }

int sdv_parse_double(const char *s, const char *what, double *out) {
  if (s == NULL || *s == '\0') return SDV_ERROR(SDV_EINVAL, "%s: empty value", what);
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end != '\0')
    return SDV_ERROR(SDV_EINVAL, "%s = '%s' is not a number", what, s);
  if (!isfinite(v) || errno == ERANGE)
    return SDV_ERROR(SDV_EINVAL, "%s = '%s' is not a finite number", what, s);
  *out = v;
  return SDV_OK;
}

int sdv_parse_size(const char *s, const char *what, size_t *out) {
  if (s == NULL || *s == '\0') return SDV_ERROR(SDV_EINVAL, "%s: empty value", what);
  for (const char *c = s; *c; c++)
    if (*c < '0' || *c > '9')
      return SDV_ERROR(SDV_EINVAL, "%s = '%s' is not a non-negative integer", what, s);
  errno = 0;
  unsigned long long v = strtoull(s, NULL, 10);
  if (errno == ERANGE || v > SIZE_MAX)
    return SDV_ERROR(SDV_EINVAL, "%s = '%s' is too large", what, s);
  *out = (size_t)v;
  return SDV_OK;
}

int sdv_parse_double_list(const char *s, const char *what, double **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (s == NULL || *s == '\0') return SDV_ERROR(SDV_EINVAL, "%s: empty list", what);
  size_t count = 1;
  for (const char *c = s; *c; c++) count += (*c == ',');
  double *v = malloc(count * sizeof *v);
  char *buf = malloc(strlen(s) + 1);
  if (!v || !buf) {
    free(v);
    free(buf);
    return SDV_ERROR(SDV_ENOMEM, "out of memory");
  }
  strcpy(buf, s);
  char *tok = buf;
  for (size_t i = 0; i < count; i++) {
    char *comma = strchr(tok, ',');
    if (comma) *comma = '\0';
    int rc = sdv_parse_double(tok, what, &v[i]);
    if (rc) {
      free(v);
      free(buf);
      return rc;
    }
    tok = comma ? comma + 1 : tok;
  }
  free(buf);
  *out = v;
  *n = count;
  return SDV_OK;
}

int sdv_params_get_double(sdv_params *p, const char *key, double def, double *out) {
  int i = find(p, key);
  if (i < 0) {
    *out = def;
    return SDV_OK;
  }
  p->used[i] = true;
  char what[128];
  snprintf(what, sizeof what, "%s: %s", p->name, key);
  return sdv_parse_double(p->value[i], what, out);
}

int sdv_params_get_size(sdv_params *p, const char *key, size_t def, size_t *out) {
  int i = find(p, key);
  if (i < 0) {
    *out = def;
    return SDV_OK;
  }
  p->used[i] = true;
  char what[128];
  snprintf(what, sizeof what, "%s: %s", p->name, key);
  return sdv_parse_size(p->value[i], what, out);
}

int sdv_params_get_list(sdv_params *p, const char *key, size_t n, const double *def,
                        double *out) {
  int i = find(p, key);
  if (i < 0) {
    if (!def) return SDV_ERROR(SDV_EINVAL, "%s: parameter '%s' is required", p->name, key);
    memcpy(out, def, n * sizeof *out);
    return SDV_OK;
  }
  p->used[i] = true;
  char what[128];
  snprintf(what, sizeof what, "%s: %s", p->name, key);
  const char *v = p->value[i];
  const char *dots = strstr(v, "..");
  if (dots) {
    char *a = dup_range(v, (size_t)(dots - v));
    if (!a) return SDV_ERROR(SDV_ENOMEM, "out of memory");
    double lo, hi;
    int rc = sdv_parse_double(a, what, &lo);
    free(a);
    if (rc) return rc;
    if ((rc = sdv_parse_double(dots + 2, what, &hi))) return rc;
    /* One value cannot span a range: taking lo would silently drop hi. */
    if (n == 1 && lo != hi)
      return SDV_ERROR(SDV_EINVAL,
                       "%s = '%s' is a range, but only 1 value is needed (d = 1); give one value",
                       what, v);
    for (size_t j = 0; j < n; j++)
      out[j] = n == 1 ? lo : lo + (hi - lo) * (double)j / (double)(n - 1);
    return SDV_OK;
  }
  double *vals;
  size_t m;
  int rc = sdv_parse_double_list(v, what, &vals, &m);
  if (rc) return rc;
  if (m != 1 && m != n) {
    free(vals);
    return SDV_ERROR(SDV_EINVAL, "%s = '%s' has %zu values; expected 1 or %zu", what, v, m, n);
  }
  for (size_t j = 0; j < n; j++) out[j] = vals[m == 1 ? 0 : j];
  free(vals);
  return SDV_OK;
}

int sdv_params_check_unused(const sdv_params *p) {
  for (size_t i = 0; i < p->n; i++)
    if (!p->used[i])
      return SDV_ERROR(SDV_EINVAL, "%s: unknown parameter '%s'", p->name, p->key[i]);
  return SDV_OK;
}
