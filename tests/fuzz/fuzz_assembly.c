/* libFuzzer target: the peer's reassembly of chunked RESULTs and weights
 * (net/assembly.c). The input is a script: its first byte sets a whole's
 * size T (1..256), then every 4 bytes are one chunk (offset, length, total:
 * mostly T, step). Chunk bytes follow a pattern of their position, so a
 * completed whole can be checked byte for byte; a small model of the rules
 * in assembly.h predicts every outcome, and ASan/UBSan watch the copies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/assembly.h"

static uint8_t pattern(uint64_t pos, int64_t step) {
    return (uint8_t)(pos * 31u + (uint64_t)step * 7u);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 1) return 0;
    const uint64_t T = 1 + d[0], max_total = 256;
    static uint8_t data[512];
    net_assembly a = {0};
    uint64_t m_total = 0, m_got = 0; /* the model */
    int64_t m_step = 0;
    for (size_t i = 1; i + 4 <= n; i += 4) {
        int64_t step = d[i + 3] % 3;
        uint64_t total = d[i + 2] < 200 ? T : (uint64_t)d[i + 2] * 2; /* sometimes too large */
        net_chunk k = {d[i] % (T + 2), total, (uint32_t)(d[i + 1] % (T + 2)), data};
        for (uint32_t j = 0; j < k.length && j < sizeof data; j++)
            data[j] = pattern(k.offset + j, step);
        bool bad = k.offset > k.total || k.length > k.total - k.offset || k.total > max_total;
        net_assembly_result got;
        dt_status st = net_assembly_add(&a, step, &k, max_total, &got);
        if (bad) {
            if (st != DT_ERR_FORMAT) abort(); /* an impossible chunk must be refused */
            continue;
        }
        if (st != DT_OK) abort();
        if (k.offset == 0) m_total = k.total, m_got = 0, m_step = step;
        net_assembly_result want = NET_ASSEMBLY_SKIPPED;
        if (m_total && step == m_step && k.total == m_total && k.offset == m_got) {
            m_got += k.length;
            want = m_got == m_total ? NET_ASSEMBLY_COMPLETE : NET_ASSEMBLY_MORE;
        }
        if (got != want) abort();
        if (a.got > a.cap) abort();
        if (got == NET_ASSEMBLY_COMPLETE) {
            for (uint64_t j = 0; j < m_total; j++)
                if (a.buf[j] != pattern(j, m_step)) abort(); /* every byte where it belongs */
            m_total = 0;
        }
    }
    net_assembly_free(&a);
    return 0;
}
