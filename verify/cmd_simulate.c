/* `sdv simulate`: moment trajectories of both sides of a model, the discrete optimizer x_k
 * and its SDE X_{k eta}, on the grid k = 0, K, 2K, ... up to T/eta steps.
 *
 * Observables: f, ||x||^2, and x_j, x_j^2 for every coordinate j. Each side is computed
 * exactly (sdv/exact.h: the moment recursion of the optimizer, the closed form or CVODE
 * solution of the SDE's moment equations, the DSignSGD lattice) when every observable has
 * an exact reference on that side, and by Monte Carlo (sdv/mc.h) otherwise; a row says which
 * (its `exact` flag) and carries the standard error of a Monte Carlo mean (0 when exact).
 * Streams: the discrete side uses sub-index 0, the SDE side sub-index 1 (sdv/process.h),
 * so the two sides are independent and each path is reproducible alone.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <sdv/errors.h>
#include <sdv/exact.h>
#include <sdv/mc.h>
#include <sdv/params.h>
#include <sdv/process.h>

#include "cli.h"
#include "commands.h"
#include "output.h"
#include "report.h"
#include "sdv_config.h"

#define CMD "simulate"
/* Default grid: at most this many intervals between 0 and T (so --every defaults to
 * ceil(steps / this)), which keeps the default files readable for long horizons. */
#define DEFAULT_INTERVALS 100
/* Rows of the stdout summary per side (the files hold everything). */
#define SUMMARY_TIMES 6

static void usage(FILE *out) {
  fprintf(out,
          "usage: sdv simulate <model options> --T T (--csv FILE | --json FILE)\n"
          "                    [--every K] [--paths M] [--substeps m]\n"
          "                    [--integrator euler|richardson] [--no-exact] [--threads N]\n\n"
          "Moment trajectories of the optimizer x_k and of its SDE X_{k eta} at steps\n"
          "k = 0, K, 2K, ..., T/eta: E f, E||x||^2 and E x_j, E x_j^2 for every coordinate j.\n"
          "A side is exact (moment recursions / moment ODEs / lattice) where sdv can compute\n"
          "it, else Monte Carlo with standard errors.\n\n"
          "  --T T             horizon > 0; T/eta is rounded to a whole number of steps (said\n"
          "                    on stderr when it is not one already)\n"
          "  --every K         grid spacing in optimizer steps >= 1 (default: steps/%d rounded\n"
          "                    up)\n"
          "  --paths M         Monte Carlo paths per side, >= 2 (default 20000)\n"
          "  --substeps m      SDE integrator steps per optimizer step, >= 1 (default 4)\n"
          "  --integrator I    SDE integrator, euler or richardson (default richardson;\n"
          "                    euler where the SDE takes the sampled diffusion route)\n"
          "  --no-exact        use Monte Carlo even where an exact reference exists\n"
          "  --threads N       OpenMP threads (default: OMP_NUM_THREADS)\n"
          "  --csv FILE        rows side,step,t,observable,mean,se,exact\n"
          "  --json FILE       the same rows with the model, seed and stream scheme\n"
          "At least one of --csv and --json is required; files are written atomically.\n"
          "A row whose mean is not finite, or negative for a\n"
          "non-negative observable (f of a quadratic, ||x||^2, x_j^2), is flagged in the\n"
          "status column (nonfinite / impossible), counted, and makes the exit status 1.\n"
          "FILE - writes to standard output.\n"
          "Exit status: 0 written, 1 written with non-finite or impossible estimates, 2 bad\n"
          "input, 3 runtime error, 4 interrupted (nothing written).\n\n",
          DEFAULT_INTERVALS);
  sdv_cli_model_help(out);
}

static void progress(void *user, size_t done, size_t total) {
  fprintf(stderr, "\rsdv simulate: %s side %3.0f%%", (const char *)user,
          total ? 100.0 * (double)done / (double)total : 100.0);
  if (done >= total) fputc('\n', stderr);
  fflush(stderr);
}

/* One side's trajectory: values[t * nobs + o] with standard errors. */
typedef struct side_traj {
  const char *name; /* "discrete", "sde" */
  bool exact;
  double *mean, *se;
  uint64_t nonfinite; /* Monte Carlo values excluded (diverged paths), summed over cells */
  unsigned char *flag;                    /* per cell: FLAG_OK, FLAG_NONFINITE, FLAG_IMPOSSIBLE */
  size_t nonfinite_rows, impossible_rows; /* cells flagged (impossible includes non-finite) */
} side_traj;

enum { FLAG_OK = 0, FLAG_NONFINITE = 1, FLAG_IMPOSSIBLE = 2 };
static const char *const flag_name[] = {"ok", "nonfinite", "impossible"};

typedef struct sim {
  const sdv_model *m;
  const size_t *steps;
  size_t nt;
  const sdv_observable *obs;
  size_t nobs;
  bool use_exact;
  size_t paths, substeps, threads;
  const sdv_integrator_type *integrator;
} sim;

/* Flags every cell of a side: a mean that is not finite, or a negative mean of a non-negative
 * observable (Richardson extrapolation of an unstable model produces these). A trajectory
 * file is read row by row, so every negative row is flagged, not only significant ones. */
static void flag_side(const sim *s, side_traj *out) {
  const sdv_objective_kind k = s->m->objective->type->kind;
  const bool f_nonneg = k == SDV_OBJECTIVE_QUADRATIC_DIAG || k == SDV_OBJECTIVE_QUADRATIC_DENSE;
  for (size_t t = 0; t < s->nt; t++)
    for (size_t o = 0; o < s->nobs; o++) {
      const size_t c = t * s->nobs + o;
      const sdv_observable_kind g = s->obs[o].kind;
      const bool nonneg = g == SDV_OBS_NORM2 || g == SDV_OBS_X2 || (g == SDV_OBS_F && f_nonneg);
      out->flag[c] = !isfinite(out->mean[c])      ? FLAG_NONFINITE
                     : nonneg && out->mean[c] < 0 ? FLAG_IMPOSSIBLE
                                                  : FLAG_OK;
      out->nonfinite_rows += out->flag[c] == FLAG_NONFINITE;
      out->impossible_rows += out->flag[c] != FLAG_OK;
    }
}

static int run_side(const sim *s, sdv_side side, side_traj *out) {
  const size_t ncell = s->nt * s->nobs;
  bool exact = s->use_exact;
  for (size_t o = 0; exact && o < s->nobs; o++)
    exact = sdv_exact_available(s->m, side, &s->obs[o], false);
  out->exact = exact;
  if (exact) {
    for (size_t c = 0; c < ncell; c++) out->se[c] = 0.0;
    return sdv_exact_eval(s->m, side, s->steps, s->nt, s->obs, s->nobs, out->mean, NULL, NULL);
  }
  sdv_process_options po;
  sdv_process_options_default(&po);
  po.kind = side == SDV_SIDE_SDE ? SDV_PROCESS_SDE : SDV_PROCESS_DISCRETE;
  po.integrator = s->integrator;
  po.substeps = s->substeps;
  po.sub = side == SDV_SIDE_SDE ? 1 : 0;
  sdv_mc_options mo;
  sdv_mc_options_default(&mo);
  mo.paths = s->paths;
  mo.threads = (int)s->threads;
  mo.cancel = &sdv_cli_interrupted;
  if (sdv_cli_progress_enabled()) {
    mo.progress = progress;
    mo.progress_user = (void *)out->name;
  }
  sdv_mc_result *r = NULL;
  int rc = sdv_mc_run(&r, s->m, &po, s->steps, s->nt, s->obs, s->nobs, &mo);
  for (size_t t = 0; !rc && t < s->nt; t++)
    for (size_t o = 0; !rc && o < s->nobs; o++) {
      sdv_mc_summary sm;
      if ((rc = sdv_mc_result_get(r, t, o, &sm))) break;
      out->mean[t * s->nobs + o] = sm.mean;
      out->se[t * s->nobs + o] = sm.se;
      out->nonfinite += sm.nonfinite;
    }
  sdv_mc_result_free(r);
  return rc;
}

/* JSON has no NaN or infinity: such values are null. */
static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static int write_csv(FILE *fp, const sim *s, const side_traj *sides, double eta) {
  char name[64];
  if (fprintf(fp, "side,step,t,observable,mean,se,exact,status\n") < 0) return -1;
  for (size_t k = 0; k < 2; k++)
    for (size_t t = 0; t < s->nt; t++)
      for (size_t o = 0; o < s->nobs; o++) {
        const size_t c = t * s->nobs + o;
        if (fprintf(fp, "%s,%zu,%.17g,%s,%.17g,%.17g,%d,%s\n", sides[k].name, s->steps[t],
                    (double)s->steps[t] * eta, sdv_observable_name(&s->obs[o], name, sizeof name),
                    sides[k].mean[c], sides[k].se[c], sides[k].exact,
                    flag_name[sides[k].flag[c]]) < 0)
          return -1;
      }
  return 0;
}

static json_t *result_json(const sim *s, const side_traj *sides, const sdv_model_options *mo,
                           double T_req, size_t K, size_t every) {
  char name[64], seedtxt[32];
  snprintf(seedtxt, sizeof seedtxt, "%llu", (unsigned long long)mo->seed);
  json_t *rows = json_array();
  if (!rows) return NULL;
  for (size_t k = 0; k < 2; k++)
    for (size_t t = 0; t < s->nt; t++)
      for (size_t o = 0; o < s->nobs; o++) {
        const size_t c = t * s->nobs + o;
        json_t *row = json_pack(
            "{s:s, s:I, s:f, s:s, s:o, s:o, s:b, s:s}", "side", sides[k].name, "step",
            (json_int_t)s->steps[t], "t", (double)s->steps[t] * s->m->eta, "observable",
            sdv_observable_name(&s->obs[o], name, sizeof name), "mean", num(sides[k].mean[c]), "se",
            num(sides[k].se[c]), "exact", sides[k].exact, "status", flag_name[sides[k].flag[c]]);
        if (!row || json_array_append_new(rows, row)) {
          json_decref(rows);
          return NULL;
        }
      }
  return json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:I, s:I, s:s, s:I, s:I, "
      "s:{s:b, s:b}, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I}, s:o, s:o}",
      "command", CMD, "sdv_version", SDV_VERSION, "git_revision", SDV_GIT_REVISION, "model",
      s->m->description, "seed", seedtxt, "eta", s->m->eta, "T", (double)K * s->m->eta,
      "T_requested", T_req, "steps", (json_int_t)K, "every", (json_int_t)every, "integrator",
      s->integrator->name, "substeps", (json_int_t)s->substeps, "paths", (json_int_t)s->paths,
      "exact", "discrete", sides[0].exact, "sde", sides[1].exact, "nonfinite", "discrete",
      (json_int_t)sides[0].nonfinite, "sde", (json_int_t)sides[1].nonfinite, "nonfinite_rows",
      "discrete", (json_int_t)sides[0].nonfinite_rows, "sde", (json_int_t)sides[1].nonfinite_rows,
      "impossible_rows", "discrete", (json_int_t)sides[0].impossible_rows, "sde",
      (json_int_t)sides[1].impossible_rows, "streams", json_string(SDV_REPORT_STREAM_SCHEME),
      "rows", rows);
}

/* A few rows on stdout: f and ||x||^2 of both sides at up to SUMMARY_TIMES grid points. */
static void print_summary(const sim *s, const side_traj *sides) {
  char name[64], d[64], e[64];
  printf("%-8s %-10s %-8s %-28s %-28s\n", "step", "t", "g", "discrete", "SDE");
  const size_t shown = s->nt < SUMMARY_TIMES ? s->nt : SUMMARY_TIMES;
  for (size_t q = 0; q < shown; q++) {
    /* Evenly spaced grid indices, first and last included. */
    const size_t t = shown == 1 ? 0 : q * (s->nt - 1) / (shown - 1);
    for (size_t o = 0; o < s->nobs && o < 2; o++) {
      const size_t c = t * s->nobs + o;
      sdv_report_estimate(d, sizeof d, sides[0].mean[c], sides[0].se[c], sides[0].exact);
      sdv_report_estimate(e, sizeof e, sides[1].mean[c], sides[1].se[c], sides[1].exact);
      printf("%-8zu %-10.4g %-8s %-28s %-28s%s%s\n", s->steps[t], (double)s->steps[t] * s->m->eta,
             sdv_observable_name(&s->obs[o], name, sizeof name), d, e,
             sides[0].flag[c] ? " disc:" : "", sides[0].flag[c] ? flag_name[sides[0].flag[c]] : "");
      if (sides[1].flag[c]) printf("%*s sde:%s\n", 94, "", flag_name[sides[1].flag[c]]);
    }
  }
}

/* The command line of sdv simulate. */
typedef struct sim_args {
  sdv_model_options mo;
  double T;
  size_t every, paths, substeps, threads;
  bool use_exact;
  const sdv_integrator_type *integrator;
  const char *json_path, *csv_path;
} sim_args;

/* Parses argv into a (defaults first). Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, sim_args *a) {
  sdv_model_options_default(&a->mo);
  a->T = NAN;
  a->every = 0;
  a->paths = 20000;
  a->substeps = 4;
  a->threads = 0;
  a->use_exact = true;
  a->integrator = NULL; /* the library's default for the model (sdv_integrator_default) */
  a->json_path = a->csv_path = NULL;
  for (int i = 1; i < argc; i++) {
    bool bad = false;
    const char *v;
    int mrc = sdv_cli_model_option(CMD, &a->mo, argc, argv, &i);
    if (mrc < 0) return SDV_EXIT_USAGE;
    if (mrc > 0) continue;
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return SDV_EXIT_OK;
    } else if ((v = sdv_cli_value(CMD, "T", argc, argv, &i, &bad))) {
      if (sdv_parse_double(v, "--T", &a->T)) goto input_error;
      if (!(a->T > 0)) {
        sdv_cli_error(CMD, "--T = %g must be > 0", a->T);
        return SDV_EXIT_USAGE;
      }
    } else if ((v = sdv_cli_value(CMD, "every", argc, argv, &i, &bad))) {
      if (sdv_parse_size(v, "--every", &a->every)) goto input_error;
      if (a->every < 1) {
        sdv_cli_error(CMD, "--every = %zu must be >= 1", a->every);
        return SDV_EXIT_USAGE;
      }
    } else if ((v = sdv_cli_value(CMD, "paths", argc, argv, &i, &bad))) {
      if (sdv_parse_size(v, "--paths", &a->paths)) goto input_error;
      if (a->paths < 2) {
        sdv_cli_error(CMD, "--paths = %zu must be >= 2 (a standard error needs two)", a->paths);
        return SDV_EXIT_USAGE;
      }
    } else if ((v = sdv_cli_value(CMD, "substeps", argc, argv, &i, &bad))) {
      if (sdv_parse_size(v, "--substeps", &a->substeps)) goto input_error;
      if (a->substeps < 1) {
        sdv_cli_error(CMD, "--substeps = %zu must be >= 1", a->substeps);
        return SDV_EXIT_USAGE;
      }
    } else if ((v = sdv_cli_value(CMD, "threads", argc, argv, &i, &bad))) {
      if (sdv_cli_threads(CMD, v, &a->threads)) return SDV_EXIT_USAGE;
    } else if ((v = sdv_cli_value(CMD, "integrator", argc, argv, &i, &bad))) {
      if (!(a->integrator = sdv_integrator_type_from_name(v))) {
        sdv_cli_error(CMD, "--integrator '%s' is unknown (euler, richardson)", v);
        return SDV_EXIT_USAGE;
      }
    } else if ((v = sdv_cli_value(CMD, "json", argc, argv, &i, &bad))) {
      a->json_path = v;
    } else if ((v = sdv_cli_value(CMD, "csv", argc, argv, &i, &bad))) {
      a->csv_path = v;
    } else if (strcmp(argv[i], "--no-exact") == 0) {
      a->use_exact = false;
    } else {
      if (!bad) sdv_cli_error(CMD, "unknown option '%s' (see sdv simulate --help)", argv[i]);
      return SDV_EXIT_USAGE;
    }
    if (bad) return SDV_EXIT_USAGE;
  }
  if (isnan(a->T)) {
    sdv_cli_error(CMD, "--T T (the horizon, > 0) is required");
    return SDV_EXIT_USAGE;
  }
  if (!a->json_path && !a->csv_path) {
    sdv_cli_error(CMD, "an output is required: --csv FILE and/or --json FILE");
    return SDV_EXIT_USAGE;
  }
  return -1;
input_error:
  sdv_cli_library_error(CMD, NULL);
  return SDV_EXIT_USAGE;
}

/* K = T / eta, rounded to the nearest whole step (at least one) and said so; the grid interval
 * a->every defaults to ceil(K / DEFAULT_INTERVALS). Returns -1 to go on, or the exit status. */
static int step_count(const sdv_model *m, sim_args *a, size_t *K_out) {
  const double T = a->T, kreal = T / m->eta;
  if (!(kreal < 1e15)) {
    sdv_cli_error(CMD, "--T = %g is %g steps of eta = %g: too many", T, kreal, m->eta);
    return SDV_EXIT_USAGE;
  }
  if (nearbyint(kreal) < 1) {
    sdv_cli_error(CMD,
                  "--T = %g is shorter than one step of eta = %g: nothing to simulate (use "
                  "--T >= %g)",
                  T, m->eta, m->eta);
    return SDV_EXIT_USAGE;
  }
  const size_t K = (size_t)nearbyint(kreal);
  if (fabs(kreal - (double)K) > 1e-9 * fmax(1.0, kreal))
    fprintf(stderr,
            "sdv %s: note: --T = %g is not a whole number of steps of eta = %g (%.6g steps); "
            "using %zu steps, T = %.10g\n",
            CMD, T, m->eta, kreal, K, (double)K * m->eta);
  if (a->every == 0) a->every = (K + DEFAULT_INTERVALS - 1) / DEFAULT_INTERVALS;
  if (a->every > K) {
    sdv_cli_error(CMD, "--every = %zu is more than the %zu steps up to T", a->every, K);
    return SDV_EXIT_USAGE;
  }
  *K_out = K;
  return -1;
}

/* The SDE must exist (e.g. not for DSGD under infinite-variance noise): checked before any
 * computation, so that such a model is an input error. Returns -1 to go on, or the exit
 * status. */
static int check_sde(const sdv_model *m, sim_args *a) {
  if (!a->integrator) a->integrator = sdv_integrator_default(m);
  sdv_process_options po;
  sdv_process_options_default(&po);
  po.kind = SDV_PROCESS_SDE;
  po.integrator = a->integrator;
  po.substeps = a->substeps;
  sdv_process *probe = NULL;
  const int rc = sdv_process_alloc(&probe, m, &po);
  sdv_process_free(probe);
  if (rc) {
    sdv_cli_library_error(CMD, "this model has no SDE to simulate");
    return rc == SDV_ENOMEM ? SDV_EXIT_RUNTIME : SDV_EXIT_USAGE;
  }
  return -1;
}

/* Warns on stderr about Monte Carlo values excluded and rows flagged on either side. */
static void warn_flags(const side_traj *sides) {
  for (size_t k = 0; k < 2; k++)
    if (sides[k].nonfinite)
      fprintf(stderr,
              "sdv %s: warning: %llu non-finite Monte Carlo values on the %s side "
              "(diverged paths, excluded from the means)\n",
              CMD, (unsigned long long)sides[k].nonfinite, sides[k].name);
  for (size_t k = 0; k < 2; k++)
    if (sides[k].impossible_rows)
      fprintf(stderr,
              "sdv %s: warning: %zu rows of the %s side are non-finite or impossible (%zu "
              "non-finite, the rest a negative mean of a non-negative observable): no estimate "
              "of those moments; marked in the status column\n",
              CMD, sides[k].impossible_rows, sides[k].name, sides[k].nonfinite_rows);
}

/* Writes and commits the open output files. Returns SDV_EXIT_OK or SDV_EXIT_RUNTIME. */
static int write_outputs(const sim *s, const side_traj *sides, const sim_args *a, size_t K,
                         sdv_outfile *jf, sdv_outfile *cf) {
  if (jf->fp) {
    json_t *root = result_json(s, sides, &a->mo, a->T, K, a->every);
    if (!root) {
      sdv_cli_error(CMD, "writing --json %s failed: could not build the document", a->json_path);
      return SDV_EXIT_RUNTIME;
    }
    const int jrc = json_dumpf(root, jf->fp, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    json_decref(root);
    if (jrc != 0 || fputc('\n', jf->fp) == EOF || sdv_outfile_commit(jf) != 0) {
      sdv_cli_error(CMD, "writing --json %s failed: %s", a->json_path, strerror(errno));
      return SDV_EXIT_RUNTIME;
    }
  }
  if (cf->fp) {
    if (write_csv(cf->fp, s, sides, s->m->eta) != 0 || sdv_outfile_commit(cf) != 0) {
      sdv_cli_error(CMD, "writing --csv %s failed: %s", a->csv_path, strerror(errno));
      return SDV_EXIT_RUNTIME;
    }
  }
  return SDV_EXIT_OK;
}

/* The grid 0, every, 2 every, ..., K (nt times) and the observables f, ||x||^2, x_j, x_j^2. */
static void fill_grid(const sdv_model *m, size_t K, size_t every, size_t nt, size_t *steps,
                      sdv_observable *obs) {
  for (size_t t = 0; t + 1 < nt; t++) steps[t] = t * every;
  steps[nt - 1] = K;
  obs[0].kind = SDV_OBS_F;
  obs[1].kind = SDV_OBS_NORM2;
  for (size_t j = 0; j < m->dim; j++) {
    obs[2 + j] = (sdv_observable){.kind = SDV_OBS_X, .index = j};
    obs[2 + m->dim + j] = (sdv_observable){.kind = SDV_OBS_X2, .index = j};
  }
}

int sdv_cmd_simulate(int argc, char **argv) {
  sim_args a;
  int code = parse_args(argc, argv, &a);
  if (code >= 0) return code;
  code = SDV_EXIT_USAGE;
  const char *json_path = a.json_path, *csv_path = a.csv_path;
  sdv_model *m = NULL;
  size_t *steps = NULL;
  sdv_observable *obs = NULL;
  side_traj sides[2] = {{.name = "discrete"}, {.name = "sde"}};
  sdv_outfile jf = {0}, cf = {0};
  {
    /* The model is validated in full before anything else runs. */
    const int rc = sdv_model_alloc(&m, &a.mo);
    if (rc) {
      code = sdv_cli_status_exit(CMD, rc);
      goto done;
    }
  }
  size_t K = 0;
  int st;
  if ((st = step_count(m, &a, &K)) >= 0 || (st = check_sde(m, &a)) >= 0) {
    code = st;
    goto done;
  }
  const size_t every = a.every;
  const size_t nt = K / every + 1 + (K % every != 0);
  const size_t nobs = 2 + 2 * m->dim;
  steps = malloc(nt * sizeof *steps);
  obs = calloc(nobs, sizeof *obs);
  for (size_t k = 0; k < 2; k++) {
    sides[k].mean = malloc(nt * nobs * sizeof(double));
    sides[k].se = malloc(nt * nobs * sizeof(double));
    sides[k].flag = calloc(nt * nobs, 1);
  }
  if (!steps || !obs || !sides[0].mean || !sides[0].se || !sides[1].mean || !sides[1].se ||
      !sides[0].flag || !sides[1].flag) {
    sdv_cli_error(CMD, "out of memory (%zu grid times x %zu observables)", nt, nobs);
    code = SDV_EXIT_RUNTIME;
    goto done;
  }
  fill_grid(m, K, every, nt, steps, obs);
  {
    /* One memory estimate for both sides, exact or Monte Carlo, before any work. */
    const int mrc = sdv_cli_memory_guard(CMD, &a.mo, &m->eta, 1, nt, obs, nobs, a.use_exact,
                                         a.paths, a.threads);
    if (mrc) {
      code = mrc;
      goto done;
    }
  }
  /* Output paths are checked before the (possibly long) computation. */
  if (json_path && sdv_outfile_open(&jf, json_path) != 0) {
    sdv_cli_error(CMD, "cannot write --json %s: %s", json_path, strerror(errno));
    goto done;
  }
  if (csv_path && sdv_outfile_open(&cf, csv_path) != 0) {
    sdv_cli_error(CMD, "cannot write --csv %s: %s", csv_path, strerror(errno));
    goto done;
  }

  const sim s = {.m = m,
                 .steps = steps,
                 .nt = nt,
                 .obs = obs,
                 .nobs = nobs,
                 .use_exact = a.use_exact,
                 .paths = a.paths,
                 .substeps = a.substeps,
                 .threads = a.threads,
                 .integrator = a.integrator};
  {
    const sdv_side which[2] = {SDV_SIDE_DISCRETE, SDV_SIDE_SDE};
    for (size_t k = 0; k < 2; k++) {
      const int rc = run_side(&s, which[k], &sides[k]);
      if (rc == SDV_EINTR || sdv_cli_check_interrupted(CMD, "no file written")) {
        if (rc == SDV_EINTR) sdv_cli_error(CMD, "interrupted; no file written");
        code = SDV_EXIT_INTERRUPTED;
        goto done;
      }
      if (rc) {
        code = sdv_cli_status_exit(CMD, rc);
        goto done;
      }
    }
  }

  for (size_t k = 0; k < 2; k++) flag_side(&s, &sides[k]);
  printf("model: %s\n", m->description);
  printf("T = %g (%zu steps of eta = %g), every %zu steps; discrete: %s, SDE: %s\n\n",
         (double)K * m->eta, K, m->eta, every, sides[0].exact ? "exact" : "Monte Carlo",
         sides[1].exact ? "exact" : "Monte Carlo");
  print_summary(&s, sides);
  warn_flags(sides);

  if ((code = write_outputs(&s, sides, &a, K, &jf, &cf)) != SDV_EXIT_OK) goto done;
  printf("\n%zu rows per side (%zu times x %zu observables) written to %s%s%s\n", nt * nobs, nt,
         nobs, json_path ? json_path : "", json_path && csv_path ? " and " : "",
         csv_path ? csv_path : "");
  code = sides[0].impossible_rows || sides[1].impossible_rows ? SDV_EXIT_FAIL : SDV_EXIT_OK;
done:
  sdv_outfile_abort(&jf);
  sdv_outfile_abort(&cf);
  for (size_t k = 0; k < 2; k++) {
    free(sides[k].mean);
    free(sides[k].se);
    free(sides[k].flag);
  }
  free(steps);
  free(obs);
  sdv_model_free(m);
  return code;
}
