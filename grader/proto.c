/* proto.c - the table of the grader's protocols (see proto.h): a stage's
 * framing is one struct proto_ops in a file of its own and one line here. */
#include "proto.h"

#include <stdio.h>
#include <string.h>

static const struct proto_ops *const protocols[] = {
    &proto_len_ops,           /* stage 3: proto_len.c  */
    &proto_json_ops,          /* stage 4: proto_json.c */
    &proto_ft_ops,            /* stage 5: proto_ft.c   */
};
#define N_PROTOCOLS (sizeof protocols / sizeof protocols[0])

const struct proto_ops *proto_ops(unsigned proto)
{
    for (size_t i = 0; i < N_PROTOCOLS; i++)
        if (protocols[i]->bit == proto)
            return protocols[i];
    return NULL;
}

const struct proto_ops *proto_find(const char *name)
{
    for (size_t i = 0; i < N_PROTOCOLS; i++)
        if (strcmp(protocols[i]->name, name) == 0)
            return protocols[i];
    return NULL;
}

const char *proto_name(unsigned proto)
{
    const struct proto_ops *ops = proto_ops(proto);
    return ops ? ops->name : "?";
}

void proto_names(const char *sep, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_PROTOCOLS && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? sep : "",
                                 protocols[i]->name);
}
