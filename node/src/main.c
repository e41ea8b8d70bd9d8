/* main.c — the `aria` executable: everything happens in node_cli_main. */
#include "node.h"

int
main(int argc, char **argv)
{
    return node_cli_main(argc, argv);
}
