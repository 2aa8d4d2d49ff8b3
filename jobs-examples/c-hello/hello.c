// The C hello job: `greet(name)`, `add(a, b)` and `whoami()` (the job's
// id and attempt, from the context import), dispatched from the `run`
// export that `wit-bindgen c` declares. Arguments arrive as JSON text; the
// tiny reader below takes what these functions need (a string or two
// integers, positional or named). Build with ./build.sh.

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"

// Sets `err` to a job-error of `kind` with `message` (permanent or not).
static bool fail(job_job_error_t *err, const char *kind, const char *message, bool permanent) {
    job_string_dup(&err->kind, kind);
    job_string_dup(&err->message, message);
    err->detail.is_some = false;
    err->permanent = permanent;
    return false;
}

// Sets `ret` to the JSON value `json` (copied).
static bool value(job_outcome_t *ret, const char *json) {
    ret->tag = WASYNC_JOB_TYPES_OUTCOME_VALUE;
    job_string_dup(&ret->val.value, json);
    return true;
}

// The text of `args` as a NUL-terminated copy.
static char *text_of(const job_string_t *s) {
    char *text = malloc(s->len + 1);
    memcpy(text, s->ptr, s->len);
    text[s->len] = '\0';
    return text;
}

// The position after the `n`th value (0-based) of a JSON array, or after
// the key `"name":` of a JSON object; NULL if absent.
static const char *argument(const char *json, int n, const char *name) {
    const char *p = json + strspn(json, " \t\r\n");
    if (*p == '{') {
        char key[64];
        snprintf(key, sizeof key, "\"%s\"", name);
        const char *at = strstr(p, key);
        if (at == NULL) return NULL;
        at = strchr(at + strlen(key), ':');
        return at == NULL ? NULL : at + 1 + strspn(at + 1, " \t\r\n");
    }
    if (*p != '[') return NULL;
    p++;
    for (int i = 0; i < n; i++) {
        p = strchr(p, ',');  // the simple values here contain no commas
        if (p == NULL) return NULL;
        p++;
    }
    p += strspn(p, " \t\r\n");
    return (*p == ']' || *p == '\0') ? NULL : p;
}

// A JSON string without escapes, copied into `out`; false if not one.
static bool string_at(const char *p, char *out, size_t size) {
    if (p == NULL || *p != '"') return false;
    const char *end = strchr(p + 1, '"');
    if (end == NULL || memchr(p + 1, '\\', (size_t)(end - p - 1)) != NULL) return false;
    size_t len = (size_t)(end - p - 1);
    if (len >= size) return false;
    memcpy(out, p + 1, len);
    out[len] = '\0';
    return true;
}

// A JSON integer; false if not one.
static bool integer_at(const char *p, long long *out) {
    if (p == NULL) return false;
    char *end;
    *out = strtoll(p, &end, 10);
    return end != p && strchr(",]} \t\r\n", *end) != NULL;
}

static bool job_greet(const char *args, job_outcome_t *ret, job_job_error_t *err) {
    char name[256], json[300];
    if (!string_at(argument(args, 0, "name"), name, sizeof name)) {
        return fail(err, "bad-arguments", "greet takes one argument `name`, a string", true);
    }
    printf("greeting %s\n", name);
    snprintf(json, sizeof json, "\"Hello, %s!\"", name);
    return value(ret, json);
}

static bool job_add(const char *args, job_outcome_t *ret, job_job_error_t *err) {
    long long a, b;
    char json[64];
    if (!integer_at(argument(args, 0, "a"), &a) || !integer_at(argument(args, 1, "b"), &b)) {
        return fail(err, "bad-arguments", "add takes two integers `a` and `b`", true);
    }
    snprintf(json, sizeof json, "%lld", a + b);
    return value(ret, json);
}

static bool job_whoami(const char *args, job_outcome_t *ret, job_job_error_t *err) {
    (void)args;
    (void)err;
    wasync_job_context_job_info_t info;
    wasync_job_context_get_job(&info);
    char json[256];
    snprintf(json, sizeof json, "{\"id\":\"%.*s\",\"attempt\":%u}", (int)info.id.len,
             (const char *)info.id.ptr, info.attempt);
    wasync_job_types_job_info_free(&info);
    return value(ret, json);
}

static const struct {
    const char *name;
    bool (*call)(const char *args, job_outcome_t *ret, job_job_error_t *err);
} JOBS[] = {
    {"greet", job_greet},
    {"add", job_add},
    {"whoami", job_whoami},
};

bool exports_job_run(job_string_t *function, job_json_t *args, job_outcome_t *ret,
                     job_job_error_t *err) {
    char *name = text_of(function);
    char *json = text_of(args);
    bool ok = false;
    bool found = false;
    for (size_t i = 0; i < sizeof JOBS / sizeof JOBS[0]; i++) {
        if (strcmp(JOBS[i].name, name) == 0) {
            ok = JOBS[i].call(json, ret, err);
            found = true;
            break;
        }
    }
    if (!found) {
        char message[300];
        snprintf(message, sizeof message,
                 "no job function `%.200s` in this module (it has: greet, add, whoami)", name);
        ok = fail(err, "unknown-function", message, true);
    }
    free(name);
    free(json);
    job_string_free(function);
    job_string_free(args);
    return ok;
}
