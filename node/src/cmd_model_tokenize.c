/*
 * cmd_model_tokenize.c — `aria model tokenize -m FILE [--no-bos] [--raw]
 * [--pieces] TEXT...`: print the token ids of TEXT for the model's tokenizer
 * on one line, space-separated, with BOS when the model adds it (as the
 * engine tokenizes a prompt). Several TEXT arguments are joined with single
 * spaces; TEXT "-" reads standard input (all of it, bytes as they are).
 * --no-bos: no BOS/EOS; --raw: special-token texts like <|eot_id|> are
 * plain text; --pieces: a second line with each token's piece, quoted.
 * Only the GGUF metadata is read (no weights are touched).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kernels.h"

static const cli_verb *
verb(void)
{
    return cli_verb_find("model");
}

/* Read all of stdin into b. */
static int
read_stdin(aria_buf *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        if (aria_buf_put(b, chunk, n) < 0)
            return b->err;
    if (ferror(stdin))
        return aria_errf(ARIA_EIO, "reading standard input failed");
    return 0;
}

static void
print_piece(const kern_tok *t, int32_t id)
{
    char p[KERN_TOK_MAX_PIECE];
    int n = kern_tok_piece(t, id, true, p, sizeof p);
    putchar('"');
    if (n > (int)sizeof p)
        n = (int)sizeof p;
    /* Complete UTF-8 characters print as they are; control characters,
     * quotes and bytes that are not part of a valid sequence are escaped. */
    for (int i = 0; i < n;) {
        unsigned char c = (unsigned char)p[i];
        int len = c < 0x80             ? 1
                  : (c & 0xE0) == 0xC0 ? 2
                  : (c & 0xF0) == 0xE0 ? 3
                  : (c & 0xF8) == 0xF0 ? 4
                                       : 0;
        bool ok = len > 0 && i + len <= n && !(len == 2 && c < 0xC2);
        for (int k = 1; ok && k < len; k++)
            ok = ((unsigned char)p[i + k] & 0xC0) == 0x80;
        if (!ok) {
            printf("\\x%02x", c);
            i++;
        } else if (c == '"' || c == '\\') {
            printf("\\%c", c);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            printf("\\x%02x", c);
            i++;
        } else {
            fwrite(p + i, 1, (size_t)len, stdout);
            i += len;
        }
    }
    putchar('"');
}

int
cmd_model_tokenize(int argc, char **argv)
{
    const char *path = NULL;
    bool add_special = true, parse_special = true, pieces = false;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error(verb(), "model tokenize: -m needs a FILE");
            path = argv[++i];
        } else if (strcmp(a, "--no-bos") == 0) {
            add_special = false;
        } else if (strcmp(a, "--raw") == 0) {
            parse_special = false;
        } else if (strcmp(a, "--pieces") == 0) {
            pieces = true;
        } else if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (a[0] == '-' && a[1] != 0) {
            char msg[160];
            aria_snprintf(msg, sizeof msg, "model tokenize: unknown option '%s'", a);
            return cli_usage_error(verb(), msg);
        } else {
            break;
        }
    }
    if (!path)
        return cli_usage_error(verb(), "model tokenize: missing -m FILE");
    if (i >= argc)
        return cli_usage_error(verb(), "model tokenize: missing TEXT");

    aria_buf text;
    aria_buf_init(&text, 0);
    int rc = 0;
    if (argc - i == 1 && strcmp(argv[i], "-") == 0) {
        rc = read_stdin(&text);
    } else {
        for (int k = i; k < argc; k++) {
            if (k > i)
                aria_buf_put_u8(&text, ' ');
            aria_buf_put(&text, argv[k], strlen(argv[k]));
        }
        rc = text.err;
    }
    if (rc < 0) {
        aria_buf_fini(&text);
        return cli_fail(rc, "model tokenize");
    }

    kern_gguf *g = NULL;
    kern_tok *t = NULL;
    int32_t *ids = NULL;
    rc = kern_gguf_open(path, &g);
    if (rc == 0)
        rc = kern_tok_from_gguf(g, &t);
    size_t n = 0;
    unsigned flags =
        (add_special ? KERN_TOK_ADD_SPECIAL : 0u) | (parse_special ? KERN_TOK_PARSE_SPECIAL : 0u);
    if (rc == 0) {
        rc = kern_tok_encode_ex(t, (const char *)text.data, text.len, flags, NULL, 0, &n);
        if (rc == ARIA_ERANGE || rc == 0) {
            ids = aria_alloc_array(n ? n : 1, sizeof *ids);
            rc = ids ? kern_tok_encode_ex(t, (const char *)text.data, text.len, flags, ids, n, &n)
                     : ARIA_ENOMEM;
        }
    }
    if (rc == 0) {
        for (size_t k = 0; k < n; k++)
            printf("%s%d", k ? " " : "", ids[k]);
        putchar('\n');
        if (pieces) {
            for (size_t k = 0; k < n; k++) {
                if (k)
                    putchar(' ');
                print_piece(t, ids[k]);
            }
            putchar('\n');
        }
        if (fflush(stdout) != 0)
            rc = aria_errf(ARIA_EIO, "writing standard output failed");
    }
    aria_free(ids);
    kern_tok_free(t);
    kern_gguf_close(g);
    aria_buf_fini(&text);
    if (rc < 0) {
        char ctx[512];
        aria_snprintf(ctx, sizeof ctx, "model tokenize %s", path);
        return cli_fail(rc, ctx);
    }
    return 0;
}
