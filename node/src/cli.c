/*
 * cli.c — `aria` command-line dispatch: the verb table, global help, and
 * usage errors (exit 2 with usage on stderr).
 */
#include <dirent.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "node.h"

static int cmd_help(int argc, char **argv);

static const cli_verb verbs[] = {
    {"version", "print version, build and detected CPU features",
     "usage: aria version\n"
     "Prints the version, git revision, build type, and the CPU features\n"
     "detected at run time with the kernel ISA path they select.\n",
     cmd_version},
    {"run", "run a model: generate text from a prompt",
     "usage: aria run [-m FILE] (-p TEXT | --prompt-ids 1,2,3) [options]\n"
     "Loads a GGUF model (bitnet-b1.58/bitnet-25, bitnet, llama) and streams the\n"
     "generated text to stdout. Without -m: the default model, models/*.gguf.\n"
     "  -n N                 tokens to generate (default 128)\n"
     "  --temp T             temperature; 0 = greedy (default 0.8)\n"
     "  --top-k K            keep the K best tokens; 0 = off (default 40)\n"
     "  --top-p P            nucleus sampling; 1 = off (default 0.95)\n"
     "  --min-p P            drop tokens below P x the best; 0 = off (default 0.05)\n"
     "  --repeat-penalty R   penalize the last --repeat-last-n ids (default 1 = off, 64)\n"
     "  --seed S             PRNG seed (default: random)\n"
     "  --threads T          worker threads (default 1)\n"
     "  --ctx N              context size (default: prompt + N, at most the model's)\n"
     "  --kv f16|f32         KV cache type (default f16)\n"
     "  --int8-head          run a float LM head as an int8 copy (faster; logits differ\n"
     "                       slightly from the exact float head)\n"
     "  --chat [--system S]  wrap the prompt in the model's chat template\n"
     "  --stop STR           stop when STR appears (repeatable)\n"
     "  --ignore-eos         keep generating through end-of-text ids\n"
     "  --ids                print the generated ids on one line instead of text\n"
     "  --logits-out FILE    write n_vocab float32 logits per generated token\n"
     "  -v, --verbose        print timing and the stop reason to stderr\n",
     cmd_run},
    {"model", "inspect or create model files (info, synth, ...)",
     "usage: aria model <subcommand> [options]\n"
     "  info [--ctx N] [--all] FILE   architecture, hyperparameters, tokenizer, tensors,\n"
     "                                parameter count, bytes per weight, memory needed\n"
     "                                (--all also lists every metadata key)\n"
     "  synth --arch A --layers L --embd E --ff F --heads H [--kv-heads K] --vocab V\n"
     "        --type T --seed S -o FILE [--ctx N] [--rope-base B] [--tokenizer llama|gpt2]\n"
     "        [--scales]\n"
     "      write a deterministic synthetic model; A: bitnet-b1.58 bitnet-25 bitnet llama;\n"
     "      T: f32 f16 bf16 q8_0 tq1_0 tq2_0 i2_s (projection weights)\n"
     "  tokenize -m FILE [--no-bos] [--raw] [--pieces] TEXT...|-\n"
     "      print the token ids of TEXT (BOS first when the model adds it) on one line;\n"
     "      --raw: special-token texts are plain text; --pieces: also print each piece\n"
     "  score -m FILE [--ctx N] IDS|-\n"
     "      teacher-forced: per position 'i argmax logprob(next)'; perplexity on stderr\n",
     cmd_model},
    {"node", "run the node daemon (network, HTTP API, inference worker); its status",
     "usage: aria node run [--config FILE] [--data-dir DIR] [--model FILE] [--http HOST:PORT]\n"
     "                     [--threads N] [--capacity N] [--ctx N] [--log-level L]\n"
     "                     [--genesis FILE] [--testnet] [--gossip URL] [--service URL]\n"
     "                     [--peer SERVICE_URL]... [--price P] [--max-price P]\n"
     "                     [--chunk-tokens N] [--int8-head]\n"
     "       aria node status [--node HOST:PORT]\n"
     "Runs the ARIA node. Settings come from the INI file (--config), then flags.\n"
     "Keys, defaults, files and ports: docs/operations.md. Stops cleanly on SIGINT/SIGTERM.\n"
     "status: the running node's /aria/v1/status (HOST:PORT: $ARIA_NODE, else 127.0.0.1:8080).\n",
     cmd_node},
    {"ledger", "inspect, verify, export and import the credit ledger",
     "usage: aria ledger [--dir DIR] [--genesis FILE] [--map-mib N] [--settle-ms MS] COMMAND\n"
     "  init                      create the ledger from --genesis FILE\n"
     "  balance [ACCOUNT]         balance (available, pending) of one account or all\n"
     "  history ACCOUNT [--from SEQ] [--limit N]   an account's chain\n"
     "  show ID                   one entry (64 hex digits)\n"
     "  receipts [--job ID | --provider ACCOUNT | --requester ACCOUNT]\n"
     "  verify                    re-validate the whole database from its entries\n"
     "  stats                     counts, supply, state hash, fork proofs\n"
     "  export FILE | import FILE entries in the export format (docs/ledger.md)\n"
     "DIR defaults to <data dir>/ledger (data dir: $ARIA_HOME, else ~/.aria).\n"
     "ACCOUNT is an address or 64 hex digits. Rules and formats: docs/ledger.md.\n",
     cmd_ledger},
    {"wallet", "create and inspect the keystore (new, show, address, change-passphrase)",
     "usage: aria wallet <subcommand> [--file F] [options]\n"
     "  new [--no-passphrase] [--testnet]   create a keystore with a fresh random key\n"
     "                                      (refuses to overwrite an existing file)\n"
     "  show [--testnet]                    address, account id, encryption key\n"
     "  address [--testnet]                 the address only\n"
     "  change-passphrase [--no-passphrase] re-encrypt (atomic replace)\n"
     "  balance [--node HOST:PORT] [--account ADDRESS]  the node's balance (via its API)\n"
     "  send ADDRESS AMOUNT [--node HOST:PORT]          the node signs and applies a send\n"
     "HOST:PORT defaults to $ARIA_NODE, else 127.0.0.1:8080.\n"
     "F defaults to <data dir>/wallet.key (data dir: $ARIA_HOME, else ~/.aria).\n"
     "Passphrase: $ARIA_PASSPHRASE (new one for change-passphrase: $ARIA_NEW_PASSPHRASE),\n"
     "else a no-echo prompt on the terminal. --testnet prints 'tart1...' addresses.\n"
     "Argon2id cost for new files: $ARIA_KEYSTORE_KDF (docs/wallet.md).\n",
     cmd_wallet},
    {"infer", "run a paid inference job through the local node, streamed",
     "usage: aria infer PROMPT [-n N] [--max-price P] [--model M] [--chat] [--temp T]\n"
     "                  [--seed S] [--repeat-penalty R] [--local] [--node HOST:PORT]\n"
     "  Streams the completion of PROMPT from a provider on the network (a paid job;\n"
     "  --local: this node's own model, free), then prints tokens, provider and cost.\n"
     "  -n N           tokens to generate (default 64)\n"
     "  --max-price P  highest price accepted, micro-credits per token\n"
     "                 (default: the node's requester.max_price)\n"
     "  --chat         send PROMPT as a user message through the chat template\n"
     "HOST:PORT defaults to $ARIA_NODE, else 127.0.0.1:8080.\n",
     cmd_infer},
    {"testnet", "run a local network of N nodes (up, status, down)",
     "usage: aria testnet up [-n N] [--dir D] [--model FILE] [--base-port P] [--providers K]\n"
     "                       [--timeout S] [-- NODE-FLAGS...]\n"
     "       aria testnet status [--dir D]\n"
     "       aria testnet down [--dir D]\n"
     "up: makes N keystores and a genesis funding each node (first time only), starts N\n"
     "'aria node run' processes on loopback in the background and waits until they are\n"
     "ready and see each other; a second 'up' in D restarts the same network.\n"
     "  -n N            nodes (default 4); node 0 is the entry node the API examples use\n"
     "  --dir D         the testnet directory (default ./testnet)\n"
     "  --model FILE    the model providers serve (default: the first models/*.gguf of the\n"
     "                  source tree or the current directory, else a synthetic one)\n"
     "  --base-port P   node i listens on http P+3i, gossip P+3i+1, service P+3i+2;\n"
     "                  0 (default) = free ports picked by the OS\n"
     "  --providers K   the last K nodes serve the model (default N-1: all but node 0)\n"
     "  --timeout S     seconds to wait for ready nodes and for peers (default 30)\n"
     "  -- NODE-FLAGS   appended to every 'aria node run' (e.g. -- --price 2); kept for\n"
     "                  restarts until another '--' replaces them\n"
     "status: node, role, pid, peers, model, jobs served, credits, tok/s of each node.\n"
     "down: SIGTERM every node (SIGKILL after 10 s); keeps keys, ledgers and logs.\n"
     "Layout, ports, funding and roles: docs/testnet.md.\n",
     cmd_testnet},
    {"bench", "measure a model's prefill and decode speed against the memory bound",
     "usage: aria bench -m FILE [--threads T] [--prompt N] [--gen N] [--reps R] [--json]\n"
     "Loads the model, measures the memory read bandwidth with T threads, then R times\n"
     "(after a warm-up): a prompt of N pseudo-random ids in one call, then greedy decode\n"
     "steps. Prints medians: prefill and decode tok/s, bytes of weights per decoded\n"
     "token, bandwidth, roofline fraction (bytes x tok/s / bandwidth), CPU-seconds per\n"
     "token, the kernel path and threads.\n"
     "  --threads T    worker threads, the caller included (default 1)\n"
     "  --prompt N     prompt tokens (default 64)\n"
     "  --gen N        decoded tokens per repetition (default 32)\n"
     "  --reps R       timed repetitions (default 5)\n"
     "  --batch B      tokens per forward chunk in prefill (default 64)\n"
     "  --int8-head    run the LM head as an int8 copy made at load (changes logits)\n"
     "  --bw-mib M     bandwidth buffer in MiB (default 1024; keep it >> the LLC)\n"
     "  --json         print one JSON object (decode_tok_s, prefill_tok_s,\n"
     "                 bytes_per_token, bandwidth_gbs, roofline_fraction,\n"
     "                 cpu_s_per_token, isa, threads, ...)\n"
     "Figures, commands and what bounds them: docs/performance.md.\n",
     cmd_bench},
    {"help", "show help for a verb", "usage: aria help [VERB]\n", cmd_help},
};

/* The first models/ *.gguf (by name) in `dir`, into out; false if none. */
static bool
find_model_in(const char *dir, char *out, size_t size)
{
    char mdir[4096 + 16];
    aria_snprintf(mdir, sizeof mdir, "%s/models", dir);
    DIR *d = opendir(mdir);
    if (!d)
        return false;
    char best[256] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 5 && l < sizeof best && !strcmp(e->d_name + l - 5, ".gguf") &&
            (!best[0] || strcmp(e->d_name, best) < 0))
            memcpy(best, e->d_name, l + 1);
    }
    closedir(d);
    if (!best[0])
        return false;
    int n = aria_snprintf(out, size, "%s/%s", mdir, best);
    return n > 0 && (size_t)n < size;
}

bool
cli_default_model(char *out, size_t size)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        for (int up = 0; up < 5; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash || slash == exe)
                break;
            *slash = 0;
            if (find_model_in(exe, out, size))
                return true;
        }
    }
    char cwd[4096];
    return getcwd(cwd, sizeof cwd) && find_model_in(cwd, out, size);
}

const cli_verb *
cli_verb_find(const char *name)
{
    for (size_t i = 0; i < ARIA_ARRAY_LEN(verbs); i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

static void
print_main_usage(FILE *f)
{
    fprintf(f, "usage: aria <verb> [options]\n\n"
               "ARIA: a peer-to-peer marketplace for CPU inference of ternary "
               "(BitNet b1.58) models.\n\nverbs:\n");
    for (size_t i = 0; i < ARIA_ARRAY_LEN(verbs); i++)
        fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
    fprintf(f, "\n'aria <verb> --help' shows a verb's options.\n");
}

void
cli_print_usage(FILE *f, const cli_verb *v)
{
    fputs(v->usage, f);
}

int
cli_usage_error(const cli_verb *v, const char *msg)
{
    if (msg)
        fprintf(stderr, "aria %s: %s\n", v->name, msg);
    cli_print_usage(stderr, v);
    return 2;
}

int
cli_fail(int rc, const char *context)
{
    const char *detail = aria_err_msg();
    if (detail && *detail)
        fprintf(stderr, "aria: %s: %s\n", context, detail);
    else
        fprintf(stderr, "aria: %s: %s\n", context, aria_strerror(rc));
    return 1;
}

int
cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}

static int
cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        print_main_usage(stdout);
        return 0;
    }
    const cli_verb *v = cli_verb_find(argv[1]);
    if (!v) {
        fprintf(stderr, "aria help: unknown verb '%s'\n", argv[1]);
        print_main_usage(stderr);
        return 2;
    }
    cli_print_usage(stdout, v);
    return 0;
}

int
node_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        print_main_usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
        print_main_usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0)
        name = "version";
    const cli_verb *v = cli_verb_find(name);
    if (!v) {
        fprintf(stderr, "aria: unknown verb '%s'\n\n", name);
        print_main_usage(stderr);
        return 2;
    }
    if (cli_wants_help(argc - 1, argv + 1)) {
        cli_print_usage(stdout, v);
        return 0;
    }
    return v->fn(argc - 1, argv + 1);
}
