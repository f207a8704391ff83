/* distro-cli sample: generate text from a checkpoint. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_args.h"
#include "cli/commands.h"
#include "cli/printable_text.h"
#include "cli/sampler.h"
#include "model/checkpoint.h"
#include "model/dataset.h"

static const cli_opt sample_opts[] = {
    {"checkpoint", "FILE", "a checkpoint written by train --save (required)"},
    {"prompt", "TEXT", "text to continue (default: a newline; byte-level models only)"},
    {"prompt-tokens", "IDS", "token ids to continue instead, comma-separated (any vocabulary)"},
    {"tokens", "N", "tokens to generate (default 300)"},
    {"temperature", "T", "softmax temperature; 0 picks the most likely token (default 0.8)"},
    {"top-k", "K", "sample among the K most likely tokens; 0 for all (default 40)"},
    {"seed", "S", "random seed (default 1)"},
    {"device", "SPEC",
     "cpu, opencl:N, vulkan:N, cuda:N or auto (default auto), with :OPTION=VALUE device "
     "options (cpu:threads=2, vulkan:0:kernels=gpu; 'distro-cli devices' lists them)"},
    {"logits", NULL, "print the next-token logits after the prompt instead, 'id logit' a line"},
    {NULL, NULL, NULL},
};

static const cli_cmd sample_cmd = {
    "sample",
    "",
    "Generate text from a checkpoint.",
    "Models on the byte-level corpus (vocab 256) read a text prompt and print text: the\n"
    "raw bytes into a pipe or file; on a terminal, bytes that form no printable UTF-8\n"
    "character (control bytes, escape sequences) as U+FFFD. Other vocabularies need the\n"
    "prompt as token ids (--prompt-tokens) and print token ids, since distro carries no\n"
    "tokenizer for them.",
    sample_opts,
    0,
    0,
};

static void put_byte(printable_stream *screen, bool on_terminal, int32_t token) {
    if (on_terminal)
        printable_stream_put(screen, (char)token, stdout);
    else
        putchar(token);
}

int cmd_sample(int argc, char **argv) {
    cli_args args;
    int rc = cli_parse(&sample_cmd, argc, argv, &args);
    if (rc) return rc == 1 ? 0 : rc;
    const char *path = cli_get(&args, "checkpoint");
    if (!path) return cli_fail(&sample_cmd, "--checkpoint FILE is required");
    int64_t n_tokens, top_k, seed;
    double temperature;
    if (!cli_get_int(&args, "tokens", 0, 1 << 24, 300, &n_tokens) ||
        !cli_get_int(&args, "top-k", 0, 1 << 24, 40, &top_k) ||
        !cli_get_int(&args, "seed", 0, INT64_MAX, 1, &seed) ||
        !cli_get_double(&args, "temperature", 0.0, 100.0, 0.8, &temperature))
        return 2;
    const char *prompt = cli_get(&args, "prompt"), *ids = cli_get(&args, "prompt-tokens");
    if (prompt && ids)
        return cli_fail(&sample_cmd, "--prompt and --prompt-tokens are alternatives");
    int32_t *prompt_tokens = NULL;
    int64_t n_prompt = 0;
    if (ids && sampler_parse_ids(ids, &prompt_tokens, &n_prompt) != DT_OK)
        return cli_fail(&sample_cmd, "--prompt-tokens: %s", dt_last_error());
    if (!ids && (!prompt || !*prompt)) prompt = "\n";

    model_checkpoint ck;
    if (model_checkpoint_open(path, &ck) != DT_OK) {
        fprintf(stderr, "distro-cli sample: %s\n", dt_last_error());
        free(prompt_tokens);
        return 1;
    }
    /* Bytes are token ids only for a byte-level vocabulary; anything else
     * would feed the model ids it never saw in that role. */
    const bool text = ck.config.vocab_size == 256;
    if (!text && !ids) {
        model_checkpoint_close(&ck);
        return cli_fail(&sample_cmd,
                        "%s has a vocabulary of %lld tokens, not bytes, and distro has no "
                        "tokenizer for it: give the prompt as token ids with --prompt-tokens 1,2,3",
                        path, (long long)ck.config.vocab_size);
    }
    dt_device *dev = NULL;
    model *m = NULL;
    int exit_code = 1;
    sampler s = {0};
    if (dt_device_open(cli_get(&args, "device"), &dev) != DT_OK ||
        model_create(dev, &ck.config, 1, &m) != DT_OK ||
        model_checkpoint_load(&ck, m, NULL, model_weights_buffer(m)) != DT_OK ||
        sampler_init(&s, m, temperature, top_k, (uint64_t)seed) != DT_OK) {
        fprintf(stderr, "distro-cli sample: %s\n", dt_last_error());
        goto done;
    }
    if (!ids) {
        n_prompt = (int64_t)strlen(prompt);
        prompt_tokens = malloc((size_t)n_prompt * 4);
        if (!prompt_tokens) goto done;
        model_tokenize_bytes(prompt, prompt_tokens, n_prompt);
    }
    const bool logits = cli_flag(&args, "logits");
    /* On a terminal, bytes that form no printable character (an untrained
     * model's NULs and escape sequences) show as U+FFFD; into a pipe or file
     * the raw bytes go. */
    printable_stream screen = {0};
    const bool on_terminal = isatty(STDOUT_FILENO) != 0;
    dt_status st = sampler_feed(&s, prompt_tokens, n_prompt);
    for (int64_t i = 0; st == DT_OK && !logits && i < n_prompt; i++) /* echo the prompt */
        if (text)
            put_byte(&screen, on_terminal, prompt_tokens[i]);
        else
            printf("%d ", prompt_tokens[i]);
    /* --logits: what generation would draw from next (the window of the
     * last seq_len prompt tokens), exact to float (%.9g) for comparisons. */
    if (logits && st == DT_OK) {
        st = model_forward_last_logits(m, s.context, s.n_context, s.logits);
        for (int64_t i = 0; st == DT_OK && i < ck.config.vocab_size; i++)
            printf("%lld %.9g\n", (long long)i, (double)s.logits[i]);
        n_tokens = 0;
    }
    for (int64_t i = 0; st == DT_OK && i < n_tokens; i++) {
        int32_t tok;
        st = sampler_next(&s, &tok);
        if (st != DT_OK) break;
        if (text)
            put_byte(&screen, on_terminal, tok);
        else
            printf("%d ", tok);
        fflush(stdout);
    }
    if (on_terminal) printable_stream_end(&screen, stdout);
    if (!logits) printf("\n");
    if (st != DT_OK) {
        fprintf(stderr, "distro-cli sample: %s\n", dt_last_error());
        goto done;
    }
    exit_code = 0;
done:
    free(prompt_tokens);
    sampler_free(&s);
    model_destroy(m);
    dt_device_close(dev);
    model_checkpoint_close(&ck);
    return exit_code;
}
