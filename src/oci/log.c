/* Messages of kiln's OCI runtime (log.h). */
#define _GNU_SOURCE
#include "oci/log.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct {
    int fd; /* --log, or -1 */
    bool json, debug;
} oci_log = {.fd = -1};

void oci_log_init(const char *path, bool json, bool debug)
{
    oci_log.json = json;
    oci_log.debug = debug;
    if (oci_log.fd >= 0)
        close(oci_log.fd);
    oci_log.fd = -1;
    if (!path)
        return;
    /* O_APPEND: the shim keeps one file per bundle for every runtime call. */
    oci_log.fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (oci_log.fd < 0)
        fprintf(stderr, "kiln-runc: cannot open the log %s: %s\n", path, strerror(errno));
}

bool oci_log_debugging(void)
{
    return oci_log.debug;
}

static void oci_vlog(const char *level, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    bool is_debug = !strcmp(level, "debug");
    if (!is_debug || oci_log.fd < 0)
        fprintf(stderr, "kiln-runc: %s%s%s\n", is_debug ? "debug: " : "",
                !strcmp(level, "warning") ? "warning: " : "", msg);
    if (oci_log.fd < 0)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec);
    char line[4096];
    int n;
    if (oci_log.json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "level", json_object_new_string(level));
        json_object_object_add(o, "msg", json_object_new_string(msg));
        json_object_object_add(o, "time", json_object_new_string(when));
        n = snprintf(line, sizeof(line), "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
    } else {
        n = snprintf(line, sizeof(line), "time=\"%s\" level=%s msg=\"%s\"\n", when, level, msg);
    }
    if (n > 0 && write(oci_log.fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
        return;
}

#define OCI_LOG_FN(name, level, cond)                                                              \
    void name(const char *fmt, ...)                                                                \
    {                                                                                              \
        if (!(cond))                                                                               \
            return;                                                                                \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        oci_vlog(level, fmt, ap);                                                                  \
        va_end(ap);                                                                                \
    }

OCI_LOG_FN(oci_err, "error", true)
OCI_LOG_FN(oci_warn, "warning", true)
OCI_LOG_FN(oci_debug, "debug", oci_log.debug)
