/*
 * cli.h — private to node: the verb table and helpers shared by verbs.
 *
 * A verb is `int cmd_<verb>(int argc, char **argv)` where argv[0] is the
 * verb name. It returns the exit status: 0 ok, 1 failure, 2 usage error.
 * Unknown flags print the verb's usage to stderr and return 2.
 */
#ifndef ARIA_NODE_CLI_H
#define ARIA_NODE_CLI_H
#include <stdbool.h>
#include <stdio.h>

#include "base.h"

typedef struct cli_verb {
    const char *name;
    const char *summary;
    const char *usage; /* full help text for `aria <verb> --help` */
    int (*fn)(int argc, char **argv);
} cli_verb;

/* Print "aria: <context>: <detail or strerror>" to stderr, return 1. */
int cli_fail(int rc, const char *context);
/* Print the verb's usage to `f`. */
void cli_print_usage(FILE *f, const cli_verb *v);
/* Usage error: print `msg` and the verb's usage to stderr; return 2. */
int cli_usage_error(const cli_verb *v, const char *msg);
/* Look up a verb by name (NULL if unknown). */
const cli_verb *cli_verb_find(const char *name);
/* The default model: the first models/ *.gguf (by name) in the source tree
 * the binary was built in (its parent directories), else in the current
 * directory. false if there is none. */
bool cli_default_model(char *out, size_t size);
/* True if argv holds -h or --help before any "--". */
int cli_wants_help(int argc, char **argv);

/* Verbs. */
int cmd_version(int argc, char **argv);
int cmd_model(int argc, char **argv);          /* cmd_model.c: model info|synth|... */
int cmd_model_tokenize(int argc, char **argv); /* cmd_model_tokenize.c: model tokenize */
int cmd_model_score(int argc, char **argv);    /* cmd_model_score.c: model score */
int cmd_node(int argc, char **argv);
int cmd_ledger(int argc, char **argv); /* cmd_ledger.c: aria ledger ... */
int cmd_run(int argc, char **argv);
/* cmd_infer.c: aria infer, and aria node status */
int cmd_infer(int argc, char **argv);
int cmd_node_status(int argc, char **argv);
int cmd_testnet(int argc, char **argv); /* cmd_testnet.c: aria testnet up|status|down */
int cmd_bench(int argc, char **argv);   /* cmd_bench.c: aria bench (prefill/decode tok/s) */

/* cmd_wallet.c: aria wallet new|show|address|change-passphrase */
int cmd_wallet(int argc, char **argv);
/* cmd_wallet.c helpers for verbs that sign (balance, send, node):
 * <data dir>/wallet.key, data dir = $ARIA_HOME else ~/.aria; and opening a
 * keystore (file NULL = default) with the passphrase from ARIA_PASSPHRASE
 * or a /dev/tty prompt. *out is freed with wallet_free. */
struct wallet;
int cmd_wallet_default_path(char *out, size_t size) ARIA_MUST_CHECK;
int cmd_wallet_open(const char *file, struct wallet **out) ARIA_MUST_CHECK;
/* cmd_wallet_node.c: aria wallet balance|send, through the local node's API. */
int cmd_wallet_balance(int argc, char **argv);
int cmd_wallet_send(int argc, char **argv);

#endif
