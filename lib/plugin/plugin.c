/* Run-time plugins (sdv/plugin.h): dlopen a shared library and call its registration hook. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sdv/errors.h>
#include <sdv/plugin.h>

int sdv_plugin_load(const char *path) {
  if (!path || !*path) return SDV_ERROR(SDV_EINVAL, "plugin: empty path");
  /* A path without '/' would make dlopen search the library path (and load libm.so.6 from
   * /lib); plugins are files, so such a path is relative to the working directory. */
  const size_t n = strlen(path) + 3;
  char *file = malloc(n);
  if (!file) return SDV_ERROR(SDV_ENOMEM, "out of memory");
  snprintf(file, n, "%s%s", strchr(path, '/') ? "" : "./", path);
  struct stat st;
  if (stat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
    free(file);
    return SDV_ERROR(SDV_EINVAL, "plugin %s: no such file", path);
  }
  void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  free(file);
  if (!h) {
    const char *why = dlerror();
    return SDV_ERROR(SDV_EIO, "plugin %s: cannot load: %s", path, why ? why : "unknown error");
  }
  void *sym = dlsym(h, SDV_PLUGIN_INIT_SYMBOL);
  if (!sym) {
    dlclose(h);
    return SDV_ERROR(SDV_EINVAL, "plugin %s: no %s() function", path, SDV_PLUGIN_INIT_SYMBOL);
  }
  sdv_plugin_init_fn *init;
  memcpy(&init, &sym, sizeof init); /* object-to-function pointer without a cast warning */
  sdv_clear_error();
  int rc = init();
  if (rc != SDV_OK) {
    const char *msg = sdv_last_error();
    if (!*msg) SDV_ERROR(rc, "plugin %s: %s() failed", path, SDV_PLUGIN_INIT_SYMBOL);
    /* Keep the library loaded: it may have registered types before failing. */
  }
  return rc;
}
