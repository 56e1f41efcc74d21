/* mycomponents.h — the two components this example adds to sdv.
 *
 * Each one is a static const type table in its own file, exported as one pointer, exactly
 * like sdv's built-ins. Registering them (sdv_compressor_register, sdv_noise_register) makes
 * them usable by name: plugin.c does it for the `sdv` command, driver.c for itself.
 */
#ifndef MYCOMPONENTS_H
#define MYCOMPONENTS_H

#include <sdv/compressor.h>
#include <sdv/noise.h>

/* "natural-dithering[:s=S]": natural dithering with S >= 1 levels (default 3), l2 norm. */
extern const sdv_compressor_type *const example_compressor_natural_dithering;

/* "alpha-stable:alpha=A": symmetric alpha-stable noise, 1 < A < 2, unit scale. */
extern const sdv_noise_type *const example_noise_alpha_stable;

/* Registers both types (SDV_OK, or the registry's status, e.g. SDV_EINVAL if a name is
 * already taken). Call once per process. */
int example_register_all(void);

#endif
