/* Command-line plumbing shared by the subcommands (see cli.h). */
#include "cli.h"

#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <sdv/errors.h>
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
    sdv_cli_error(cmd, "%s", sdv_last_error());
    return -1;
  }
  if (*out > SDV_CLI_THREADS_MAX) {
    sdv_cli_error(cmd, "--threads = %s is too large (at most %d)", text, SDV_CLI_THREADS_MAX);
    return -1;
  }
  return 0;
}

void sdv_cli_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "sdv %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

int sdv_cli_status_exit(const char *cmd, int status) {
  const char *msg = sdv_last_error();
  sdv_cli_error(cmd, "%s", *msg ? msg : sdv_strerror(status));
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
    "method", "dim", "agents", "eta", "batch", "objective", "noise", "sigma", "compressor",
    "x0", "seed", "sde", "diffusion-scale", "literal", NULL};

int sdv_cli_model_option(const char *cmd, sdv_model_options *o, int argc, char **argv, int *i) {
  for (const char *const *name = model_options; *name; name++) {
    bool bad = false;
    const char *v = sdv_cli_value(cmd, *name, argc, argv, i, &bad);
    if (bad) return -1;
    if (!v) continue;
    int rc = sdv_model_options_set(o, *name, v);
    if (rc) {
      sdv_cli_error(cmd, "%s", sdv_last_error());
      return -1;
    }
    return 1;
  }
  return 0;
}

void sdv_cli_model_help(FILE *out) {
  fputs("model options:\n"
        "  --method dsgd|dcsgd|dsignsgd      optimizer (default dsgd)\n"
        "  --dim D                           dimension d (default 1)\n"
        "  --agents N                        number of agents (default 1)\n"
        "  --eta E                           learning rate > 0 (default 0.1)\n"
        "  --batch B                         per-agent minibatch size (default 1)\n"
        "  --objective NAME[:k=v...]         e.g. quadratic:lam=0.5..2 (default quadratic:lam=1)\n"
        "  --noise LAW[;LAW...]              gaussian | student-t:nu=V | cauchy, 1 or N laws\n"
        "  --sigma S[,S2,...,SN]             noise scale per agent (default 1)\n"
        "  --compressor NAME[:k=v][;...]     dcsgd only: identity, bernoulli:p=P, rand-k:k=K,\n"
        "                                    qsgd:s=S, natural; 1 or N specs\n"
        "  --x0 V[,V2,...,VD]                start (default 1)\n"
        "  --seed S                          stream seed (default 1)\n"
        "  --sde auto|sampled                SDE diffusion route (default auto)\n"
        "  --diffusion-scale C               multiply the SDE diffusion (negative controls)\n"
        "  --literal yes|no                  simulate every agent, no exact shortcuts (no)\n",
        out);
}

bool sdv_cli_progress_enabled(void) { return isatty(STDERR_FILENO) == 1; }
