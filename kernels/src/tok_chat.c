/*
 * tok_chat.c — chat templates for the supported families and the heuristics
 * that pick one for a model. The strings follow llama.cpp's built-in
 * templates ("llama2", "llama3") and the BitNet b1.58 2B-4T template from the
 * model's tokenizer_config ("Role: content<|eot_id|>" per message, then
 * "Assistant: "). The BOS token is never written here: the tokenizer adds it.
 */
#include <string.h>

#include "tok_impl.h"

static bool
has(const char *s, const char *needle)
{
    return s && strstr(s, needle) != NULL;
}

kern_chat_tmpl
kern_chat_detect(const char *tmpl, const char *arch, const kern_tok *t)
{
    if (tmpl && *tmpl) {
        if (strcmp(tmpl, "llama2") == 0 || strcmp(tmpl, "llama3") == 0 ||
            strcmp(tmpl, "bitnet") == 0) {
            kern_chat_tmpl k;
            if (kern_chat_tmpl_parse(tmpl, &k) == 0)
                return k;
        }
        if (has(tmpl, "<|start_header_id|>") && has(tmpl, "<|end_header_id|>"))
            return KERN_CHAT_LLAMA3;
        if (has(tmpl, "[INST]"))
            return KERN_CHAT_LLAMA2;
        if (has(tmpl, "Assistant: ") && has(tmpl, "<|eot_id|>"))
            return KERN_CHAT_BITNET;
    }
    if (arch && (strcmp(arch, "bitnet-b1.58") == 0 || strcmp(arch, "bitnet-25") == 0))
        return KERN_CHAT_BITNET;
    if (t) {
        if (kern_tok_find(t, "<|start_header_id|>", 19) >= 0)
            return KERN_CHAT_LLAMA3;
        if (kern_tok_kind_of(t) == KERN_TOK_SPM)
            return KERN_CHAT_LLAMA2;
    }
    return KERN_CHAT_UNKNOWN;
}

kern_chat_tmpl
kern_chat_detect_gguf(const kern_gguf *g, const kern_tok *t)
{
    const char *tmpl = NULL;
    size_t len;
    if (kern_gguf_get_str(g, "tokenizer.chat_template", &tmpl, &len) < 0)
        tmpl = NULL;
    return kern_chat_detect(tmpl, kern_gguf_arch(g), t);
}

const char *
kern_chat_tmpl_name(kern_chat_tmpl k)
{
    switch (k) {
    case KERN_CHAT_LLAMA2: return "llama2";
    case KERN_CHAT_LLAMA3: return "llama3";
    case KERN_CHAT_BITNET: return "bitnet";
    case KERN_CHAT_UNKNOWN: break;
    }
    return "unknown";
}

int
kern_chat_tmpl_parse(const char *name, kern_chat_tmpl *out)
{
    for (int k = KERN_CHAT_LLAMA2; k <= KERN_CHAT_BITNET; k++)
        if (strcmp(name, kern_chat_tmpl_name((kern_chat_tmpl)k)) == 0) {
            *out = (kern_chat_tmpl)k;
            return 0;
        }
    return aria_errf(ARIA_EINVAL, "chat template '%s' is not one of llama2, llama3, bitnet", name);
}

/* ASCII-whitespace trim, as llama.cpp's trim(). */
static void
trim(const char *s, const char **b, size_t *n)
{
    size_t l = strlen(s), i = 0;
    while (i < l && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')))
        i++;
    while (l > i && (s[l - 1] == ' ' || (s[l - 1] >= '\t' && s[l - 1] <= '\r')))
        l--;
    *b = s + i;
    *n = l - i;
}

static int
role_of(const char *r)
{
    if (r && strcmp(r, "system") == 0)
        return 0;
    if (r && strcmp(r, "user") == 0)
        return 1;
    if (r && strcmp(r, "assistant") == 0)
        return 2;
    return -1;
}

static int
fmt_llama2(const kern_chat_msg *m, size_t n, aria_buf *out)
{
    /* llama.cpp "llama2-sys": the first [INST] follows the tokenizer's BOS. */
    bool inside = true;
    aria_buf_printf(out, "[INST] ");
    for (size_t i = 0; i < n; i++) {
        int r = role_of(m[i].role);
        if (!inside) {
            inside = true;
            aria_buf_printf(out, "[INST] ");
        }
        if (r == 0)
            aria_buf_printf(out, "<<SYS>>\n%s\n<</SYS>>\n\n", m[i].content);
        else if (r == 1)
            aria_buf_printf(out, "%s [/INST]", m[i].content);
        else {
            aria_buf_printf(out, "%s</s>", m[i].content);
            inside = false;
        }
    }
    return out->err;
}

static int
fmt_llama3(const kern_chat_msg *m, size_t n, bool add_ass, aria_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        const char *b;
        size_t l;
        trim(m[i].content, &b, &l);
        aria_buf_printf(out, "<|start_header_id|>%s<|end_header_id|>\n\n", m[i].role);
        aria_buf_put(out, b, l);
        aria_buf_printf(out, "<|eot_id|>");
    }
    if (add_ass)
        aria_buf_printf(out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return out->err;
}

static int
fmt_bitnet(const kern_chat_msg *m, size_t n, bool add_ass, aria_buf *out)
{
    static const char *const names[] = {"System", "User", "Assistant"};
    for (size_t i = 0; i < n; i++) {
        const char *b;
        size_t l;
        trim(m[i].content, &b, &l);
        aria_buf_printf(out, "%s: ", names[role_of(m[i].role)]);
        aria_buf_put(out, b, l);
        aria_buf_printf(out, "<|eot_id|>");
    }
    if (add_ass)
        aria_buf_printf(out, "Assistant: ");
    return out->err;
}

int
kern_chat_format(kern_chat_tmpl k, const kern_chat_msg *msgs, size_t n, bool add_assistant,
                 aria_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (role_of(msgs[i].role) < 0)
            return aria_errf(ARIA_EINVAL,
                             "chat: message %zu has role '%s' (want system, user "
                             "or assistant)",
                             i, msgs[i].role ? msgs[i].role : "(null)");
        if (!msgs[i].content)
            return aria_errf(ARIA_EINVAL, "chat: message %zu has no content", i);
    }
    switch (k) {
    case KERN_CHAT_LLAMA2: return fmt_llama2(msgs, n, out);
    case KERN_CHAT_LLAMA3: return fmt_llama3(msgs, n, add_assistant, out);
    case KERN_CHAT_BITNET: return fmt_bitnet(msgs, n, add_assistant, out);
    case KERN_CHAT_UNKNOWN: break;
    }
    return aria_errf(ARIA_EINVAL, "chat: no template for this model");
}
