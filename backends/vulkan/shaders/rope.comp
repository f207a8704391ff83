#version 450
// In-place rotation of (x[2i], x[2i+1]) in each head of the first rot_cols
// columns by the table's angle for (position, i); inverse = 1 rotates back.
// x runs over i, y over rows (both grid-stride); each invocation walks the
// heads, so the table entry is read once per (row, i).
layout(local_size_x = 32) in;
layout(set = 0, binding = 0) buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Table { float table[]; };
layout(push_constant) uniform Params {
    uint off_x, off_table;
    uint rows, width, seq_len, head_dim, rot_cols, inverse;
} p;

void main() {
    const uint half_head = p.head_dim / 2, heads = p.rot_cols / p.head_dim;
    for (uint r = gl_WorkGroupID.y; r < p.rows; r += gl_NumWorkGroups.y) {
        const uint tb0 = p.off_table + (r % p.seq_len) * half_head * 2;
        for (uint i = gl_GlobalInvocationID.x; i < half_head; i += gl_NumWorkGroups.x * 32) {
            const float c = table[tb0 + 2 * i], s = table[tb0 + 2 * i + 1];
            for (uint hd = 0; hd < heads; hd++) {
                const uint at = p.off_x + r * p.width + hd * p.head_dim + 2 * i;
                const float x0 = x[at], x1 = x[at + 1];
                if (p.inverse == 0) {
                    x[at] = x0 * c - x1 * s;
                    x[at + 1] = x0 * s + x1 * c;
                } else {
                    x[at] = x0 * c + x1 * s;
                    x[at + 1] = -x0 * s + x1 * c;
                }
            }
        }
    }
}
