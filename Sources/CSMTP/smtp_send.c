#include "smtp_send.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

struct reader {
    const char *data;
    size_t remaining;
};

static size_t read_message(char *buffer, size_t size, size_t count, void *context) {
    struct reader *reader = context;
    size_t room = size * count;
    size_t length = reader->remaining < room ? reader->remaining : room;
    memcpy(buffer, reader->data, length);
    reader->data += length;
    reader->remaining -= length;
    return length;
}

int reconcile_smtp_send(const char *url, int starttls, const char *username, const char *password,
                        const char *from, const char *const *to, int to_count, const char *message,
                        size_t message_length, long timeout_seconds, long *smtp_code, char *error,
                        size_t error_capacity) {
    *smtp_code = 0;
    if (error_capacity > 0) error[0] = 0;
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(error, error_capacity, "cannot initialise libcurl");
        return CURLE_FAILED_INIT;
    }
    char curl_error[CURL_ERROR_SIZE] = {0};
    struct curl_slist *recipients = NULL;
    for (int index = 0; index < to_count; index++) recipients = curl_slist_append(recipients, to[index]);
    struct reader reader = {message, message_length};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, recipients);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_message);
    curl_easy_setopt(curl, CURLOPT_READDATA, &reader);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_seconds);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, timeout_seconds);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    if (starttls) curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (username) curl_easy_setopt(curl, CURLOPT_USERNAME, username);
    if (password) curl_easy_setopt(curl, CURLOPT_PASSWORD, password);
    CURLcode result = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, smtp_code);
    if (result != CURLE_OK) {
        snprintf(error, error_capacity, "%s", curl_error[0] ? curl_error : curl_easy_strerror(result));
    }
    curl_slist_free_all(recipients);
    curl_easy_cleanup(curl);
    return (int)result;
}
