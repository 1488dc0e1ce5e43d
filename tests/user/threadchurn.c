/*
 * Threads made and joined one after another (a thread pool that keeps
 * shrinking and growing): each guest thread is a hart with its own tables in
 * kiln, so creating and ending one must stay cheap however large the
 * process VM's address space is. Prints the sum the threads computed.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void *work(void *arg)
{
    uintptr_t n = (uintptr_t)arg, s = 0;
    for (uintptr_t i = 0; i < 1000; i++)
        s += i * n;
    return (void *)s;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
        pthread_t t;
        void *r;
        if (pthread_create(&t, NULL, work, (void *)(uintptr_t)i) || pthread_join(t, &r))
            return 1;
        sum += (uintptr_t)r;
    }
    printf("%d threads, sum %llu\n", n, (unsigned long long)sum);
    return 0;
}
