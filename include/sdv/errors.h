/* sdv/errors.h — status codes, messages and the error handler.
 *
 * Every public sdv function that can fail returns an int status from the list below
 * (SDV_OK == 0). On failure the library records a human-readable message naming the
 * offending parameter and its value; sdv_last_error() returns it (per thread). The library
 * never aborts and never prints: a replaceable handler is called instead, and the default
 * handler does nothing.
 */
#ifndef SDV_ERRORS_H
#define SDV_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

/* One list, so the enum and sdv_strerror() cannot drift apart. */
#define SDV_ERROR_LIST(X)                                                                  \
  X(SDV_OK, "success")                                                                     \
  X(SDV_EINVAL, "invalid argument")                                                        \
  X(SDV_ENOMEM, "out of memory")                                                           \
  X(SDV_ENOTSUP, "not supported for this model or component")                              \
  X(SDV_EDOM, "numerical domain error")                                                    \
  X(SDV_ENUMERIC, "numerical method failed")                                               \
  X(SDV_ELIMIT, "request exceeds resource limits")                                         \
  X(SDV_EIO, "input/output error")                                                         \
  X(SDV_EINTR, "interrupted")                                                              \
  X(SDV_EFAIL, "verification failed")

enum sdv_status {
#define SDV_ERROR_ENUM_(code, msg) code,
  SDV_ERROR_LIST(SDV_ERROR_ENUM_)
#undef SDV_ERROR_ENUM_
  SDV_NSTATUS
};

/* The fixed message for a status code; "unknown status" for codes outside the list. */
const char *sdv_strerror(int status);

/* The detailed message of the last error raised on the calling thread ("" if none). The
 * pointer stays valid until the next sdv call on this thread. */
const char *sdv_last_error(void);

/* Clears the calling thread's last error message. */
void sdv_clear_error(void);

/* Handler called on every error with the status, the detailed message and where it was
 * raised. It must not longjmp out of the library. */
typedef void sdv_error_handler(int status, const char *message, const char *file, int line);

/* Installs h (NULL restores the default, which does nothing) and returns the previous one.
 * Not thread-safe: call it before starting threads. */
sdv_error_handler *sdv_set_error_handler(sdv_error_handler *h);

/* Records a formatted message for the calling thread, calls the handler and returns
 * status, so that a failing function can `return SDV_ERROR(SDV_EINVAL, "k = %zu ...", k);`. */
int sdv_error_raise(int status, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#define SDV_ERROR(status, ...) sdv_error_raise((status), __FILE__, __LINE__, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
