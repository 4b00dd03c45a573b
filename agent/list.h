/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* A doubly linked list kept oldest first through the items' own prev and next fields, so
 * connection tables can shed their oldest entry in O(1) and unlink any entry in O(1). */
#define LIST_APPEND(head, tail, item)                                                              \
        do {                                                                                       \
                (item)->prev = (tail);                                                             \
                (item)->next = NULL;                                                               \
                if (tail)                                                                          \
                        (tail)->next = (item);                                                     \
                else                                                                               \
                        (head) = (item);                                                           \
                (tail) = (item);                                                                   \
        } while (0)

#define LIST_REMOVE(head, tail, item)                                                              \
        do {                                                                                       \
                if ((item)->prev)                                                                  \
                        (item)->prev->next = (item)->next;                                         \
                else                                                                               \
                        (head) = (item)->next;                                                     \
                if ((item)->next)                                                                  \
                        (item)->next->prev = (item)->prev;                                         \
                else                                                                               \
                        (tail) = (item)->prev;                                                     \
                (item)->prev = (item)->next = NULL;                                                \
        } while (0)
