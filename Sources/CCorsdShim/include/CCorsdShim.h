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

/* TLS through OpenSSL 3. OpenSSL's headers stay in shim.c: Swift sees opaque pointers and
   these calls only. Every call clears OpenSSL's per-thread error queue before and after, so
   Dispatch threads shared by many connections never see one another's errors. */
struct ssl_ctx_st;
struct ssl_st;
struct ssl_session_st;

/// Results of corsd_tls_read/corsd_tls_write below zero.
static const long corsd_TLS_WANT_READ = -1;
static const long corsd_TLS_WANT_WRITE = -2;
static const long corsd_TLS_FAILED = -3;

/// A server context: TLS 1.2-1.3, server cipher preference, ALPN http/1.1, session tickets,
/// the certificate chain and key from PEM files; with client_ca, client certificates are
/// requested and verified against it (not required: routes decide). NULL and a message in
/// err on failure.
struct ssl_ctx_st *corsd_tls_server_ctx(const char *cert, const char *key, const char *client_ca, char *err, size_t errlen);
/// A client context verifying peers against the CA bundle in ca_pem (PEM text, ca_len bytes)
/// or, when ca_pem is NULL, the system trust store; with cert and key (PEM files), it presents
/// that client certificate to servers that ask (mTLS). pin_leaf: trust exactly the first
/// certificate of ca_pem (a server's own leaf, not a CA: partial chains accepted), for a probe
/// that connects by address and checks no name (client_new with host NULL).
struct ssl_ctx_st *corsd_tls_client_ctx(const char *ca_pem, size_t ca_len, int pin_leaf, const char *cert, const char *key, char *err, size_t errlen);
void corsd_tls_ctx_free(struct ssl_ctx_st *ctx);
/// The notAfter of a server context's certificate, in seconds since the epoch (0 if unknown).
double corsd_tls_ctx_not_after(struct ssl_ctx_st *ctx);

struct ssl_st *corsd_tls_server_new(struct ssl_ctx_st *ctx, int fd);
/// A client session on fd: SNI (names only), host name or IP verification, ALPN http/1.1,
/// and `session` offered for resumption when not NULL. host NULL: no SNI and no name check
/// (only for a pin_leaf context, where the pinned certificate is the identity).
struct ssl_st *corsd_tls_client_new(struct ssl_ctx_st *ctx, int fd, const char *host, struct ssl_session_st *session);
void corsd_tls_free(struct ssl_st *ssl);

/// Bytes read (> 0), 0 at the end of the stream, or one of the corsd_TLS_ codes.
long corsd_tls_read(struct ssl_st *ssl, void *buf, size_t len);
/// Bytes written (> 0) or one of the corsd_TLS_ codes. A write that wanted read or write must
/// be repeated with at least the same bytes.
long corsd_tls_write(struct ssl_st *ssl, const void *buf, size_t len);
/// Why the last corsd_TLS_FAILED on this thread happened (valid until the next TLS call here).
const char *corsd_tls_failure(void);
/// Decrypted or read-ahead bytes held inside OpenSSL (epoll cannot see them).
int corsd_tls_has_pending(struct ssl_st *ssl);
int corsd_tls_handshake_done(struct ssl_st *ssl);
/// Sends close_notify (once; nothing after a failure or before the handshake finished).
void corsd_tls_shutdown(struct ssl_st *ssl);
/// The verified peer certificate's subject (RFC 2253) into buf; its length, or -1 when there
/// is no verified certificate.
int corsd_tls_peer_subject(struct ssl_st *ssl, char *buf, size_t len);
/// "TLSv1.3" and the like.
const char *corsd_tls_protocol(struct ssl_st *ssl);
int corsd_tls_session_reused(struct ssl_st *ssl);
/// The session to offer on the next connection (a reference the caller frees), or NULL.
struct ssl_session_st *corsd_tls_get_session(struct ssl_st *ssl);
void corsd_tls_session_free(struct ssl_session_st *session);
#endif
