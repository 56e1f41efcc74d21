/* `sdv weak`: a weak-error study of one model over a ladder of eta (sdv/weak.h). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <sdv/errors.h>
#include <sdv/params.h>
#include <sdv/weak.h>

#include "cli.h"
#include "commands.h"
#include "output.h"
#include "report.h"
#include "sdv_config.h"

#define CMD "weak"
#define MAX_OBS 32

static void usage(FILE *out) {
  fputs(
      "usage: sdv weak <model options> --eta E1,E2,... (--T T | --times t1,t2,...)\n"
      "                [--substeps M] [--paths P] [--observable f|norm2|grad2|x:J|x2:J[,...]]\n"
      "                [--integrator euler|richardson] [--alpha A] [--order Q]\n"
      "                [--no-exact] [--no-controls] [--coupling crn|none] [--threads T]\n"
      "                [--json FILE] [--csv FILE]\n\n"
      "Compares E g(x_k) of the optimizer with E g(X_{k eta}) of its SDE on every rung of\n"
      "the eta ladder, fits the weak order, tests the fluctuation part (diffusion-sensitive)\n"
      "and runs the negative controls (diffusion x0 = drift ODE, diffusion x2).\n"
      "--coupling crn (default): each path runs the optimizer and its SDE on common random\n"
      "numbers where a coupling exists (both laws exact; docs/math/coupling.md); the error is\n"
      "the mean of the per-path differences and VR its variance reduction. none: independent.\n"
      "--json/--csv FILE: - writes to standard output.\n"
      "Exit status: 0 PASS, 1 FAIL or INCONCLUSIVE, 2 bad input, 3 runtime error,\n"
      "4 interrupted (nothing written).\n\n",
      out);
  sdv_cli_model_help(out);
}

static void progress(void *user, double fraction) {
  (void)user;
  fprintf(stderr, "\rsdv weak: %3.0f%%", 100.0 * fraction);
  if (fraction >= 1.0) fputc('\n', stderr);
  fflush(stderr);
}

static int parse_list(const char *text, const char *what, double **out, size_t *n) {
  int rc = sdv_parse_double_list(text, what, out, n);
  if (rc) sdv_cli_library_error(CMD, NULL);
  return rc;
}

static void print_table(const sdv_weak_result *r, const sdv_observable *obs) {
  char name[64];
  printf("%-9s %-7s %-8s %-25s %-25s %-7s %s\n", "eta", "t", "g", "discrete", "SDE", "VR",
         "error [95% CI]");
  for (size_t k = 0; k < r->nrows; k++) {
    const sdv_weak_row *w = &r->rows[k];
    char d[64], s[64], e[128];
    sdv_report_estimate(d, sizeof d, w->disc.mean, w->disc.se, w->disc.exact);
    sdv_report_estimate(s, sizeof s, w->sde.mean, w->sde.se, w->sde.exact);
    snprintf(e, sizeof e, "%.4g [%.3g, %.3g]%s", w->err, w->err_lo, w->err_hi,
             w->resolved ? "" : " ~0");
    if (w->disc.unstable || w->sde.unstable) {
      size_t used = strlen(e);
      snprintf(e + used, sizeof e - used, " (heavy tails: se unreliable)");
    }
    if (w->disc.impossible || w->sde.impossible) {
      size_t used = strlen(e);
      snprintf(e + used, sizeof e - used, " (IMPOSSIBLE estimate:%s%s)",
               w->disc.impossible ? " disc" : "", w->sde.impossible ? " sde" : "");
    }
    if (w->disc.nonfinite || w->sde.nonfinite) {
      /* Never print a mean over surviving paths without saying how many diverged. */
      size_t used = strlen(e);
      snprintf(e + used, sizeof e - used, " (diverged: %llu disc, %llu sde)",
               (unsigned long long)w->disc.nonfinite, (unsigned long long)w->sde.nonfinite);
    }
    char vr[16] = "-";
    if (w->coupled) snprintf(vr, sizeof vr, "%.3g", w->vr);
    printf("%-9.4g %-7.4g %-8s %-25s %-25s %-7s %s\n", w->eta, w->t,
           sdv_observable_name(&obs[w->obs], name, sizeof name), d, s, vr, e);
  }
  printf("\n");
  for (size_t k = 0; k < r->ntests; k++) {
    const sdv_weak_test *T = &r->tests[k];
    sdv_observable_name(&obs[T->obs], name, sizeof name);
    printf("g = %s, t = %g\n", name, T->t);
    printf("  weak order       %.3f  CI [%.3f, %.3f]  (%zu rungs)  %s%s%s%s\n", T->slope,
           T->slope_lo, T->slope_hi, T->fit_points, sdv_verdict_name(T->order_verdict),
           T->sign_change ? " (error changes sign: not asymptotic)" : "",
           T->order_verdict == SDV_VERDICT_INCONCLUSIVE ? ": " : "",
           T->order_verdict == SDV_VERDICT_INCONCLUSIVE ? sdv_weak_reason_name(T->order_reason)
                                                        : "");
    if (isfinite(T->limit) && isfinite(T->limit_se))
      printf(
          "  fluctuation      limit L = %.4g ± %.2g; intercept of F_disc - F_sde = %.3g  CI "
          "[%.3g, %.3g]\n",
          T->limit, T->limit_se, T->intercept, T->intercept_lo, T->intercept_hi);
    else
      printf(
          "  fluctuation      limit L not finite: the extrapolation of F_disc to eta -> 0 "
          "failed (non-finite estimates, or a standard error of 0 on a Monte Carlo side); "
          "intercept %.3g\n",
          T->intercept);
    printf("                   relative error a/L = %.3g [%.3g, %.3g]  %s%s%s%s\n", T->rel,
           T->rel_lo, T->rel_hi, sdv_verdict_name(T->diffusion_verdict),
           T->fluct_resolved ? "" : " (not resolved)",
           T->diffusion_verdict == SDV_VERDICT_INCONCLUSIVE ? ": " : "",
           T->diffusion_verdict == SDV_VERDICT_INCONCLUSIVE
               ? sdv_weak_reason_name(T->diffusion_reason)
               : "");
    printf("  measured/tol     order %.3g, fluctuation |a|/tol %.3g (fit degree %zu)\n",
           T->order_ratio, T->intercept_ratio, T->fluct_degree);
    for (size_t c = 0; c < r->ncontrols; c++) {
      const sdv_weak_test *C = &r->controls[c].tests[k];
      printf("  control x%-4g    a/L = %.3g [%.3g, %.3g]  %s\n", r->controls[c].diffusion_scale,
             C->rel, C->rel_lo, C->rel_hi,
             C->fluct_resolved && C->diffusion_verdict == SDV_VERDICT_FAIL ? "rejected"
                                                                           : "NOT rejected");
    }
  }
  printf("\ncoupling: %s", r->coupled ? "crn (common random numbers; VR = variance reduction)"
                                       : "none");
  if (r->coupling_note[0]) printf(" — some rungs uncoupled: %s", r->coupling_note);
  printf("\nverdict: %s — %s\n", sdv_verdict_name(r->verdict), r->summary);
}

/* JSON has no NaN or infinity: non-finite numbers are written as null. */
static json_t *num(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *side_json(const sdv_weak_side *s) {
  return json_pack("{s:o, s:o, s:b, s:o, s:I, s:b}", "mean", num(s->mean), "se", num(s->se),
                   "exact", s->exact, "noise_free", num(s->ref), "nonfinite",
                   (json_int_t)s->nonfinite, "impossible", s->impossible);
}

static json_t *test_json(const sdv_weak_test *T, const sdv_observable *obs) {
  char name[64];
  return json_pack(
      "{s:s, s:o, s:{s:o, s:[o,o], s:I, s:b, s:s}, s:{s:o, s:o, s:o, s:[o,o], s:o, s:[o,o], "
      "s:b, s:s}}",
      "observable", sdv_observable_name(&obs[T->obs], name, sizeof name), "t", num(T->t),
      "order", "slope", num(T->slope), "ci", num(T->slope_lo), num(T->slope_hi), "points",
      (json_int_t)T->fit_points, "sign_change", T->sign_change, "verdict",
      sdv_verdict_name(T->order_verdict), "fluctuation", "limit", num(T->limit), "limit_se",
      num(T->limit_se), "intercept", num(T->intercept), "intercept_ci", num(T->intercept_lo),
      num(T->intercept_hi), "relative_error", num(T->rel), "relative_error_ci", num(T->rel_lo),
      num(T->rel_hi), "resolved", T->fluct_resolved, "verdict",
      sdv_verdict_name(T->diffusion_verdict));
}

static json_t *result_json(const sdv_weak_result *r, const sdv_weak_options *wo,
                           const char *model_desc, uint64_t seed) {
  json_t *rows = json_array(), *tests = json_array(), *controls = json_array();
  char name[64];
  for (size_t k = 0; k < r->nrows; k++) {
    const sdv_weak_row *w = &r->rows[k];
    json_array_append_new(
        rows, json_pack("{s:o, s:o, s:I, s:s, s:o, s:o, s:{s:o, s:o, s:[o,o], s:b, s:b, s:o}}",
                        "eta", num(w->eta), "t", num(w->t), "step", (json_int_t)w->step,
                        "observable", sdv_observable_name(&wo->obs[w->obs], name, sizeof name),
                        "discrete", side_json(&w->disc), "sde", side_json(&w->sde), "error",
                        "value", num(w->err), "se", num(w->err_se), "ci", num(w->err_lo),
                        num(w->err_hi), "resolved", w->resolved, "coupled", w->coupled, "vr",
                        w->coupled ? num(w->vr) : json_null()));
  }
  for (size_t k = 0; k < r->ntests; k++) json_array_append_new(tests, test_json(&r->tests[k], wo->obs));
  for (size_t c = 0; c < r->ncontrols; c++) {
    json_t *ct = json_array();
    for (size_t k = 0; k < r->controls[c].ntests; k++)
      json_array_append_new(ct, test_json(&r->controls[c].tests[k], wo->obs));
    json_array_append_new(controls,
                          json_pack("{s:o, s:b, s:o}", "diffusion_scale",
                                    num(r->controls[c].diffusion_scale), "rejected",
                                    r->controls[c].rejected, "tests", ct));
  }
  char seedtxt[32];
  snprintf(seedtxt, sizeof seedtxt, "%llu", (unsigned long long)seed);
  json_t *root = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:o}", "sdv_version", SDV_VERSION,
      "git_revision", SDV_GIT_REVISION, "model", model_desc, "seed", seedtxt, "streams",
      SDV_REPORT_STREAM_SCHEME, "integrator",
      wo->integrator ? wo->integrator->name : "auto (richardson; euler on the sampled route)", "paths",
      (json_int_t)wo->paths, "substeps", (json_int_t)wo->substeps, "alpha", num(wo->alpha), "rows",
      rows, "tests", tests, "controls", controls);
  /* The single-test summary the README documents. */
  if (r->ntests >= 1) {
    json_object_set_new(root, "order",
                        json_pack("{s:o, s:[o,o]}", "slope", num(r->tests[0].slope), "ci",
                                  num(r->tests[0].slope_lo), num(r->tests[0].slope_hi)));
  }
  json_object_set_new(root, "eta", json_pack("[]"));
  for (size_t k = 0; k < wo->neta; k++)
    json_array_append_new(json_object_get(root, "eta"), num(wo->eta[k]));
  json_object_set_new(root, "nonfinite_rows",
                      json_pack("{s:I, s:I}", "discrete", (json_int_t)r->nonfinite_rows[0], "sde",
                                (json_int_t)r->nonfinite_rows[1]));
  json_object_set_new(root, "impossible_rows",
                      json_pack("{s:I, s:I}", "discrete", (json_int_t)r->impossible_rows[0], "sde",
                                (json_int_t)r->impossible_rows[1]));
  json_object_set_new(root, "unstable_eta",
                      r->unstable_eta > 0 ? num(r->unstable_eta) : json_null());
  json_object_set_new(root, "coupling",
                      json_pack("{s:s, s:b, s:s}", "requested", sdv_weak_coupling_name(wo->coupling),
                                "used", r->coupled, "note", r->coupling_note));
  json_object_set_new(root, "verdict", json_string(sdv_verdict_name(r->verdict)));
  json_object_set_new(root, "summary", json_string(r->summary));
  return root;
}

static void write_csv(FILE *fp, const sdv_weak_result *r, const sdv_observable *obs) {
  char name[64];
  fprintf(fp,
          "eta,t,step,observable,disc_mean,disc_se,disc_exact,disc_noise_free,sde_mean,"
          "sde_se,sde_exact,sde_noise_free,error,error_lo,error_hi,fl_disc,fl_sde,fl_se,"
          "disc_nonfinite,sde_nonfinite,disc_impossible,sde_impossible,coupled,error_se,vr\n");
  for (size_t k = 0; k < r->nrows; k++) {
    const sdv_weak_row *w = &r->rows[k];
    fprintf(fp,
            "%.17g,%.17g,%zu,%s,%.17g,%.17g,%d,%.17g,%.17g,%.17g,%d,%.17g,%.17g,%.17g,%.17g,"
            "%.17g,%.17g,%.17g,%llu,%llu,%d,%d,%d,%.17g,%.17g\n",
            w->eta, w->t, w->step, sdv_observable_name(&obs[w->obs], name, sizeof name),
            w->disc.mean, w->disc.se, w->disc.exact, w->disc.ref, w->sde.mean, w->sde.se,
            w->sde.exact, w->sde.ref, w->err, w->err_lo, w->err_hi, w->fl_disc, w->fl_sde, w->fl_se,
            (unsigned long long)w->disc.nonfinite, (unsigned long long)w->sde.nonfinite,
            w->disc.impossible, w->sde.impossible, w->coupled, w->err_se, w->vr);
  }
}

/* The command line of sdv weak. eta and times are owned (freed by the command); wo.obs points
 * into obs, so an instance stays where it was declared. */
typedef struct weak_args {
  sdv_model_options mo;
  sdv_weak_options wo;
  double *eta, *times;
  size_t neta, ntimes, nobs;
  sdv_observable obs[MAX_OBS];
  const char *json_path, *csv_path, *obs_text;
} weak_args;

/* A parser of the library failed: its message is the one to show. */
static int input_error(void) {
  sdv_cli_library_error(CMD, NULL);
  return SDV_EXIT_USAGE;
}

/* Reads a --coupling value into wo. Returns 0, or SDV_EXIT_USAGE (message printed). */
static int parse_coupling(const char *v, sdv_weak_options *wo) {
  if (strcmp(v, "crn") == 0) {
    wo->coupling = SDV_WEAK_COUPLING_CRN;
  } else if (strcmp(v, "none") == 0) {
    wo->coupling = SDV_WEAK_COUPLING_NONE;
  } else {
    sdv_cli_error(CMD, "--coupling '%s' must be crn or none", v);
    return SDV_EXIT_USAGE;
  }
  return 0;
}

/* Parses argv into a (the observables only as text: they depend on --dim wherever that
 * appears). Returns -1 to go on, or the exit status (message printed). */
static int parse_args(int argc, char **argv, weak_args *a) {
  sdv_weak_options *wo = &a->wo;
  for (int i = 1; i < argc; i++) {
    bool bad = false;
    const char *v;
    /* --eta is a ladder here, so it is read before the model options. */
    if ((v = sdv_cli_value(CMD, "eta", argc, argv, &i, &bad))) {
      free(a->eta);
      if (parse_list(v, "--eta", &a->eta, &a->neta)) return SDV_EXIT_USAGE;
      continue;
    }
    if (bad) return SDV_EXIT_USAGE;
    int mrc = sdv_cli_model_option(CMD, &a->mo, argc, argv, &i);
    if (mrc < 0) return SDV_EXIT_USAGE;
    if (mrc > 0) continue;
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return SDV_EXIT_OK;
    } else if ((v = sdv_cli_value(CMD, "T", argc, argv, &i, &bad))) {
      free(a->times);
      if (parse_list(v, "--T", &a->times, &a->ntimes)) return SDV_EXIT_USAGE;
      if (a->ntimes != 1) {
        sdv_cli_error(CMD, "--T takes one time; use --times for several");
        return SDV_EXIT_USAGE;
      }
    } else if ((v = sdv_cli_value(CMD, "times", argc, argv, &i, &bad))) {
      free(a->times);
      if (parse_list(v, "--times", &a->times, &a->ntimes)) return SDV_EXIT_USAGE;
    } else if ((v = sdv_cli_value(CMD, "substeps", argc, argv, &i, &bad))) {
      if (sdv_parse_size(v, "--substeps", &wo->substeps)) return input_error();
    } else if ((v = sdv_cli_value(CMD, "paths", argc, argv, &i, &bad))) {
      if (sdv_parse_size(v, "--paths", &wo->paths)) return input_error();
    } else if ((v = sdv_cli_value(CMD, "threads", argc, argv, &i, &bad))) {
      if (sdv_cli_threads(CMD, v, &wo->threads)) return SDV_EXIT_USAGE;
    } else if ((v = sdv_cli_value(CMD, "alpha", argc, argv, &i, &bad))) {
      if (sdv_parse_double(v, "--alpha", &wo->alpha)) return input_error();
    } else if ((v = sdv_cli_value(CMD, "order", argc, argv, &i, &bad))) {
      if (sdv_parse_double(v, "--order", &wo->order)) return input_error();
    } else if ((v = sdv_cli_value(CMD, "integrator", argc, argv, &i, &bad))) {
      if (!(wo->integrator = sdv_integrator_type_from_name(v))) {
        sdv_cli_error(CMD, "--integrator '%s' is unknown (euler, richardson)", v);
        return SDV_EXIT_USAGE;
      }
    } else if ((v = sdv_cli_value(CMD, "observable", argc, argv, &i, &bad))) {
      a->obs_text = v;
    } else if ((v = sdv_cli_value(CMD, "json", argc, argv, &i, &bad))) {
      a->json_path = v;
    } else if ((v = sdv_cli_value(CMD, "csv", argc, argv, &i, &bad))) {
      a->csv_path = v;
    } else if ((v = sdv_cli_value(CMD, "coupling", argc, argv, &i, &bad))) {
      if (parse_coupling(v, wo)) return SDV_EXIT_USAGE;
    } else if (strcmp(argv[i], "--no-exact") == 0) {
      wo->exact = false;
    } else if (strcmp(argv[i], "--no-controls") == 0) {
      wo->controls = false;
    } else {
      if (!bad) sdv_cli_error(CMD, "unknown option '%s' (see sdv weak --help)", argv[i]);
      return SDV_EXIT_USAGE;
    }
    if (bad) return SDV_EXIT_USAGE;
  }
  return -1;
}

/* Parses the --observable list (NULL: just E f) for a model of dimension dim into obs.
 * Returns 0, or SDV_EXIT_USAGE (message printed). */
static int parse_observables(const char *text, size_t dim, sdv_observable *obs, size_t *nobs) {
  if (text) {
    /* Strict like every other list: no empty list and no empty item ("f,", ",f", "f,,g"). */
    const size_t len = strlen(text);
    if (len == 0 || text[0] == ',' || text[len - 1] == ',' || strstr(text, ",,")) {
      sdv_cli_error(CMD, "--observable = '%s' has an empty item (f|norm2|grad2|x:J|x2:J[,...])",
                    text);
      return SDV_EXIT_USAGE;
    }
    char *copy = strdup(text), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      if (*nobs == MAX_OBS) {
        sdv_cli_error(CMD, "--observable: at most %d observables", MAX_OBS);
        free(copy);
        return SDV_EXIT_USAGE;
      }
      if (sdv_observable_parse(&obs[*nobs], tok, dim)) {
        free(copy);
        return input_error();
      }
      (*nobs)++;
    }
    free(copy);
  }
  if (*nobs == 0) obs[(*nobs)++] = (sdv_observable){.kind = SDV_OBS_F};
  return 0;
}

/* Before anything runs: the model must build, the whole study (every rung, both sides, their
 * routes) must fit the memory guard, and the output files must open. Returns 0 or the exit
 * status (message printed). */
static int preflight(const weak_args *a, sdv_outfile *jf, sdv_outfile *cf) {
  sdv_model *probe = NULL;
  int rc = sdv_model_alloc(&probe, &a->mo);
  if (rc) return sdv_cli_status_exit(CMD, rc);
  sdv_model_free(probe);
  const int mrc = sdv_cli_memory_guard(CMD, &a->mo, a->eta, a->neta, a->ntimes, a->obs, a->nobs,
                                       a->wo.exact, a->wo.paths, a->wo.threads);
  if (mrc) return mrc;
  if (a->json_path && sdv_outfile_open(jf, a->json_path) != 0) {
    sdv_cli_error(CMD, "cannot write --json %s: %s", a->json_path, strerror(errno));
    return SDV_EXIT_USAGE;
  }
  if (a->csv_path && sdv_outfile_open(cf, a->csv_path) != 0) {
    sdv_cli_error(CMD, "cannot write --csv %s: %s", a->csv_path, strerror(errno));
    return SDV_EXIT_USAGE;
  }
  return 0;
}

/* The lines above the table: the model (m may be NULL), the ladder, and the warnings that a
 * verdict alone would hide (to stderr). */
static void print_header(const sdv_model *m, const weak_args *a, const sdv_weak_result *res) {
  printf("model: %s\n", m ? m->description : "?");
  /* The model line shows the first rung's eta; the ladder is all of them. */
  printf("eta ladder:");
  for (size_t k = 0; k < a->neta; k++) printf("%s%g", k ? ", " : " ", a->eta[k]);
  printf("\n\n");
  if (res->unstable_eta > 0)
    sdv_cli_error(CMD,
                  "warning: the optimizer is unstable at eta = %g (spectral radius %.4g of its "
                  "noise-free map linearised at the minimizer > 1, e.g. eta lambda_max > 2 for "
                  "DSGD): the verdict cannot be PASS",
                  res->unstable_eta, res->unstable_growth);
  for (size_t k = 0; k < 2; k++)
    if (res->impossible_rows[k])
      sdv_cli_error(CMD,
                    "warning: %zu %s estimates are non-finite or impossible (%zu non-finite); "
                    "see the rows marked IMPOSSIBLE",
                    res->impossible_rows[k], k ? "SDE" : "discrete", res->nonfinite_rows[k]);
}

/* Prints the study and commits the open output files. Returns the exit status. */
static int report(const weak_args *a, const sdv_weak_result *res, sdv_outfile *jf,
                  sdv_outfile *cf) {
  sdv_model *m = NULL;
  sdv_model_alloc(&m, &a->mo);
  print_header(m, a, res);
  print_table(res, a->obs);
  if (jf->fp) {
    json_t *root = result_json(res, &a->wo, m ? m->description : "", a->mo.seed);
    int jrc = json_dumpf(root, jf->fp, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    if (jrc == 0 && fputc('\n', jf->fp) == EOF) jrc = -1;
    json_decref(root);
    if (jrc != 0 || sdv_outfile_commit(jf) != 0) {
      sdv_cli_error(CMD, "writing %s failed: %s", a->json_path, strerror(errno));
      sdv_model_free(m);
      return SDV_EXIT_RUNTIME;
    }
  }
  sdv_model_free(m);
  if (cf->fp) {
    write_csv(cf->fp, res, a->obs);
    if (sdv_outfile_commit(cf) != 0) {
      sdv_cli_error(CMD, "writing %s failed: %s", a->csv_path, strerror(errno));
      return SDV_EXIT_RUNTIME;
    }
  }
  return res->verdict == SDV_VERDICT_PASS ? SDV_EXIT_OK : SDV_EXIT_FAIL;
}

/* Parses, checks, runs the study and reports it; returns the exit status. */
static int weak_main(int argc, char **argv, weak_args *a, sdv_outfile *jf, sdv_outfile *cf,
                     sdv_weak_result **res) {
  int code = parse_args(argc, argv, a);
  if (code >= 0) return code;
  if (!a->eta) {
    sdv_cli_error(CMD, "--eta E1,E2,... is required (at least two values)");
    return SDV_EXIT_USAGE;
  }
  if (!a->times) {
    sdv_cli_error(CMD, "--T T or --times t1,... is required");
    return SDV_EXIT_USAGE;
  }
  if ((code = parse_observables(a->obs_text, a->mo.dim, a->obs, &a->nobs))) return code;
  a->wo.eta = a->eta;
  a->wo.neta = a->neta;
  a->wo.times = a->times;
  a->wo.ntimes = a->ntimes;
  a->wo.obs = a->obs;
  a->wo.nobs = a->nobs;
  a->mo.eta = a->eta[0];
  if ((code = preflight(a, jf, cf))) return code;
  if (sdv_cli_progress_enabled()) a->wo.progress = progress;
  a->wo.cancel = &sdv_cli_interrupted;
  int rc = sdv_weak_run(&a->mo, NULL, &a->wo, res);
  if (rc == SDV_EINTR || (!rc && sdv_cli_check_interrupted(CMD, "no result written"))) {
    if (rc == SDV_EINTR) sdv_cli_error(CMD, "interrupted; no result written");
    return SDV_EXIT_INTERRUPTED;
  }
  if (rc) return sdv_cli_status_exit(CMD, rc);
  return report(a, *res, jf, cf);
}

int sdv_cmd_weak(int argc, char **argv) {
  weak_args a = {.eta = NULL};
  sdv_model_options_default(&a.mo);
  sdv_weak_options_default(&a.wo);
  sdv_weak_result *res = NULL;
  sdv_outfile jf = {0}, cf = {0};
  const int code = weak_main(argc, argv, &a, &jf, &cf, &res);
  sdv_outfile_abort(&jf);
  sdv_outfile_abort(&cf);
  sdv_weak_result_free(res);
  free(a.eta);
  free(a.times);
  return code;
}
