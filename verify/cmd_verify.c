/* `sdv verify`: run the claim suite (verify/checks.h), print a table, write one CSV per check
 * and a JSON summary under --out, all atomically. Exit 0 only if every selected check passed
 * and rejected its negative control. SIGINT/SIGTERM stop the run between (or inside) checks:
 * completed checks keep their files, the summary says "complete": false, exit status 4. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <sdv/errors.h>
#include <sdv/params.h>

#include "checks.h"
#include "checks_util.h"
#include "cli.h"
#include "commands.h"
#include "output.h"
#include "report.h"
#include "sdv_config.h"

#define CMD "verify"
#define interrupted sdv_cli_interrupted

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *out) {
  fputs(
      "usage: sdv verify [--full] [--only ID,...] [--list] [--seed S] [--out DIR]\n"
      "                  [--threads T] [--stop-on-fail]\n\n"
      "Runs one check per claim of the theory (docs/claims/). Each check prints what it\n"
      "measured with its confidence interval, the prediction, its verdict, and its negative\n"
      "control (a deliberately wrong model that must be rejected). Results: DIR/summary.json\n"
      "and DIR/<id>.csv (default DIR: results). --full uses larger samples.\n"
      "--stop-on-fail ends the run at the first check that fails (mutation testing).\n"
      "Exit status: 0 all passed, 1 a check failed or was inconclusive (the data could not\n"
      "decide; its note says what would help), 2 bad input, 3 runtime error,\n"
      "4 interrupted (completed checks are kept).\n",
      out);
}

static bool selected(const char *only, const char *id) {
  if (!only) return true;
  size_t n = strlen(id);
  for (const char *p = only; *p;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len == n && strncmp(p, id, n) == 0) return true;
    if (!comma) break;
    p = comma + 1;
  }
  return false;
}

static const char *verdict(const sdv_check_result *r) { return sdv_check_verdict(r); }

static void print_result(const sdv_check *c, const sdv_check_result *r, double secs) {
  printf("[%s] %-24s %s\n", verdict(r), c->id, c->claim);
  if (r->exact)
    printf("       measured   %s = %.6g (exact)\n", r->measured, r->value);
  else
    printf("       measured   %s = %.6g [%.6g, %.6g]\n", r->measured, r->value, r->lo, r->hi);
  printf("       predicted  %s\n", r->prediction);
  printf("       test       %s",
         r->pass ? "passed" : r->inconclusive ? "undecided (the data cannot tell)" : "FAILED");
  if (isfinite(r->ratio)) printf(" (measured/tol = %.3g)", r->ratio);
  printf("\n       control    %s: %s", r->control,
         r->control_rejected ? "rejected (as it must be)"
                             : "NOT rejected (the check has no power here: more paths would help)");
  if (isfinite(r->control_ratio)) printf(" (control/tol = %.3g)", r->control_ratio);
  printf("\n");
  if (r->note[0]) printf("       note       %s\n", r->note);
  printf("       time       %.1f s\n\n", secs);
  fflush(stdout);
}

static json_t *num(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *result_json(const sdv_check *c, const sdv_check_result *r, double secs,
                           const char *status) {
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(c->id));
  json_object_set_new(o, "family", json_string(c->family));
  json_object_set_new(o, "claim", json_string(c->claim));
  json_object_set_new(o, "status", json_string(status));
  if (strcmp(status, "done") == 0) {
    json_object_set_new(o, "measured", json_string(r->measured));
    json_object_set_new(o, "value", num(r->value));
    json_object_set_new(o, "ci", json_pack("[o,o]", num(r->lo), num(r->hi)));
    json_object_set_new(o, "exact", json_boolean(r->exact));
    json_object_set_new(o, "prediction", json_string(r->prediction));
    json_object_set_new(o, "predicted", num(r->predicted));
    json_object_set_new(o, "pass", json_boolean(r->pass));
    json_object_set_new(o, "inconclusive", json_boolean(r->inconclusive && !r->pass));
    json_object_set_new(o, "control",
                        json_pack("{s:s, s:o, s:b}", "model", r->control, "value",
                                  num(r->control_value), "rejected", r->control_rejected));
    json_object_set_new(o, "ratio", num(r->ratio));
    json_object_set_new(o, "control_ratio", num(r->control_ratio));
    json_object_set_new(o, "verdict", json_string(verdict(r)));
    json_object_set_new(o, "note", json_string(r->note));
  }
  json_object_set_new(o, "seconds", json_real(secs));
  return o;
}

void sdv_list_checks(const char *indent) {
  const sdv_check *const *all;
  const size_t n = sdv_checks_all(&all);
  for (size_t k = 0; k < n; k++)
    printf("%s%-26s %-13s %s\n", indent, all[k]->id, all[k]->family, all[k]->claim);
}

/* The command line of sdv verify. */
typedef struct verify_args {
  const char *only, *outdir;
  bool full, list;
  bool stop; /* --stop-on-fail: end the run at the first check that fails or errs */
} verify_args;

/* Parses argv into a and ctx (seed, threads). Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, verify_args *a, sdv_check_ctx *ctx) {
  for (int i = 1; i < argc; i++) {
    bool bad = false;
    const char *v;
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return SDV_EXIT_OK;
    } else if (strcmp(argv[i], "--full") == 0) {
      a->full = true;
    } else if (strcmp(argv[i], "--list") == 0) {
      a->list = true;
    } else if (strcmp(argv[i], "--stop-on-fail") == 0) {
      a->stop = true;
    } else if ((v = sdv_cli_value(CMD, "only", argc, argv, &i, &bad))) {
      a->only = v;
    } else if ((v = sdv_cli_value(CMD, "out", argc, argv, &i, &bad))) {
      a->outdir = v;
    } else if ((v = sdv_cli_value(CMD, "seed", argc, argv, &i, &bad))) {
      size_t s;
      if (sdv_parse_size(v, "--seed", &s)) {
        sdv_cli_library_error(CMD, NULL);
        return SDV_EXIT_USAGE;
      }
      ctx->seed = s;
    } else if ((v = sdv_cli_value(CMD, "threads", argc, argv, &i, &bad))) {
      if (sdv_cli_threads(CMD, v, &ctx->threads)) return SDV_EXIT_USAGE;
    } else {
      if (!bad) sdv_cli_error(CMD, "unknown option '%s' (see sdv verify --help)", argv[i]);
      return SDV_EXIT_USAGE;
    }
    if (bad) return SDV_EXIT_USAGE;
  }
  return -1;
}

/* Every id of the --only list must name a check (the error names the first that does not). */
static bool only_ids_known(const char *only, const sdv_check *const *all, size_t n) {
  char *copy = strdup(only), *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    bool found = false;
    for (size_t k = 0; k < n; k++) found |= strcmp(all[k]->id, tok) == 0;
    if (!found) {
      sdv_cli_error(CMD, "--only: unknown check id '%s' (sdv verify --list)", tok);
      free(copy);
      return false;
    }
  }
  free(copy);
  return true;
}

/* A selected check that did not finish in this run must not leave an older run's CSV next
 * to this run's summary: such a file is removed, and the summary lists the check. Returns
 * how many files were removed. */
static size_t remove_stale(const char *only, const char *outdir, const sdv_check *const *all,
                           size_t n, const bool *written, json_t *checks) {
  char path[4096];
  size_t stale = 0;
  for (size_t k = 0; k < n; k++) {
    if (!selected(only, all[k]->id) || written[k]) continue;
    snprintf(path, sizeof path, "%s/%s.csv", outdir, all[k]->id);
    if (unlink(path) == 0) stale++;
    bool listed = false;
    for (size_t q = 0; q < json_array_size(checks); q++)
      listed |= strcmp(json_string_value(json_object_get(json_array_get(checks, q), "id")),
                       all[k]->id) == 0;
    if (!listed)
      json_array_append_new(checks, json_pack("{s:s, s:s, s:s}", "id", all[k]->id, "family",
                                              all[k]->family, "status", "not run"));
  }
  return stale;
}

/* Writes root to outdir/summary.json (atomically). Returns SDV_EXIT_OK or SDV_EXIT_RUNTIME. */
static int write_summary(const char *outdir, json_t *root) {
  char path[4096];
  snprintf(path, sizeof path, "%s/summary.json", outdir);
  sdv_outfile sf = {0};
  if (sdv_outfile_open(&sf, path) != 0 ||
      json_dumpf(root, sf.fp, JSON_INDENT(1) | JSON_REAL_PRECISION(12)) != 0 ||
      sdv_outfile_commit(&sf) != 0) {
    sdv_cli_error(CMD, "writing %s failed: %s", path, strerror(errno));
    sdv_outfile_abort(&sf);
    return SDV_EXIT_RUNTIME;
  }
  return SDV_EXIT_OK;
}

/* What the run of the selected checks came to. */
typedef struct verify_tally {
  size_t passed, failed, inconclusive, errors, done;
  bool stopped; /* --stop-on-fail ended the run early */
} verify_tally;

/* Runs one check on a fresh result (every number NAN until the check sets it) with the error
 * state cleared; *secs is its wall time. Returns the check's status. */
static int run_one(const sdv_check *c, sdv_check_ctx *ctx, sdv_check_result *r, double *secs) {
  memset(r, 0, sizeof *r);
  r->ratio = r->control_ratio = NAN;
  r->predicted = r->value = r->lo = r->hi = r->control_value = NAN;
  sdv_clear_error();
  const double t0 = now();
  const int rc = c->run(ctx, r);
  *secs = now() - t0;
  return rc;
}

/* Runs the selected checks in order, each into outdir/<id>.csv, which is kept only when the
 * check finished (written[k] then set); appends each check to the summary's array checks and
 * counts it in t. A check that errs is reported and the run goes on (unless --stop-on-fail).
 * Returns SDV_EXIT_OK, or SDV_EXIT_RUNTIME when a CSV could not be written (the run ends). */
static int run_checks(const verify_args *a, sdv_check_ctx *ctx, const sdv_check *const *all,
                      size_t n, bool *written, json_t *checks, verify_tally *t) {
  char path[4096];
  for (size_t k = 0; k < n && !interrupted; k++) {
    const sdv_check *c = all[k];
    if (!selected(a->only, c->id)) continue;
    snprintf(path, sizeof path, "%s/%s.csv", a->outdir, c->id);
    sdv_outfile csv = {0};
    if (sdv_outfile_open(&csv, path) != 0) {
      sdv_cli_error(CMD, "cannot write %s: %s", path, strerror(errno));
      return SDV_EXIT_RUNTIME;
    }
    ctx->csv = csv.fp;
    sdv_check_result r;
    double secs;
    const int rc = run_one(c, ctx, &r, &secs);
    if (rc == SDV_EINTR || interrupted) {
      sdv_outfile_abort(&csv);
      json_array_append_new(checks, result_json(c, &r, secs, "interrupted"));
      break;
    }
    if (rc != SDV_OK) {
      sdv_outfile_abort(&csv);
      t->errors++;
      printf("[ERROR] %-23s %s\n        %s: %s\n\n", c->id, c->claim, sdv_strerror(rc),
             sdv_last_error());
      json_t *o = result_json(c, &r, secs, "error");
      json_object_set_new(o, "error", json_string(sdv_last_error()));
      json_array_append_new(checks, o);
      if (a->stop) {
        t->stopped = true;
        break;
      }
      continue;
    }
    if (sdv_outfile_commit(&csv) != 0) {
      sdv_cli_error(CMD, "writing %s failed: %s", path, strerror(errno));
      return SDV_EXIT_RUNTIME;
    }
    t->done++;
    written[k] = true;
    const char *v = verdict(&r);
    if (strcmp(v, "PASS") == 0)
      t->passed++;
    else if (strcmp(v, "INCONCLUSIVE") == 0)
      t->inconclusive++;
    else
      t->failed++;
    print_result(c, &r, secs);
    json_array_append_new(checks, result_json(c, &r, secs, "done"));
    if (a->stop && strcmp(v, "FAIL") == 0) {
      t->stopped = true;
      break;
    }
  }
  return SDV_EXIT_OK;
}

/* Writes outdir/summary.json: the run's provenance, its counts, total seconds and checks
 * (which it takes over). Returns SDV_EXIT_OK or SDV_EXIT_RUNTIME. */
static int summarize(const verify_args *a, const sdv_check_ctx *ctx, size_t nsel,
                     const verify_tally *t, bool complete, double total, json_t *checks) {
  char seedtxt[32];
  snprintf(seedtxt, sizeof seedtxt, "%llu", (unsigned long long)ctx->seed);
  json_t *root = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:f, s:o}", "sdv_version",
      SDV_VERSION, "git_revision", SDV_GIT_REVISION, "tier", a->full ? "full" : "quick", "seed",
      seedtxt, "streams", SDV_REPORT_STREAM_SCHEME, "complete", complete, "selected",
      (json_int_t)nsel, "passed", (json_int_t)t->passed, "failed", (json_int_t)t->failed,
      "inconclusive", (json_int_t)t->inconclusive, "errors", (json_int_t)t->errors, "seconds",
      total, "checks", checks);
  if (t->stopped) json_object_set_new(root, "stopped_on_fail", json_true());
  const int code = write_summary(a->outdir, root);
  json_decref(root);
  return code;
}

/* The checks --only selects, validated: every id known, at least one selected. Returns -1 to
 * go on with *nsel set, or the exit status (message printed). */
static int select_checks(const char *only, const sdv_check *const *all, size_t n, size_t *nsel) {
  *nsel = 0;
  for (size_t k = 0; k < n; k++) *nsel += selected(only, all[k]->id);
  if (only && !only_ids_known(only, all, n)) return SDV_EXIT_USAGE;
  if (*nsel == 0) {
    sdv_cli_error(CMD, "no check selected: nothing to verify");
    return SDV_EXIT_USAGE;
  }
  return -1;
}

int sdv_cmd_verify(int argc, char **argv) {
  verify_args args = {.only = NULL, .outdir = "results"};
  sdv_check_ctx ctx = {.seed = 1, .cancel = &interrupted};
  int code = parse_args(argc, argv, &args, &ctx);
  if (code >= 0) return code;
  const char *only = args.only, *outdir = args.outdir;
  ctx.full = args.full;
  const sdv_check *const *all;
  const size_t n = sdv_checks_all(&all);
  size_t nsel;
  if ((code = select_checks(only, all, n, &nsel)) >= 0) return code;
  if (args.list) {
    for (size_t k = 0; k < n; k++)
      if (selected(only, all[k]->id))
        printf("%-26s %-13s %s\n", all[k]->id, all[k]->family, all[k]->claim);
    return SDV_EXIT_OK;
  }
  if (sdv_output_dir_ready(outdir) != 0) {
    sdv_cli_error(CMD, "cannot write results to --out %s: %s", outdir, strerror(errno));
    return SDV_EXIT_USAGE;
  }
  printf("sdv verify (%s tier, seed %llu): %zu checks; results in %s/\n\n",
         args.full ? "full" : "quick", (unsigned long long)ctx.seed, nsel, outdir);
  fflush(stdout);

  json_t *checks = json_array();
  bool *written = calloc(n, sizeof *written);
  if (!written) {
    sdv_cli_error(CMD, "out of memory");
    json_decref(checks);
    return SDV_EXIT_RUNTIME;
  }
  verify_tally t = {0, 0, 0, 0, 0, false};
  const double t_start = now();
  code = run_checks(&args, &ctx, all, n, written, checks, &t);
  const bool complete = !interrupted && code == SDV_EXIT_OK && t.done + t.errors == nsel;
  const size_t stale = complete ? 0 : remove_stale(only, outdir, all, n, written, checks);
  const double total = now() - t_start;
  if (summarize(&args, &ctx, nsel, &t, complete, total, checks) != SDV_EXIT_OK)
    code = SDV_EXIT_RUNTIME;
  free(written);

  printf("summary: %zu checks, %zu passed, %zu failed, %zu inconclusive, %zu errors%s; %.0f s\n",
         nsel, t.passed, t.failed, t.inconclusive, t.errors,
         complete    ? ""
         : t.stopped ? " (INCOMPLETE: stopped at the first failure, --stop-on-fail)"
                     : " (INCOMPLETE: interrupted)",
         total);
  if (interrupted) {
    sdv_cli_error(CMD,
                  "interrupted: %zu completed checks kept in %s/, run marked incomplete; %zu "
                  "older result files of checks not run removed",
                  t.done, outdir, stale);
    return SDV_EXIT_INTERRUPTED;
  }
  if (code != SDV_EXIT_OK) return code;
  if (t.errors) return SDV_EXIT_RUNTIME;
  /* Not every check passed: exit 1 (the table tells FAIL from INCONCLUSIVE). */
  return t.failed || t.inconclusive ? SDV_EXIT_FAIL : SDV_EXIT_OK;
}
