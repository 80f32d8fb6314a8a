#define _GNU_SOURCE
#include "CCorsdShim.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>

/* TLS 1.2 suites: forward secrecy and AEAD only (Mozilla's "intermediate" list). TLS 1.3's
   suites are all of that kind; OpenSSL's defaults stand. */
static const char *const tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

static const unsigned char alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

static __thread char failure[512];

/* The reason for the last failure, with the certificate verification result when that is why. */
static void record_failure(SSL *ssl, int code, const char *fallback) {
    unsigned long e = ERR_peek_last_error();
    long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (ssl && verify != X509_V_OK) {
        snprintf(failure, sizeof failure, "certificate verify failed: %s", X509_verify_cert_error_string(verify));
    } else if (e != 0) {
        char reason[256];
        ERR_error_string_n(e, reason, sizeof reason);
        snprintf(failure, sizeof failure, "%s", reason);
    } else if (code == SSL_ERROR_SYSCALL && errno != 0) {
        snprintf(failure, sizeof failure, "%s", strerror(errno));
    } else {
        snprintf(failure, sizeof failure, "%s", fallback);
    }
    ERR_clear_error();
}

const char *corsd_tls_failure(void) { return failure; }

static void fail_into(char *err, size_t errlen, const char *what) {
    /* The first error queued is the cause ("no start line"); later ones wrap it ("PEM lib"). */
    unsigned long e = ERR_peek_error();
    char reason[256] = "";
    if (e != 0) ERR_error_string_n(e, reason, sizeof reason);
    snprintf(err, errlen, "%s%s%s", what, e ? ": " : "", reason);
    ERR_clear_error();
}

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
    (void)ssl;
    (void)arg;
    unsigned char *selected = NULL;
    if (SSL_select_next_proto(&selected, outlen, alpn_http11, sizeof alpn_http11, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    /* A client offering only other protocols (h2 alone) hears no ALPN answer. */
    return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *new_ctx(const SSL_METHOD *method) {
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx) return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Partial writes and a moving buffer: the outbound queue retries a write from wherever its
       bytes now are. Released buffers: thousands of idle keep-alives and long-polls hold none. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(ctx, 1);
    return ctx;
}

SSL_CTX *corsd_tls_server_ctx(const char *cert, const char *key, const char *client_ca, char *err, size_t errlen) {
    ERR_clear_error();
    SSL_CTX *ctx = new_ctx(TLS_server_method());
    if (!ctx) {
        fail_into(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
        fail_into(err, errlen, "cannot set the cipher list");
        goto fail;
    }
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    /* Resumption by session ID within this context and by stateless tickets (OpenSSL's default
       ticket keys, one set per context: a reload starts new ones). */
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"corsd", 5);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        fail_into(err, errlen, "--tls-cert: cannot load the certificate chain");
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        fail_into(err, errlen, "--tls-key: cannot load the private key");
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        fail_into(err, errlen, "--tls-key does not match the certificate in --tls-cert");
        goto fail;
    }
    if (client_ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca);
        if (!names || SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1) {
            if (names) sk_X509_NAME_pop_free(names, X509_NAME_free);
            fail_into(err, errlen, "--tls-client-ca: cannot load the CA certificates");
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    ERR_clear_error();
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *corsd_tls_client_ctx(const char *ca_pem, size_t ca_len, int pin_leaf, const char *cert, const char *key, char *err, size_t errlen) {
    ERR_clear_error();
    SSL_CTX *ctx = new_ctx(TLS_client_method());
    if (!ctx) {
        fail_into(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_cipher_list(ctx, tls12_ciphers);
    if (SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof alpn_http11) != 0) {
        fail_into(err, errlen, "cannot set ALPN");
        goto fail;
    }
    if (ca_pem) {
        BIO *bio = BIO_new_mem_buf(ca_pem, (int)ca_len);
        STACK_OF(X509_INFO) *infos = bio ? PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        int added = 0;
        for (int i = 0; infos && i < sk_X509_INFO_num(infos) && !(pin_leaf && added); i++) {
            X509_INFO *info = sk_X509_INFO_value(infos, i);
            if (info->x509 && X509_STORE_add_cert(store, info->x509) == 1) added++;
        }
        /* The pinned leaf is a trust anchor though no CA issued it to itself. */
        if (pin_leaf) X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
        if (infos) sk_X509_INFO_pop_free(infos, X509_INFO_free);
        if (added == 0) {
            fail_into(err, errlen, "the CA bundle holds no certificate OpenSSL can read");
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        fail_into(err, errlen, "cannot load the system trust store");
        goto fail;
    }
    if (cert && key) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
            fail_into(err, errlen, "cannot load the client certificate");
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
            fail_into(err, errlen, "cannot load the client key, or it does not match the client certificate");
            goto fail;
        }
    }
    ERR_clear_error();
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void corsd_tls_ctx_free(SSL_CTX *ctx) { SSL_CTX_free(ctx); }

double corsd_tls_ctx_not_after(SSL_CTX *ctx) {
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    struct tm tm;
    if (!cert || ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return 0;
    return (double)timegm(&tm);
}

SSL *corsd_tls_server_new(SSL_CTX *ctx, int fd) {
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx);
    if (!ssl) return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

SSL *corsd_tls_client_new(SSL_CTX *ctx, int fd, const char *host, SSL_SESSION *session) {
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx);
    if (!ssl) return NULL;
    unsigned char probe[16];
    int is_ip = host && (inet_pton(AF_INET, host, probe) == 1 || inet_pton(AF_INET6, host, probe) == 1);
    int ok = SSL_set_fd(ssl, fd) == 1;
    if (!host) {
        /* A pinned-leaf context: the certificate, not a name, is what is checked. */
    } else if (ok && is_ip) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
    } else if (ok) {
        /* SNI carries names only (RFC 6066 §3); the certificate must name the host. */
        ok = SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1;
    }
    if (ok && session) ok = SSL_set_session(ssl, session) == 1;
    if (!ok) {
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

void corsd_tls_free(SSL *ssl) { SSL_free(ssl); }

static long outcome(SSL *ssl, int rc, size_t done) {
    if (rc == 1) return (long)done;
    int code = SSL_get_error(ssl, rc);
    switch (code) {
    case SSL_ERROR_WANT_READ:
        return corsd_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return corsd_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return 0;
    default:
        record_failure(ssl, code, code == SSL_ERROR_SYSCALL ? "connection closed during the TLS exchange" : "TLS failure");
        return corsd_TLS_FAILED;
    }
}

long corsd_tls_read(SSL *ssl, void *buf, size_t len) {
    ERR_clear_error();
    errno = 0;
    size_t n = 0;
    /* SSL_OP_IGNORE_UNEXPECTED_EOF: an EOF without close_notify reads as the end (0), as on a
       plain socket; the HTTP framing above decides whether the message was complete. */
    return outcome(ssl, SSL_read_ex(ssl, buf, len, &n), n);
}

long corsd_tls_write(SSL *ssl, const void *buf, size_t len) {
    ERR_clear_error();
    errno = 0;
    size_t n = 0;
    return outcome(ssl, SSL_write_ex(ssl, buf, len, &n), n);
}

int corsd_tls_has_pending(SSL *ssl) { return SSL_has_pending(ssl); }

int corsd_tls_handshake_done(SSL *ssl) { return SSL_is_init_finished(ssl); }

void corsd_tls_shutdown(SSL *ssl) {
    if (!SSL_is_init_finished(ssl) || (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN)) return;
    ERR_clear_error();
    (void)SSL_shutdown(ssl);
    ERR_clear_error();
}

int corsd_tls_peer_subject(SSL *ssl, char *buf, size_t len) {
    if (len == 0 || SSL_get_verify_result(ssl) != X509_V_OK) return -1;
    X509 *peer = SSL_get0_peer_certificate(ssl);
    if (!peer) return -1;
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return -1;
    X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    int n = BIO_read(bio, buf, (int)(len - 1));
    BIO_free(bio);
    ERR_clear_error();
    if (n < 0) return -1;
    buf[n] = 0;
    return n;
}

const char *corsd_tls_protocol(SSL *ssl) { return SSL_get_version(ssl); }

int corsd_tls_session_reused(SSL *ssl) { return SSL_session_reused(ssl); }

SSL_SESSION *corsd_tls_get_session(SSL *ssl) {
    SSL_SESSION *session = SSL_get1_session(ssl);
    if (session && !SSL_SESSION_is_resumable(session)) {
        SSL_SESSION_free(session);
        return NULL;
    }
    return session;
}

void corsd_tls_session_free(SSL_SESSION *session) { SSL_SESSION_free(session); }
