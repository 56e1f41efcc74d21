/* Fuzz target: model options as the command line gives them (sdv_model_options_set), the
 * model built from them (sdv_model_alloc), and a few steps of both sides of the pairing.
 *
 * Input: lines "NAME=VALUE" (NAME as in sdv_model_options_set: method, dim, agents, batch,
 * eta, objective, noise, sigma, compressor, x0, seed, sde, diffusion-scale). Every status is
 * legal. A model that builds is stepped 4 times (discrete step, drift, diffusion, S xi,
 * noise increment, every observable), because values that pass validation (sigma = 1e300,
 * eta = 1e-300, omega huge) must give inf/NaN or an error, never a crash.
 *
 * Requests this harness does not build, because they are resource problems rather than
 * parser bugs (docs/reliability.md): 32 < dim <= SIZE_MAX/512, 16 < agents <= SIZE_MAX/512
 * (memory and time grow with them) and batch > 256 (a batch of B non-stable draws costs B draws per
 * coordinate per step).
 */
#include "fuzz.h"

#include <gsl/gsl_errno.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/model.h>
#include <sdv/rng.h>

#define DIM_MAX 32
#define AGENTS_MAX 16
#define BATCH_MAX 256
#define LINES_MAX 32

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  gsl_set_error_handler_off();
  return 0;
}

static void exercise(const sdv_model *m) {
  sdv_work *w = NULL;
  if (sdv_work_alloc(&w, m) != SDV_OK) return;
  const size_t d = m->dim;
  double x[DIM_MAX], b[DIM_MAX], xi[DIM_MAX], out[DIM_MAX];
  memcpy(x, m->x0, d * sizeof *x);
  sdv_stream sn, sc, sb;
  sdv_stream_init(&sn, m->seed, 0, SDV_PURPOSE_NOISE, 0);
  sdv_stream_init(&sc, m->seed, 0, SDV_PURPOSE_COMPRESSOR, 0);
  sdv_stream_init(&sb, m->seed, 0, SDV_PURPOSE_BROWNIAN, 0);
  static const char *const obs[] = {"f", "norm2", "grad2", "x:1", "x2:1"};
  for (int k = 0; k < 4; k++) {
    (void)sdv_model_step(m, w, x, &sn, &sc);
    sdv_model_drift(m, w, x, b);
    sdv_diffusion *D = NULL;
    if (sdv_model_diffusion(m, w, x, &D) == SDV_OK) {
      sdv_stream_normals(&sb, xi, d);
      (void)sdv_model_diffusion_apply(m, w, x, xi, out);
    }
    (void)sdv_model_noise_increment(m, w, x, &sb, out);
    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++) {
      sdv_observable o;
      if (sdv_observable_parse(&o, obs[i], d) == SDV_OK) (void)sdv_observable_eval(&o, m, w, x);
    }
  }
  for (size_t i = 0; i < m->agents; i++) sdv_model_draw_noise(m, i, &sn, out);
  sdv_work_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = sdv_fuzz_strdup(data, size);
  if (!text) return 0;
  sdv_model_options o;
  sdv_model_options_default(&o);
  /* Values are borrowed by the options, so they point into text until the model is built. */
  char *line = text;
  for (int n = 0; line && n < LINES_MAX; n++) {
    char *next = strchr(line, '\n');
    if (next) *next++ = '\0';
    char *eq = strchr(line, '=');
    if (eq) {
      *eq = '\0';
      (void)sdv_model_options_set(&o, line, eq + 1);
    } else {
      (void)sdv_model_options_set(&o, line, NULL);
    }
    line = next;
  }
  /* Sizes beyond SIZE_MAX / 512 are let through: the model must refuse them before any
   * allocation (an overflow guard, not a resource policy). */
  const size_t addressable = SIZE_MAX / 512;
  if ((o.dim <= DIM_MAX || o.dim > addressable) &&
      (o.agents <= AGENTS_MAX || o.agents > addressable) && o.batch <= BATCH_MAX) {
    sdv_model *m = NULL;
    sdv_clear_error();
    if (sdv_model_alloc(&m, &o) == SDV_OK) {
      /* A built model is valid in every field the documentation promises. */
      FUZZ_CHECK(m != NULL && m->dim >= 1 && m->agents >= 1 && m->batch >= 1);
      FUZZ_CHECK(m->eta > 0 && isfinite(m->eta) && m->description != NULL);
      for (size_t i = 0; i < m->agents; i++) FUZZ_CHECK(m->sigma[i] >= 0 && isfinite(m->sigma[i]));
      exercise(m);
      sdv_model_free(m);
    } else {
      FUZZ_CHECK(m == NULL && *sdv_last_error() != '\0'); /* refused, and says why */
    }
  }
  free(text);
  return 0;
}
