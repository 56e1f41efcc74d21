/* The sdv command's subcommands: each takes the arguments after its name and returns the
 * process exit status (0 = success / all checks passed, 1 = a check failed, 2 = usage or
 * input error, 3 = runtime failure, 4 = interrupted). Errors are printed to stderr as "sdv NAME:
 * message". */
#ifndef SDV_COMMANDS_H
#define SDV_COMMANDS_H

int sdv_cmd_list(int argc, char **argv);
int sdv_cmd_compressor_check(int argc, char **argv);
int sdv_cmd_simulate(int argc, char **argv);
int sdv_cmd_weak(int argc, char **argv);
int sdv_cmd_verify(int argc, char **argv);

/* Prints every check of `sdv verify` (id, family, claim), one per line after indent
 * (verify/cmd_verify.c). */
void sdv_list_checks(const char *indent);

#endif
