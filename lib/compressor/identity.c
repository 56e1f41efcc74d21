/* Identity compressor: C(v) = v.
 *
 * The trivial member of the family (theory §3, table row "identity"): no randomness,
 * omega = 0, Phi_C(v) = 0, linear form (a, c) = (0, 0). It makes DCSGD coincide with DSGD,
 * which is how the optimizer tests compare the two.
 * Reference value (tests/test-compressor.c): C(2.385, -0.75) = (2.385, -0.75) bit for bit,
 * and the stream is not touched.
 */
#include <sdv/compressor.h>
#include <sdv/errors.h>

#include <string.h>

static size_t identity_size(size_t dim) { return 0; }

static int identity_init(void *state, size_t dim, sdv_params *params) { return SDV_OK; }

static double identity_omega(const void *state, size_t dim) { return 0.0; }

static void identity_apply(void *state, size_t dim, const double *v, double *out,
                           sdv_stream *s) {
  memcpy(out, v, dim * sizeof *out);
}

static int identity_linear(const void *state, size_t dim, double *a, double *c) {
  *a = 0.0;
  *c = 0.0;
  return SDV_OK;
}

static const sdv_compressor_type identity_type = {
    .name = "identity",
    .help = "C(v) = v (omega = 0)",
    .size = identity_size,
    .init = identity_init,
    .omega = identity_omega,
    .apply = identity_apply,
    .linear = identity_linear,
    .covariance = NULL,
};

const sdv_compressor_type *const sdv_compressor_identity = &identity_type;
