/* sdv/plugin.h — extending the `sdv` command with your own components.
 *
 * A plugin is a shared library that defines
 *
 *     int sdv_plugin_init(void);
 *
 * which registers the plugin's types (sdv_method_register, sdv_compressor_register, sdv_noise_register,
 * sdv_objective_register, sdv_integrator_register) and returns SDV_OK, or an sdv status with
 * a message (SDV_ERROR) on failure. `sdv --plugin ./libmine.so COMMAND ...` (repeatable, or
 * the colon-separated list in the SDV_PLUGINS environment variable) loads plugins before the
 * command runs, so their components are usable by name everywhere: `sdv list`,
 * `sdv compressor-check mine:k=3`, `sdv weak --compressor mine:k=3 ...`. A program that
 * links libsdv directly registers its types itself and needs no plugin.
 */
#ifndef SDV_PLUGIN_H
#define SDV_PLUGIN_H

#ifdef __cplusplus
extern "C" {
#endif

/* The entry point a plugin defines. */
typedef int sdv_plugin_init_fn(void);
#define SDV_PLUGIN_INIT_SYMBOL "sdv_plugin_init"

/* Loads the shared library at path and calls its sdv_plugin_init. path names a file: one
 * without a '/' is relative to the working directory (never a search of the library path).
 * The library stays loaded for the life of the process. Returns SDV_OK, SDV_EINVAL (no such
 * regular file, or no sdv_plugin_init symbol), SDV_EIO (cannot load; message from dlerror),
 * or the status the plugin returned. */
int sdv_plugin_load(const char *path);

#ifdef __cplusplus
}
#endif
#endif
