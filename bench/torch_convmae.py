#!/usr/bin/env python3
"""The ConvMAE pretraining model and the ConvViT finetuning model as the official PyTorch code runs
them, written from SPEC.md, to time the official steps on the same card in the same run as ours
(the GPU machine has PyTorch but not the official repository).

  python3 bench/torch_convmae.py --check FIXTURE.safetensors [...]   loss, output and every
      gradient against parity fixtures made by the official code (pretrain-* and finetune-*,
      float64 on the CPU); exit 1 when any is off by more than the parity tolerances (1e-4
      forward, 1e-3 gradients)
  python3 bench/torch_convmae.py --time [--kind pretrain|finetune|both] [--batch 128] [--steps 5]
      [--precision bf16|float32] [--device cuda|cpu] [--compile]
      the ConvMAE-B pretraining step and/or the ConvViT-B finetuning step (drop path 0.1, soft
      targets) (forward, backward, AdamW): images/s and, on cuda, peak memory, a line of JSON each;
      --compile runs the model through torch.compile (the issue's second reference figure; the
      compilation takes minutes and is not timed)

Structure, as the official code has it (SPEC.md sections 2 and 3): NCHW tensors; stages 1-2 run
densely over the whole 56x56 / 28x28 maps with the visibility mask multiplied after conv1
(CBlock); every LayerNorm of stages 1-2 and of the patch embeds goes through two permutes; 1x1
convs are nn.Conv2d; the stage-3 and decoder blocks are timm 0.3.2 Blocks with the explicit
softmax attention; the decoder unshuffles with torch.gather; norm-pix loss. Training in bf16 uses
torch.autocast, as the official recipe's AMP does, and torch.optim.AdamW.
"""
import argparse
import json
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class PatchEmbed(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.proj = nn.Conv2d(cin, cout, k, stride=k)
        self.norm = nn.LayerNorm(cout)  # eps 1e-5: the official PatchEmbed ignores norm_layer

    def forward(self, x):
        x = self.proj(x)
        return F.gelu(self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))


class CMlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class DropPath(nn.Module):
    """Stochastic depth (timm): per sample, keep with probability 1 - p and divide by it."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = 1 - self.p
        return x * x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep) / keep


class CBlock(nn.Module):
    def __init__(self, dim, ratio, drop_path=0.0):
        super().__init__()
        self.drop_path = DropPath(drop_path)
        self.norm1 = nn.LayerNorm(dim)
        self.conv1 = nn.Conv2d(dim, dim, 1)
        self.conv2 = nn.Conv2d(dim, dim, 1)
        self.attn = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = CMlp(dim, int(dim * ratio))

    def forward(self, x, visible=None):
        a = self.conv1(self.norm1(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
        x = x + self.drop_path(self.conv2(self.attn(a if visible is None else visible * a)))
        return x + self.drop_path(self.mlp(self.norm2(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, l, c = x.shape
        qkv = self.qkv(x).reshape(n, l, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(n, l, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, ratio, eps, drop_path=0.0):
        super().__init__()
        self.drop_path = DropPath(drop_path)
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * ratio))

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def upsample_mask(mask, side):
    """mask [N, 196] (1 = removed) -> the visibility map [N, 1, side, side] of SPEC.md 3.2."""
    n, f = mask.shape[0], side // 14
    m = mask.reshape(n, 14, 1, 14, 1).expand(n, 14, f, 14, f).reshape(n, 1, side, side)
    return 1 - m


class ConvMAE(nn.Module):
    def __init__(self, c, eps=1e-6):
        super().__init__()
        c1, c2, c3 = c['embed_dim']
        d, r = c['dec_dim'], c['mlp_ratio']
        self.patch_embed1 = PatchEmbed(3, c1, 4)
        self.patch_embed2 = PatchEmbed(c1, c2, 2)
        self.patch_embed3 = PatchEmbed(c2, c3, 2)
        self.patch_embed4 = nn.Linear(c3, c3)
        self.stage1_output_decode = nn.Conv2d(c1, c3, 4, stride=4)
        self.stage2_output_decode = nn.Conv2d(c2, c3, 2, stride=2)
        self.pos_embed = nn.Parameter(torch.zeros(1, 196, c3), requires_grad=False)
        self.blocks1 = nn.ModuleList([CBlock(c1, r[0]) for _ in range(c['depth'][0])])
        self.blocks2 = nn.ModuleList([CBlock(c2, r[1]) for _ in range(c['depth'][1])])
        self.blocks3 = nn.ModuleList([Block(c3, c['num_heads'], r[2], eps) for _ in range(c['depth'][2])])
        self.norm = nn.LayerNorm(c3, eps=eps)
        self.decoder_embed = nn.Linear(c3, d)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, 196, d), requires_grad=False)
        self.decoder_blocks = nn.ModuleList([Block(d, c['dec_heads'], c['dec_mlp_ratio'], eps) for _ in range(c['dec_depth'])])
        self.decoder_norm = nn.LayerNorm(d, eps=eps)
        self.decoder_pred = nn.Linear(d, 768)
        self.norm_pix = c['norm_pix_loss']
        for m in self.modules():  # timm-style init, so that the timing step runs on sensible values
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, imgs, noise, ratio=0.75):
        n = imgs.shape[0]
        keep = int(196 * (1 - ratio))
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :keep]
        mask = torch.ones(n, 196, device=imgs.device, dtype=imgs.dtype)
        mask[:, :keep] = 0
        mask = torch.gather(mask, 1, ids_restore)
        x = self.patch_embed1(imgs)
        v1 = upsample_mask(mask, 56)  # in the mask's dtype, as the official code multiplies it
        for b in self.blocks1:
            x = b(x, v1)
        s1 = self.stage1_output_decode(x).flatten(2).permute(0, 2, 1)
        x = self.patch_embed2(x)
        v2 = upsample_mask(mask, 28)
        for b in self.blocks2:
            x = b(x, v2)
        s2 = self.stage2_output_decode(x).flatten(2).permute(0, 2, 1)
        x = self.patch_embed4(self.patch_embed3(x).flatten(2).permute(0, 2, 1)) + self.pos_embed
        take = lambda t: torch.gather(t, 1, ids_keep.unsqueeze(-1).repeat(1, 1, t.shape[-1]))
        x, s1, s2 = take(x), take(s1), take(s2)
        for b in self.blocks3:
            x = b(x)
        latent = self.norm(x + s1 + s2)
        y = self.decoder_embed(latent)
        y = torch.cat([y, self.mask_token.repeat(n, 196 - keep, 1)], dim=1)
        z = torch.gather(y, 1, ids_restore.unsqueeze(-1).repeat(1, 1, y.shape[2])) + self.decoder_pos_embed
        for b in self.decoder_blocks:
            z = b(z)
        pred = self.decoder_pred(self.decoder_norm(z))
        target = imgs.reshape(n, 3, 14, 16, 14, 16).permute(0, 2, 4, 3, 5, 1).reshape(n, 196, 768)
        if self.norm_pix:
            target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6) ** 0.5
        loss = ((pred - target) ** 2).mean(-1)
        return (loss * mask).sum() / mask.sum(), pred, mask


class ConvViT(nn.Module):
    """The finetuning classifier (SPEC.md 6.1): no mask, 196 tokens in stage 3, global pool."""

    def __init__(self, c, num_classes, drop_path, eps=1e-6):
        super().__init__()
        c1, c2, c3 = c['embed_dim']
        r, depth = c['mlp_ratio'], c['depth']
        total = sum(depth)
        dpr = [drop_path * i / (total - 1) if total > 1 else 0.0 for i in range(total)]
        self.patch_embed1 = PatchEmbed(3, c1, 4)
        self.patch_embed2 = PatchEmbed(c1, c2, 2)
        self.patch_embed3 = PatchEmbed(c2, c3, 2)
        self.patch_embed4 = nn.Linear(c3, c3)
        self.pos_embed = nn.Parameter(torch.zeros(1, 196, c3))
        self.blocks1 = nn.ModuleList([CBlock(c1, r[0], dpr[i]) for i in range(depth[0])])
        self.blocks2 = nn.ModuleList([CBlock(c2, r[1], dpr[depth[0] + i]) for i in range(depth[1])])
        self.blocks3 = nn.ModuleList([Block(c3, c['num_heads'], r[2], eps, dpr[depth[0] + depth[1] + i]) for i in range(depth[2])])
        self.fc_norm = nn.LayerNorm(c3, eps=eps)
        self.head = nn.Linear(c3, num_classes)

    def forward(self, imgs):
        x = self.patch_embed1(imgs)
        for b in self.blocks1:
            x = b(x)
        x = self.patch_embed2(x)
        for b in self.blocks2:
            x = b(x)
        x = self.patch_embed4(self.patch_embed3(x).flatten(2).permute(0, 2, 1)) + self.pos_embed
        for b in self.blocks3:
            x = b(x)
        return self.head(self.fc_norm(x.mean(1)))


def read_safetensors(path):
    """{name: float32 tensor} and the metadata of a safetensors file (float32 entries only)."""
    with open(path, 'rb') as f:
        raw = f.read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop('__metadata__', {})
    out = {}
    for k, v in header.items():
        if v['dtype'] != 'F32':
            raise ValueError(f'{path}: {k} is {v["dtype"]}, not F32')
        a, b = v['data_offsets']
        out[k] = torch.frombuffer(bytearray(raw[8 + n + a:8 + n + b]), dtype=torch.float32).reshape(v['shape'])
    return out, meta


def check(path):
    """Relative errors of the loss, the output and every gradient against a parity fixture."""
    t, meta = read_safetensors(path)
    cfg = json.loads(meta['config'])
    finetune = 'input.labels' in t
    torch.set_default_dtype(torch.float64)
    try:
        eps = cfg.get('layer_norm_eps', 1e-6)
        m = (ConvViT(cfg, cfg['num_classes'], cfg.get('drop_path', 0.0), eps) if finetune else ConvMAE(cfg, eps)).double()
        state = {k[len('param.'):]: v.double() for k, v in t.items() if k.startswith('param.')}
        missing, unexpected = m.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f'{path}: state dict mismatch: missing {missing}, unexpected {unexpected}')
        if finetune:
            m.eval()  # as the fixture was made: no stochastic depth
            out = m(t['input.imgs'].double())
            loss = F.cross_entropy(out, t['input.labels'].long())
            want = t['out.logits']
        else:
            loss, out, _ = m(t['input.imgs'].double(), t['input.noise'].double(), cfg['mask_ratio'])
            want = t['out.pred']
        loss.backward()
        rel = lambda a, b: float((a - b).norm() / max(float(b.norm()), 1e-30))
        errs = {'loss': rel(loss.reshape(1), t['out.loss'].double()), 'out': rel(out.detach(), want.double())}
        worst_grad, grads = ('', 0.0), 0
        for k, p in m.named_parameters():
            g = t.get('grad.' + k)
            if g is not None and p.grad is not None:
                grads += 1
                worst_grad = max(worst_grad, (k, rel(p.grad, g.double())), key=lambda x: x[1])
    finally:
        torch.set_default_dtype(torch.float32)
    ok = errs['loss'] <= 1e-4 and errs['out'] <= 1e-4 and worst_grad[1] <= 1e-3 and grads > 0
    print(f'{path}: loss {errs["loss"]:.2e}, {"logits" if finetune else "pred"} {errs["out"]:.2e}, '
          f'worst of {grads} grads {worst_grad[1]:.2e} ({worst_grad[0]}): {"ok" if ok else "FAIL"}')
    return ok


BASE = dict(embed_dim=[256, 384, 768], depth=[2, 2, 11], num_heads=12, dec_dim=512, dec_depth=8, dec_heads=16,
            mlp_ratio=[4, 4, 4], dec_mlp_ratio=4, norm_pix_loss=True)


def time_step(kind, batch, steps, precision, device, compiled):
    """Images/s and (cuda) peak memory of the ConvMAE-B pretraining or ConvViT-B finetuning step."""
    dev = torch.device(device)
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    m = (ConvMAE(BASE) if kind == 'pretrain' else ConvViT(BASE, 1000, 0.1)).to(dev)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    run = torch.compile(m) if compiled else m
    imgs = torch.randn(batch, 3, 224, 224, device=dev)
    # soft targets (label smoothing 0.1), as mixup/cutmix give the official finetuning
    targets = torch.full((batch, 1000), 0.1 / 1000, device=dev)
    targets[torch.arange(batch), torch.arange(batch) % 1000] += 0.9

    def step():
        with torch.autocast(device, dtype=torch.bfloat16, enabled=precision == 'bf16'):
            if kind == 'pretrain':
                loss, _, _ = run(imgs, torch.rand(batch, 196, device=dev))
            else:
                loss = torch.sum(-targets * F.log_softmax(run(imgs), dim=-1), dim=-1).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    sync()
    if device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    sec = time.perf_counter() - t0
    name = 'ConvMAE-B pretraining' if kind == 'pretrain' else 'ConvViT-B finetuning'
    r = {'step': f'{name} (official structure, {"torch.compile" if compiled else "eager"})', 'batch': batch, 'precision': precision, 'img_per_s': batch * steps / sec,
         'device': torch.cuda.get_device_name() if device == 'cuda' else 'cpu', 'torch': torch.__version__}
    if device == 'cuda':
        r['peak_gib'] = torch.cuda.max_memory_allocated() / 2 ** 30
    print(json.dumps(r))
    del m, run, opt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--check', nargs='*', default=[], help='parity fixtures (pretrain-* and finetune-*) to check the models against')
    ap.add_argument('--time', action='store_true', help='time the base-size steps')
    ap.add_argument('--kind', choices=['pretrain', 'finetune', 'both'], default='both')
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--precision', choices=['bf16', 'float32'], default='bf16')
    ap.add_argument('--device', choices=['cuda', 'cpu'], default='cuda')
    ap.add_argument('--compile', action='store_true', help='time the torch.compile model (compiled first, untimed)')
    a = ap.parse_args()
    if not a.check and not a.time:
        ap.error('nothing to do: give --check FIXTURE... and/or --time')
    if a.batch < 1 or a.steps < 1:
        ap.error('--batch and --steps must be >= 1')
    if a.time and a.device == 'cpu' and a.precision == 'bf16':
        ap.error('--precision bf16 times the CUDA autocast step; on the cpu use --precision float32')
    ok = all([check(p) for p in a.check])
    if a.time:
        for kind in (['pretrain', 'finetune'] if a.kind == 'both' else [a.kind]):
            time_step(kind, a.batch, a.steps, a.precision, a.device, a.compile)
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
