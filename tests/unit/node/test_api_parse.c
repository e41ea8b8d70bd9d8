/* OpenAI request parsing: accepted shapes, and a clear error naming the
 * field for each kind of bad input. */
#include <criterion/criterion.h>
#include <string.h>

#include "http.h"

static int
parse(const char *body, int chat, node_completion_req *r, json_t **root)
{
    return node_api_parse_request(body, strlen(body), chat, r, root);
}

Test(api, completion_request_fields)
{
    node_completion_req r;
    json_t *root;
    cr_assert_eq(parse("{\"model\":\"m\",\"prompt\":\"hi\",\"max_tokens\":5,\"temperature\":0,"
                       "\"top_p\":0.9,\"top_k\":3,\"seed\":42,\"stop\":[\"a\",\"b\"],"
                       "\"stream\":true,\"aria\":{\"local\":true,\"max_price\":9}}",
                       0, &r, &root),
                 0, "%s", aria_err_msg());
    cr_assert_str_eq(r.model, "m");
    cr_assert_str_eq(r.prompt, "hi");
    cr_assert_eq(r.max_tokens, 5);
    cr_assert_float_eq(r.temperature, 0.0, 1e-9);
    cr_assert_eq(r.top_k, 3);
    cr_assert(r.has_seed);
    cr_assert_eq(r.seed, 42);
    cr_assert_eq(r.n_stop, 2);
    cr_assert(r.stream);
    cr_assert(r.local);
    cr_assert_eq(r.max_price_micro, 9);
    json_decref(root);
}

Test(api, chat_request_messages)
{
    node_completion_req r;
    json_t *root;
    cr_assert_eq(parse("{\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                       "{\"role\":\"user\",\"content\":\"hello\"}]}",
                       1, &r, &root),
                 0, "%s", aria_err_msg());
    cr_assert_eq(r.n_messages, 2);
    cr_assert_str_eq(r.messages[1].content, "hello");
    cr_assert_null(r.model);
    json_decref(root);
}

Test(api, bad_requests_name_the_problem)
{
    struct {
        const char *body;
        int chat;
        const char *want;
    } cases[] = {
        {"{not json", 0, "not valid JSON"},
        {"[1,2]", 0, "JSON object"},
        {"{\"prompt\":5}", 0, "'prompt'"},
        {"{}", 0, "'prompt'"},
        {"{\"prompt\":\"x\",\"max_tokens\":0}", 0, "'max_tokens'"},
        {"{\"prompt\":\"x\",\"max_tokens\":\"5\"}", 0, "'max_tokens'"},
        {"{\"prompt\":\"x\",\"temperature\":3}", 0, "'temperature'"},
        {"{\"prompt\":\"x\",\"stream\":1}", 0, "'stream'"},
        {"{\"prompt\":\"x\",\"stop\":[1]}", 0, "stop[0]"},
        {"{\"prompt\":\"x\",\"n\":2}", 0, "'n'"},
        {"{\"prompt\":\"x\",\"model\":\"\"}", 0, "'model'"},
        {"{\"prompt\":\"x\",\"prompt\":\"y\"}", 0, "duplicate"},
        {"{\"messages\":[]}", 1, "'messages'"},
        {"{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", 1, "wizard"},
        {"{\"messages\":[{\"role\":\"user\"}]}", 1, "messages[0].content"},
        {"{\"prompt\":\"x\",\"aria\":{\"local\":\"yes\"}}", 0, "'local'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        node_completion_req r;
        json_t *root = NULL;
        int rc = parse(cases[i].body, cases[i].chat, &r, &root);
        cr_assert_eq(rc, ARIA_EINVAL, "case %zu (%s) accepted", i, cases[i].body);
        cr_assert(strstr(aria_err_msg(), cases[i].want) != NULL, "case %zu: '%s' lacks '%s'", i,
                  aria_err_msg(), cases[i].want);
    }
}
