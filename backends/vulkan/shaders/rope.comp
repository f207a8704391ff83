#version 450
// In-place rotation of (x[2i], x[2i+1]) in each head of the first rot_cols
// columns by the table's angle for (position, i); inverse = 1 rotates back.
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Table { float table[]; };
layout(push_constant) uniform Params {
    uint off_x, off_table;
    uint rows, width, seq_len, head_dim, rot_cols, inverse;
} p;

void main() {
    const uint half_rot = p.rot_cols / 2, half_head = p.head_dim / 2;
    const uint total = p.rows * half_rot, step = gl_NumWorkGroups.x * 256;
    for (uint e = gl_GlobalInvocationID.x; e < total; e += step) {
        uint r = e / half_rot, q = e % half_rot;
        uint head = q / half_head, i = q % half_head;
        uint at = p.off_x + r * p.width + head * p.head_dim + 2 * i;
        uint tb = p.off_table + ((r % p.seq_len) * half_head + i) * 2;
        float c = table[tb], s = table[tb + 1];
        float x0 = x[at], x1 = x[at + 1];
        if (p.inverse == 0) {
            x[at] = x0 * c - x1 * s;
            x[at + 1] = x0 * s + x1 * c;
        } else {
            x[at] = x0 * c + x1 * s;
            x[at + 1] = -x0 * s + x1 * c;
        }
    }
}
