/* Open MPI for the sdv command (verify/mpi.c, docs/mpi.md). The library stays free of MPI: this
 * plugs an MPI allgather into the Monte Carlo engine's distributor (sdv/mc.h). */
#ifndef SDV_VERIFY_MPI_H
#define SDV_VERIFY_MPI_H

#include <stdbool.h>

/* Starts MPI if sdv was built with it AND launched by mpirun (Open MPI's or a PMI/PMIx
 * launcher's environment); otherwise does nothing, so a plain `sdv ...` never pays for
 * MPI start-up. With R > 1 ranks it installs the distributor, and on ranks other than 0
 * sends stdout and stderr to /dev/null and disables file output (verify/output.h): every
 * rank computes the same thing, rank 0 alone speaks. Returns 0, or an exit code. */
int sdv_mpi_init(int *argc, char ***argv);

/* The last call of main: agrees on the exit code with the other ranks (the same on all;
 * rank 0 names the rank it came from when another rank failed), finalizes MPI and returns
 * the code. With SDV_MPI_VERBOSE=1 rank 0 also prints "sdv: mpi: R ranks, E exchanges,
 * B bytes gathered" on stderr. Without MPI returns code. */
int sdv_mpi_finalize(int code);

#endif
