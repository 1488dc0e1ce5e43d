/*
 * VM commands that talk to the daemon over its API socket (docs/api.md):
 * create, start, stop, kill, pause, resume, info, console, rm, set, ls.
 * The daemon is started on demand when no one answers on the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/token_bucket.h"

#define DAEMON_WAIT_MS 5000
#define DETACH_KEY 0x1d /* Ctrl-] */

const char *cli_state_dir(void)
{
    static char buf[4096];
    const char *s = getenv("KILN_STATE_DIR");
    if (s && *s)
        return s;
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg && *xdg) {
        snprintf(buf, sizeof(buf), "%s/kiln", xdg);
    } else {
        const char *home = getenv("HOME");
        snprintf(buf, sizeof(buf), "%s/.local/share/kiln", home && *home ? home : "/tmp");
    }
    return buf;
}

static int sock_connect(void)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int n = snprintf(a.sun_path, sizeof(a.sun_path), "%s/kiln.sock", cli_state_dir());
    if (n < 0 || (size_t)n >= sizeof(a.sun_path))
        return -ENAMETOOLONG;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

static void mkdir_parents(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0700);
            *p = '/';
        }
    }
    mkdir(tmp, 0700);
}

/* fork + setsid + exec `kiln daemon`, detached; its stderr goes to daemon.log. */
static int start_daemon(void)
{
    char log[4200];
    const char *dir = cli_state_dir();
    mkdir_parents(dir);
    snprintf(log, sizeof(log), "%s/daemon.log", dir);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        setsid();
        if (fork() != 0)
            _exit(0); /* the daemon is not our child: nobody has to reap it */
        int in = open("/dev/null", O_RDWR);
        int err = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (in >= 0) {
            dup2(in, 0);
            dup2(in, 1);
        }
        if (err >= 0)
            dup2(err, 2);
        execl("/proc/self/exe", "kiln", "daemon", (char *)NULL);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
    return 0;
}

static int connect_or_start(void)
{
    int fd = sock_connect();
    if (fd >= 0 || (fd != -ENOENT && fd != -ECONNREFUSED))
        return fd;
    int e = start_daemon();
    if (e)
        return e;
    for (int waited = 0; waited < DAEMON_WAIT_MS; waited += 20) {
        fd = sock_connect();
        if (fd >= 0 || (fd != -ENOENT && fd != -ECONNREFUSED))
            return fd;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

struct resp {
    int status;
    char *data; /* whole response */
    size_t len;
    char *body; /* into data */
    size_t blen;
};

static int connect_error(int e)
{
    fprintf(stderr, "kiln: cannot reach the daemon at %s/kiln.sock: %s\n", cli_state_dir(),
            strerror(-e));
    return 1;
}

/* One request, one connection. Returns 0 or a CLI exit status after printing why. */
static int api(const char *method, const char *path, json_object *body, struct resp *r)
{
    memset(r, 0, sizeof(*r));
    int fd = connect_or_start();
    if (fd < 0)
        return connect_error(fd);
    const char *b = body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : "";
    char head[1024];
    int hn = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: kiln\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      method, path, strlen(b));
    if (hn < 0 || (size_t)hn >= sizeof(head) || send_all(fd, head, (size_t)hn) ||
        send_all(fd, b, strlen(b))) {
        close(fd);
        fprintf(stderr, "kiln: sending the request failed: %m\n");
        return 1;
    }
    size_t cap = 64 << 10;
    r->data = malloc(cap + 1);
    for (;;) {
        if (!r->data)
            break;
        if (r->len == cap) {
            char *n = realloc(r->data, cap * 2 + 1);
            if (!n)
                break;
            r->data = n;
            cap *= 2;
        }
        ssize_t n = read(fd, r->data + r->len, cap - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        r->len += (size_t)n;
    }
    close(fd);
    if (!r->data || sscanf(r->data, "HTTP/1.%*d %d", &r->status) != 1) {
        fprintf(stderr, "kiln: the daemon sent no valid answer\n");
        return 1;
    }
    r->data[r->len] = 0;
    char *sep = strstr(r->data, "\r\n\r\n");
    r->body = sep ? sep + 4 : r->data + r->len;
    r->blen = (size_t)(r->data + r->len - r->body);
    return 0;
}

/* Parses a JSON answer; on a 4xx/5xx prints its error and returns NULL. */
static json_object *api_json(const char *method, const char *path, json_object *body, int *rc)
{
    struct resp r;
    *rc = api(method, path, body, &r);
    if (*rc) {
        free(r.data);
        return NULL;
    }
    json_object *o = json_tokener_parse(r.body);
    if (r.status >= 300) {
        json_object *e;
        if (o && json_object_object_get_ex(o, "error", &e))
            fprintf(stderr, "kiln: %s\n", json_object_get_string(e));
        else
            fprintf(stderr, "kiln: the daemon answered %d\n", r.status);
        json_object_put(o);
        o = NULL;
        *rc = 1;
    } else if (!o) {
        fprintf(stderr, "kiln: the daemon's answer is not JSON\n");
        *rc = 1;
    }
    free(r.data);
    return o;
}

static const char *jget_str(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) && v ? json_object_get_string(v) : NULL;
}

static int64_t jget_int(json_object *o, const char *k, int64_t def)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) && v ? json_object_get_int64(v) : def;
}

static void fmt_bytes(uint64_t b, char *out, size_t len)
{
    if (b >= (1ull << 30) && !(b & ((1ull << 30) - 1)))
        snprintf(out, len, "%lluG", (unsigned long long)(b >> 30));
    else if (b >= (1ull << 20))
        snprintf(out, len, "%lluM", (unsigned long long)(b >> 20));
    else
        snprintf(out, len, "%lluK", (unsigned long long)(b >> 10));
}

static void fmt_uptime(int64_t s, char *out, size_t len)
{
    if (s < 0)
        snprintf(out, len, "-");
    else if (s < 3600)
        snprintf(out, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else
        snprintf(out, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
}

static void vm_path(char *out, size_t len, const char *name, const char *action)
{
    snprintf(out, len, "/v1/vms/%s%s%s", name, action ? "/" : "", action ? action : "");
}

static bool valid_cli_name(const char *n)
{
    return *n && strlen(n) < 200 && !strpbrk(n, "/?#% \t\r\n");
}

static int cmd_ls(int argc, char **argv)
{
    bool json = argc > 1 && !strcmp(argv[1], "--json");
    if (argc > (json ? 2 : 1)) {
        fprintf(stderr, "usage: kiln ls [--json]\n");
        return 2;
    }
    int rc;
    json_object *a = api_json("GET", "/v1/vms", NULL, &rc);
    if (!a)
        return rc;
    if (json) {
        printf("%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY));
        json_object_put(a);
        return 0;
    }
    printf("%-20s %-8s %4s %6s %8s %7s %8s %s\n", "NAME", "STATE", "CPUS", "MEM", "PID", "CPU-CAP",
           "UPTIME", "LAST EXIT");
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *v = json_object_array_get_idx(a, i), *e;
        char mem[32], pid[32], cap[32], up[48];
        fmt_bytes((uint64_t)jget_int(v, "mem", 0), mem, sizeof(mem));
        int64_t p = jget_int(v, "pid", 0);
        snprintf(pid, sizeof(pid), p ? "%lld" : "-", (long long)p);
        int64_t c = jget_int(v, "cpu_cap", 0);
        snprintf(cap, sizeof(cap), c ? "%lld%%" : "-", (long long)c);
        fmt_uptime(p ? jget_int(v, "uptime_s", -1) : -1, up, sizeof(up));
        const char *reason = "";
        if (json_object_object_get_ex(v, "last_exit", &e) && e)
            reason = jget_str(e, "reason") ? jget_str(e, "reason") : "";
        printf("%-20s %-8s %4lld %6s %8s %7s %8s %s\n", jget_str(v, "name"), jget_str(v, "state"),
               (long long)jget_int(v, "cpus", 0), mem, pid, cap, up, reason);
    }
    json_object_put(a);
    return 0;
}

static int cmd_info(const char *name, bool json)
{
    char path[300];
    int rc;
    vm_path(path, sizeof(path), name, NULL);
    json_object *v = api_json("GET", path, NULL, &rc);
    if (!v)
        return rc;
    if (json) {
        printf("%s\n", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY));
        json_object_put(v);
        return 0;
    }
    json_object_object_foreach(v, key, val)
    {
        if (json_object_is_type(val, json_type_object)) {
            json_object_object_foreach(val, k2, v2)
                printf("%-12s %s\n", k2, v2 ? json_object_get_string(v2) : "-");
            continue;
        }
        if (!strcmp(key, "mem")) {
            char m[16];
            fmt_bytes((uint64_t)json_object_get_int64(val), m, sizeof(m));
            printf("%-12s %s\n", key, m);
        } else {
            printf("%-12s %s\n", key, val ? json_object_get_string(val) : "-");
        }
    }
    json_object_put(v);
    return 0;
}

static int cmd_create(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mem", required_argument, NULL, 'm'},      {"cpus", required_argument, NULL, 'c'},
        {"kernel", required_argument, NULL, 'k'},   {"initrd", required_argument, NULL, 'i'},
        {"append", required_argument, NULL, 'a'},   {"firmware", required_argument, NULL, 'f'},
        {"cpu-cap", required_argument, NULL, 'p'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    json_object *o = json_object_new_object();
    int rc = 2, c;
    char abs[4096];
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *key = NULL;
        switch (c) {
        case 'm': key = "mem"; break;
        case 'k': key = "kernel"; break;
        case 'i': key = "initrd"; break;
        case 'a': key = "append"; break;
        case 'f': key = "firmware"; break;
        case 'c':
        case 'p': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (!*optarg || (*end && strcmp(end, "%")) || n < 0) {
                fprintf(stderr, "kiln create: %s '%s' is not a number\n", argv[optind - 1], optarg);
                goto out;
            }
            json_object_object_add(o, c == 'c' ? "cpus" : "cpu_cap", json_object_new_int64(n));
            continue;
        }
        case 'h':
            printf("usage: kiln create NAME [--mem SIZE] [--cpus N] [--kernel FILE] [--initrd FILE]\n"
                   "                   [--append STR] [--firmware FILE] [--cpu-cap PCT] [-- RUN-ARGS...]\n"
                   "Defines a VM (kiln run's flags); arguments after -- go to kiln run as they are.\n");
            rc = 0;
            goto out;
        default:
            fprintf(stderr, "kiln create: bad option '%s' (try 'kiln create --help')\n", argv[optind - 1]);
            goto out;
        }
        const char *val = optarg;
        /* Files are opened by the daemon: make relative paths absolute here. */
        if (c == 'k' || c == 'i' || c == 'f') {
            if (!realpath(optarg, abs)) {
                fprintf(stderr, "kiln create: --%s %s: %m\n", key, optarg);
                goto out;
            }
            val = abs;
        }
        json_object_object_add(o, key, json_object_new_string(val));
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: kiln create NAME [options] [-- RUN-ARGS...]\n");
        goto out;
    }
    json_object_object_add(o, "name", json_object_new_string(argv[optind++]));
    if (optind < argc) {
        json_object *a = json_object_new_array();
        for (; optind < argc; optind++)
            json_object_array_add(a, json_object_new_string(argv[optind]));
        json_object_object_add(o, "args", a);
    }
    json_object *v = api_json("POST", "/v1/vms", o, &rc);
    if (v) {
        printf("created %s\n", jget_str(v, "name"));
        json_object_put(v);
    }
out:
    json_object_put(o);
    return rc;
}

static struct termios saved_tio;
static bool tio_raw;

static void restore_tio(void)
{
    if (tio_raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
    tio_raw = false;
}

static int cmd_console(const char *name)
{
    char req[512];
    int fd = connect_or_start();
    if (fd < 0)
        return connect_error(fd);
    int n = snprintf(req, sizeof(req),
                     "GET /v1/vms/%s/console HTTP/1.1\r\nHost: kiln\r\nConnection: Upgrade\r\n"
                     "Upgrade: kiln-console\r\n\r\n", name);
    if (send_all(fd, req, (size_t)n)) {
        close(fd);
        return connect_error(-errno);
    }
    /* Read the answer's head byte by byte: what follows it is already console output. */
    char head[8192];
    size_t hl = 0;
    while (hl + 1 < sizeof(head)) {
        ssize_t r = read(fd, head + hl, 1);
        if (r <= 0)
            break;
        hl++;
        if (hl >= 4 && !memcmp(head + hl - 4, "\r\n\r\n", 4))
            break;
    }
    head[hl] = 0;
    int status = 0;
    sscanf(head, "HTTP/1.%*d %d", &status);
    if (status != 101) {
        char body[1024];
        ssize_t r = read(fd, body, sizeof(body) - 1);
        body[r > 0 ? r : 0] = 0;
        json_object *o = json_tokener_parse(body);
        const char *e = o ? jget_str(o, "error") : NULL;
        fprintf(stderr, "kiln: %s\n", e ? e : "the daemon refused the console");
        json_object_put(o);
        close(fd);
        return 1;
    }
    bool tty = isatty(STDIN_FILENO);
    if (tty && !tcgetattr(STDIN_FILENO, &saved_tio)) {
        struct termios t = saved_tio;
        cfmakeraw(&t);
        if (!tcsetattr(STDIN_FILENO, TCSANOW, &t)) {
            tio_raw = true;
            atexit(restore_tio);
        }
        fprintf(stderr, "[attached to %s; Ctrl-] detaches]\r\n", name);
    }
    signal(SIGPIPE, SIG_IGN);
    char buf[4096];
    bool in_open = true;
    for (;;) {
        struct pollfd p[2] = {{.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN},
                              {.fd = fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents) {
            ssize_t r = read(fd, buf, sizeof(buf));
            if (r <= 0 || write(STDOUT_FILENO, buf, (size_t)r) != r)
                break;
        }
        if (p[0].revents) {
            ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
            if (r <= 0) {
                in_open = false; /* keep showing output until the VM or the daemon ends it */
                shutdown(fd, SHUT_WR);
                continue;
            }
            char *k = memchr(buf, DETACH_KEY, (size_t)r);
            size_t len = k ? (size_t)(k - buf) : (size_t)r;
            if (len && send_all(fd, buf, len))
                break;
            if (k)
                break;
        }
    }
    restore_tio();
    if (tty)
        fprintf(stderr, "\n[detached from %s]\n", name);
    close(fd);
    return 0;
}

static void print_state(json_object *v, const char *verb)
{
    const char *n = jget_str(v, "name"), *s = jget_str(v, "state");
    int64_t pid = jget_int(v, "pid", 0);
    json_object *e;
    if (pid)
        printf("%s %s: %s (pid %lld)\n", verb, n, s, (long long)pid);
    else if (json_object_object_get_ex(v, "last_exit", &e) && e && jget_str(e, "reason"))
        printf("%s %s: %s (%s)\n", verb, n, s, jget_str(e, "reason"));
    else
        printf("%s %s: %s\n", verb, n, s);
}

static void usage_vm(FILE *f)
{
    fprintf(f, "usage: kiln create NAME [--mem SIZE] [--cpus N] [--kernel FILE] [--initrd FILE]\n"
               "                   [--append STR] [--firmware FILE] [--cpu-cap PCT] [-- RUN-ARGS]\n"
               "       kiln start|stop|kill|pause|resume|rm NAME\n"
               "       kiln info NAME [--json]   kiln console NAME   kiln log NAME\n"
               "       kiln set NAME [--cpu-cap PCT] [--mem SIZE] [--disk-bps N] [--disk-iops N] [--net-bps N]\n"
               "       kiln ls [--json]\n");
}

int cli_vmctl(int argc, char **argv)
{
    const char *cmd = argv[0];
    char path[300];
    int rc;
    if (!strcmp(cmd, "ls"))
        return cmd_ls(argc, argv);
    if (!strcmp(cmd, "create"))
        return cmd_create(argc, argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage_vm(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *name = argv[1];
    if (!valid_cli_name(name)) {
        fprintf(stderr, "kiln %s: '%s' is not a VM name\n", cmd, name);
        return 2;
    }
    if (!strcmp(cmd, "info"))
        return cmd_info(name, argc > 2 && !strcmp(argv[2], "--json"));
    if (argc > 2 && strcmp(cmd, "set") && strcmp(cmd, "stop")) {
        fprintf(stderr, "kiln %s: unexpected argument '%s'\n", cmd, argv[2]);
        return 2;
    }
    if (!strcmp(cmd, "console"))
        return cmd_console(name);
    if (!strcmp(cmd, "log")) {
        struct resp r;
        vm_path(path, sizeof(path), name, "console");
        rc = api("GET", path, NULL, &r);
        if (!rc && r.status == 200)
            fwrite(r.body, 1, r.blen, stdout);
        else if (!rc)
            fprintf(stderr, "kiln: %.*s", (int)r.blen, r.body), rc = 1;
        free(r.data);
        return rc;
    }
    if (!strcmp(cmd, "set")) {
        static const char set_usage[] =
            "usage: kiln set NAME [--cpu-cap PCT] [--mem SIZE] [--disk-bps N] [--disk-iops N]\n"
            "                     [--net-bps N]\n"
            "  --cpu-cap PCT   percent of one host CPU (0 removes the cap)\n"
            "  --mem SIZE      a running VM: let the guest have SIZE (balloon), at most\n"
            "                  its defined memory; a stopped VM: its defined memory\n"
            "  --disk-bps N    bytes/s for each disk, e.g. 4M (K, M, G suffixes; 0 = unlimited)\n"
            "  --disk-iops N   requests/s for each disk (0 = unlimited)\n"
            "  --net-bps N     bytes/s each way for each NIC, e.g. 1M (0 = unlimited)\n"
            "  A running VM gets new limits at once; a stopped one keeps them for its next start.\n";
        static const char *const lim_opts[] = {"--disk-bps", "--disk-iops", "--net-bps"};
        static const char *const lim_keys[] = {"disk_bps", "disk_iops", "net_bps"};
        json_object *o = json_object_new_object();
        bool cap = false, mem = false, lim = false;
        for (int i = 2; i < argc; i += 2) {
            int li = -1;
            for (int k = 0; k < 3; k++)
                if (!strcmp(argv[i], lim_opts[k]))
                    li = k;
            if (i + 1 >= argc ||
                (li < 0 && strcmp(argv[i], "--cpu-cap") && strcmp(argv[i], "--mem"))) {
                fputs(set_usage, stderr);
                json_object_put(o);
                return 2;
            }
            if (li >= 0) {
                uint64_t n;
                if (tb_parse_limit(argv[i + 1], li != 1, &n) < 0 || n > INT64_MAX) {
                    fprintf(stderr, "kiln set: %s '%s' is not %s\n", argv[i], argv[i + 1],
                            li != 1 ? "a number of bytes per second such as 4M (K, M, G suffixes)"
                                    : "a whole number of requests per second");
                    json_object_put(o);
                    return 2;
                }
                json_object_object_add(o, lim_keys[li], json_object_new_int64((int64_t)n));
                lim = true;
                continue;
            }
            if (!strcmp(argv[i], "--mem")) {
                json_object_object_add(o, "mem", json_object_new_string(argv[i + 1]));
                mem = true;
                continue;
            }
            char *end;
            long n = strtol(argv[i + 1], &end, 10);
            if (!*argv[i + 1] || (*end && strcmp(end, "%"))) {
                fprintf(stderr, "kiln set: --cpu-cap '%s' is not a number\n", argv[i + 1]);
                json_object_put(o);
                return 2;
            }
            json_object_object_add(o, "cpu_cap", json_object_new_int64(n));
            cap = true;
        }
        if (!cap && !mem && !lim) {
            fputs(set_usage, stderr);
            json_object_put(o);
            return 2;
        }
        vm_path(path, sizeof(path), name, NULL);
        json_object *v = api_json("PATCH", path, o, &rc);
        json_object_put(o);
        if (v && cap)
            printf("%s: cpu cap %lld%%\n", name, (long long)jget_int(v, "cpu_cap", 0));
        if (v && lim)
            printf("%s: disk %lld bytes/s, %lld IOPS; net %lld bytes/s (0 = unlimited)\n", name,
                   (long long)jget_int(v, "disk_bps", 0), (long long)jget_int(v, "disk_iops", 0),
                   (long long)jget_int(v, "net_bps", 0));
        if (v && mem) {
            json_object *b;
            if (json_object_object_get_ex(v, "balloon", &b) && b)
                printf("%s: the guest is to have %lld MiB (balloon target; now %lld MiB)\n", name,
                       (long long)jget_int(b, "target_mib", 0), (long long)jget_int(b, "guest_mib", 0));
            else
                printf("%s: mem %lld MiB\n", name, (long long)(jget_int(v, "mem", 0) >> 20));
        }
        json_object_put(v);
        return rc;
    }
    if (!strcmp(cmd, "rm")) {
        vm_path(path, sizeof(path), name, NULL);
        json_object *v = api_json("DELETE", path, NULL, &rc);
        if (v)
            printf("removed %s\n", name);
        json_object_put(v);
        return rc;
    }
    static const char *const ops[] = {"start", "stop", "kill", "pause", "resume"};
    static const char *const verbs[] = {"started", "stopped", "killed", "paused", "resumed"};
    for (int i = 0; i < 5; i++) {
        if (strcmp(cmd, ops[i]))
            continue;
        char act[64];
        if (i == 1 && argc == 4 && !strcmp(argv[2], "--timeout"))
            snprintf(act, sizeof(act), "stop?timeout=%d", atoi(argv[3]));
        else if (argc > 2) {
            fprintf(stderr, "usage: kiln stop NAME [--timeout SECONDS]\n");
            return 2;
        } else
            snprintf(act, sizeof(act), "%s", ops[i]);
        vm_path(path, sizeof(path), name, act);
        json_object *v = api_json("POST", path, NULL, &rc);
        if (v)
            print_state(v, verbs[i]);
        json_object_put(v);
        return rc;
    }
    usage_vm(stderr);
    return 2;
}
