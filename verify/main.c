/* sdv — numerical verification of SDE models of distributed optimizers.
 * The front door: dispatches to one subcommand per file (verify/cmd_*.c). */
#include <gsl/gsl_errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/plugin.h>

#include "cli.h"
#include "commands.h"
#include "sdv_mpi.h"
#include "sdv_config.h"

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *help;
} command;

static const command commands[] = {
    {"verify", sdv_cmd_verify, "run the claim suite (table on stdout, JSON/CSV under --out)"},
    {"simulate", sdv_cmd_simulate, "moment trajectories of both sides to CSV/JSON"},
    {"weak", sdv_cmd_weak, "weak-error study of one model over a ladder of eta"},
    {"compressor-check", sdv_cmd_compressor_check, "conformance check of one compressor"},
    {"list", sdv_cmd_list, "methods, compressors, noise laws, objectives, integrators, checks"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
  fprintf(out, "usage: sdv COMMAND [options]   (sdv COMMAND --help for its options)\n\n");
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-17s %s\n", commands[i].name, commands[i].help);
  fprintf(out, "\n  --version         print version and git revision\n");
  fprintf(out, "  --plugin FILE.so  load a component plugin first (also SDV_PLUGINS=a.so:b.so)\n");
}

/* A plugin that cannot be found or loaded is bad input (2), like any other wrong argument. */
static int plugin_exit(int rc) {
  const int code = sdv_cli_status_exit("plugin", rc);
  return rc == SDV_EIO ? SDV_EXIT_USAGE : code;
}

/* Loads the plugins named in SDV_PLUGINS (colon-separated) and by leading --plugin PATH
 * options, which are removed from argv. Returns 0 or an exit status. */
static int load_plugins(int *argc, char ***argv) {
  const char *env = getenv("SDV_PLUGINS");
  if (env && *env) {
    char *copy = strdup(env), *save = NULL;
    for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
      int rc = sdv_plugin_load(p);
      if (rc) {
        free(copy);
        return plugin_exit(rc);
      }
    }
    free(copy);
  }
  while (*argc >= 2 && strncmp((*argv)[1], "--plugin", 8) == 0) {
    const char *path;
    int used;
    if ((*argv)[1][8] == '=') {
      path = (*argv)[1] + 9;
      used = 1;
    } else if ((*argv)[1][8] == '\0' && *argc >= 3) {
      path = (*argv)[2];
      used = 2;
    } else {
      fprintf(stderr, "sdv: --plugin needs a path\n");
      return SDV_EXIT_USAGE;
    }
    int rc = sdv_plugin_load(path);
    if (rc) return plugin_exit(rc);
    (*argv)[used] = (*argv)[0];
    *argv += used;
    *argc -= used;
  }
  return 0;
}

static int run(int argc, char **argv) {
  /* One signal policy for every command (verify/cli.h), in force before any work. */
  sdv_cli_signals_install();
  int prc = load_plugins(&argc, &argv);
  if (prc) return prc;
  if (argc < 2) {
    usage(stderr);
    return SDV_EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return SDV_EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("sdv %s (git %s)\n", SDV_VERSION, SDV_GIT_REVISION);
    return SDV_EXIT_OK;
  }
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "sdv: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return SDV_EXIT_USAGE;
}

int main(int argc, char **argv) {
  /* GSL aborts on error by default; sdv checks every GSL status instead. */
  gsl_set_error_handler_off();
  /* Under mpirun: start MPI; ranks other than 0 compute silently (verify/sdv_mpi.h). */
  int mrc = sdv_mpi_init(&argc, &argv);
  if (mrc) return mrc;
  return sdv_mpi_finalize(run(argc, argv));
}
