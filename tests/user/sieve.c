/* CPU-bound benchmark: prime sieve up to N (argv[1], default 20M), checksum of the primes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 20000000;
    unsigned char *s = malloc((size_t)n + 1);
    if (!s)
        return 1;
    memset(s, 1, (size_t)n + 1);
    s[0] = s[1] = 0;
    for (long i = 2; i * i <= n; i++)
        if (s[i])
            for (long j = i * i; j <= n; j += i)
                s[j] = 0;
    uint64_t count = 0, sum = 0;
    for (long i = 0; i <= n; i++)
        if (s[i]) {
            count++;
            sum = sum * 1000003 + (uint64_t)i;
        }
    printf("primes=%llu checksum=%016llx\n", (unsigned long long)count, (unsigned long long)sum);
    free(s);
    return 0;
}
