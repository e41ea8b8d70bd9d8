/*
 * node.h — the ARIA daemon: event loop, HTTP API, config, CLI verbs.
 * (Skeleton: the node issue fills in the daemon; the CLI entry is here.)
 */
#ifndef ARIA_NODE_H
#define ARIA_NODE_H
#include "base.h"

/* Run the `aria` command line. Returns the process exit status:
 * 0 success, 1 failure, 2 usage error (unknown verb or flag). */
int node_cli_main(int argc, char **argv);

#endif
