/* Build-time helper: turns a file into a C source defining
 *   const unsigned char SYMBOL[];   (the bytes, then a terminating 0)
 *   const unsigned long SYMBOL_size; (the byte count, without the 0)
 * so kernels, shaders and the default corpus live inside the binary.
 * Usage: embed_file INPUT OUTPUT.c SYMBOL */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: embed_file INPUT OUTPUT.c SYMBOL\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (!in) {
        perror(argv[1]);
        return 1;
    }
    FILE *out = fopen(argv[2], "wb");
    if (!out) {
        perror(argv[2]);
        fclose(in);
        return 1;
    }
    fprintf(out, "/* Generated from %s by embed_file; do not edit. */\n", argv[1]);
    fprintf(out, "const unsigned char %s[] = {\n", argv[3]);
    unsigned long n = 0;
    int c;
    while ((c = fgetc(in)) != EOF) {
        fprintf(out, "%u,", (unsigned)c);
        if (++n % 24 == 0) fputc('\n', out);
    }
    fprintf(out, "0};\nconst unsigned long %s_size = %luUL;\n", argv[3], n);
    int bad = ferror(in) || ferror(out);
    fclose(in);
    if (fclose(out) != 0) bad = 1;
    if (bad) {
        fprintf(stderr, "embed_file: I/O error on %s\n", argv[1]);
        remove(argv[2]);
        return 1;
    }
    return 0;
}
