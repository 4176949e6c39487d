// ConvMAE-B parameter names and shapes, built from the key table of SPEC §11.3 (test helper).

export interface P {
  name: string;
  shape: number[];
}

function cblock(prefix: string, d: number, hidden: number): P[] {
  return [
    { name: `${prefix}.norm1.weight`, shape: [d] }, { name: `${prefix}.norm1.bias`, shape: [d] },
    { name: `${prefix}.conv1.weight`, shape: [d, d, 1, 1] }, { name: `${prefix}.conv1.bias`, shape: [d] },
    { name: `${prefix}.conv2.weight`, shape: [d, d, 1, 1] }, { name: `${prefix}.conv2.bias`, shape: [d] },
    { name: `${prefix}.attn.weight`, shape: [d, 1, 5, 5] }, { name: `${prefix}.attn.bias`, shape: [d] },
    { name: `${prefix}.norm2.weight`, shape: [d] }, { name: `${prefix}.norm2.bias`, shape: [d] },
    { name: `${prefix}.mlp.fc1.weight`, shape: [hidden, d, 1, 1] }, { name: `${prefix}.mlp.fc1.bias`, shape: [hidden] },
    { name: `${prefix}.mlp.fc2.weight`, shape: [d, hidden, 1, 1] }, { name: `${prefix}.mlp.fc2.bias`, shape: [d] },
  ];
}

function block(prefix: string, d: number, hidden: number): P[] {
  return [
    { name: `${prefix}.norm1.weight`, shape: [d] }, { name: `${prefix}.norm1.bias`, shape: [d] },
    { name: `${prefix}.attn.qkv.weight`, shape: [3 * d, d] }, { name: `${prefix}.attn.qkv.bias`, shape: [3 * d] },
    { name: `${prefix}.attn.proj.weight`, shape: [d, d] }, { name: `${prefix}.attn.proj.bias`, shape: [d] },
    { name: `${prefix}.norm2.weight`, shape: [d] }, { name: `${prefix}.norm2.bias`, shape: [d] },
    { name: `${prefix}.mlp.fc1.weight`, shape: [hidden, d] }, { name: `${prefix}.mlp.fc1.bias`, shape: [hidden] },
    { name: `${prefix}.mlp.fc2.weight`, shape: [d, hidden] }, { name: `${prefix}.mlp.fc2.bias`, shape: [d] },
  ];
}

function encoder(): P[] {
  const out: P[] = [
    { name: 'patch_embed1.proj.weight', shape: [256, 3, 4, 4] }, { name: 'patch_embed1.proj.bias', shape: [256] },
    { name: 'patch_embed1.norm.weight', shape: [256] }, { name: 'patch_embed1.norm.bias', shape: [256] },
    { name: 'patch_embed2.proj.weight', shape: [384, 256, 2, 2] }, { name: 'patch_embed2.proj.bias', shape: [384] },
    { name: 'patch_embed2.norm.weight', shape: [384] }, { name: 'patch_embed2.norm.bias', shape: [384] },
    { name: 'patch_embed3.proj.weight', shape: [768, 384, 2, 2] }, { name: 'patch_embed3.proj.bias', shape: [768] },
    { name: 'patch_embed3.norm.weight', shape: [768] }, { name: 'patch_embed3.norm.bias', shape: [768] },
    { name: 'patch_embed4.weight', shape: [768, 768] }, { name: 'patch_embed4.bias', shape: [768] },
  ];
  for (let k = 0; k < 2; k++) out.push(...cblock(`blocks1.${k}`, 256, 1024));
  for (let k = 0; k < 2; k++) out.push(...cblock(`blocks2.${k}`, 384, 1536));
  for (let k = 0; k < 11; k++) out.push(...block(`blocks3.${k}`, 768, 3072));
  return out;
}

/** The 313 tensors of the ConvMAE-B pretraining model. */
export function convmaeBPretrain(): P[] {
  const out: P[] = [
    { name: 'pos_embed', shape: [1, 196, 768] },
    { name: 'mask_token', shape: [1, 1, 512] },
    { name: 'decoder_pos_embed', shape: [1, 196, 512] },
    ...encoder(),
    { name: 'stage1_output_decode.weight', shape: [768, 256, 4, 4] }, { name: 'stage1_output_decode.bias', shape: [768] },
    { name: 'stage2_output_decode.weight', shape: [768, 384, 2, 2] }, { name: 'stage2_output_decode.bias', shape: [768] },
    { name: 'norm.weight', shape: [768] }, { name: 'norm.bias', shape: [768] },
    { name: 'decoder_embed.weight', shape: [512, 768] }, { name: 'decoder_embed.bias', shape: [512] },
  ];
  for (let k = 0; k < 8; k++) out.push(...block(`decoder_blocks.${k}`, 512, 2048));
  out.push({ name: 'decoder_norm.weight', shape: [512] }, { name: 'decoder_norm.bias', shape: [512] },
           { name: 'decoder_pred.weight', shape: [768, 512] }, { name: 'decoder_pred.bias', shape: [768] });
  return out;
}

/** The ConvViT-B finetuning model (global pool, 1000 classes). */
export function convvitBFinetune(): P[] {
  return [
    { name: 'pos_embed', shape: [1, 196, 768] },
    ...encoder(),
    { name: 'fc_norm.weight', shape: [768] }, { name: 'fc_norm.bias', shape: [768] },
    { name: 'head.weight', shape: [1000, 768] }, { name: 'head.bias', shape: [1000] },
  ];
}

export function numel(p: P): number {
  return p.shape.reduce((a, b) => a * b, 1);
}
