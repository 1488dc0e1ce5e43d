#include "util/log.h"

int log_verbose;
