/* The plugin entry point: `sdv --plugin ./libmycomponents.so COMMAND ...` loads this library
 * and calls sdv_plugin_init() before COMMAND runs (sdv/plugin.h). After that,
 * "natural-dithering" and "alpha-stable" are known by name to every sdv command. */
#include <sdv/plugin.h>

#include "mycomponents.h"

/* Declared here so that -Wmissing-prototypes is satisfied; the type is sdv_plugin_init_fn. */
int sdv_plugin_init(void);

int sdv_plugin_init(void) { return example_register_all(); }
