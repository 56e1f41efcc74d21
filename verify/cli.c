/* Command-line plumbing shared by the subcommands (see cli.h). */
#include "cli.h"

#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <sdv/errors.h>
#include <sdv/exact.h>
#include <sdv/mc.h>
#include <sdv/params.h>

#include "output.h"

volatile sig_atomic_t sdv_cli_interrupted = 0;

static void on_signal(int sig) {
  (void)sig;
  if (sdv_cli_interrupted) {
    /* The second signal: the user wants out now. Nothing half-written may stay. */
    sdv_output_remove_temporaries();
    _exit(SDV_EXIT_INTERRUPTED);
  }
  sdv_cli_interrupted = 1;
}

void sdv_cli_signals_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
}

bool sdv_cli_check_interrupted(const char *cmd, const char *what) {
  if (!sdv_cli_interrupted) return false;
  sdv_cli_error(cmd, "interrupted; %s", what);
  return true;
}

int sdv_cli_threads(const char *cmd, const char *text, size_t *out) {
  if (sdv_parse_size(text, "--threads", out)) {
    sdv_cli_library_error(cmd, NULL);
    return -1;
  }
  if (*out > SDV_CLI_THREADS_MAX) {
    sdv_cli_error(cmd, "--threads = %s is too large (at most %d)", text, SDV_CLI_THREADS_MAX);
    return -1;
  }
  return 0;
}

/* The library names a model's fields (sdv_model_options, sdv_model_spec: "eta = -1 must be
 * > 0", "... (agents)"); the command speaks in its flags. */
static const struct {
  const char *field, *flag;
} FLAG_OF[] = {{"method", "--method"},
               {"dim", "--dim"},
               {"agents", "--agents"},
               {"batch", "--batch"},
               {"eta", "--eta"},
               {"objective", "--objective"},
               {"noise", "--noise"},
               {"sigma", "--sigma"},
               {"compressor", "--compressor"},
               {"x0", "--x0"},
               {"seed", "--seed"},
               {"sde_route", "--sde"},
               {"diffusion_scale", "--diffusion-scale"},
               {"literal", "--literal"},
               {"shards", "--shards"}};

/* msg with every field name written as an assignment ("eta = ", at the start or after a
 * space or '(') or as a parenthesised reference ("(agents)") replaced by its flag, into out
 * (len bytes, truncated if need be). Other words are left alone. */
void sdv_cli_flags(const char *msg, char *out, size_t len) {
  size_t o = 0;
  for (const char *c = msg; *c && o + 1 < len;) {
    const bool boundary = c == msg || c[-1] == ' ' || c[-1] == '(';
    const char *flag = NULL;
    size_t n = 0;
    for (size_t k = 0; boundary && k < sizeof FLAG_OF / sizeof *FLAG_OF; k++) {
      const size_t f = strlen(FLAG_OF[k].field);
      if (strncmp(c, FLAG_OF[k].field, f) != 0) continue;
      if (strncmp(c + f, " = ", 3) == 0 || (c > msg && c[-1] == '(' && c[f] == ')')) {
        flag = FLAG_OF[k].flag;
        n = f;
        break;
      }
    }
    if (flag) {
      for (const char *g = flag; *g && o + 1 < len; g++) out[o++] = *g;
      c += n;
    } else {
      out[o++] = *c++;
    }
  }
  out[o] = '\0';
}

void sdv_cli_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "sdv %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

void sdv_cli_library_error(const char *cmd, const char *context) {
  char shown[2560];
  sdv_cli_flags(sdv_last_error(), shown, sizeof shown);
  if (context)
    sdv_cli_error(cmd, "%s: %s", context, shown);
  else
    sdv_cli_error(cmd, "%s", shown);
}

int sdv_cli_status_exit(const char *cmd, int status) {
  if (*sdv_last_error())
    sdv_cli_library_error(cmd, NULL);
  else
    sdv_cli_error(cmd, "%s", sdv_strerror(status));
  switch (status) {
  case SDV_OK: return SDV_EXIT_OK;
  case SDV_EINVAL:
  case SDV_ENOTSUP:
  case SDV_ELIMIT:
    return SDV_EXIT_USAGE;
  case SDV_EFAIL:
    return SDV_EXIT_FAIL;
  case SDV_EINTR:
    return SDV_EXIT_INTERRUPTED;
  default:
    return SDV_EXIT_RUNTIME;
  }
}

const char *sdv_cli_value(const char *cmd, const char *name, int argc, char **argv, int *i,
                          bool *bad) {
  const char *a = argv[*i];
  if (strncmp(a, "--", 2) != 0) return NULL;
  size_t n = strlen(name);
  if (strncmp(a + 2, name, n) != 0) return NULL;
  if (a[2 + n] == '=') return a + 3 + n;
  if (a[2 + n] != '\0') return NULL;
  if (*i + 1 >= argc) {
    sdv_cli_error(cmd, "option --%s needs a value", name);
    *bad = true;
    return NULL;
  }
  *i += 1;
  return argv[*i];
}

static const char *const model_options[] = {
    "method",     "dim", "agents", "eta", "batch",           "objective", "noise",  "sigma",
    "compressor", "x0",  "seed",   "sde", "diffusion-scale", "literal",   "shards", NULL};

int sdv_cli_model_option(const char *cmd, sdv_model_options *o, int argc, char **argv, int *i) {
  for (const char *const *name = model_options; *name; name++) {
    bool bad = false;
    const char *v = sdv_cli_value(cmd, *name, argc, argv, i, &bad);
    if (bad) return -1;
    if (!v) continue;
    int rc = sdv_model_options_set(o, *name, v);
    if (rc) {
      sdv_cli_library_error(cmd, NULL);
      return -1;
    }
    return 1;
  }
  return 0;
}

/* Memory of one side of one rung: exact route (side + its noise-free reference) or Monte
 * Carlo. */
static int side_bytes(const sdv_model *m, sdv_side side, size_t ntimes, const sdv_observable *obs,
                      size_t nobs, bool use_exact, const sdv_mc_options *mc, double *bytes,
                      const char **route) {
  bool exact = use_exact;
  for (size_t o = 0; exact && o < nobs; o++) exact = sdv_exact_available(m, side, &obs[o], false);
  if (exact) {
    double a = 0.0, b = 0.0;
    const sdv_side ref = side == SDV_SIDE_SDE ? SDV_SIDE_ODE : SDV_SIDE_NOISEFREE;
    int rc = sdv_exact_memory(m, side, obs, nobs, ntimes, &a);
    if (!rc) rc = sdv_exact_memory(m, ref, obs, nobs, ntimes, &b);
    *bytes = a > b ? a : b;
    *route = "exact";
    return rc;
  }
  *route = "Monte Carlo";
  return sdv_mc_memory(m, ntimes, nobs, mc, bytes);
}

int sdv_cli_memory_guard(const char *cmd, const sdv_model_options *mo, const double *eta,
                         size_t neta, size_t ntimes, const sdv_observable *obs, size_t nobs,
                         bool use_exact, size_t paths, size_t threads) {
  sdv_mc_options mc;
  sdv_mc_options_default(&mc);
  mc.paths = paths < 1 ? 1 : paths;
  mc.threads = (int)threads;
  for (size_t r = 0; r < neta; r++) {
    sdv_model_options o = *mo;
    o.eta = eta[r];
    sdv_model *m = NULL;
    int rc = sdv_model_alloc(&m, &o);
    if (rc) return sdv_cli_status_exit(cmd, rc);
    const double model = 8.0 * (double)m->dim * (16.0 + 4.0 * (double)m->agents);
    double side[2] = {0.0, 0.0};
    const char *route[2] = {"", ""};
    const sdv_side which[2] = {SDV_SIDE_DISCRETE, SDV_SIDE_SDE};
    for (size_t k = 0; k < 2 && !rc; k++)
      rc = side_bytes(m, which[k], ntimes, obs, nobs, use_exact, &mc, &side[k], &route[k]);
    sdv_model_free(m);
    if (rc) return sdv_cli_status_exit(cmd, rc);
    /* The sides run one after the other: the larger one counts. */
    const size_t big = side[1] > side[0];
    const double total = model + side[big];
    if (total > SDV_CLI_MAX_BYTES) {
      sdv_cli_error(cmd,
                    "memory estimate %.3g GB at eta = %g (model %.3g GB + %s side, %s route, "
                    "%.3g GB; d = %zu, %zu times x %zu observables) is above the %.3g GB sdv "
                    "allows: lower --dim%s",
                    total / 1e9, eta[r], model / 1e9, big ? "SDE" : "discrete", route[big],
                    side[big] / 1e9, mo->dim, ntimes, nobs, SDV_CLI_MAX_BYTES / 1e9,
                    strcmp(route[big], "exact") == 0 ? ", or use --no-exact"
                                                     : ", the grid or the observables");
      return SDV_EXIT_USAGE;
    }
  }
  return 0;
}

void sdv_cli_model_help(FILE *out) {
  fputs(
      "model options:\n"
      "  --method dsgd|dcsgd|dsignsgd      optimizer (default dsgd)\n"
      "  --dim D                           dimension d (default 1)\n"
      "  --agents N                        number of agents (default 1)\n"
      "  --eta E                           learning rate > 0 (default 0.1)\n"
      "  --batch B                         per-agent minibatch size (default 1)\n"
      "  --objective NAME[:k=v...]         e.g. quadratic:lam=0.5..2 (default quadratic:lam=1)\n"
      "  --noise LAW[;LAW...]              gaussian | student-t:nu=V | cauchy, 1 or N laws;\n"
      "                                    minibatch[+LAW]: B per-sample gradients of the\n"
      "                                    agent's shard (objective with data), + LAW noise\n"
      "  --sigma S[,S2,...,SN]             noise scale per agent (default 1)\n"
      "  --compressor NAME[:k=v][;...]     dcsgd only: identity, bernoulli:p=P, rand-k:k=K,\n"
      "                                    qsgd:s=S, natural; 1 or N specs\n"
      "  --x0 V[,V2,...,VD]                start (default 1)\n"
      "  --seed S                          stream seed (default 1)\n"
      "  --sde auto|sampled                SDE diffusion route (default auto)\n"
      "  --diffusion-scale C               multiply the SDE diffusion (negative controls)\n"
      "  --literal yes|no                  simulate every agent, no exact shortcuts (no)\n"
      "  --shards iid|label-skew|dirichlet:alpha=A[:seed=S]\n"
      "                                    minibatch noise: data split among agents (iid)\n",
      out);
}

bool sdv_cli_progress_enabled(void) { return isatty(STDERR_FILENO) == 1; }
