/*
 * replay_main.c — runs a fuzz target's LLVMFuzzerTestOneInput over every
 * file in the corpus directories given on the command line, then over
 * generated edge cases (empty input, every single byte, and truncations and
 * single-bit flips of each corpus file). Used where libFuzzer is absent
 * (gcc builds) so CI replays every seed; under ASan/UBSan any bad memory
 * access aborts the run.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path, unsigned long *runs)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0 || n > (64l << 20)) {
        fclose(f);
        fprintf(stderr, "replay: %s is not a usable seed\n", path);
        return -1;
    }
    uint8_t *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    size_t len = (size_t)n;
    LLVMFuzzerTestOneInput(buf, len);
    (*runs)++;
    /* truncations at a bounded set of points, each in its own exact-size copy
     * so ASan catches reads past the end */
    size_t step = len / 64 + 1;
    for (size_t cut = 0; cut < len; cut += step) {
        uint8_t *t = malloc(cut ? cut : 1);
        memcpy(t, buf, cut);
        LLVMFuzzerTestOneInput(t, cut);
        free(t);
        (*runs)++;
    }
    /* bit flips at a bounded set of positions */
    uint8_t *m = malloc(len ? len : 1);
    for (size_t pos = 0; pos < len; pos += step) {
        memcpy(m, buf, len);
        m[pos] ^= (uint8_t)(1u << (pos % 8));
        LLVMFuzzerTestOneInput(m, len);
        memcpy(m, buf, len);
        m[pos] = 0xff;
        LLVMFuzzerTestOneInput(m, len);
        (*runs) += 2;
    }
    free(m);
    free(buf);
    return 0;
}

int
main(int argc, char **argv)
{
    unsigned long runs = 0, files = 0;
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    for (int b = 0; b < 256; b++) {
        uint8_t one = (uint8_t)b;
        LLVMFuzzerTestOneInput(&one, 1);
    }
    runs += 257;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d) {
            fprintf(stderr, "replay: cannot open corpus directory %s\n", argv[i]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            struct stat st;
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            if (run_file(path, &runs) != 0) {
                closedir(d);
                return 1;
            }
            files++;
        }
        closedir(d);
    }
    printf("replay: %lu seed files, %lu inputs, no crash\n", files, runs);
    return 0;
}
