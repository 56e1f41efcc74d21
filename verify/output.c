#include "output.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dupstr(const char *s) {
  char *d = malloc(strlen(s) + 1);
  if (d) strcpy(d, s);
  return d;
}

/* Off on MPI ranks other than 0: they compute what rank 0 writes and must leave no file,
 * not even a temporary one. */
static bool enabled = true;

void sdv_output_set_enabled(bool on) { enabled = on; }

int sdv_outfile_open(sdv_outfile *f, const char *path) {
  memset(f, 0, sizeof *f);
  if (!enabled) return (f->fp = fopen("/dev/null", "w")) ? 0 : -1;
  size_t n = strlen(path) + 16;
  f->path = dupstr(path);
  f->tmp = malloc(n);
  if (!f->path || !f->tmp) {
    /* Not sdv_outfile_abort: no temporary file exists yet, and f->tmp holds no name. */
    free(f->path);
    free(f->tmp);
    memset(f, 0, sizeof *f);
    errno = ENOMEM;
    return -1;
  }
  snprintf(f->tmp, n, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(f->tmp);
  if (fd < 0) {
    int e = errno;
    free(f->tmp);
    f->tmp = NULL;
    sdv_outfile_abort(f);
    errno = e;
    return -1;
  }
  fchmod(fd, 0644);
  f->fp = fdopen(fd, "w");
  if (!f->fp) {
    int e = errno;
    close(fd);
    sdv_outfile_abort(f);
    errno = e;
    return -1;
  }
  return 0;
}

int sdv_outfile_commit(sdv_outfile *f) {
  if (!f->tmp && f->fp) { /* a disabled-output stream: nothing to sync or rename */
    int rc = fclose(f->fp) == 0 ? 0 : -1;
    f->fp = NULL;
    return rc;
  }
  int ok = f->fp != NULL;
  if (ok) ok = fflush(f->fp) == 0 && fsync(fileno(f->fp)) == 0;
  if (f->fp && fclose(f->fp) != 0) ok = 0;
  f->fp = NULL;
  if (ok) ok = rename(f->tmp, f->path) == 0;
  int e = errno;
  if (!ok) {
    sdv_outfile_abort(f);
    errno = e;
    return -1;
  }
  free(f->tmp);
  free(f->path);
  f->tmp = f->path = NULL;
  return 0;
}

void sdv_outfile_abort(sdv_outfile *f) {
  if (f->fp) fclose(f->fp);
  if (f->tmp) unlink(f->tmp);
  free(f->tmp);
  free(f->path);
  memset(f, 0, sizeof *f);
}

static int mkdirs(const char *dir) {
  char *p = dupstr(dir);
  if (!p) return -1;
  for (char *c = p + 1; *c; c++) {
    if (*c != '/') continue;
    *c = '\0';
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
      free(p);
      return -1;
    }
    *c = '/';
  }
  int rc = (mkdir(p, 0755) != 0 && errno != EEXIST) ? -1 : 0;
  free(p);
  return rc;
}

int sdv_output_dir_ready(const char *dir) {
  if (!enabled) return 0;
  if (mkdirs(dir) != 0) return -1;
  struct stat st;
  if (stat(dir, &st) != 0) return -1;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  size_t n = strlen(dir) + 32;
  char *probe = malloc(n);
  if (!probe) return -1;
  snprintf(probe, n, "%s/.sdv-probe.XXXXXX", dir);
  int fd = mkstemp(probe);
  if (fd < 0) {
    int e = errno;
    free(probe);
    errno = e;
    return -1;
  }
  close(fd);
  unlink(probe);
  free(probe);
  return 0;
}
