/* `sdv compressor-check NAME[:params] --dim D ...`: the conformance check of one compressor
 * (sdv_compressor_conformance) as a table, a verdict line and optionally a JSON record. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sdv/compressor.h>
#include <sdv/errors.h>
#include <sdv/params.h>

#include "cli.h"
#include "commands.h"
#include "output.h"

#define CMD "compressor-check"

static void usage(FILE *out) {
  sdv_conformance_options o;
  sdv_conformance_options_default(&o);
  fprintf(out,
          "usage: sdv compressor-check NAME[:KEY=VALUE...] --dim D [options]\n"
          "Checks a compressor's contract by sampling: C(0) = 0, E C(v) = v (bias),\n"
          "E||C(v)-v||^2 <= omega ||v||^2 (omega) and, when a closed form is declared,\n"
          "Cov C(v) = Phi_C(v) (covariance), on high-entropy test vectors.\n\n"
          "  --dim D        dimension d >= 1 (required)\n"
          "  --samples S    draws per test vector (default %zu)\n"
          "  --vectors V    number of test vectors (default %zu)\n"
          "  --seed N       stream seed (default %llu)\n"
          "  --alpha A      family-wise false-failure rate, 0 < A < 1 (default %g)\n"
          "  --json FILE    also write the result as JSON (- for standard output)\n\n"
          "exit status: 0 pass, 1 a check failed or was inconclusive, 2 bad input, 3 runtime\n"
          "error, 4 interrupted\n",
          o.samples, o.vectors, (unsigned long long)o.seed, o.alpha);
}

static const char *verdict_name(const sdv_conformance_report *r) {
  return r->pass ? "PASS" : r->inconclusive ? "INCONCLUSIVE" : "FAIL";
}

static int write_json(sdv_outfile *f, const char *path, const sdv_compressor *c,
                      const sdv_conformance_options *o, const sdv_conformance_report *r) {
  json_t *root = json_object(), *rows = json_array();
  if (!root || !rows) goto nomem;
  json_object_set_new(root, "command", json_string("compressor-check"));
  json_object_set_new(root, "compressor", json_string(c->spec));
  json_object_set_new(root, "dim", json_integer((json_int_t)c->dim));
  json_object_set_new(root, "omega", json_real(sdv_compressor_omega(c)));
  json_object_set_new(root, "samples", json_integer((json_int_t)o->samples));
  json_object_set_new(root, "vectors", json_integer((json_int_t)o->vectors));
  /* As a string: a 64-bit seed does not fit JSON's portable integer range. */
  char seed[32];
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
  json_object_set_new(root, "seed", json_string(seed));
  json_object_set_new(root, "alpha", json_real(o->alpha));
  for (size_t i = 0; i < r->nrows; i++) {
    const sdv_conformance_row *w = &r->rows[i];
    /* JSON has no NaN/Inf: such fields are null. */
    json_t *row = json_pack("{s:I, s:s, s:o, s:o, s:o, s:b}", "vector", (json_int_t)w->vector,
                            "statistic", w->what,
                            "value", isfinite(w->value) ? json_real(w->value) : json_null(),
                            "bound", isfinite(w->bound) ? json_real(w->bound) : json_null(),
                            "se", isfinite(w->se) ? json_real(w->se) : json_null(),
                            "pass", w->pass);
    if (!row || json_array_append_new(rows, row)) goto nomem;
  }
  json_object_set_new(root, "rows", rows);
  rows = NULL;
  json_object_set_new(root, "note", json_string(r->note));
  json_object_set_new(root, "stuck_coordinates", json_integer((json_int_t)r->stuck));
  json_object_set_new(root, "verdict",
                      json_string(r->pass           ? "pass"
                                  : r->inconclusive ? "inconclusive"
                                                    : "fail"));

  if (json_dumpf(root, f->fp, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) ||
      fputc('\n', f->fp) == EOF) {
    sdv_outfile_abort(f);
    sdv_cli_error(CMD, "cannot write %s", path);
    json_decref(root);
    return SDV_EXIT_RUNTIME;
  }
  json_decref(root);
  if (sdv_outfile_commit(f)) {
    sdv_cli_error(CMD, "cannot write %s: %s", path, strerror(errno));
    return SDV_EXIT_RUNTIME;
  }
  return SDV_EXIT_OK;
nomem:
  sdv_outfile_abort(f);
  json_decref(rows);
  json_decref(root);
  sdv_cli_error(CMD, "out of memory");
  return SDV_EXIT_RUNTIME;
}

static void print_report(const sdv_compressor *c, const sdv_conformance_options *o,
                         const sdv_conformance_report *r) {
  printf("compressor %s  dim %zu  omega %.6g  samples %zu  vectors %zu  seed %llu  alpha %g\n",
         c->spec, c->dim, sdv_compressor_omega(c), o->samples, o->vectors,
         (unsigned long long)o->seed, o->alpha);
  printf("%-6s  %-11s  %-27s  %-12s  %s\n", "vector", "statistic", "value", "bound", "pass");
  for (size_t i = 0; i < r->nrows; i++) {
    const sdv_conformance_row *w = &r->rows[i];
    char value[64];
    if (isfinite(w->se))
      snprintf(value, sizeof value, "%.6g +- %.2g", w->value, w->se);
    else
      snprintf(value, sizeof value, "%.6g", w->value);
    const char *rel = strcmp(w->what, "trace") == 0 ? "(info)"
                      : strcmp(w->what, "zero") == 0 ? "=="
                                                     : "<=";
    char bound[48];
    if (isfinite(w->bound))
      snprintf(bound, sizeof bound, "%s %.4g", rel, w->bound);
    else
      snprintf(bound, sizeof bound, "%s", rel);
    printf("%-6zu  %-11s  %-27s  %-12s  %s\n", w->vector, w->what, value, bound,
           w->pass ? "yes" : "NO");
  }
  printf("note: %s\n", r->note);
  printf("verdict: %s %s\n", c->spec, verdict_name(r));
}

int sdv_cmd_compressor_check(int argc, char **argv) {
  sdv_conformance_options o;
  sdv_conformance_options_default(&o);
  const char *spec = NULL, *json = NULL;
  size_t dim = 0;
  bool have_dim = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return SDV_EXIT_OK;
    }
    bool bad = false;
    const char *v;
    int rc = SDV_OK;
    if ((v = sdv_cli_value(CMD, "dim", argc, argv, &i, &bad))) {
      rc = sdv_parse_size(v, "--dim", &dim);
      have_dim = true;
    } else if (!bad && (v = sdv_cli_value(CMD, "samples", argc, argv, &i, &bad))) {
      rc = sdv_parse_size(v, "--samples", &o.samples);
    } else if (!bad && (v = sdv_cli_value(CMD, "vectors", argc, argv, &i, &bad))) {
      rc = sdv_parse_size(v, "--vectors", &o.vectors);
    } else if (!bad && (v = sdv_cli_value(CMD, "seed", argc, argv, &i, &bad))) {
      size_t seed;
      rc = sdv_parse_size(v, "--seed", &seed);
      o.seed = (uint64_t)seed;
    } else if (!bad && (v = sdv_cli_value(CMD, "alpha", argc, argv, &i, &bad))) {
      rc = sdv_parse_double(v, "--alpha", &o.alpha);
    } else if (!bad && (v = sdv_cli_value(CMD, "json", argc, argv, &i, &bad))) {
      json = v;
    } else if (bad) {
      return SDV_EXIT_USAGE;
    } else if (a[0] == '-' && a[1] != '\0') {
      sdv_cli_error(CMD, "unknown option '%s' (see sdv compressor-check --help)", a);
      return SDV_EXIT_USAGE;
    } else if (spec) {
      sdv_cli_error(CMD, "one compressor spec expected, got '%s' and '%s'", spec, a);
      return SDV_EXIT_USAGE;
    } else {
      spec = a;
    }
    if (bad) return SDV_EXIT_USAGE;
    if (rc) return sdv_cli_status_exit(CMD, rc);
  }
  if (!spec) {
    sdv_cli_error(CMD, "missing compressor spec NAME[:KEY=VALUE...] (see --help)");
    return SDV_EXIT_USAGE;
  }
  if (!have_dim) {
    sdv_cli_error(CMD, "missing --dim D");
    return SDV_EXIT_USAGE;
  }

  sdv_compressor *c = NULL;
  sdv_conformance_report *r = NULL;
  {
    /* The memory estimate before the compressor's state is even allocated: the conformance
     * run's six d-vectors and d accumulators (sdv_acc: 3 doubles), the state at least one more
     * d-vector. */
    const double bytes = (double)dim * (7.0 * sizeof(double) + 3.0 * sizeof(double));
    if (bytes > SDV_CLI_MAX_BYTES) {
      sdv_cli_error(CMD,
                    "memory estimate %.3g GB for --dim = %zu (ten d-vectors: samples, "
                    "accumulators, compressor state) is above the %.3g GB sdv allows: lower "
                    "--dim",
                    bytes / 1e9, dim, SDV_CLI_MAX_BYTES / 1e9);
      return SDV_EXIT_USAGE;
    }
  }
  int rc = sdv_compressor_alloc(&c, spec, dim);
  if (rc) return sdv_cli_status_exit(CMD, rc);
  /* The output is checked before the (possibly long) sampling. */
  sdv_outfile f = {0};
  if (json && sdv_outfile_open(&f, json)) {
    sdv_cli_error(CMD, "cannot write --json '%s': %s", json, strerror(errno));
    sdv_compressor_free(c);
    return SDV_EXIT_USAGE;
  }
  o.cancel = &sdv_cli_interrupted;
  rc = sdv_compressor_conformance(c, &o, &r);
  if (rc || sdv_cli_interrupted) {
    sdv_outfile_abort(&f);
    sdv_compressor_free(c);
    sdv_conformance_report_free(r);
    if (rc == SDV_EINTR || sdv_cli_interrupted) {
      sdv_cli_error(CMD, "interrupted; no result written");
      return SDV_EXIT_INTERRUPTED;
    }
    return sdv_cli_status_exit(CMD, rc);
  }
  print_report(c, &o, r);
  int status = r->pass ? SDV_EXIT_OK : SDV_EXIT_FAIL;
  if (json) {
    int js = write_json(&f, json, c, &o, r);
    if (js) status = js;
  }
  sdv_conformance_report_free(r);
  sdv_compressor_free(c);
  return status;
}
