/* Open MPI glue for the sdv command (see sdv_mpi.h, docs/mpi.md): MPI start-up and shut-down,
 * and the Monte Carlo distributor's allgather as MPI_Allgather (lengths) + MPI_Allgatherv
 * (bytes) on MPI_COMM_WORLD. Only the main thread calls MPI (MPI_THREAD_FUNNELED): the
 * library calls the exchange from the thread that installed it, never from OpenMP workers. */
#include "sdv_mpi.h"

#include "sdv_config.h"

#if SDV_HAVE_MPI
#include <limits.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sdv/errors.h>
#include <sdv/mc.h>

#include "output.h"

static bool started = false;
static int world_rank = 0, world_size = 1;
/* For SDV_MPI_VERBOSE=1: evidence that the work was really exchanged. */
static unsigned long long exchanges = 0, bytes_gathered = 0;

/* Launched by mpirun (Open MPI sets OMPI_COMM_WORLD_SIZE) or another PMI/PMIx launcher. */
static bool launched_by_mpirun(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

/* Lengths first (every rank learns every length), then the bytes. A failure that all ranks
 * see alike (a total above MPI's int counts) returns the same non-zero status everywhere;
 * one that only this rank meets (no memory for the receive buffer) cannot be agreed on
 * without the buffer, so it aborts the job: the last resort. */
static int allgather(void *user, const void *mine, size_t len, void **all, size_t *lens) {
  (void)user;
  const int R = world_size;
  uint64_t mylen = len, *len64 = malloc((size_t)R * sizeof *len64);
  int *counts = malloc((size_t)R * sizeof *counts), *displs = malloc((size_t)R * sizeof *displs);
  if (!len64 || !counts || !displs) {
    fprintf(stderr, "sdv: rank %d: out of memory in the MPI exchange\n", world_rank);
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  int rc = MPI_Allgather(&mylen, 1, MPI_UINT64_T, len64, 1, MPI_UINT64_T, MPI_COMM_WORLD);
  uint64_t total = 0;
  for (int r = 0; r < R && rc == MPI_SUCCESS; r++) {
    lens[r] = (size_t)len64[r];
    displs[r] = (int)total;
    counts[r] = (int)len64[r];
    total += len64[r];
    if (len64[r] > INT_MAX || total > INT_MAX) rc = -1; /* the same on every rank */
  }
  unsigned char *buf = NULL;
  if (rc == MPI_SUCCESS) {
    if (!(buf = malloc(total ? (size_t)total : 1))) {
      fprintf(stderr, "sdv: rank %d: out of memory in the MPI exchange\n", world_rank);
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
    rc = MPI_Allgatherv(mine, (int)len, MPI_BYTE, buf, counts, displs, MPI_BYTE, MPI_COMM_WORLD);
  }
  free(len64);
  free(counts);
  free(displs);
  if (rc != MPI_SUCCESS) {
    free(buf);
    return rc;
  }
  *all = buf;
  exchanges++;
  bytes_gathered += total;
  return 0;
}

int sdv_mpi_init(int *argc, char ***argv) {
  if (!launched_by_mpirun()) return 0;
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    fprintf(stderr, "sdv: MPI_Init_thread failed\n");
    return 3;
  }
  started = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  if (world_size > 1) {
    const sdv_mc_distributor d = {
        .rank = (size_t)world_rank, .size = (size_t)world_size, .allgather = allgather};
    if (sdv_mc_set_distributor(&d) != 0) {
      fprintf(stderr, "sdv: rank %d: %s\n", world_rank, sdv_last_error());
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
  }
  if (world_rank != 0) {
    /* Every rank meets the same input errors: only rank 0 prints them, once. */
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) {
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
    sdv_output_set_enabled(false);
  }
  return 0;
}

int sdv_mpi_finalize(int code) {
  if (!started) return code;
  size_t from = 0;
  const int agreed = sdv_mc_distributed_exit(code, &from);
  if (world_rank == 0 && agreed != 0 && from != 0 && from < (size_t)world_size)
    fprintf(stderr, "sdv: rank %zu stopped with exit status %d (only rank 0 prints)\n", from,
            agreed);
  const char *verbose = getenv("SDV_MPI_VERBOSE");
  if (world_rank == 0 && verbose && strcmp(verbose, "1") == 0)
    fprintf(stderr, "sdv: mpi: %d ranks, %llu exchanges, %llu bytes gathered\n", world_size,
            exchanges, bytes_gathered);
  fflush(stdout);
  MPI_Finalize();
  return agreed;
}

#else /* built without MPI */
#include <stdio.h>
#include <stdlib.h>

/* Under mpirun, a build without MPI would have every rank compute and write everything:
 * refuse instead of silently doing R times the work. */
int sdv_mpi_init(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *n = getenv("OMPI_COMM_WORLD_SIZE");
  if (n && atoi(n) > 1) {
    fprintf(stderr,
            "sdv: started by mpirun with %s ranks, but built without MPI (install "
            "libopenmpi-dev and configure with -Dmpi=enabled)\n",
            n);
    return 2;
  }
  return 0;
}

int sdv_mpi_finalize(int code) { return code; }

#endif
