/* Atomic result files: written under a temporary name in the same folder, then renamed over
 * the final name, so a reader never sees a half-written file and an interrupted run leaves
 * no partial output. */
#ifndef SDV_OUTPUT_H
#define SDV_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

typedef struct sdv_outfile {
  FILE *fp;
  char *path; /* final name */
  char *tmp;  /* temporary name */
} sdv_outfile;

/* Opens path.tmp.XXXXXX for writing. Returns 0, or -1 with errno set. */
int sdv_outfile_open(sdv_outfile *f, const char *path);
/* Flushes, fsyncs, closes and renames onto the final name. Returns 0, or -1 (the temporary
 * file is removed). */
int sdv_outfile_commit(sdv_outfile *f);
/* Closes and removes the temporary file (safe after a failed open, and twice). */
void sdv_outfile_abort(sdv_outfile *f);

/* Checks up front that dir exists (creating it, and its parents, if needed) and that a
 * file can be created in it. Returns 0, or -1 with errno set. */
int sdv_output_dir_ready(const char *dir);

/* Disabling file output (MPI ranks other than 0, verify/mpi.c): sdv_outfile_open then
 * creates nothing and hands out a stream to /dev/null, commit only closes it, and
 * sdv_output_dir_ready checks nothing. Enabled by default. */
void sdv_output_set_enabled(bool on);

#endif
