/*
 * An LD_PRELOAD shim that makes fdatasync/fsync of a broker's segment files (*.log) misbehave
 * on demand, for tests of what the broker does when the disk does: no disk fails when asked,
 * and device-mapper (dm-flakey, dm-error) is not available in the test environment.
 *
 * Controlled by files in the directory named by RUNNEL_FSYNC_FAULT_DIR:
 *   hold  while it exists, the fsync waits (the data is written but not yet durable);
 *         bounded to 60 s so a test that dies never leaves a broker hung forever;
 *   fail  while it exists, the fsync fails with EIO without syncing anything.
 * Other files and directories are synced normally.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int is_segment_file(int fd) {
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 4) return 0;
    target[n] = 0;
    return strcmp(target + n - 4, ".log") == 0;
}

static int control_file_exists(const char *name) {
    const char *dir = getenv("RUNNEL_FSYNC_FAULT_DIR");
    if (!dir) return 0;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* 0 to go on with the real call, -1 (errno EIO) to fail it. */
static int inject(int fd) {
    if (!is_segment_file(fd)) return 0;
    for (int waited = 0; waited < 6000 && control_file_exists("hold"); waited++) usleep(10000);
    if (control_file_exists("fail")) {
        errno = EIO;
        return -1;
    }
    return 0;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (inject(fd) != 0) return -1;
    return real(fd);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    if (inject(fd) != 0) return -1;
    return real(fd);
}
