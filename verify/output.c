#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
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

/* Temporary names that exist on disk, for the signal handler. A slot holds a pointer to a
 * name owned by its sdv_outfile; the handler only reads it and calls unlink. */
#define LIVE_MAX 64
static char *volatile live[LIVE_MAX];

static int live_add(char *name) {
  for (int i = 0; i < LIVE_MAX; i++)
    if (!live[i]) {
      live[i] = name;
      return i;
    }
  return -1;
}

/* Only the slot this file registered: a zero-initialised sdv_outfile that was never opened
 * has slot 0 and a NULL name, and must not drop another file's registration. */
static void live_drop(sdv_outfile *f) {
  if (f->tmp && f->slot >= 0 && f->slot < LIVE_MAX && live[f->slot] == f->tmp) live[f->slot] = NULL;
  f->slot = -1;
}

void sdv_output_remove_temporaries(void) {
  for (int i = 0; i < LIVE_MAX; i++) {
    char *name = live[i];
    if (name) unlink(name);
  }
}

/* Names that are not files to be replaced whatever they resolve to: the process's own
 * descriptors and the kernel's devices. */
static bool special_name(const char *path) {
  return strncmp(path, "/dev/", 5) == 0 || strncmp(path, "/proc/", 6) == 0;
}

static bool is_stdout_name(const char *path) {
  return strcmp(path, "-") == 0 || strcmp(path, "/dev/stdout") == 0 ||
         strcmp(path, "/dev/fd/1") == 0 || strcmp(path, "/proc/self/fd/1") == 0;
}

static int fail_errno(sdv_outfile *f, int e) {
  sdv_outfile_abort(f);
  errno = e;
  return -1;
}

/* The in-place route: the content goes to an anonymous file (nothing on disk to clean up)
 * and is copied into the target at commit. */
static int open_in_place(sdv_outfile *f, const char *path, bool to_stdout) {
  f->in_place = true;
  f->to_stdout = to_stdout;
  if (!to_stdout && access(path, W_OK) != 0 && errno != ENOENT) return fail_errno(f, errno);
  if (!(f->path = dupstr(path))) return fail_errno(f, ENOMEM);
  if (!(f->fp = tmpfile())) return fail_errno(f, errno);
  return 0;
}

int sdv_outfile_open(sdv_outfile *f, const char *path) {
  memset(f, 0, sizeof *f);
  f->slot = -1;
  if (!enabled) return (f->fp = fopen("/dev/null", "w")) ? 0 : -1;
  if (!path || !*path) return fail_errno(f, ENOENT);
  if (is_stdout_name(path)) return open_in_place(f, path, true);
  struct stat st, lst;
  const bool exists = stat(path, &st) == 0;
  if (!exists && errno != ENOENT) return fail_errno(f, errno);
  if (exists && S_ISDIR(st.st_mode)) return fail_errno(f, EISDIR);
  if (exists && (special_name(path) || !S_ISREG(st.st_mode))) return open_in_place(f, path, false);
  const bool link = lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode);
  if (link && !exists) return open_in_place(f, path, false); /* dangling: write through */
  /* The rename goes onto the real target, next to it, so that a symlink stays a link. */
  char *target = link ? realpath(path, NULL) : dupstr(path);
  if (!target) return fail_errno(f, errno ? errno : ENOMEM);
  f->path = target;
  if (exists && access(target, W_OK) != 0) return fail_errno(f, errno);
  const size_t n = strlen(target) + 16;
  if (!(f->tmp = malloc(n))) return fail_errno(f, ENOMEM);
  snprintf(f->tmp, n, "%s.tmp.XXXXXX", target);
  /* Registered before it exists, so that no signal can fall between creation and
   * registration; unlinking a name that does not exist yet is harmless. */
  f->slot = live_add(f->tmp);
  const int fd = mkstemp(f->tmp);
  if (fd < 0) {
    const int e = errno;
    live_drop(f);
    free(f->tmp);
    f->tmp = NULL;
    return fail_errno(f, e);
  }
  mode_t mode;
  if (exists) {
    mode = st.st_mode & 07777;
    if (geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) != 0) { /* best effort */
    }
  } else {
    const mode_t mask = umask(0);
    umask(mask);
    mode = 0666 & ~mask;
  }
  if (fchmod(fd, mode) != 0 || !(f->fp = fdopen(fd, "w"))) {
    const int e = errno;
    close(fd);
    return fail_errno(f, e);
  }
  return 0;
}

static int write_all(int fd, const char *buf, size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += w;
    n -= (size_t)w;
  }
  return 0;
}

static int copy_in_place(sdv_outfile *f) {
  if (fflush(f->fp) != 0 || fseek(f->fp, 0, SEEK_SET) != 0) return -1;
  int fd = STDOUT_FILENO;
  if (f->to_stdout) {
    if (fflush(stdout) != 0) return -1;
  } else if ((fd = open(f->path, O_WRONLY | O_CREAT | O_NOCTTY | O_CLOEXEC, 0666)) < 0) {
    return -1;
  }
  char buf[65536];
  size_t n;
  int rc = 0;
  while (rc == 0 && (n = fread(buf, 1, sizeof buf, f->fp)) > 0) rc = write_all(fd, buf, n);
  if (rc == 0 && ferror(f->fp)) rc = -1;
  const int e = errno;
  if (fd != STDOUT_FILENO && close(fd) != 0 && rc == 0) return -1;
  errno = e;
  return rc;
}

int sdv_outfile_commit(sdv_outfile *f) {
  if (!f->tmp && !f->in_place && f->fp) { /* a disabled-output stream: nothing to do */
    int rc = fclose(f->fp) == 0 ? 0 : -1;
    f->fp = NULL;
    return rc;
  }
  if (f->in_place) {
    const int rc = f->fp ? copy_in_place(f) : -1;
    const int e = errno;
    sdv_outfile_abort(f);
    errno = e;
    return rc;
  }
  int ok = f->fp != NULL;
  if (ok) ok = fflush(f->fp) == 0 && fsync(fileno(f->fp)) == 0;
  if (f->fp && fclose(f->fp) != 0) ok = 0;
  f->fp = NULL;
  if (ok) ok = rename(f->tmp, f->path) == 0;
  const int e = errno;
  if (!ok) {
    sdv_outfile_abort(f);
    errno = e;
    return -1;
  }
  live_drop(f);
  free(f->tmp);
  free(f->path);
  f->tmp = f->path = NULL;
  return 0;
}

void sdv_outfile_abort(sdv_outfile *f) {
  if (f->fp) fclose(f->fp);
  if (f->tmp) unlink(f->tmp);
  live_drop(f);
  free(f->tmp);
  free(f->path);
  memset(f, 0, sizeof *f);
  f->slot = -1;
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
  if (!dir || !*dir) {
    errno = ENOENT;
    return -1;
  }
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
