/*
 * kiln migrate NAME --to HOST:PORT [--token-file F] [--downtime MS] [--name NEW] [--copy-disks] [--json]
 *
 * Asks the local daemon to move a running VM to the daemon listening at
 * HOST:PORT (kiln daemon --migrate-listen): POST /v1/vms/NAME/migrate
 * (docs/migration.md, docs/api.md). The token file defaults to
 * $KILN_STATE_DIR/migrate.token.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/vmapi.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: kiln migrate NAME --to HOST:PORT [--token-file FILE] [--downtime MS] [--name NEW]\n"
               "                    [--copy-disks] [--json]\n"
               "\n"
               "Moves a running daemon VM to another kiln daemon started with\n"
               "--migrate-listen (docs/migration.md): its RAM is copied while it runs, then it\n"
               "stops for the last pages and its device state, and runs there. Its disks must be\n"
               "at the same paths on the destination (shared storage). On success the VM is gone\n"
               "from this daemon; on failure it runs on here.\n"
               "\n"
               "  --to HOST:PORT     the destination daemon's --migrate-listen address\n"
               "  --token-file FILE  the shared secret (default $KILN_STATE_DIR/migrate.token)\n"
               "  --downtime MS      target for the final stop-and-copy (default 100)\n"
               "  --name NEW         the VM's name on the destination (default: the same)\n"
               "  --copy-disks       copy the disk files into the destination's state dir first;\n"
               "                     the VM stands still from the start of the copy to the end\n"
               "  --json             print the daemon's answer as JSON\n");
}

int cli_migrate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"to", required_argument, NULL, 't'},       {"token-file", required_argument, NULL, 'k'},
        {"downtime", required_argument, NULL, 'd'}, {"name", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},           {"help", no_argument, NULL, 'h'},
        {"copy-disks", no_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    const char *to = NULL, *token = NULL, *name = NULL, *newname = NULL;
    unsigned long long downtime = 0;
    bool json = false, copy = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 't': to = optarg; break;
        case 'k': token = optarg; break;
        case 'n': newname = optarg; break;
        case 'j': json = true; break;
        case 'c': copy = true; break;
        case 'd':
            if (cli_parse_uint(optarg, 1, 600000, &downtime)) {
                fprintf(stderr, "kiln migrate: --downtime must be 1 to 600000 ms\n");
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default:
            fprintf(stderr, "kiln migrate: bad option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc)
        name = argv[optind++];
    if (!name || optind < argc || !to) {
        usage(stderr);
        return 2;
    }
    char tok[PATH_MAX], cwd[PATH_MAX];
    int n;
    if (!token)
        n = snprintf(tok, sizeof(tok), "%s/migrate.token", cli_state_dir());
    else if (token[0] == '/')
        n = snprintf(tok, sizeof(tok), "%s", token);
    else if (getcwd(cwd, sizeof(cwd)))
        n = snprintf(tok, sizeof(tok), "%s/%s", cwd, token);
    else
        n = -1;
    if (n < 0 || (size_t)n >= sizeof(tok)) {
        fprintf(stderr, "kiln migrate: token file path too long or no working directory\n");
        return 2;
    }
    int rc = cli_state_dir_check("kiln");
    if (rc)
        return rc;
    json_object *body = json_object_new_object();
    json_object_object_add(body, "to", json_object_new_string(to));
    json_object_object_add(body, "token_file", json_object_new_string(tok));
    if (downtime)
        json_object_object_add(body, "downtime_ms", json_object_new_int64((int64_t)downtime));
    if (newname)
        json_object_object_add(body, "name", json_object_new_string(newname));
    if (copy)
        json_object_object_add(body, "copy_disks", json_object_new_boolean(true));
    char path[300];
    vm_path(path, sizeof(path), name, "migrate");
    json_object *v = vmapi_json("POST", path, body, &rc);
    json_object_put(body);
    if (v && json)
        printf("%s\n", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY));
    else if (v)
        printf("%s migrated to %s in %lld ms (downtime %lld ms, %lld rounds, %.1f MiB sent)\n", name, to,
               (long long)jget_int(v, "total_ms", 0), (long long)jget_int(v, "downtime_ms", 0),
               (long long)jget_int(v, "rounds", 0), (double)jget_int(v, "bytes", 0) / 1048576.0);
    json_object_put(v);
    return rc;
}
