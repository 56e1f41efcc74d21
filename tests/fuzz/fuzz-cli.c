/* Fuzz target: the sdv command line, as main() dispatches it, through the subcommands'
 * own argument parsers (verify/cmd_*.c linked in, stdout discarded).
 *
 * Input: arguments separated by '\n'; the first one is the subcommand (list,
 * compressor-check, weak), the rest its arguments, e.g.
 *     weak\n--method\ndcsgd\n--compressor\nrand-k:k=2\n--dim\n3\n--eta\n0.1,0.05\n--T\n0.4
 * Every exit status is legal; only crashes, hangs, leaks and sanitizer reports count.
 *
 * The computations behind the parsers are exercised too, but only at sizes a fuzzer can
 * afford per input: cmd_weak.c and cmd_compressor_check.c are compiled for this target with
 * sdv_weak_run, sdv_compressor_conformance, sdv_compressor_alloc and sdv_model_alloc renamed
 * to the wrappers below, which refuse (SDV_ELIMIT, an ordinary exit status 2) sizes above
 * small caps and otherwise call the real function. Arguments that write files (--json, --csv,
 * --out) make the input uninteresting: a fuzzer must not write where a mutated path points.
 */
#include "fuzz.h"

#include <gsl/gsl_errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/compressor.h>
#include <sdv/errors.h>
#include <sdv/model.h>
#include <sdv/weak.h>

#include "commands.h"

#define ARGS_MAX 64

/* ---- the size-capped wrappers (see above) ---- */

/* `sdv list checks` prints the claim suite, which this target does not link: nothing to list. */
void sdv_list_checks(const char *indent) { (void)indent; }

int sdv_fuzz_compressor_alloc(sdv_compressor **out, const char *spec, size_t dim);
int sdv_fuzz_model_alloc(sdv_model **out, const sdv_model_options *o);
int sdv_fuzz_weak_run(const sdv_model_options *disc, const sdv_model_options *sde,
                      const sdv_weak_options *o, sdv_weak_result **out);
int sdv_fuzz_conformance(const sdv_compressor *c, const sdv_conformance_options *o,
                         sdv_conformance_report **out);

int sdv_fuzz_weak_run(const sdv_model_options *disc, const sdv_model_options *sde,
                      const sdv_weak_options *o, sdv_weak_result **out) {
  *out = NULL;
  double tmax = 0.0, emin = 0.0;
  for (size_t k = 0; k < o->ntimes; k++)
    if (o->times[k] > tmax) tmax = o->times[k];
  for (size_t k = 0; k < o->neta; k++)
    if (k == 0 || o->eta[k] < emin) emin = o->eta[k];
  /* Non-positive values are left to the real validation. */
  const double steps = emin > 0.0 ? tmax / emin : 0.0;
  if (o->paths > 64 || o->neta > 6 || o->ntimes > 4 || o->nobs > 4 || o->substeps > 8 ||
      !(steps <= 64.0) || disc->dim > 8 || disc->agents > 4 || disc->batch > 16)
    return SDV_ERROR(SDV_ELIMIT, "fuzz: study above the fuzzing size caps, not run");
  sdv_weak_options copy = *o;
  copy.threads = 1;
  return sdv_weak_run(disc, sde, &copy, out);
}

int sdv_fuzz_conformance(const sdv_compressor *c, const sdv_conformance_options *o,
                         sdv_conformance_report **out) {
  *out = NULL;
  if (c->dim > 64 || o->samples > 2000 || o->vectors > 8)
    return SDV_ERROR(SDV_ELIMIT, "fuzz: conformance above the fuzzing size caps, not run");
  return sdv_compressor_conformance(c, o, out);
}

/* Memory grows linearly in d (rand-k keeps 2d indices, a model several d-vectors): a
 * dimension in the billions is a resource problem the commands should refuse up front, not a
 * parser bug, so the fuzzer stops here (crashes/cli/oom-rand-k-dim, docs/reliability.md). */
#define FUZZ_DIM_MAX ((size_t)1 << 20)
int sdv_fuzz_compressor_alloc(sdv_compressor **out, const char *spec, size_t dim) {
  *out = NULL;
  if (dim > FUZZ_DIM_MAX)
    return SDV_ERROR(SDV_ELIMIT, "fuzz: dim = %zu above the fuzzing size cap, not built", dim);
  return sdv_compressor_alloc(out, spec, dim);
}

int sdv_fuzz_model_alloc(sdv_model **out, const sdv_model_options *o) {
  *out = NULL;
  if (o->dim > FUZZ_DIM_MAX || o->agents > FUZZ_DIM_MAX)
    return SDV_ERROR(SDV_ELIMIT, "fuzz: dim or agents above the fuzzing size cap, not built");
  return sdv_model_alloc(out, o);
}

/* ---- the target ---- */

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"list", sdv_cmd_list},
    {"compressor-check", sdv_cmd_compressor_check},
    {"weak", sdv_cmd_weak},
};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  gsl_set_error_handler_off();
  /* The tables the subcommands print are not what is tested. */
  if (!freopen("/dev/null", "w", stdout)) return 0;
  return 0;
}

static int writes_files(const char *a) {
  static const char *const opts[] = {"--json", "--csv", "--out"};
  for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++)
    if (strncmp(a, opts[k], strlen(opts[k])) == 0) return 1;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = sdv_fuzz_strdup(data, size);
  if (!text) return 0;
  char *argv[ARGS_MAX + 1];
  int argc = 0;
  for (char *a = text; a && argc < ARGS_MAX;) {
    char *next = strchr(a, '\n');
    if (next) *next++ = '\0';
    if (writes_files(a)) goto done;
    argv[argc++] = a;
    a = next;
  }
  argv[argc] = NULL;
  if (argc < 1) goto done;
  for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
    if (strcmp(argv[0], commands[k].name) == 0) {
      /* Every subcommand ends with one of the documented exit statuses (verify/cli.h). */
      const int code = commands[k].run(argc, argv);
      FUZZ_CHECK(code >= 0 && code <= 4);
      break;
    }
  fflush(stdout);
done:
  free(text);
  return 0;
}
