/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <json-c/json.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "curl-event.h"

/* A small etcd v3 client over its JSON gateway (POST /v3/...), on the sd-event loop. Several
 * endpoints: a call that meets a transport error, a 5xx or a timeout moves on to the next one
 * within its time budget, and the endpoint that answered stays the first choice. Optional TLS and
 * auth (username, password file -> /v3/auth/authenticate token, renewed when refused). */
static inline void json_object_putp(json_object **o)
{
        if (*o)
                json_object_put(*o);
}

typedef struct Etcd Etcd;
typedef struct EtcdCall EtcdCall;

/* result 0: reply is etcd's JSON answer (borrowed for the callback). Otherwise -ETIMEDOUT,
 * -ECONNREFUSED, -EIO (no endpoint answered), -EPROTO (etcd refused the request; error says why)
 * or -EACCES (authentication failed). */
typedef void (*etcd_done_t)(EtcdCall *call, int result, json_object *reply, const char *error,
                            void *userdata);

/* Reads the password file, if any: -errno with *ret_error set when that fails. */
int etcd_new(sd_event *e, const ConfigArbiter *cfg, Etcd **ret, char **ret_error);
Etcd *etcd_free(Etcd *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(Etcd *, etcd_free);

/* Takes body in every case. timeout bounds the whole call, every endpoint tried included. done is
 * never called from inside this call. */
int etcd_call(Etcd *e, const char *path, json_object *body, usec_t timeout, etcd_done_t done,
              void *userdata, EtcdCall **ret);
void etcd_call_cancel(EtcdCall *c);
const char *etcd_current_endpoint(const Etcd *e);

/* Helpers for the gateway's encoding: 64-bit numbers are JSON strings, keys and values base64. */
int64_t etcd_json_int64(json_object *o, const char *key);
char *etcd_base64_encode(const void *data, size_t size);
/* NUL-terminated; -EINVAL if s is not base64. */
int etcd_base64_decode(const char *s, char **ret, size_t *ret_size);
