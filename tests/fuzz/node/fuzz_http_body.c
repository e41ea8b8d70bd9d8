/* fuzz_http_body.c — OpenAI request bodies (completions and chat) through
 * the same parser the HTTP API uses. The first byte picks the route. */
#include <stdint.h>

#include "http.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    node_completion_req r;
    json_t *root = NULL;
    if (node_api_parse_request((const char *)data + 1, size - 1, data[0] & 1, &r, &root) == 0)
        json_decref(root);
    return 0;
}
