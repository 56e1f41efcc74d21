/* Status codes and the per-thread error message (see sdv/errors.h). */
#include <sdv/errors.h>

#include <stdarg.h>
#include <stdio.h>

static const char *const messages[] = {
#define SDV_ERROR_MSG_(code, msg) msg,
    SDV_ERROR_LIST(SDV_ERROR_MSG_)
#undef SDV_ERROR_MSG_
};

static _Thread_local char last_message[1024];
static sdv_error_handler *handler = NULL;

const char *sdv_strerror(int status) {
  if (status < 0 || status >= SDV_NSTATUS) return "unknown status";
  return messages[status];
}

const char *sdv_last_error(void) { return last_message; }

void sdv_clear_error(void) { last_message[0] = '\0'; }

sdv_error_handler *sdv_set_error_handler(sdv_error_handler *h) {
  sdv_error_handler *old = handler;
  handler = h;
  return old;
}

int sdv_error_raise(int status, const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_message, sizeof last_message, fmt, ap);
  va_end(ap);
  if (handler) handler(status, last_message, file, line);
  return status;
}
