/* Private: one registry implementation for every type table (objective, noise, compressor,
 * method). Each type struct's first member is `const char *name`, so a type pointer can be
 * read as a pointer to its name (C11 6.7.2.1p15). Registration is not thread-safe: user code
 * registers before starting threads. */
#ifndef SDV_REGISTRY_H
#define SDV_REGISTRY_H

#include <stddef.h>

#define SDV_REGISTRY_USER_MAX 32
#define SDV_REGISTRY_BUILTIN_MAX 16

typedef struct sdv_registry {
  const char *what;            /* "compressor", for messages */
  const void *const *builtin;  /* NULL-terminated list of built-in types, or NULL and ... */
  /* ... a function writing that list (at most SDV_REGISTRY_BUILTIN_MAX types, then NULL):
   * the built-ins' exported pointers are not constant expressions in C, so a static list
   * cannot be initialised with them. Each call builds it on the caller's stack, so lookups
   * never write shared state and may run on several threads. */
  void (*builtins)(const void **list);
  const void *user[SDV_REGISTRY_USER_MAX];
  size_t nuser;
} sdv_registry;

/* The type named name, NULL if none. */
const void *sdv_registry_find(const sdv_registry *r, const char *name);
/* Adds a user type: SDV_EINVAL (NULL, no name, name taken), SDV_ELIMIT (full). */
int sdv_registry_add(sdv_registry *r, const void *type);
/* Copies up to max types into list and returns how many exist. */
size_t sdv_registry_list(const sdv_registry *r, const void **list, size_t max);
/* Writes the registered names, separated by ", ", into buf (for "unknown X; known: ..."). */
const char *sdv_registry_names(const sdv_registry *r, char *buf, size_t len);

#endif
