/* Result files that never leave a half-written or wrongly-typed target behind.
 *
 * A regular file (or a name that does not exist yet) is written under a temporary name in the
 * folder of its real target (symlinks are followed, so the link stays a link), then renamed
 * over it; an existing file keeps its mode. Anything else - a character device, a FIFO, a
 * socket, /dev/stdout and the other /dev and /proc names, or "-" for standard output - is
 * never replaced: the content is collected in an anonymous temporary file and copied into the
 * target in place at commit. Either way nothing reaches the target before commit, and an
 * interrupted run leaves no temporary file (sdv_output_remove_temporaries, called from the
 * signal handler, removes them). */
#ifndef SDV_OUTPUT_H
#define SDV_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

typedef struct sdv_outfile {
  FILE *fp;
  char *path;     /* final name (the resolved target for a rename) */
  char *tmp;      /* temporary name (rename route only) */
  bool in_place;  /* copy into path at commit instead of renaming */
  bool to_stdout; /* in place, into file descriptor 1 */
  int slot;       /* index in the table of live temporary names, or -1 */
} sdv_outfile;

/* Prepares the output for path: checks that it can be written (a folder, "", a missing
 * folder or an unwritable target fail here, before any computation) and opens f->fp.
 * Returns 0, or -1 with errno set. */
int sdv_outfile_open(sdv_outfile *f, const char *path);
/* Flushes and syncs the content, then renames it onto the target or copies it in place.
 * Returns 0, or -1 with errno set (the temporary file is removed). */
int sdv_outfile_commit(sdv_outfile *f);
/* Closes and removes the temporary file (safe after a failed open, and twice). */
void sdv_outfile_abort(sdv_outfile *f);

/* Async-signal-safe: unlinks every temporary file still open (a second interrupt exits at
 * once, and must not leave one behind). */
void sdv_output_remove_temporaries(void);

/* Checks up front that dir exists (creating it, and its parents, if needed) and that a
 * file can be created in it. Returns 0, or -1 with errno set. */
int sdv_output_dir_ready(const char *dir);

/* Disabling file output (MPI ranks other than 0, verify/mpi.c): sdv_outfile_open then
 * creates nothing and hands out a stream to /dev/null, commit only closes it, and
 * sdv_output_dir_ready checks nothing. Enabled by default. */
void sdv_output_set_enabled(bool on);

#endif
