#ifndef CCORSD_SHIM_H
#define CCORSD_SHIM_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>

/// The epoll event mask values as plain integers (the Glibc module imports them as enum cases).
static const uint32_t corsd_EPOLLIN = EPOLLIN;
static const uint32_t corsd_EPOLLOUT = EPOLLOUT;
static const uint32_t corsd_EPOLLRDHUP = EPOLLRDHUP;
static const uint32_t corsd_EPOLLHUP = EPOLLHUP;
static const uint32_t corsd_EPOLLERR = EPOLLERR;
static const uint32_t corsd_EPOLLONESHOT = EPOLLONESHOT;

int corsd_epoll_create(void);
int corsd_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// Waits for events; fills parallel arrays of masks and user data. Returns the count or -1.
int corsd_epoll_wait(int epfd, uint32_t *masks, uint64_t *datas, int max, int timeout_ms);
int corsd_accept4(int fd, struct sockaddr *addr, socklen_t *len);
int corsd_eventfd(void);
int corsd_socket_nonblocking(int domain, int type);
#endif
