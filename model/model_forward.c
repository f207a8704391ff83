/* The forward pass, top to bottom, in runtime ops. Linear layers store W as
 * [out, in] and compute y = x W^T. */
#include <math.h>
#include <stdio.h>

#include "model/model_internal.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        dt_status try_st_ = (expr);                                                                \
        if (try_st_ != DT_OK) return try_st_;                                                      \
    } while (0)

dt_status model_upload_tokens(model *m, const int32_t *tokens, const int32_t *targets, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= m->cfg.vocab_size ||
            (targets && (targets[i] < 0 || targets[i] >= m->cfg.vocab_size)))
            return dt_error(DT_ERR_INVALID,
                            "model: token %d at position %lld is outside the "
                            "vocabulary of %lld",
                            tokens[i] < 0 || tokens[i] >= m->cfg.vocab_size ? tokens[i]
                                                                            : targets[i],
                            (long long)i, (long long)m->cfg.vocab_size);
    }
    TRY(dt_buffer_upload(m->arena, m->acts.tokens, tokens, (size_t)n * 4));
    if (targets) TRY(dt_buffer_upload(m->arena, m->acts.targets, targets, (size_t)n * 4));
    return DT_OK;
}

/* y[n, out] = x[n, in] W^T */
static dt_status linear(dt_device *dev, dt_tensor x, dt_tensor w, dt_tensor y) {
    return dt_matmul(dev, 0, 1, 1.0f, x, w, 0.0f, y);
}

dt_status model_forward_pass(model *m, int64_t batch, int64_t seq, int with_loss) {
    const model_config *c = &m->cfg;
    const model_acts *a = &m->acts;
    dt_device *dev = m->dev;
    const int64_t n = batch * seq, d = c->dim, f = c->ffn_dim, h = c->n_heads;
    const int64_t hd = model_config_head_dim(c);
    const float scale = (float)(1.0 / sqrt((double)hd));
    dt_tensor rope = dt_tensor_3d(m->rope, 0, DT_F32, seq, hd / 2, 2);
    dt_tensor tokens = dt_tensor_1d(m->arena, a->tokens, DT_I32, n);
    TRY(dt_embedding_fwd(dev, tokens, model_weight_of(m, MODEL_P_TOK_EMB, 0),
                         model_act2(m, a->x[0], n, d)));
    for (int64_t l = 0; l < c->n_layers; l++) {
        const model_layer_acts *la = &a->layer[l];
        dt_tensor x = model_act2(m, a->x[l], n, d);
        dt_tensor xn1 = model_act2(m, la->xn1, n, d);
        dt_tensor qkv = model_act2(m, la->qkv, n, 3 * d);
        dt_tensor qkv3 = dt_tensor_3d(m->arena, la->qkv, DT_F32, batch, seq, 3 * d);
        dt_tensor att = model_act2(m, la->att, n, d);
        dt_tensor x_mid = model_act2(m, la->x_mid, n, d);
        dt_tensor xn2 = model_act2(m, la->xn2, n, d);
        dt_tensor hh = model_act2(m, la->h, n, 2 * f);
        dt_tensor g = model_act2(m, la->g, n, f);
        dt_tensor x_out = model_act2(m, a->x[l + 1], n, d);
        dt_tensor tmp = model_act2(m, a->dtmp, n, d);

        /* attention branch */
        const int li = (int)l;
        TRY(dt_rmsnorm_fwd(dev, x, model_weight_of(m, MODEL_P_ATTN_NORM, li), xn1,
                           dt_tensor_1d(m->arena, la->rstd1, DT_F32, n), MODEL_NORM_EPS));
        TRY(linear(dev, xn1, model_weight_of(m, MODEL_P_WQKV, li), qkv));
        TRY(dt_rope_fwd(dev, qkv, rope, hd, 2 * d));
        TRY(dt_attention_fwd(dev, qkv3, dt_tensor_3d(m->arena, la->att, DT_F32, batch, seq, d),
                             dt_tensor_3d(m->arena, la->lse, DT_F32, batch, h, seq), h, scale));
        TRY(linear(dev, att, model_weight_of(m, MODEL_P_WO, li), tmp));
        TRY(dt_add(dev, x, tmp, x_mid));

        /* MLP branch */
        TRY(dt_rmsnorm_fwd(dev, x_mid, model_weight_of(m, MODEL_P_MLP_NORM, li), xn2,
                           dt_tensor_1d(m->arena, la->rstd2, DT_F32, n), MODEL_NORM_EPS));
        TRY(linear(dev, xn2, model_weight_of(m, MODEL_P_W13, li), hh));
        TRY(dt_swiglu_fwd(dev, hh, g));
        TRY(linear(dev, g, model_weight_of(m, MODEL_P_W2, li), tmp));
        TRY(dt_add(dev, x_mid, tmp, x_out));
    }
    dt_tensor xf = model_act2(m, a->xf, n, d);
    TRY(dt_rmsnorm_fwd(dev, model_act2(m, a->x[c->n_layers], n, d),
                       model_weight_of(m, MODEL_P_FINAL_NORM, 0), xf,
                       dt_tensor_1d(m->arena, a->rstdf, DT_F32, n), MODEL_NORM_EPS));
    dt_tensor head = model_weight_of(m, MODEL_P_LM_HEAD, 0);
    dt_tensor logits = model_act2(m, a->logits, n, c->vocab_size);
    TRY(linear(dev, xf, head, logits));
    if (!with_loss) return DT_OK;
    dt_tensor none = {0};
    return dt_softmax_xent(dev, logits, dt_tensor_1d(m->arena, a->targets, DT_I32, n),
                           dt_tensor_1d(m->arena, a->losses, DT_F32, n), none, 0.0f);
}

/* Mean of the n per-token losses in the arena, summed in double. */
dt_status model_mean_loss(model *m, int64_t n, float *loss) {
    TRY(dt_buffer_download(m->arena, m->acts.losses, m->host_losses, (size_t)n * 4));
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += m->host_losses[i];
    *loss = (float)(sum / (double)n);
    return DT_OK;
}

dt_status model_forward_loss(model *m, const int32_t *tokens, const int32_t *targets, int64_t batch,
                             float *loss) {
    if (batch < 1 || batch > m->batch)
        return dt_error(DT_ERR_INVALID, "model: evaluation batch %lld outside [1, %lld]",
                        (long long)batch, (long long)m->batch);
    int64_t n = batch * m->cfg.seq_len;
    TRY(model_upload_tokens(m, tokens, targets, n));
    TRY(model_forward_pass(m, batch, m->cfg.seq_len, 1));
    return model_mean_loss(m, n, loss);
}

dt_status model_forward_last_logits(model *m, const int32_t *tokens, int64_t n, float *logits) {
    if (n < 1 || n > m->cfg.seq_len)
        return dt_error(DT_ERR_INVALID, "model: context of %lld tokens outside [1, %lld]",
                        (long long)n, (long long)m->cfg.seq_len);
    TRY(model_upload_tokens(m, tokens, NULL, n));
    TRY(model_forward_pass(m, 1, n, 0));
    size_t off = m->acts.logits + (size_t)((n - 1) * m->cfg.vocab_size) * 4;
    return dt_buffer_download(m->arena, off, logits, (size_t)m->cfg.vocab_size * 4);
}
