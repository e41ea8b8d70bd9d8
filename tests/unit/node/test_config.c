/* Node configuration: INI file and flag overrides, with errors that name
 * the file, line and key. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char *
write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/aria-cfg-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(config, file_sets_every_kind_of_key)
{
    node_config c;
    node_config_defaults(&c);
    char *p = write_tmp("[node]\ndata_dir = /tmp/x\ntestnet = true\nlog_level = debug\n"
                        "[gossip]\npeer = tcp://127.0.0.1:1\npeer = tcp://127.0.0.1:2\n"
                        "[http]\nlisten = 127.0.0.1:0\n"
                        "[provider]\nmodel = /m.gguf\nprice = 7\ncapacity = 3\nthreads = 2\n"
                        "int8_head = true\n");
    cr_assert_eq(node_config_load_file(&c, p), 0, "%s", aria_err_msg());
    unlink(p);
    cr_assert_str_eq(c.data_dir, "/tmp/x");
    cr_assert(c.testnet);
    cr_assert_eq(c.log_level, ARIA_LOG_DEBUG);
    cr_assert_eq(c.n_peers, 2);
    cr_assert_str_eq(c.peers[1], "tcp://127.0.0.1:2");
    cr_assert_str_eq(c.http_listen, "127.0.0.1:0");
    cr_assert_eq(c.n_models, 1);
    cr_assert_eq(c.price_micro, 7);
    cr_assert_eq(c.capacity, 3);
    cr_assert(c.int8_head);
}

Test(config, unknown_key_names_file_and_line)
{
    node_config c;
    node_config_defaults(&c);
    char *p = write_tmp("[node]\ndata_dir = /tmp/x\n\n[http]\nlisten = 1.2.3.4:5\nbogus = 1\n");
    cr_assert_eq(node_config_load_file(&c, p), ARIA_EINVAL);
    cr_assert(strstr(aria_err_msg(), p) != NULL, "%s", aria_err_msg());
    cr_assert(strstr(aria_err_msg(), ":6:") != NULL, "%s", aria_err_msg());
    cr_assert(strstr(aria_err_msg(), "http.bogus") != NULL, "%s", aria_err_msg());
    unlink(p);
}

Test(config, bad_values_are_rejected_with_the_key)
{
    node_config c;
    node_config_defaults(&c);
    cr_assert_eq(node_config_set(&c, "provider.capacity", "lots", "--capacity"), ARIA_EINVAL);
    cr_assert(strstr(aria_err_msg(), "--capacity") != NULL, "%s", aria_err_msg());
    cr_assert_eq(node_config_set(&c, "provider.threads", "0", "--threads"), ARIA_EINVAL);
    cr_assert_eq(node_config_set(&c, "node.testnet", "maybe", "x"), ARIA_EINVAL);
    cr_assert_eq(node_config_set(&c, "node.log_level", "loud", "x"), ARIA_EINVAL);
    cr_assert_eq(node_config_set(&c, "http.listen", "", "x"), ARIA_EINVAL);
    cr_assert_eq(node_config_set(&c, "provider.price", "-1", "x"), ARIA_EINVAL);
    cr_assert_eq(node_config_set(&c, "provider.price", "12", "x"), 0);
    cr_assert_eq(c.price_micro, 12);
}

Test(config, syntax_error_and_missing_file)
{
    node_config c;
    node_config_defaults(&c);
    char *p = write_tmp("[node\ndata_dir = /x\n");
    cr_assert_eq(node_config_load_file(&c, p), ARIA_EINVAL);
    cr_assert(strstr(aria_err_msg(), ":1:") != NULL, "%s", aria_err_msg());
    unlink(p);
    cr_assert_eq(node_config_load_file(&c, "/nonexistent/aria.ini"), ARIA_EIO);
    cr_assert(strstr(aria_err_msg(), "/nonexistent/aria.ini") != NULL);
}
