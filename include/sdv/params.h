/* sdv/params.h — the component specification syntax shared by every sdv component.
 *
 * A component (objective, noise law, compressor, integrator) is named by a spec
 *     NAME[:KEY=VALUE[:KEY=VALUE...]]
 * e.g. "rand-k:k=4", "student-t:nu=3", "quadratic:lam=0.5..2", "quadratic:lam=1,2.5,4".
 * A VALUE is a number, a comma-separated list of numbers, or a range "A..B" that a
 * component expands to as many evenly spaced values as it needs. Keys are unique.
 *
 * A component's init function reads its keys with the getters below; afterwards
 * sdv_params_check_unused() reports any key the component did not read, so that a typo
 * ("rand-k:K=4") is an error instead of being silently ignored.
 */
#ifndef SDV_PARAMS_H
#define SDV_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SDV_PARAMS_MAX 16

typedef struct sdv_params {
  char *name;                       /* component name (owned) */
  size_t n;                         /* number of key=value pairs */
  char *key[SDV_PARAMS_MAX];        /* owned */
  char *value[SDV_PARAMS_MAX];      /* owned, raw text */
  bool used[SDV_PARAMS_MAX];        /* set by the getters */
} sdv_params;

/* Parses spec into p (which must be freed with sdv_params_clear even on failure).
 * Returns SDV_OK, SDV_EINVAL (empty name, missing '=', empty key or value, duplicate key,
 * more than SDV_PARAMS_MAX keys), or SDV_ENOMEM. */
int sdv_params_parse(sdv_params *p, const char *spec);

/* Frees what p owns and zeroes it. Safe on a zeroed struct. */
void sdv_params_clear(sdv_params *p);

/* True if key is present (marks nothing). */
bool sdv_params_has(const sdv_params *p, const char *key);

/* Reads a finite double. If the key is absent, *out = def and SDV_OK is returned; a value
 * that is not a finite number is SDV_EINVAL with a message naming component and key. */
int sdv_params_get_double(sdv_params *p, const char *key, double def, double *out);

/* Reads a non-negative integer (no sign, no fraction); absent -> def. */
int sdv_params_get_size(sdv_params *p, const char *key, size_t def, size_t *out);

/* Reads a list of exactly n finite doubles. Accepts a single number (repeated n times),
 * a list of n numbers, or a range "A..B" (n evenly spaced values, A and B included; for
 * n == 1 the value is A). Absent key: SDV_EINVAL unless def != NULL (then def[0..n) is
 * copied). */
int sdv_params_get_list(sdv_params *p, const char *key, size_t n, const double *def,
                        double *out);

/* SDV_EINVAL naming the first key that no getter read, SDV_OK otherwise. */
int sdv_params_check_unused(const sdv_params *p);

/* Parses a whole string as a finite double / as a size_t. Return SDV_EINVAL on junk,
 * overflow, NaN or infinity; what names the field in the error message. */
int sdv_parse_double(const char *s, const char *what, double *out);
int sdv_parse_size(const char *s, const char *what, size_t *out);

/* Parses a comma-separated list of finite doubles into a newly allocated array (free()).
 * Ranges "A..B" are not accepted here. *n receives the count (>= 1). */
int sdv_parse_double_list(const char *s, const char *what, double **out, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
