/* Command-line plumbing shared by the subcommands. */
#ifndef SDV_CLI_H
#define SDV_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <sdv/model.h>

enum {
  SDV_EXIT_OK = 0,
  SDV_EXIT_FAIL = 1,
  SDV_EXIT_USAGE = 2,
  SDV_EXIT_RUNTIME = 3,
  SDV_EXIT_INTERRUPTED = 4
};

/* Largest --threads any command accepts (the engine counts threads in an int). */
#define SDV_CLI_THREADS_MAX 4096

/* The one signal policy of every command. SIGINT, SIGTERM and SIGHUP set
 * sdv_cli_interrupted; commands hand its address to the engines as their cancel flag, stop
 * at the next safe point, write nothing and exit SDV_EXIT_INTERRUPTED. A second signal
 * removes every temporary output file (verify/output.h) and exits 4 at once. */
extern volatile sig_atomic_t sdv_cli_interrupted;
void sdv_cli_signals_install(void);
/* If a signal arrived: prints "interrupted; WHAT" under cmd and returns true. */
bool sdv_cli_check_interrupted(const char *cmd, const char *what);

/* --threads T: 0 (the default) .. SDV_CLI_THREADS_MAX. Returns 0, or -1 (message printed). */
int sdv_cli_threads(const char *cmd, const char *text, size_t *out);

/* Prints "sdv CMD: <formatted message>\n" to stderr. */
/* msg with the model's field names written as the command's flags: "eta = -1 ..." becomes
 * "--eta = -1 ...", "(agents)" becomes "(--agents)", "sde_route = " becomes "--sde = ". Only a
 * field written as an assignment (at the start, or after a space or '(') or in parentheses
 * is mapped. out holds len bytes (truncated if need be). */
void sdv_cli_flags(const char *msg, char *out, size_t len);

void sdv_cli_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prints the library's last error as sdv_cli_error does, its field names shown as the
 * command's flags (sdv_cli_flags), after "context: " if context is not NULL. */
void sdv_cli_library_error(const char *cmd, const char *context);

/* Maps a library status to an exit code: SDV_EINVAL/ENOTSUP/ELIMIT -> usage (2), SDV_EINTR
 * -> interrupted (4), the rest -> runtime (3). Prints the library's last error message under cmd.
 */
int sdv_cli_status_exit(const char *cmd, int status);

/* If argv[*i] is a model option (--method, --dim, --agents, --eta, --batch, --objective,
 * --noise, --sigma, --compressor, --x0, --seed, --sde, --diffusion-scale), consumes it and
 * its value (either "--opt VALUE" or "--opt=VALUE"), sets it in o and returns 1; returns 0
 * if argv[*i] is not a model option; returns -1 (message printed) on a bad or missing value. */
int sdv_cli_model_option(const char *cmd, sdv_model_options *o, int argc, char **argv, int *i);

/* Generic "--name VALUE" / "--name=VALUE" matcher: returns the value and advances *i, or
 * NULL if argv[*i] is not --name. Prints an error and sets *bad when the value is missing. */
const char *sdv_cli_value(const char *cmd, const char *name, int argc, char **argv, int *i,
                          bool *bad);

/* Largest memory a study may take (bytes), all routes together. */
#define SDV_CLI_MAX_BYTES 4e9

/* The one memory estimate of a study, before any work. For every eta of the ladder: the
 * model, and per side (discrete, SDE) the route it will take - exact (sdv_exact_memory of the
 * side and of its noise-free reference) when use_exact and available, else Monte Carlo
 * (sdv_mc_memory with paths and threads). The largest total is compared with
 * SDV_CLI_MAX_BYTES. Returns 0, or an exit code (2 with the estimate named, 3 for a failure
 * to build the model) with the message printed. */
int sdv_cli_memory_guard(const char *cmd, const sdv_model_options *mo, const double *eta,
                         size_t neta, size_t ntimes, const sdv_observable *obs, size_t nobs,
                         bool use_exact, size_t paths, size_t threads);

/* Help text for the model options (printed by every subcommand's --help). */
void sdv_cli_model_help(FILE *out);

/* True if stderr is a terminal (progress is shown only then). */
bool sdv_cli_progress_enabled(void);

#endif
