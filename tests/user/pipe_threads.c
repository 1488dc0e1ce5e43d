/* A writer thread sends 1 MiB through a pipe to the main thread, which checksums it. */
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <unistd.h>

static int fds[2];

static void *writer(void *arg)
{
    (void)arg;
    unsigned char buf[4096];
    for (int i = 0; i < 256; i++) {
        for (int j = 0; j < 4096; j++)
            buf[j] = (unsigned char)(i * 31 + j);
        for (size_t off = 0; off < sizeof(buf);) {
            ssize_t n = write(fds[1], buf + off, sizeof(buf) - off);
            if (n <= 0)
                return NULL;
            off += (size_t)n;
        }
    }
    close(fds[1]);
    return NULL;
}

int main(void)
{
    if (pipe(fds))
        return 1;
    pthread_t t;
    pthread_create(&t, NULL, writer, NULL);
    uint64_t sum = 0, total = 0;
    unsigned char buf[1000];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            sum = sum * 131 + buf[i];
        total += (uint64_t)n;
    }
    pthread_join(t, NULL);
    printf("bytes=%llu sum=%llx\n", (unsigned long long)total, (unsigned long long)sum);
    return 0;
}
