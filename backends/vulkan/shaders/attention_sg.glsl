// Shared by the attention shaders for CPU devices (attention_*_sg.comp): a
// workgroup is one subgroup of SG lanes, one query (or key) row per lane.
// The rows every lane needs (the keys and values, or the queries and
// output gradients) are loaded once, spread over the lanes: lane l holds
// elements l, l + SG, ... of the row, and SPREAD_AT hands any element to
// every lane with a shuffle, a register operation on a CPU where a load is
// a loop over the lanes. HD must be a multiple of SG.
const uint SP = HD / SG;
#define SPREAD_AT(r, d) subgroupShuffle(r[(d) / SG], (d) % SG)
