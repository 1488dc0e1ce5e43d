/*
 * kiln img: create, inspect and convert disk images, in the shape of qemu-img.
 *
 *   kiln img create -f raw|qcow2 [-b BACKING [-F FMT]] FILE [SIZE]
 *   kiln img info [--json] [-f FMT] FILE
 *   kiln img convert [-c] [-f FMT] -O raw|qcow2 IN OUT
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "backend/disk.h"
#include "backend/qcow2.h"
#include "cli/cli.h"

#define COPY_CHUNK (1u << 20)
#define ZERO_BLOCK (64u << 10) /* kiln's qcow2 cluster: the unit worth leaving unallocated */

static void img_usage(FILE *f)
{
    fprintf(f, "usage: kiln img create -f raw|qcow2 [-b BACKING [-F FMT]] FILE [SIZE]\n"
               "       kiln img info [--json] [-f FMT] FILE\n"
               "       kiln img convert [-c] [-f FMT] -O raw|qcow2 IN OUT\n"
               "\n"
               "-c writes zlib-compressed clusters (qcow2 only; read back as qemu-img does).\n"
               "SIZE takes K, M, G, T suffixes; with -b it defaults to the backing file's size.\n"
               "A relative BACKING is relative to FILE's directory (as qemu-img stores it).\n");
}

/* A command line kiln img cannot use: exit status 2. */
static int usage_err(const char *msg)
{
    fprintf(stderr, "kiln img: %s\n", msg);
    return 2;
}

static int parse_fmt(const char *s, enum disk_format *out)
{
    if (disk_format_parse(s, out) < 0) {
        fprintf(stderr, "kiln img: unknown format '%s' (raw or qcow2)\n", s);
        return -1;
    }
    return 0;
}

static int img_create(int argc, char **argv)
{
    enum disk_format fmt = DISK_FORMAT_RAW, bfmt = DISK_FORMAT_AUTO;
    const char *backing = NULL, *file = NULL, *size_s = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "-f") || !strcmp(a, "-b") || !strcmp(a, "-F")) && i + 1 >= argc)
            return usage_err("option needs a value (try 'kiln img --help')");
        if (!strcmp(a, "-f")) {
            if (parse_fmt(argv[++i], &fmt) < 0) return 2;
        } else if (!strcmp(a, "-b")) {
            backing = argv[++i];
        } else if (!strcmp(a, "-F")) {
            if (parse_fmt(argv[++i], &bfmt) < 0) return 2;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "kiln img create: unknown option '%s'\n", a);
            return 2;
        } else if (!file) {
            file = a;
        } else if (!size_s) {
            size_s = a;
        } else {
            return usage_err("create: too many arguments");
        }
    }
    if (!file) return usage_err("create: no FILE given");
    uint64_t size = 0;
    if (size_s && !cli_parse_size(size_s, &size)) {
        fprintf(stderr, "kiln img create: bad size '%s' (e.g. 10G, 512M)\n", size_s);
        return 2;
    }
    if (!size_s && !backing) return usage_err("create: no SIZE given");
    char *err = NULL;
    if (disk_create(file, fmt, size, backing, bfmt, &err) < 0) {
        fprintf(stderr, "kiln img: %s\n", err ? err : "cannot create the image");
        free(err);
        return 1;
    }
    return 0;
}

static int img_info(int argc, char **argv)
{
    bool json = false;
    enum disk_format fmt = DISK_FORMAT_AUTO;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "--output=json")) {
            json = true;
        } else if (!strcmp(argv[i], "-f") && i + 1 < argc) {
            if (parse_fmt(argv[++i], &fmt) < 0) return 2;
        } else if (argv[i][0] == '-' || file) {
            fprintf(stderr, "kiln img info: unexpected argument '%s'\n", argv[i]);
            return 2;
        } else {
            file = argv[i];
        }
    }
    if (!file) return usage_err("info: no FILE given");
    struct disk_opts o = {.readonly = true, .format = fmt, .no_backing = true};
    char *err = NULL;
    struct disk *d = disk_open_opts(file, &o, &err);
    if (!d) {
        fprintf(stderr, "kiln img: %s\n", err ? err : file);
        free(err);
        return 1;
    }
    struct disk_info in;
    disk_get_info(d, &in);
    disk_close(d);
    bool q = in.format == DISK_FORMAT_QCOW2;
    if (json) {
        json_object *j = json_object_new_object();
        json_object_object_add(j, "filename", json_object_new_string(file));
        json_object_object_add(j, "format", json_object_new_string(disk_format_name(in.format)));
        json_object_object_add(j, "virtual-size", json_object_new_int64((int64_t)in.size));
        json_object_object_add(j, "actual-size", json_object_new_int64((int64_t)in.file_bytes));
        if (q) {
            json_object_object_add(j, "cluster-size", json_object_new_int64(in.cluster_size));
            json_object_object_add(j, "compat",
                                   json_object_new_string(in.version == 3 ? "1.1" : "0.10"));
            json_object_object_add(j, "refcount-bits", json_object_new_int(in.refcount_bits));
            json_object_object_add(j, "lazy-refcounts", json_object_new_boolean(in.lazy_refcounts));
            json_object_object_add(j, "dirty", json_object_new_boolean(in.dirty));
            json_object_object_add(j, "corrupt", json_object_new_boolean(in.corrupt));
            if (in.backing[0])
                json_object_object_add(j, "backing-filename", json_object_new_string(in.backing));
            if (in.backing_fmt[0])
                json_object_object_add(j, "backing-filename-format",
                                       json_object_new_string(in.backing_fmt));
        }
        printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY));
        json_object_put(j);
        return 0;
    }
    printf("image: %s\nfile format: %s\nvirtual size: %llu bytes\ndisk size: %llu bytes\n", file,
           disk_format_name(in.format), (unsigned long long)in.size,
           (unsigned long long)in.file_bytes);
    if (q) {
        printf("cluster_size: %u\ncompat: %s\nrefcount bits: %d\n", in.cluster_size,
               in.version == 3 ? "1.1" : "0.10", in.refcount_bits);
        if (in.backing[0]) printf("backing file: %s\n", in.backing);
        if (in.backing_fmt[0]) printf("backing file format: %s\n", in.backing_fmt);
        if (in.dirty) printf("dirty: true\n");
        if (in.corrupt) printf("corrupt: true\n");
    }
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

/*
 * convert -c: the clusters of one chunk are deflated on up to ZTHREADS threads
 * (qcow2_deflate touches no image), then stored in order on this one.
 */
#define ZTHREADS 4

struct zjob {
    const uint8_t *in;
    uint8_t *out; /* cs bytes per cluster */
    size_t *len;  /* per cluster: deflated length, 0 = store plainly */
    const bool *zero;
    size_t ncl, cs;
    unsigned first, step;
};

static void *zjob_run(void *arg)
{
    struct zjob *j = arg;
    for (size_t i = j->first; i < j->ncl; i += j->step)
        j->len[i] = j->zero[i] ? 0 : qcow2_deflate(j->in + i * j->cs, j->cs, j->out + i * j->cs);
    return NULL;
}

static int deflate_chunk(const uint8_t *in, uint8_t *out, size_t *len, const bool *zero,
                         size_t ncl, size_t cs, unsigned nthreads)
{
    struct zjob jobs[ZTHREADS];
    pthread_t th[ZTHREADS];
    unsigned started = 1;
    for (unsigned t = 0; t < nthreads; t++)
        jobs[t] = (struct zjob){in, out, len, zero, ncl, cs, t, nthreads};
    for (unsigned t = 1; t < nthreads; t++, started++)
        if (pthread_create(&th[t], NULL, zjob_run, &jobs[t]))
            break;
    /* Clusters of a thread that did not start are done here. */
    for (unsigned t = 0; t < nthreads; t++)
        if (t == 0 || t >= started)
            zjob_run(&jobs[t]);
    for (unsigned t = 1; t < started; t++)
        pthread_join(th[t], NULL);
    return 0;
}

static int img_convert(int argc, char **argv)
{
    enum disk_format in_fmt = DISK_FORMAT_AUTO, out_fmt = DISK_FORMAT_AUTO;
    const char *in = NULL, *out = NULL;
    bool compress = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-c")) {
            compress = true;
        } else if ((!strcmp(argv[i], "-f") || !strcmp(argv[i], "-O")) && i + 1 < argc) {
            enum disk_format *f = argv[i][1] == 'f' ? &in_fmt : &out_fmt;
            if (parse_fmt(argv[++i], f) < 0) return 2;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "kiln img convert: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (!in) {
            in = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            return usage_err("convert: too many arguments");
        }
    }
    if (!in || !out || out_fmt == DISK_FORMAT_AUTO)
        return usage_err("convert: usage: kiln img convert [-c] [-f FMT] -O raw|qcow2 IN OUT");
    if (compress && out_fmt != DISK_FORMAT_QCOW2)
        return usage_err("convert: -c (compressed clusters) needs -O qcow2");
    char *err = NULL;
    struct disk_opts io = {.readonly = true, .format = in_fmt};
    struct disk *src = disk_open_opts(in, &io, &err);
    if (!src) {
        fprintf(stderr, "kiln img: %s\n", err ? err : in);
        free(err);
        return 1;
    }
    uint64_t size = disk_size(src);
    struct disk *dst = NULL;
    uint8_t *buf = malloc(COPY_CHUNK), *zbuf = NULL;
    int rc = 1;
    if (!buf) goto out;
    if (disk_create(out, out_fmt, size, NULL, DISK_FORMAT_AUTO, &err) < 0) goto out;
    /* cache=unsafe while copying (no barrier per cluster), one fsync at the end. */
    struct disk_opts oo = {.readonly = false, .cache = DISK_CACHE_UNSAFE, .format = out_fmt};
    dst = disk_open_opts(out, &oo, &err);
    if (!dst) goto out;
    uint32_t cs = compress ? qcow2_cluster_size(dst) : 0;
    if (compress && (!cs || COPY_CHUNK % cs)) {
        fprintf(stderr, "kiln img: %s: unexpected cluster size %u\n", out, cs);
        goto out;
    }
    size_t zcl = compress ? COPY_CHUNK / cs : 0, zlen[COPY_CHUNK / 512];
    bool zzero[COPY_CHUNK / 512];
    int nproc = get_nprocs();
    unsigned nthreads = nproc < 1 ? 1 : nproc > ZTHREADS ? ZTHREADS : (unsigned)nproc;
    if (compress && !(zbuf = malloc(COPY_CHUNK))) goto out;
    for (uint64_t off = 0; off < size; off += COPY_CHUNK) {
        size_t n = size - off < COPY_CHUNK ? (size_t)(size - off) : COPY_CHUNK;
        struct iovec iov = {buf, n};
        int r = disk_preadv(src, &iov, 1, off);
        if (r < 0) {
            fprintf(stderr, "kiln img: %s: read at %llu: %s\n", in, (unsigned long long)off,
                    strerror(-r));
            goto out;
        }
        if (compress) {
            /* Cluster by cluster: zero clusters stay unallocated, the rest compressed
             * (or plain where deflate does not shrink them). The tail is zero-padded. */
            size_t whole = (n + cs - 1) / cs * cs, ncl = whole / cs;
            memset(buf + n, 0, whole - n);
            for (size_t i = 0; i < ncl; i++)
                zzero[i] = all_zero(buf + i * cs, cs);
            deflate_chunk(buf, zbuf, zlen, zzero, ncl, cs, nthreads);
            for (size_t i = 0; i < ncl && i < zcl; i++) {
                size_t b = i * cs;
                if (zzero[i]) continue;
                if ((r = qcow2_write_deflated(dst, off + b, buf + b, zbuf + b, zlen[i])) < 0) {
                    fprintf(stderr, "kiln img: %s: compressed write at %llu: %s\n", out,
                            (unsigned long long)(off + b), strerror(-r));
                    goto out;
                }
            }
            continue;
        }
        /* New images read as zeroes: write only the runs of blocks that are not all zero. */
        for (size_t b = 0; b < n;) {
            size_t bl = n - b < ZERO_BLOCK ? n - b : ZERO_BLOCK;
            if (all_zero(buf + b, bl)) {
                b += bl;
                continue;
            }
            size_t e = b + bl;
            while (e < n) {
                size_t el = n - e < ZERO_BLOCK ? n - e : ZERO_BLOCK;
                if (all_zero(buf + e, el)) break;
                e += el;
            }
            struct iovec w = {buf + b, e - b};
            if ((r = disk_pwritev(dst, &w, 1, off + b)) < 0) {
                fprintf(stderr, "kiln img: %s: write at %llu: %s\n", out,
                        (unsigned long long)(off + b), strerror(-r));
                goto out;
            }
            b = e;
        }
    }
    if (disk_flush(dst) < 0) goto out;
    disk_close(dst);
    dst = NULL;
    int fd = open(out, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        fprintf(stderr, "kiln img: %s: cannot sync: %s\n", out, strerror(errno));
        if (fd >= 0) close(fd);
        goto out;
    }
    close(fd);
    rc = 0;
out:
    if (err) fprintf(stderr, "kiln img: %s\n", err);
    free(err);
    free(buf);
    free(zbuf);
    disk_close(dst);
    disk_close(src);
    return rc;
}

int cli_img(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        img_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    /* kiln img SUB --help (or -h anywhere after SUB): the usage, as for kiln img --help. */
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            img_usage(stdout);
            return 0;
        }
    }
    if (!strcmp(argv[1], "create")) return img_create(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info")) return img_info(argc - 1, argv + 1);
    if (!strcmp(argv[1], "convert")) return img_convert(argc - 1, argv + 1);
    fprintf(stderr, "kiln img: unknown subcommand '%s' (create, info, convert)\n", argv[1]);
    return 2;
}
