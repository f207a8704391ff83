// Shared by the attention backward shaders for GPUs (attention_bwd_*.comp,
// after their specialisation constants NT, HD, BR and BC): a workgroup owns
// BR rows, TPR threads per row, NT = BR * TPR. Thread tid works on row
// tid / TPR; in the score phase on the block's columns l, l + TPR, ... and
// in the accumulation phase on the head columns l, l + TPR, ... (l = tid %
// TPR). The host makes BC a multiple of TPR.
//
// Shared rows are HS = HD + 1 floats apart: with HD a multiple of the bank
// count, the threads of one wave reading element d of different rows would
// all hit one bank.
const uint TPR = 8; // VK_ATTN_TPR in vulkan_backend.h
const uint HS = HD + 1;
const uint NJ = BC / TPR;             // score-phase columns per thread
const uint ND = (HD + TPR - 1) / TPR; // head columns per thread
