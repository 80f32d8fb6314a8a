#define _GNU_SOURCE
#include "CCorsdShim.h"
#include <stdlib.h>

int corsd_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int corsd_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

int corsd_epoll_wait(int epfd, uint32_t *masks, uint64_t *datas, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        masks[i] = evs[i].events;
        datas[i] = evs[i].data.u64;
    }
    return n;
}

int corsd_accept4(int fd, struct sockaddr *addr, socklen_t *len) {
    return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int corsd_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int corsd_socket_nonblocking(int domain, int type) {
    return socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}
