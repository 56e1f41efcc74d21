/* `sdv list`: every registered component, one line each. */
#include <stdio.h>
#include <string.h>

#include <sdv/compressor.h>
#include <sdv/model.h>
#include <sdv/noise.h>
#include <sdv/objective.h>
#include <sdv/process.h>

#include "cli.h"
#include "commands.h"

#define LIST_MAX 64

static void section(const char *title) { printf("\n%s:\n", title); }

int sdv_cmd_list(int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "all";
  if (strcmp(what, "--help") == 0) {
    puts("usage: sdv list [all|methods|compressors|noise|objectives|integrators|checks]");
    return SDV_EXIT_OK;
  }
  const bool all = strcmp(what, "all") == 0;
  bool any = false;
  if (all || strcmp(what, "methods") == 0) {
    const sdv_method_type *t[LIST_MAX];
    size_t n = sdv_method_types(t, LIST_MAX);
    section("methods");
    for (size_t i = 0; i < n && i < LIST_MAX; i++) printf("  %-18s %s\n", t[i]->name, t[i]->help);
    any = true;
  }
  if (all || strcmp(what, "compressors") == 0) {
    const sdv_compressor_type *t[LIST_MAX];
    size_t n = sdv_compressor_types(t, LIST_MAX);
    section("compressors (omega as declared)");
    for (size_t i = 0; i < n && i < LIST_MAX; i++) printf("  %-18s %s\n", t[i]->name, t[i]->help);
    any = true;
  }
  if (all || strcmp(what, "noise") == 0) {
    const sdv_noise_type *t[LIST_MAX];
    size_t n = sdv_noise_types(t, LIST_MAX);
    section("noise laws");
    for (size_t i = 0; i < n && i < LIST_MAX; i++) printf("  %-18s %s\n", t[i]->name, t[i]->help);
    printf("  %-18s %s\n", "minibatch[+LAW]",
           "mean of B per-sample gradients of the agent's shard (objective with data=FILE; "
           "--shards iid|label-skew|dirichlet:alpha=A), plus LAW noise if given");
    any = true;
  }
  if (all || strcmp(what, "objectives") == 0) {
    const sdv_objective_type *t[LIST_MAX];
    size_t n = sdv_objective_types(t, LIST_MAX);
    section("objectives");
    for (size_t i = 0; i < n && i < LIST_MAX; i++) printf("  %-18s %s\n", t[i]->name, t[i]->help);
    any = true;
  }
  if (all || strcmp(what, "integrators") == 0) {
    const sdv_integrator_type *t[LIST_MAX];
    size_t n = sdv_integrator_types(t, LIST_MAX);
    section("integrators (SDE side)");
    for (size_t i = 0; i < n && i < LIST_MAX; i++) printf("  %-18s %s\n", t[i]->name, t[i]->help);
    any = true;
  }
  if (all || strcmp(what, "checks") == 0) {
    section("checks (sdv verify)");
    sdv_list_checks("  ");
    any = true;
  }
  if (!any) {
    sdv_cli_error("list",
                  "unknown section '%s' (all, methods, compressors, noise, objectives, "
                  "integrators, checks)",
                  what);
    return SDV_EXIT_USAGE;
  }
  return SDV_EXIT_OK;
}
