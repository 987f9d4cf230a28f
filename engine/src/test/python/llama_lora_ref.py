#!/usr/bin/python3
"""Independent reference forward pass for Llama / Mistral / Qwen2 models with PEFT LoRA adapters.

Written straight from the Hugging Face `modeling_llama.py` / `modeling_mistral.py` / `modeling_qwen2.py` and
PEFT `lora/layer.py` definitions, using only torch, json and struct (no transformers, no safetensors package):
it is the yardstick the Java engine is compared with, not an optimised engine.

Precision: every weight is upcast to float32 when used and all arithmetic is float32 (HF's RMSNorm computes in
fp32 too; with fp32 weights this is exactly HF's eager math). For bf16/f16 checkpoints HF would round the
activations to bf16/f16 between ops; this reference does not, so it is the "exact" answer that both HF-in-bf16
and our engine approximate. TF32 is disabled on CUDA.

CLI:
  llama_lora_ref.py --model DIR --requests REQ.json --out OUT.json [--merged] [--greedy N]
                    [--logits all|last|none] [--device cpu|cuda]
REQ.json: [{"tokens": [int, ...], "adapter": "DIR" | null}, ...]   (adapter: a PEFT folder)
OUT.json: [{"logits": [[float x vocab] x positions], "greedy": [int x N]}, ...]  ("greedy" only with --greedy)
--merged: fold each adapter into the base weights (W + scale * B @ A) and run the plain model instead.
Each request runs alone (batch of one); greedy decoding recomputes the whole sequence at every step.
"""
import argparse
import json
import math
import os
import re
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
PROJS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
         "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


def read_safetensors(path):
    """name -> tensor (in its stored dtype) from one .safetensors file."""
    out = {}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
        base = 8 + n
        for name, info in header.items():
            if name == "__metadata__":
                continue
            start, end = info["data_offsets"]
            f.seek(base + start)
            buf = bytearray(f.read(end - start))
            dtype = DTYPES[info["dtype"]]
            t = torch.frombuffer(buf, dtype=dtype) if buf else torch.empty(0, dtype=dtype)
            out[name] = t.reshape(info["shape"])
    return out


def read_model_weights(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        weights = {}
        for name in files:
            weights.update(read_safetensors(os.path.join(model_dir, name)))
        return weights
    return read_safetensors(os.path.join(model_dir, "model.safetensors"))


class Lora:
    """One PEFT LoRA adapter: module name -> (A [r,in], B [out,r], scale), all float32."""

    def __init__(self, adapter_dir, device):
        with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
            cfg = json.load(f)
        if cfg.get("peft_type", "LORA") != "LORA":
            raise ValueError(f"{adapter_dir}: peft_type {cfg.get('peft_type')} is not LORA")
        if cfg.get("use_dora"):
            raise ValueError(f"{adapter_dir}: DoRA is not supported")
        if cfg.get("fan_in_fan_out"):
            # PEFT does the same for nn.Linear targets: warns and sets fan_in_fan_out=False (the flag only
            # describes transposed Conv1D base weights; lora_A/lora_B are always nn.Linear weights).
            print(f"warning: {adapter_dir}: fan_in_fan_out=True on nn.Linear targets; ignored like PEFT",
                  file=sys.stderr)
        tensors = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
        self.modules = {}
        for name, a in tensors.items():
            m = re.fullmatch(r"base_model\.model\.(.+)\.lora_A(?:\.[^.]+)?\.weight", name)
            if not m:
                if ".lora_B" not in name:
                    raise ValueError(f"{adapter_dir}: unsupported tensor {name}")
                continue
            module = m.group(1)
            b = tensors[name.replace("lora_A", "lora_B")]
            r = a.shape[0]
            alpha = self._pattern(cfg.get("alpha_pattern"), module, cfg["lora_alpha"])
            r_cfg = self._pattern(cfg.get("rank_pattern"), module, cfg["r"])
            if r_cfg != r:
                raise ValueError(f"{adapter_dir}: {module} has rank {r} but the config says {r_cfg}")
            scale = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
            self.modules[module] = (a.float().to(device), b.float().to(device), scale)

    @staticmethod
    def _pattern(patterns, module, default):
        # PEFT: key matches if the module name ends with it (as a regex), e.g. "layers.0.self_attn.q_proj"
        for key, value in (patterns or {}).items():
            if re.match(rf"(.*\.)?{key}$", module):
                return value
        return default


class Model:
    def __init__(self, model_dir, device):
        with open(os.path.join(model_dir, "config.json")) as f:
            c = json.load(f)
        self.c = c
        self.device = device
        self.arch = c.get("model_type", "llama")
        if self.arch not in ("llama", "mistral", "qwen2"):
            raise ValueError(f"model_type {self.arch} not supported")
        if c.get("hidden_act", "silu") != "silu":
            raise ValueError(f"hidden_act {c['hidden_act']} not supported")
        self.hidden = c["hidden_size"]
        self.layers = c["num_hidden_layers"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads") or self.heads
        self.head_dim = c.get("head_dim") or self.hidden // self.heads
        self.eps = c["rms_norm_eps"]
        self.vocab = c["vocab_size"]
        self.w = {k: v.to(device) for k, v in read_model_weights(model_dir).items()}
        if "lm_head.weight" not in self.w:
            if not c.get("tie_word_embeddings", False):
                raise ValueError("no lm_head.weight and tie_word_embeddings is false")
            self.w["lm_head.weight"] = self.w["model.embed_tokens.weight"]
        self.inv_freq = self._inv_freq()
        self.window = self._sliding_windows()

    def _inv_freq(self):
        c, d = self.c, self.head_dim
        inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
        rs = c.get("rope_scaling")
        kind = (rs or {}).get("rope_type", (rs or {}).get("type", "default"))
        if kind == "default":
            return inv
        if kind == "linear":
            return inv / rs["factor"]
        if kind != "llama3":
            raise ValueError(f"rope_scaling {kind} not supported")
        # transformers modeling_rope_utils._compute_llama3_parameters
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv
        inv_l = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        return torch.where(medium, smoothed, inv_l)

    def _sliding_windows(self):
        """Per layer: None (full causal) or the window w (token i sees j with i - w < j <= i)."""
        c = self.c
        if self.arch == "mistral" and c.get("sliding_window"):
            return [c["sliding_window"]] * self.layers
        if self.arch == "qwen2" and c.get("use_sliding_window") and c.get("sliding_window"):
            mwl = c.get("max_window_layers", self.layers)
            return [c["sliding_window"] if i >= mwl else None for i in range(self.layers)]
        return [None] * self.layers

    def rms_norm(self, x, name):
        # HF LlamaRMSNorm: variance in fp32, then weight * x.to(input dtype) (fp32 here)
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.w[name].float() * x

    def linear(self, x, module, lora, merged):
        """y = x W^T (+ b) (+ (x A^T B^T) * scale). x: [T, in]."""
        w = self.w[module + ".weight"].float()
        ab = lora.modules.get(module) if lora else None
        if ab is not None and merged:
            a, b, scale = ab
            w = w + scale * (b @ a)
        y = x @ w.t()
        bias = self.w.get(module + ".bias")
        if bias is not None:
            y = y + bias.float()
        if ab is not None and not merged:
            a, b, scale = ab
            y = y + (x @ a.t()) @ b.t() * scale
        return y

    def rope(self, x, positions):
        # x: [heads, T, d]; rotate-half convention of HF Llama
        freqs = positions.float()[:, None] * self.inv_freq.to(x.device)[None, :]  # [T, d/2]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        half = x.shape[-1] // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rotated * sin

    def attention(self, h, layer, lora, merged):
        p = f"model.layers.{layer}.self_attn."
        t = h.shape[0]
        q = self.linear(h, p + "q_proj", lora, merged).view(t, self.heads, self.head_dim).transpose(0, 1)
        k = self.linear(h, p + "k_proj", lora, merged).view(t, self.kv_heads, self.head_dim).transpose(0, 1)
        v = self.linear(h, p + "v_proj", lora, merged).view(t, self.kv_heads, self.head_dim).transpose(0, 1)
        pos = torch.arange(t, device=h.device)
        q, k = self.rope(q, pos), self.rope(k, pos)
        groups = self.heads // self.kv_heads  # repeat_kv: query head i uses kv head i // groups
        k = k.repeat_interleave(groups, dim=0)
        v = v.repeat_interleave(groups, dim=0)
        scores = (q @ k.transpose(1, 2)) / math.sqrt(self.head_dim)  # [heads, T, T]
        i, j = pos[:, None], pos[None, :]
        allowed = j <= i
        if self.window[layer] is not None:
            allowed = allowed & (i - j < self.window[layer])
        scores = scores.masked_fill(~allowed, float("-inf"))
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32)
        o = (probs @ v).transpose(0, 1).reshape(t, self.heads * self.head_dim)
        return self.linear(o, p + "o_proj", lora, merged)

    def mlp(self, h, layer, lora, merged):
        p = f"model.layers.{layer}.mlp."
        g = self.linear(h, p + "gate_proj", lora, merged)
        u = self.linear(h, p + "up_proj", lora, merged)
        return self.linear(torch.nn.functional.silu(g) * u, p + "down_proj", lora, merged)

    def forward(self, tokens, lora=None, merged=False):
        """tokens: list of ints -> logits [T, vocab] float32."""
        ids = torch.tensor(tokens, dtype=torch.long, device=self.device)
        x = self.w["model.embed_tokens.weight"][ids].float()  # [T, H]
        for layer in range(self.layers):
            p = f"model.layers.{layer}."
            x = x + self.attention(self.rms_norm(x, p + "input_layernorm.weight"), layer, lora, merged)
            x = x + self.mlp(self.rms_norm(x, p + "post_attention_layernorm.weight"), layer, lora, merged)
        x = self.rms_norm(x, "model.norm.weight")
        return x @ self.w["lm_head.weight"].float().t()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--requests", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--merged", action="store_true", help="merge each adapter into W and run the base model")
    ap.add_argument("--greedy", type=int, default=0, help="also generate N greedy tokens per request")
    ap.add_argument("--logits", choices=("all", "last", "none"), default="all")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)

    torch.set_grad_enabled(False)
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    model = Model(args.model, args.device)
    with open(args.requests) as f:
        requests = json.load(f)
    adapters = {}
    results = []
    for req in requests:
        tokens = list(req["tokens"])
        if not tokens:
            raise ValueError("a request needs at least one token")
        bad = [t for t in tokens if not 0 <= t < model.vocab]
        if bad:
            raise ValueError(f"token ids {bad[:5]} outside vocab {model.vocab}")
        path = req.get("adapter")
        lora = None
        if path:
            if path not in adapters:
                adapters[path] = Lora(path, args.device)
                unknown = [m for m in adapters[path].modules if m + ".weight" not in model.w]
                if unknown:
                    raise ValueError(f"{path}: adapter targets modules the model lacks: {unknown[:3]}")
            lora = adapters[path]
        logits = model.forward(tokens, lora, args.merged)
        res = {}
        if args.logits == "all":
            res["logits"] = logits.cpu().tolist()
        elif args.logits == "last":
            res["logits"] = [logits[-1].cpu().tolist()]
        if args.greedy:
            seq, gen = list(tokens), []
            nxt = int(torch.argmax(logits[-1]))
            for step in range(args.greedy):
                gen.append(nxt)
                seq.append(nxt)
                if step + 1 < args.greedy:
                    nxt = int(torch.argmax(model.forward(seq, lora, args.merged)[-1]))
            res["greedy"] = gen
        results.append(res)
    with open(args.out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
