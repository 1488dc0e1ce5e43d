/* Prints argc, every argv entry and the KILN_TEST* environment variables. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv, char **envp)
{
    printf("argc=%d\n", argc);
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    for (char **e = envp; *e; e++)
        if (!strncmp(*e, "KILN_TEST", 9))
            printf("env %s\n", *e);
    return 0;
}
