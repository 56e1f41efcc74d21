/* Registers the example's types with sdv: shared by plugin.c and driver.c. */
#include <sdv/errors.h>

#include "mycomponents.h"

int example_register_all(void) {
  int rc = sdv_compressor_register(example_compressor_natural_dithering);
  if (rc) return rc;
  return sdv_noise_register(example_noise_alpha_stable);
}
