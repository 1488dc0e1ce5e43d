/* Creates a TCP socket and prints the result (denied without --net). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int main(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    printf("socket: %s\n", s < 0 ? strerror(errno) : "OK");
    return 0;
}
