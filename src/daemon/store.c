/*
 * SQLite store. One table; extra `kiln run` arguments are kept as a JSON array
 * so the schema does not change when the definition grows.
 */
#include "daemon/store.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct store {
    sqlite3 *db;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS vms ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " mem INTEGER NOT NULL, cpus INTEGER NOT NULL,"
    " kernel TEXT, initrd TEXT, append TEXT, firmware TEXT, args TEXT,"
    " cpu_cap INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,"
    " state TEXT NOT NULL,"
    " monitor_pid INTEGER, monitor_start INTEGER, vm_pid INTEGER, vm_start INTEGER,"
    " started_at INTEGER, exit_code INTEGER, exit_signal INTEGER, exit_reason TEXT,"
    " disk_bps INTEGER NOT NULL DEFAULT 0, disk_iops INTEGER NOT NULL DEFAULT 0,"
    " net_bps INTEGER NOT NULL DEFAULT 0);"
    "PRAGMA journal_mode=WAL;";

/*
 * Columns added after the first release: a store created by an older kiln
 * gets them here (CREATE TABLE IF NOT EXISTS leaves an existing table alone).
 * SQLite has no ADD COLUMN IF NOT EXISTS, so look at table_info first.
 */
static const char *const added_columns[][2] = {
    {"disk_bps", "INTEGER NOT NULL DEFAULT 0"},
    {"disk_iops", "INTEGER NOT NULL DEFAULT 0"},
    {"net_bps", "INTEGER NOT NULL DEFAULT 0"},
};

static bool has_column(sqlite3 *db, const char *col)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(db, "PRAGMA table_info(vms)", -1, &st, NULL) != SQLITE_OK)
        return false;
    while (!found && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *name = sqlite3_column_text(st, 1);
        found = name && !strcmp((const char *)name, col);
    }
    sqlite3_finalize(st);
    return found;
}

static int migrate(sqlite3 *db, char **err)
{
    for (size_t i = 0; i < sizeof(added_columns) / sizeof(added_columns[0]); i++) {
        if (has_column(db, added_columns[i][0]))
            continue;
        char sql[128];
        snprintf(sql, sizeof(sql), "ALTER TABLE vms ADD COLUMN %s %s", added_columns[i][0],
                 added_columns[i][1]);
        if (sqlite3_exec(db, sql, NULL, NULL, err) != SQLITE_OK)
            return -1;
    }
    return 0;
}

int store_open(const char *path, struct store **out)
{
    struct store *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    char *err = NULL;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(s->db, 2000);
    if (sqlite3_exec(s->db, schema, NULL, NULL, &err) != SQLITE_OK || migrate(s->db, &err))
        goto fail;
    *out = s;
    return 0;
fail:
    log_err("store", "%s: %s", path, err ? err : sqlite3_errmsg(s->db));
    sqlite3_free(err);
    sqlite3_close(s->db);
    free(s);
    return -EIO;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s);
}

static void bind_text(sqlite3_stmt *st, int i, const char *t)
{
    if (t)
        sqlite3_bind_text(st, i, t, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

int store_save(struct store *s, const struct vm_rec *v)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO vms (name, mem, cpus, kernel, initrd, append, firmware, args,"
        " cpu_cap, created_at, state, monitor_pid, monitor_start, vm_pid, vm_start, started_at,"
        " exit_code, exit_signal, exit_reason, disk_bps, disk_iops, net_bps)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    sqlite3_stmt *st = NULL;
    int ret = -EIO;
    json_object *args = json_object_new_array();
    if (!args)
        return -ENOMEM;
    for (int i = 0; i < v->nargs; i++)
        json_object_array_add(args, json_object_new_string(v->args[i]));
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, v->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)v->mem);
    sqlite3_bind_int(st, 3, (int)v->cpus);
    bind_text(st, 4, v->kernel);
    bind_text(st, 5, v->initrd);
    bind_text(st, 6, v->append);
    bind_text(st, 7, v->firmware);
    bind_text(st, 8, json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN));
    sqlite3_bind_int(st, 9, (int)v->cpu_cap);
    sqlite3_bind_int64(st, 10, v->created_at);
    sqlite3_bind_text(st, 11, vm_state_name(v->state), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 12, v->monitor_pid);
    sqlite3_bind_int64(st, 13, (sqlite3_int64)v->monitor_start);
    sqlite3_bind_int64(st, 14, v->vm_pid);
    sqlite3_bind_int64(st, 15, (sqlite3_int64)v->vm_start);
    sqlite3_bind_int64(st, 16, v->started_at);
    sqlite3_bind_int(st, 17, v->exit_code);
    sqlite3_bind_int(st, 18, v->exit_signal);
    bind_text(st, 19, v->exit_reason);
    sqlite3_bind_int64(st, 20, (sqlite3_int64)v->disk_bps);
    sqlite3_bind_int64(st, 21, (sqlite3_int64)v->disk_iops);
    sqlite3_bind_int64(st, 22, (sqlite3_int64)v->net_bps);
    if (sqlite3_step(st) == SQLITE_DONE)
        ret = 0;
out:
    if (ret)
        log_err("store", "saving VM '%s': %s", v->name, sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    json_object_put(args);
    return ret;
}

int store_delete(struct store *s, const char *name)
{
    sqlite3_stmt *st = NULL;
    int ret = -EIO;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM vms WHERE name = ?", -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_DONE)
        ret = 0;
out:
    if (ret)
        log_err("store", "deleting VM '%s': %s", name, sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return ret;
}

static char *col_strdup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static int load_args(const char *json, struct vm_rec *v)
{
    if (!json)
        return 0;
    json_object *a = json_tokener_parse(json);
    if (!a || !json_object_is_type(a, json_type_array)) {
        json_object_put(a);
        return -EINVAL;
    }
    int n = (int)json_object_array_length(a);
    if (n > VM_MAX_ARGS)
        n = VM_MAX_ARGS;
    v->args = calloc((size_t)n + 1, sizeof(char *));
    if (!v->args) {
        json_object_put(a);
        return -ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        v->args[i] = strdup(json_object_get_string(json_object_array_get_idx(a, (size_t)i)));
        if (!v->args[i])
            break;
        v->nargs = i + 1;
    }
    json_object_put(a);
    return 0;
}

int store_load(struct store *s, struct vm_rec **out)
{
    static const char sql[] =
        "SELECT name, mem, cpus, kernel, initrd, append, firmware, args, cpu_cap, created_at,"
        " state, monitor_pid, monitor_start, vm_pid, vm_start, started_at, exit_code,"
        " exit_signal, exit_reason, disk_bps, disk_iops, net_bps FROM vms ORDER BY created_at, name";
    sqlite3_stmt *st = NULL;
    struct vm_rec *head = NULL, **tail = &head;
    int ret = -EIO, rc;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        goto fail;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct vm_rec *v = calloc(1, sizeof(*v));
        if (!v) {
            ret = -ENOMEM;
            goto fail;
        }
        *tail = v;
        tail = &v->next;
        const unsigned char *name = sqlite3_column_text(st, 0);
        snprintf(v->name, sizeof(v->name), "%s", name ? (const char *)name : "");
        v->mem = (uint64_t)sqlite3_column_int64(st, 1);
        v->cpus = (unsigned)sqlite3_column_int(st, 2);
        v->kernel = col_strdup(st, 3);
        v->initrd = col_strdup(st, 4);
        v->append = col_strdup(st, 5);
        v->firmware = col_strdup(st, 6);
        if (load_args((const char *)sqlite3_column_text(st, 7), v))
            log_warn("store", "VM '%s': unreadable run arguments dropped", v->name);
        v->cpu_cap = (unsigned)sqlite3_column_int(st, 8);
        v->created_at = sqlite3_column_int64(st, 9);
        const unsigned char *state = sqlite3_column_text(st, 10);
        if (!state || vm_state_parse((const char *)state, &v->state))
            v->state = VMS_STOPPED;
        v->monitor_pid = (pid_t)sqlite3_column_int64(st, 11);
        v->monitor_start = (uint64_t)sqlite3_column_int64(st, 12);
        v->vm_pid = (pid_t)sqlite3_column_int64(st, 13);
        v->vm_start = (uint64_t)sqlite3_column_int64(st, 14);
        v->started_at = sqlite3_column_int64(st, 15);
        v->exit_code = sqlite3_column_int(st, 16);
        v->exit_signal = sqlite3_column_int(st, 17);
        v->exit_reason = col_strdup(st, 18);
        v->disk_bps = (uint64_t)sqlite3_column_int64(st, 19);
        v->disk_iops = (uint64_t)sqlite3_column_int64(st, 20);
        v->net_bps = (uint64_t)sqlite3_column_int64(st, 21);
    }
    if (rc != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    *out = head;
    return 0;
fail:
    log_err("store", "loading VMs: %s", sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    while (head) {
        struct vm_rec *n = head->next;
        vm_rec_free(head);
        head = n;
    }
    return ret;
}
