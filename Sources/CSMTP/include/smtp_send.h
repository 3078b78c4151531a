#ifndef RECONCILE_SMTP_SEND_H
#define RECONCILE_SMTP_SEND_H

#include <stddef.h>

/// Sends one message over SMTP with libcurl (curl_easy_setopt is variadic, so it is called from C).
/// `url` is smtp://host:port; `starttls` requires STARTTLS; `username`/`password` may be NULL.
/// Returns 0 when the server accepted the message. Otherwise a libcurl error code, with the last
/// SMTP reply code in `*smtp_code` (0 when none) and a message in `error` (NUL-terminated).
int reconcile_smtp_send(const char *url, int starttls, const char *username, const char *password,
                        const char *from, const char *const *to, int to_count, const char *message,
                        size_t message_length, long timeout_seconds, long *smtp_code, char *error,
                        size_t error_capacity);

#endif
