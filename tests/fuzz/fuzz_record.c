/* libFuzzer target: the record file (net/record.h), through its real open
 * paths: the reader walks every record of the input, and the writer's
 * net_record_prepare repairs it.
 *
 * What must hold: every record the reader returns has 1..NET_MAX_PEERS
 * ascending peer ids and a step >= 0; the reader ends cleanly or with
 * DT_ERR_FORMAT / DT_ERR_IO, never a crash or a read past its buffer. After
 * net_record_prepare accepts a file, the file is whole: a reader reads it
 * to the clean end, exactly the records prepare said it kept, and no more
 * bytes than before (plus a header for a file that had none). Checksums are
 * compared with memcmp, so libFuzzer's comparison hooks can get past them. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "net/record.h"
#include "net/wire.h"

/* Reads to the end; the number of whole records, or -1 on an error. */
static long walk(const char *path, uint64_t *payload_bytes) {
    net_record_reader *r = NULL;
    if (net_record_reader_open(path, &r) != DT_OK) return -1;
    *payload_bytes = net_record_reader_payload_bytes(r);
    long n = 0;
    for (;;) {
        net_record_round got;
        bool end = false;
        if (net_record_next(r, &got, &end) != DT_OK) {
            n = -1;
            break;
        }
        if (end) break;
        if (got.n < 1 || got.n > NET_MAX_PEERS || got.step < 0) abort();
        for (uint32_t i = 1; i < got.n; i++)
            if (got.ids[i] <= got.ids[i - 1]) abort();
        /* Touch every payload byte: ASan catches a pointer past the buffer. */
        volatile uint8_t sink = 0;
        for (uint64_t b = 0; b < got.n * *payload_bytes; b++) sink ^= got.payloads[b];
        (void)sink;
        n++;
    }
    net_record_reader_close(r);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file_path(data, size);
    uint64_t payload_bytes = 24;
    walk(path, &payload_bytes);
    net_record_tail tail;
    if (net_record_prepare(path, payload_bytes, &tail) != DT_OK) return 0;
    uint64_t again = 0;
    long kept = walk(path, &again);
    if (kept < 0 || (uint64_t)kept != tail.records || again != payload_bytes) abort();
    if (tail.cut_bytes > size) abort();
    return 0;
}
