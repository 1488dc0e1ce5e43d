/* Logging: every line names its module so a user can tell who spoke. */
#ifndef KILN_UTIL_LOG_H
#define KILN_UTIL_LOG_H

#include <stdio.h>

#define log_err(mod, fmt, ...) fprintf(stderr, "kiln: " mod ": " fmt "\n", ##__VA_ARGS__)
#define log_warn(mod, fmt, ...) fprintf(stderr, "kiln: " mod ": warning: " fmt "\n", ##__VA_ARGS__)

extern int log_verbose;
#define log_debug(mod, fmt, ...)                                                                   \
    do {                                                                                           \
        if (log_verbose)                                                                           \
            fprintf(stderr, "kiln: " mod ": " fmt "\n", ##__VA_ARGS__);                            \
    } while (0)

#endif
