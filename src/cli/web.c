/* `kiln web`: the browser dashboard and console gateway (docs/web.md). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/vmapi.h"
#include "daemon/web.h"

static int usage(FILE *f)
{
    fprintf(f, "usage: kiln web [--listen ADDR:PORT] [--assets DIR] [--rotate-token]\n"
               "\n"
               "Serves the dashboard and serial consoles of the daemon's VMs to a browser,\n"
               "on 127.0.0.1:8006 unless --listen says otherwise (port 0: any free port).\n"
               "Prints a login URL with the token stored in $KILN_STATE_DIR/web.token (0600);\n"
               "--rotate-token only writes a new one (ending every session, also of a running\n"
               "gateway) and prints its URL. The page's files come\n"
               "from --assets, $KILN_WEB_DIR, web/ next to the kiln binary (build/web, `make\n"
               "web`) or ../share/kiln/web from it. docs/web.md.\n");
    return f == stdout ? 0 : 2;
}

static bool has_index(const char *dir)
{
    char p[PATH_MAX + 16];
    snprintf(p, sizeof(p), "%s/index.html", dir);
    return access(p, R_OK) == 0;
}

/* Where the page's files are: see usage(). */
static int find_assets(const char *given, char *out, size_t len)
{
    const char *env = getenv("KILN_WEB_DIR");
    if (given || (env && *env)) {
        snprintf(out, len, "%s", given ? given : env);
        return has_index(out) ? 0 : -ENOENT;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -ENOENT;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -ENOENT;
    *slash = 0;
    if ((size_t)snprintf(out, len, "%.*s/web", PATH_MAX - 64, exe) < len && has_index(out))
        return 0;
    if ((size_t)snprintf(out, len, "%.*s/../share/kiln/web", PATH_MAX - 64, exe) < len && has_index(out))
        return 0;
    return -ENOENT;
}

int cli_web(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"assets", required_argument, NULL, 'a'},
        {"rotate-token", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char addr[64] = "127.0.0.1";
    unsigned port = 8006;
    const char *assets = NULL;
    bool rotate = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': {
            /* ADDR:PORT, [V6]:PORT, or :PORT for loopback */
            const char *colon = strrchr(optarg, ':');
            char *e;
            unsigned long p = colon ? strtoul(colon + 1, &e, 10) : 0;
            if (!colon || !colon[1] || *e || p > 65535) {
                fprintf(stderr, "kiln web: --listen wants ADDR:PORT, got '%s'\n", optarg);
                return 2;
            }
            size_t al = (size_t)(colon - optarg);
            const char *a = optarg;
            if (al >= 2 && a[0] == '[' && a[al - 1] == ']')
                a++, al -= 2;
            if (al >= sizeof(addr)) {
                fprintf(stderr, "kiln web: --listen address too long\n");
                return 2;
            }
            if (al) {
                memcpy(addr, a, al);
                addr[al] = 0;
            }
            port = (unsigned)p;
            break;
        }
        case 'a': assets = optarg; break;
        case 'r': rotate = true; break;
        case 'h': return usage(stdout);
        default:
            fprintf(stderr, "kiln web: unknown option '%s'\n", argv[optind - 1]);
            return usage(stderr);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kiln web: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    char dir[PATH_MAX];
    if (rotate) {
        struct web_opts o = {.state_dir = cli_state_dir(), .listen_addr = addr, .port = port, .rotate = true};
        return web_main(&o);
    }
    if (find_assets(assets, dir, sizeof(dir))) {
        fprintf(stderr, "kiln web: no index.html in %s: build the page with `make web` or give "
                        "--assets DIR\n", assets ? assets : "--assets, $KILN_WEB_DIR, web/ or "
                                                            "../share/kiln/web next to kiln");
        return 1;
    }
    if (strcmp(addr, "127.0.0.1") && strcmp(addr, "::1"))
        fprintf(stderr, "kiln web: warning: listening on %s, not loopback: anyone who can reach "
                        "it and has the token controls your VMs (no TLS)\n", addr);
    /* The daemon, started on demand like for every VM command. */
    int fd = vmapi_connect();
    if (fd < 0)
        return vmapi_connect_error(fd);
    close(fd);
    struct web_opts o = {.state_dir = cli_state_dir(), .listen_addr = addr, .port = port,
                         .assets = dir, .rotate = rotate};
    return web_main(&o);
}
