// New-connection rate through a mode tcp proxy: K connections in flight, each connects, sends one
// payload (a ClientHello captured from openssl s_client, so SNI rules have something to read),
// waits for the first byte of the echo behind the proxy, closes, and is replaced. Prints
// "conns/s" over the run. Single thread, epoll, non-blocking; pin it with taskset.
//   cc -O2 -o connrate connrate.c && ./connrate 127.0.0.1 PORT hello.bin SECONDS CONCURRENCY
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char payload[65536];
static size_t payload_len;
static struct sockaddr_in dst;
static int ep;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

// state per fd: 0 = connecting, 1 = waiting for the reply
static unsigned char state[1 << 20];

static void start_one(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) { perror("socket"); exit(1); }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct linger lg = {1, 0};  // close with RST: no TIME_WAIT pile-up on the client side
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (connect(fd, (struct sockaddr*)&dst, sizeof dst) < 0 && errno != EINPROGRESS) { perror("connect"); exit(1); }
    state[fd] = 0;
    struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int main(int argc, char** argv) {
    if (argc != 6) { fprintf(stderr, "usage: %s ADDR PORT PAYLOAD SECONDS CONCURRENCY\n", argv[0]); return 2; }
    dst.sin_family = AF_INET;
    dst.sin_port = htons(atoi(argv[2]));
    inet_pton(AF_INET, argv[1], &dst.sin_addr);
    FILE* f = fopen(argv[3], "rb");
    if (!f) { perror(argv[3]); return 2; }
    payload_len = fread(payload, 1, sizeof payload, f);
    fclose(f);
    const double secs = atof(argv[4]);
    const int conc = atoi(argv[5]);
    ep = epoll_create1(0);
    for (int i = 0; i < conc; ++i) start_one();
    long done = 0, failed = 0;
    const double t0 = now(), end = t0 + secs;
    struct epoll_event evs[256];
    char buf[65536];
    while (now() < end) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; ++i) {
            int fd = evs[i].data.fd;
            if (state[fd] == 0) {
                int err = 0;
                socklen_t l = sizeof err;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err || send(fd, payload, payload_len, MSG_NOSIGNAL) != (ssize_t)payload_len) {
                    ++failed;
                    close(fd);
                    start_one();
                    continue;
                }
                state[fd] = 1;
                struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
            } else {
                ssize_t r = recv(fd, buf, sizeof buf, 0);
                if (r > 0) ++done; else ++failed;
                close(fd);
                start_one();
            }
        }
    }
    const double t = now() - t0;
    printf("%.0f conns/s (%ld done, %ld failed, %.2fs)\n", done / t, done, failed, t);
    return 0;
}
