/* The backward pass: the forward read bottom to top. Weight gradients
 * accumulate (GEMM beta = 1, RMSNorm dw +=, embedding +=), so several
 * micro-batches add up before an optimizer step; a step's first micro-batch
 * overwrites them instead (GEMM beta = 0; the few gradients that only ever
 * accumulate are zeroed just before), which saves a pass that zeroes every
 * gradient and the GEMMs' reads of them: about 2% of a GPT-2-sized CPU
 * step. */
#include <math.h>

#include "model/model_internal.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        dt_status try_st_ = (expr);                                                                \
        if (try_st_ != DT_OK) return try_st_;                                                      \
    } while (0)

/* For y = x W^T: dx = dy W (overwrites), dW = dy^T x + dw_beta dW. */
static dt_status linear_bwd(dt_device *dev, dt_tensor x, dt_tensor w, dt_tensor dy, dt_tensor dx,
                            dt_tensor dw, float dw_beta) {
    TRY(dt_matmul(dev, 1, 0, 1.0f, dy, x, dw_beta, dw));
    return dt_matmul(dev, 0, 0, 1.0f, dy, w, 0.0f, dx);
}

/* A gradient whose op only adds to it (RMSNorm's dw, the embedding's) is
 * zeroed first when overwriting. */
static dt_status clear_if_overwriting(dt_device *dev, model_grad_mode mode, dt_tensor dw) {
    return mode == MODEL_GRAD_OVERWRITE ? dt_fill(dev, dw, 0.0f) : DT_OK;
}

dt_status model_forward_backward(model *m, const int32_t *tokens, const int32_t *targets,
                                 float grad_scale, model_grad_mode mode, float *loss) {
    const model_config *c = &m->cfg;
    const model_acts *a = &m->acts;
    dt_device *dev = m->dev;
    const float dw_beta = mode == MODEL_GRAD_OVERWRITE ? 0.0f : 1.0f;
    const int64_t batch = m->batch, seq = c->seq_len, n = batch * seq;
    const int64_t d = c->dim, f = c->ffn_dim, h = c->n_heads, v = c->vocab_size;
    const int64_t hd = model_config_head_dim(c);
    const float scale = (float)(1.0 / sqrt((double)hd));

    TRY(model_upload_tokens(m, tokens, targets, n));
    TRY(model_forward_pass(m, batch, seq, 0));

    /* Loss and its gradient in one pass; dlogits replaces the logits. */
    dt_tensor logits = model_act2(m, a->logits, n, v);
    TRY(dt_softmax_xent(dev, logits, dt_tensor_1d(m->arena, a->targets, DT_I32, n),
                        dt_tensor_1d(m->arena, a->losses, DT_F32, n), logits, grad_scale));

    dt_tensor dx = model_act2(m, a->dx, n, d);
    dt_tensor dtmp = model_act2(m, a->dtmp, n, d);
    dt_tensor xf = model_act2(m, a->xf, n, d);
    const int p_final = model_param_index(c, MODEL_P_FINAL_NORM, 0);
    const int p_head = model_param_index(c, MODEL_P_LM_HEAD, 0);
    /* LM head: dxf into dtmp, then back through the final RMSNorm into dx. */
    TRY(linear_bwd(dev, xf, model_weight(m, p_head), logits, dtmp, model_grad(m, p_head), dw_beta));
    TRY(clear_if_overwriting(dev, mode, model_grad(m, p_final)));
    TRY(dt_rmsnorm_bwd(dev, model_act2(m, a->x[c->n_layers], n, d), model_weight(m, p_final),
                       dt_tensor_1d(m->arena, a->rstdf, DT_F32, n), dtmp, dx,
                       model_grad(m, p_final)));

    dt_tensor rope = dt_tensor_3d(m->rope, 0, DT_F32, seq, hd / 2, 2);
    for (int64_t l = c->n_layers - 1; l >= 0; l--) {
        const model_layer_acts *la = &a->layer[l];
        const int p_an = model_param_index(c, MODEL_P_ATTN_NORM, (int)l);
        const int p_qkv = model_param_index(c, MODEL_P_WQKV, (int)l);
        const int p_wo = model_param_index(c, MODEL_P_WO, (int)l);
        const int p_mn = model_param_index(c, MODEL_P_MLP_NORM, (int)l);
        const int p_w13 = model_param_index(c, MODEL_P_W13, (int)l);
        const int p_w2 = model_param_index(c, MODEL_P_W2, (int)l);
        dt_tensor dbig2f = model_act2(m, a->dbig, n, 2 * f);
        dt_tensor dg = model_act2(m, a->dg, n, f);

        /* MLP branch: x_out = x_mid + swiglu(rmsnorm(x_mid) W13^T) W2^T.
         * dx holds d x_out; it becomes d x_mid. */
        TRY(linear_bwd(dev, model_act2(m, la->g, n, f), model_weight(m, p_w2), dx, dg,
                       model_grad(m, p_w2), dw_beta));
        TRY(dt_swiglu_bwd(dev, model_act2(m, la->h, n, 2 * f), dg, dbig2f));
        TRY(linear_bwd(dev, model_act2(m, la->xn2, n, d), model_weight(m, p_w13), dbig2f, dtmp,
                       model_grad(m, p_w13), dw_beta));
        TRY(clear_if_overwriting(dev, mode, model_grad(m, p_mn)));
        TRY(dt_rmsnorm_bwd(dev, model_act2(m, la->x_mid, n, d), model_weight(m, p_mn),
                           dt_tensor_1d(m->arena, la->rstd2, DT_F32, n), dtmp, dtmp,
                           model_grad(m, p_mn)));
        TRY(dt_add(dev, dx, dtmp, dx));

        /* Attention branch: x_mid = x + attention(rope(rmsnorm(x) Wqkv^T)) Wo^T.
         * dx holds d x_mid; it becomes d x. dtmp carries d att, then d xn1. */
        dt_tensor dqkv = model_act2(m, a->dbig, n, 3 * d);
        TRY(linear_bwd(dev, model_act2(m, la->att, n, d), model_weight(m, p_wo), dx, dtmp,
                       model_grad(m, p_wo), dw_beta));
        TRY(dt_attention_bwd(dev, dt_tensor_3d(m->arena, la->qkv, DT_F32, batch, seq, 3 * d),
                             dt_tensor_3d(m->arena, la->att, DT_F32, batch, seq, d),
                             dt_tensor_3d(m->arena, a->dtmp, DT_F32, batch, seq, d),
                             dt_tensor_3d(m->arena, la->lse, DT_F32, batch, h, seq),
                             dt_tensor_3d(m->arena, a->dbig, DT_F32, batch, seq, 3 * d),
                             dt_tensor_3d(m->arena, a->att_scratch, DT_F32, batch, h, seq), h,
                             scale));
        TRY(dt_rope_bwd(dev, dqkv, rope, hd, 2 * d));
        TRY(linear_bwd(dev, model_act2(m, la->xn1, n, d), model_weight(m, p_qkv), dqkv, dtmp,
                       model_grad(m, p_qkv), dw_beta));
        TRY(clear_if_overwriting(dev, mode, model_grad(m, p_an)));
        TRY(dt_rmsnorm_bwd(dev, model_act2(m, a->x[l], n, d), model_weight(m, p_an),
                           dt_tensor_1d(m->arena, la->rstd1, DT_F32, n), dtmp, dtmp,
                           model_grad(m, p_an)));
        TRY(dt_add(dev, dx, dtmp, dx));
    }
    /* Tied, the table's gradient already holds the head's. */
    const dt_tensor demb = model_grad(m, model_param_index(c, MODEL_P_TOK_EMB, 0));
    if (!c->tie_embeddings) TRY(clear_if_overwriting(dev, mode, demb));
    TRY(dt_embedding_bwd(dev, dt_tensor_1d(m->arena, a->tokens, DT_I32, n), dx, demb));
    return model_mean_loss(m, n, loss);
}
