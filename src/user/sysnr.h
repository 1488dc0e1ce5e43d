/* riscv64 Linux system call numbers (asm-generic/unistd.h with __ARCH_WANT_NEW_STAT, SET_GET_RLIMIT, SYS_CLONE3).
 * Generated once from the riscv64-linux-gnu uapi headers (every __NR_x printed by a
 * riscv64 program built against <asm/unistd.h>); the numbers are ABI and never change. */
#ifndef KILN_USER_SYSNR_H
#define KILN_USER_SYSNR_H

#define RV_NR_io_setup 0
#define RV_NR_io_destroy 1
#define RV_NR_io_submit 2
#define RV_NR_io_cancel 3
#define RV_NR_io_getevents 4
#define RV_NR_setxattr 5
#define RV_NR_lsetxattr 6
#define RV_NR_fsetxattr 7
#define RV_NR_getxattr 8
#define RV_NR_lgetxattr 9
#define RV_NR_fgetxattr 10
#define RV_NR_listxattr 11
#define RV_NR_llistxattr 12
#define RV_NR_flistxattr 13
#define RV_NR_removexattr 14
#define RV_NR_lremovexattr 15
#define RV_NR_fremovexattr 16
#define RV_NR_getcwd 17
#define RV_NR_lookup_dcookie 18
#define RV_NR_eventfd2 19
#define RV_NR_epoll_create1 20
#define RV_NR_epoll_ctl 21
#define RV_NR_epoll_pwait 22
#define RV_NR_dup 23
#define RV_NR_dup3 24
#define RV_NR_fcntl 25
#define RV_NR_inotify_init1 26
#define RV_NR_inotify_add_watch 27
#define RV_NR_inotify_rm_watch 28
#define RV_NR_ioctl 29
#define RV_NR_ioprio_set 30
#define RV_NR_ioprio_get 31
#define RV_NR_flock 32
#define RV_NR_mknodat 33
#define RV_NR_mkdirat 34
#define RV_NR_unlinkat 35
#define RV_NR_symlinkat 36
#define RV_NR_linkat 37
#define RV_NR_umount2 39
#define RV_NR_mount 40
#define RV_NR_pivot_root 41
#define RV_NR_nfsservctl 42
#define RV_NR_statfs 43
#define RV_NR_fstatfs 44
#define RV_NR_truncate 45
#define RV_NR_ftruncate 46
#define RV_NR_fallocate 47
#define RV_NR_faccessat 48
#define RV_NR_chdir 49
#define RV_NR_fchdir 50
#define RV_NR_chroot 51
#define RV_NR_fchmod 52
#define RV_NR_fchmodat 53
#define RV_NR_fchownat 54
#define RV_NR_fchown 55
#define RV_NR_openat 56
#define RV_NR_close 57
#define RV_NR_vhangup 58
#define RV_NR_pipe2 59
#define RV_NR_quotactl 60
#define RV_NR_getdents64 61
#define RV_NR_lseek 62
#define RV_NR_read 63
#define RV_NR_write 64
#define RV_NR_readv 65
#define RV_NR_writev 66
#define RV_NR_pread64 67
#define RV_NR_pwrite64 68
#define RV_NR_preadv 69
#define RV_NR_pwritev 70
#define RV_NR_sendfile 71
#define RV_NR_pselect6 72
#define RV_NR_ppoll 73
#define RV_NR_signalfd4 74
#define RV_NR_vmsplice 75
#define RV_NR_splice 76
#define RV_NR_tee 77
#define RV_NR_readlinkat 78
#define RV_NR_newfstatat 79
#define RV_NR_fstat 80
#define RV_NR_sync 81
#define RV_NR_fsync 82
#define RV_NR_fdatasync 83
#define RV_NR_sync_file_range 84
#define RV_NR_timerfd_create 85
#define RV_NR_timerfd_settime 86
#define RV_NR_timerfd_gettime 87
#define RV_NR_utimensat 88
#define RV_NR_acct 89
#define RV_NR_capget 90
#define RV_NR_capset 91
#define RV_NR_personality 92
#define RV_NR_exit 93
#define RV_NR_exit_group 94
#define RV_NR_waitid 95
#define RV_NR_set_tid_address 96
#define RV_NR_unshare 97
#define RV_NR_futex 98
#define RV_NR_set_robust_list 99
#define RV_NR_get_robust_list 100
#define RV_NR_nanosleep 101
#define RV_NR_getitimer 102
#define RV_NR_setitimer 103
#define RV_NR_kexec_load 104
#define RV_NR_init_module 105
#define RV_NR_delete_module 106
#define RV_NR_timer_create 107
#define RV_NR_timer_gettime 108
#define RV_NR_timer_getoverrun 109
#define RV_NR_timer_settime 110
#define RV_NR_timer_delete 111
#define RV_NR_clock_settime 112
#define RV_NR_clock_gettime 113
#define RV_NR_clock_getres 114
#define RV_NR_clock_nanosleep 115
#define RV_NR_syslog 116
#define RV_NR_ptrace 117
#define RV_NR_sched_setparam 118
#define RV_NR_sched_setscheduler 119
#define RV_NR_sched_getscheduler 120
#define RV_NR_sched_getparam 121
#define RV_NR_sched_setaffinity 122
#define RV_NR_sched_getaffinity 123
#define RV_NR_sched_yield 124
#define RV_NR_sched_get_priority_max 125
#define RV_NR_sched_get_priority_min 126
#define RV_NR_sched_rr_get_interval 127
#define RV_NR_restart_syscall 128
#define RV_NR_kill 129
#define RV_NR_tkill 130
#define RV_NR_tgkill 131
#define RV_NR_sigaltstack 132
#define RV_NR_rt_sigsuspend 133
#define RV_NR_rt_sigaction 134
#define RV_NR_rt_sigprocmask 135
#define RV_NR_rt_sigpending 136
#define RV_NR_rt_sigtimedwait 137
#define RV_NR_rt_sigqueueinfo 138
#define RV_NR_rt_sigreturn 139
#define RV_NR_setpriority 140
#define RV_NR_getpriority 141
#define RV_NR_reboot 142
#define RV_NR_setregid 143
#define RV_NR_setgid 144
#define RV_NR_setreuid 145
#define RV_NR_setuid 146
#define RV_NR_setresuid 147
#define RV_NR_getresuid 148
#define RV_NR_setresgid 149
#define RV_NR_getresgid 150
#define RV_NR_setfsuid 151
#define RV_NR_setfsgid 152
#define RV_NR_times 153
#define RV_NR_setpgid 154
#define RV_NR_getpgid 155
#define RV_NR_getsid 156
#define RV_NR_setsid 157
#define RV_NR_getgroups 158
#define RV_NR_setgroups 159
#define RV_NR_uname 160
#define RV_NR_sethostname 161
#define RV_NR_setdomainname 162
#define RV_NR_getrlimit 163
#define RV_NR_setrlimit 164
#define RV_NR_getrusage 165
#define RV_NR_umask 166
#define RV_NR_prctl 167
#define RV_NR_getcpu 168
#define RV_NR_gettimeofday 169
#define RV_NR_settimeofday 170
#define RV_NR_adjtimex 171
#define RV_NR_getpid 172
#define RV_NR_getppid 173
#define RV_NR_getuid 174
#define RV_NR_geteuid 175
#define RV_NR_getgid 176
#define RV_NR_getegid 177
#define RV_NR_gettid 178
#define RV_NR_sysinfo 179
#define RV_NR_mq_open 180
#define RV_NR_mq_unlink 181
#define RV_NR_mq_timedsend 182
#define RV_NR_mq_timedreceive 183
#define RV_NR_mq_notify 184
#define RV_NR_mq_getsetattr 185
#define RV_NR_msgget 186
#define RV_NR_msgctl 187
#define RV_NR_msgrcv 188
#define RV_NR_msgsnd 189
#define RV_NR_semget 190
#define RV_NR_semctl 191
#define RV_NR_semtimedop 192
#define RV_NR_semop 193
#define RV_NR_shmget 194
#define RV_NR_shmctl 195
#define RV_NR_shmat 196
#define RV_NR_shmdt 197
#define RV_NR_socket 198
#define RV_NR_socketpair 199
#define RV_NR_bind 200
#define RV_NR_listen 201
#define RV_NR_accept 202
#define RV_NR_connect 203
#define RV_NR_getsockname 204
#define RV_NR_getpeername 205
#define RV_NR_sendto 206
#define RV_NR_recvfrom 207
#define RV_NR_setsockopt 208
#define RV_NR_getsockopt 209
#define RV_NR_shutdown 210
#define RV_NR_sendmsg 211
#define RV_NR_recvmsg 212
#define RV_NR_readahead 213
#define RV_NR_brk 214
#define RV_NR_munmap 215
#define RV_NR_mremap 216
#define RV_NR_add_key 217
#define RV_NR_request_key 218
#define RV_NR_keyctl 219
#define RV_NR_clone 220
#define RV_NR_execve 221
#define RV_NR_mmap 222
#define RV_NR_fadvise64 223
#define RV_NR_swapon 224
#define RV_NR_swapoff 225
#define RV_NR_mprotect 226
#define RV_NR_msync 227
#define RV_NR_mlock 228
#define RV_NR_munlock 229
#define RV_NR_mlockall 230
#define RV_NR_munlockall 231
#define RV_NR_mincore 232
#define RV_NR_madvise 233
#define RV_NR_remap_file_pages 234
#define RV_NR_mbind 235
#define RV_NR_get_mempolicy 236
#define RV_NR_set_mempolicy 237
#define RV_NR_migrate_pages 238
#define RV_NR_move_pages 239
#define RV_NR_rt_tgsigqueueinfo 240
#define RV_NR_perf_event_open 241
#define RV_NR_accept4 242
#define RV_NR_recvmmsg 243
#define RV_NR_arch_specific_syscall 244
#define RV_NR_riscv_flush_icache 259
#define RV_NR_wait4 260
#define RV_NR_prlimit64 261
#define RV_NR_fanotify_init 262
#define RV_NR_fanotify_mark 263
#define RV_NR_name_to_handle_at 264
#define RV_NR_open_by_handle_at 265
#define RV_NR_clock_adjtime 266
#define RV_NR_syncfs 267
#define RV_NR_setns 268
#define RV_NR_sendmmsg 269
#define RV_NR_process_vm_readv 270
#define RV_NR_process_vm_writev 271
#define RV_NR_kcmp 272
#define RV_NR_finit_module 273
#define RV_NR_sched_setattr 274
#define RV_NR_sched_getattr 275
#define RV_NR_renameat2 276
#define RV_NR_seccomp 277
#define RV_NR_getrandom 278
#define RV_NR_memfd_create 279
#define RV_NR_bpf 280
#define RV_NR_execveat 281
#define RV_NR_userfaultfd 282
#define RV_NR_membarrier 283
#define RV_NR_mlock2 284
#define RV_NR_copy_file_range 285
#define RV_NR_preadv2 286
#define RV_NR_pwritev2 287
#define RV_NR_pkey_mprotect 288
#define RV_NR_pkey_alloc 289
#define RV_NR_pkey_free 290
#define RV_NR_statx 291
#define RV_NR_io_pgetevents 292
#define RV_NR_rseq 293
#define RV_NR_kexec_file_load 294
#define RV_NR_pidfd_send_signal 424
#define RV_NR_io_uring_setup 425
#define RV_NR_io_uring_enter 426
#define RV_NR_io_uring_register 427
#define RV_NR_open_tree 428
#define RV_NR_move_mount 429
#define RV_NR_fsopen 430
#define RV_NR_fsconfig 431
#define RV_NR_fsmount 432
#define RV_NR_fspick 433
#define RV_NR_pidfd_open 434
#define RV_NR_clone3 435
#define RV_NR_close_range 436
#define RV_NR_openat2 437
#define RV_NR_pidfd_getfd 438
#define RV_NR_faccessat2 439
#define RV_NR_process_madvise 440
#define RV_NR_epoll_pwait2 441
#define RV_NR_mount_setattr 442
#define RV_NR_quotactl_fd 443
#define RV_NR_landlock_create_ruleset 444
#define RV_NR_landlock_add_rule 445
#define RV_NR_landlock_restrict_self 446
#define RV_NR_memfd_secret 447
#define RV_NR_process_mrelease 448
#define RV_NR_futex_waitv 449
#define RV_NR_set_mempolicy_home_node 450
#define RV_NR_syscalls 451

#define RV_NR_MAX 512

#define RV_SYSCALL_NAMES \
    [0] = "io_setup", \
    [1] = "io_destroy", \
    [2] = "io_submit", \
    [3] = "io_cancel", \
    [4] = "io_getevents", \
    [5] = "setxattr", \
    [6] = "lsetxattr", \
    [7] = "fsetxattr", \
    [8] = "getxattr", \
    [9] = "lgetxattr", \
    [10] = "fgetxattr", \
    [11] = "listxattr", \
    [12] = "llistxattr", \
    [13] = "flistxattr", \
    [14] = "removexattr", \
    [15] = "lremovexattr", \
    [16] = "fremovexattr", \
    [17] = "getcwd", \
    [18] = "lookup_dcookie", \
    [19] = "eventfd2", \
    [20] = "epoll_create1", \
    [21] = "epoll_ctl", \
    [22] = "epoll_pwait", \
    [23] = "dup", \
    [24] = "dup3", \
    [25] = "fcntl", \
    [26] = "inotify_init1", \
    [27] = "inotify_add_watch", \
    [28] = "inotify_rm_watch", \
    [29] = "ioctl", \
    [30] = "ioprio_set", \
    [31] = "ioprio_get", \
    [32] = "flock", \
    [33] = "mknodat", \
    [34] = "mkdirat", \
    [35] = "unlinkat", \
    [36] = "symlinkat", \
    [37] = "linkat", \
    [39] = "umount2", \
    [40] = "mount", \
    [41] = "pivot_root", \
    [42] = "nfsservctl", \
    [43] = "statfs", \
    [44] = "fstatfs", \
    [45] = "truncate", \
    [46] = "ftruncate", \
    [47] = "fallocate", \
    [48] = "faccessat", \
    [49] = "chdir", \
    [50] = "fchdir", \
    [51] = "chroot", \
    [52] = "fchmod", \
    [53] = "fchmodat", \
    [54] = "fchownat", \
    [55] = "fchown", \
    [56] = "openat", \
    [57] = "close", \
    [58] = "vhangup", \
    [59] = "pipe2", \
    [60] = "quotactl", \
    [61] = "getdents64", \
    [62] = "lseek", \
    [63] = "read", \
    [64] = "write", \
    [65] = "readv", \
    [66] = "writev", \
    [67] = "pread64", \
    [68] = "pwrite64", \
    [69] = "preadv", \
    [70] = "pwritev", \
    [71] = "sendfile", \
    [72] = "pselect6", \
    [73] = "ppoll", \
    [74] = "signalfd4", \
    [75] = "vmsplice", \
    [76] = "splice", \
    [77] = "tee", \
    [78] = "readlinkat", \
    [79] = "newfstatat", \
    [80] = "fstat", \
    [81] = "sync", \
    [82] = "fsync", \
    [83] = "fdatasync", \
    [84] = "sync_file_range", \
    [85] = "timerfd_create", \
    [86] = "timerfd_settime", \
    [87] = "timerfd_gettime", \
    [88] = "utimensat", \
    [89] = "acct", \
    [90] = "capget", \
    [91] = "capset", \
    [92] = "personality", \
    [93] = "exit", \
    [94] = "exit_group", \
    [95] = "waitid", \
    [96] = "set_tid_address", \
    [97] = "unshare", \
    [98] = "futex", \
    [99] = "set_robust_list", \
    [100] = "get_robust_list", \
    [101] = "nanosleep", \
    [102] = "getitimer", \
    [103] = "setitimer", \
    [104] = "kexec_load", \
    [105] = "init_module", \
    [106] = "delete_module", \
    [107] = "timer_create", \
    [108] = "timer_gettime", \
    [109] = "timer_getoverrun", \
    [110] = "timer_settime", \
    [111] = "timer_delete", \
    [112] = "clock_settime", \
    [113] = "clock_gettime", \
    [114] = "clock_getres", \
    [115] = "clock_nanosleep", \
    [116] = "syslog", \
    [117] = "ptrace", \
    [118] = "sched_setparam", \
    [119] = "sched_setscheduler", \
    [120] = "sched_getscheduler", \
    [121] = "sched_getparam", \
    [122] = "sched_setaffinity", \
    [123] = "sched_getaffinity", \
    [124] = "sched_yield", \
    [125] = "sched_get_priority_max", \
    [126] = "sched_get_priority_min", \
    [127] = "sched_rr_get_interval", \
    [128] = "restart_syscall", \
    [129] = "kill", \
    [130] = "tkill", \
    [131] = "tgkill", \
    [132] = "sigaltstack", \
    [133] = "rt_sigsuspend", \
    [134] = "rt_sigaction", \
    [135] = "rt_sigprocmask", \
    [136] = "rt_sigpending", \
    [137] = "rt_sigtimedwait", \
    [138] = "rt_sigqueueinfo", \
    [139] = "rt_sigreturn", \
    [140] = "setpriority", \
    [141] = "getpriority", \
    [142] = "reboot", \
    [143] = "setregid", \
    [144] = "setgid", \
    [145] = "setreuid", \
    [146] = "setuid", \
    [147] = "setresuid", \
    [148] = "getresuid", \
    [149] = "setresgid", \
    [150] = "getresgid", \
    [151] = "setfsuid", \
    [152] = "setfsgid", \
    [153] = "times", \
    [154] = "setpgid", \
    [155] = "getpgid", \
    [156] = "getsid", \
    [157] = "setsid", \
    [158] = "getgroups", \
    [159] = "setgroups", \
    [160] = "uname", \
    [161] = "sethostname", \
    [162] = "setdomainname", \
    [163] = "getrlimit", \
    [164] = "setrlimit", \
    [165] = "getrusage", \
    [166] = "umask", \
    [167] = "prctl", \
    [168] = "getcpu", \
    [169] = "gettimeofday", \
    [170] = "settimeofday", \
    [171] = "adjtimex", \
    [172] = "getpid", \
    [173] = "getppid", \
    [174] = "getuid", \
    [175] = "geteuid", \
    [176] = "getgid", \
    [177] = "getegid", \
    [178] = "gettid", \
    [179] = "sysinfo", \
    [180] = "mq_open", \
    [181] = "mq_unlink", \
    [182] = "mq_timedsend", \
    [183] = "mq_timedreceive", \
    [184] = "mq_notify", \
    [185] = "mq_getsetattr", \
    [186] = "msgget", \
    [187] = "msgctl", \
    [188] = "msgrcv", \
    [189] = "msgsnd", \
    [190] = "semget", \
    [191] = "semctl", \
    [192] = "semtimedop", \
    [193] = "semop", \
    [194] = "shmget", \
    [195] = "shmctl", \
    [196] = "shmat", \
    [197] = "shmdt", \
    [198] = "socket", \
    [199] = "socketpair", \
    [200] = "bind", \
    [201] = "listen", \
    [202] = "accept", \
    [203] = "connect", \
    [204] = "getsockname", \
    [205] = "getpeername", \
    [206] = "sendto", \
    [207] = "recvfrom", \
    [208] = "setsockopt", \
    [209] = "getsockopt", \
    [210] = "shutdown", \
    [211] = "sendmsg", \
    [212] = "recvmsg", \
    [213] = "readahead", \
    [214] = "brk", \
    [215] = "munmap", \
    [216] = "mremap", \
    [217] = "add_key", \
    [218] = "request_key", \
    [219] = "keyctl", \
    [220] = "clone", \
    [221] = "execve", \
    [222] = "mmap", \
    [223] = "fadvise64", \
    [224] = "swapon", \
    [225] = "swapoff", \
    [226] = "mprotect", \
    [227] = "msync", \
    [228] = "mlock", \
    [229] = "munlock", \
    [230] = "mlockall", \
    [231] = "munlockall", \
    [232] = "mincore", \
    [233] = "madvise", \
    [234] = "remap_file_pages", \
    [235] = "mbind", \
    [236] = "get_mempolicy", \
    [237] = "set_mempolicy", \
    [238] = "migrate_pages", \
    [239] = "move_pages", \
    [240] = "rt_tgsigqueueinfo", \
    [241] = "perf_event_open", \
    [242] = "accept4", \
    [243] = "recvmmsg", \
    [244] = "arch_specific_syscall", \
    [259] = "riscv_flush_icache", \
    [260] = "wait4", \
    [261] = "prlimit64", \
    [262] = "fanotify_init", \
    [263] = "fanotify_mark", \
    [264] = "name_to_handle_at", \
    [265] = "open_by_handle_at", \
    [266] = "clock_adjtime", \
    [267] = "syncfs", \
    [268] = "setns", \
    [269] = "sendmmsg", \
    [270] = "process_vm_readv", \
    [271] = "process_vm_writev", \
    [272] = "kcmp", \
    [273] = "finit_module", \
    [274] = "sched_setattr", \
    [275] = "sched_getattr", \
    [276] = "renameat2", \
    [277] = "seccomp", \
    [278] = "getrandom", \
    [279] = "memfd_create", \
    [280] = "bpf", \
    [281] = "execveat", \
    [282] = "userfaultfd", \
    [283] = "membarrier", \
    [284] = "mlock2", \
    [285] = "copy_file_range", \
    [286] = "preadv2", \
    [287] = "pwritev2", \
    [288] = "pkey_mprotect", \
    [289] = "pkey_alloc", \
    [290] = "pkey_free", \
    [291] = "statx", \
    [292] = "io_pgetevents", \
    [293] = "rseq", \
    [294] = "kexec_file_load", \
    [424] = "pidfd_send_signal", \
    [425] = "io_uring_setup", \
    [426] = "io_uring_enter", \
    [427] = "io_uring_register", \
    [428] = "open_tree", \
    [429] = "move_mount", \
    [430] = "fsopen", \
    [431] = "fsconfig", \
    [432] = "fsmount", \
    [433] = "fspick", \
    [434] = "pidfd_open", \
    [435] = "clone3", \
    [436] = "close_range", \
    [437] = "openat2", \
    [438] = "pidfd_getfd", \
    [439] = "faccessat2", \
    [440] = "process_madvise", \
    [441] = "epoll_pwait2", \
    [442] = "mount_setattr", \
    [443] = "quotactl_fd", \
    [444] = "landlock_create_ruleset", \
    [445] = "landlock_add_rule", \
    [446] = "landlock_restrict_self", \
    [447] = "memfd_secret", \
    [448] = "process_mrelease", \
    [449] = "futex_waitv", \
    [450] = "set_mempolicy_home_node", \
    [451] = "syscalls", \

#endif
