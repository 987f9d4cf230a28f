#!/usr/bin/python3
"""Trains lorastream's demo model: a small byte-level Llama and four LoRA adapters, each on one style of text.

Everything it reads ships with Debian, and everything it writes uses the formats real models use:
  OUT/config.json, OUT/model.safetensors, OUT/tokenizer.json   (Hugging Face LlamaForCausalLM, byte-level BPE)
  OUT/adapters/{legal,python,shell,docs}/adapter_config.json, adapter_model.safetensors   (PEFT LoRA)

Styles (one corpus each; the base model is trained on an even mix of all four):
  legal   licence texts        /usr/share/common-licenses
  python  Python source        /usr/lib/python3.11/*.py
  shell   shell scripts        files starting with #!/bin/sh or #!/bin/bash under /usr/bin, /usr/sbin, /etc, ...
  docs    English docs         README*, *.txt, *.md under /usr/share/doc (prose only, licences left out)

Run with Debian's torch (not the pyenv python3 on PATH), niced because the machine is shared:
  nice -n 19 /usr/bin/python3 training/train_lorastream_demo.py --out models/lorastream-demo

Seeded and reproducible: sorted file lists, fixed caps, one torch generator per phase, a fixed thread count
(float sums depend on it). The recipe's fingerprint is stored in model.safetensors' metadata; the script
refuses to write into a folder that holds a model with a different fingerprint.
"""
import argparse
import hashlib
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F

# Token ids, the same layout as lorastream's TokenizerJson: 4 specials, then byte b = 4 + b (no merges).
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]
BOS, EOS, BYTE_OFFSET = 1, 2, 4
VOCAB = BYTE_OFFSET + 256

# The whole recipe; its hash is the model's fingerprint. Change a value and the output is a different model.
RECIPE = {
    "seed": 1234,
    "threads": 1,
    "hidden": 256,
    "layers": 4,
    "heads": 4,
    "kv_heads": 2,
    "intermediate": 688,
    "context": 256,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-5,
    "file_cap_bytes": 24_000,  # per file, so no single file dominates a style
    "style_cap_bytes": 1_200_000,  # per style
    "base": {"steps": 1200, "batch": 16, "seq": 128, "lr": 3e-3, "warmup": 60, "weight_decay": 0.1},
    "lora": {"steps": 160, "steps_by_style": {"python": 400}, "batch": 16, "seq": 128, "lr": 4e-3, "warmup": 20, "r": 16, "alpha": 32,
             "targets": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]},
}
STYLES = ("legal", "python", "shell", "docs")
SHELL_ROOTS = ("/usr/bin", "/usr/sbin", "/etc", "/usr/share/debconf", "/usr/lib/dpkg")
SHEBANGS = (b"#!/bin/sh", b"#! /bin/sh", b"#!/bin/bash", b"#!/usr/bin/env bash", b"#!/usr/bin/env sh")
LICENCE_MARKERS = ("WITHOUT ANY WARRANTY", "Permission is hereby granted", "Licensed under the",
                   "Redistribution and use in source")


class CorpusError(Exception):
    pass


# ---------------------------------------------------------------------------------------------------- corpus

def walk(root):
    """Every regular file under root (no symlinks), in sorted order."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(p)
    return out


def read_text(path, cap):
    try:
        with open(path, "rb") as f:
            data = f.read(cap)
    except OSError:
        return None
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="ignore")


def is_prose(text):
    """English documentation: mostly letters and spaces, few code-looking lines, not a licence."""
    if len(text) < 400 or any(m in text for m in LICENCE_MARKERS):
        return False
    letters = sum(c.isalpha() or c == " " for c in text)
    lines = [l for l in text.splitlines() if l.strip()]
    codey = sum(l.lstrip()[:1] in "{}<>$#|/;=" or l.startswith(("    ", "\t")) for l in lines)
    return letters / len(text) > 0.8 and codey < 0.2 * len(lines)


def collect(style, dirs, file_cap, style_cap):
    """Deterministic list of documents for one style, capped; raises CorpusError when the corpus is missing."""
    docs, total = [], 0
    roots = dirs[style]
    missing = [r for r in roots if not os.path.isdir(r)]
    if style != "shell" and missing:  # shell scripts come from several roots; any present one is enough
        raise CorpusError(f"{style}: corpus folder {missing[0]} is missing")
    for root in roots:
        if not os.path.isdir(root):
            continue
        for p in walk(root):
            if total >= style_cap:
                break
            if style == "python" and not p.endswith(".py") or style == "python" and os.path.dirname(p) != root:
                continue
            if style == "shell":
                try:
                    with open(p, "rb") as f:
                        if not f.read(32).startswith(SHEBANGS):
                            continue
                except OSError:
                    continue
            if style == "docs":
                name = os.path.basename(p)
                if p.endswith(".gz") or not (name.upper().startswith("README") or name.endswith((".txt", ".md"))):
                    continue
            text = read_text(p, file_cap)
            if not text or (style == "docs" and not is_prose(text)):
                continue
            text = text[: style_cap - total]
            docs.append(text)
            total += len(text.encode("utf-8"))
    if total < 50_000:
        raise CorpusError(f"{style}: only {total} bytes of text found under {', '.join(roots)}")
    return docs


def encode_docs(docs):
    """One stream: <s> doc bytes </s> <s> doc ... and the positions where a line starts (sample starts)."""
    ids, starts = [], []
    for d in docs:
        data = d.encode("utf-8")
        base = len(ids) + 1
        ids.append(BOS)
        ids.extend(b + BYTE_OFFSET for b in data)
        ids.append(EOS)
        starts.append(base)
        starts.extend(base + i + 1 for i, b in enumerate(data[:-1]) if b == 10)
    return torch.tensor(ids, dtype=torch.long), torch.tensor(starts, dtype=torch.long)


def batch(stream, gen, size, seq):
    """[size, seq+1] samples, each <s> followed by the text from a random line start (like a prompt)."""
    ids, starts = stream
    starts = starts[starts < len(ids) - seq]
    pick = starts[torch.randint(len(starts), (size,), generator=gen)]
    rows = torch.stack([ids[p: p + seq] for p in pick.tolist()])
    return torch.cat([torch.full((size, 1), BOS, dtype=torch.long), rows], dim=1)


# ---------------------------------------------------------------------------------------------------- model

class Lora(torch.nn.Module):
    """PEFT LoRA around a frozen linear: y = W x + (B A x) * alpha / r."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.lora_A = torch.nn.Linear(base.in_features, r, bias=False)  # weight [r, in]
        self.lora_B = torch.nn.Linear(r, base.out_features, bias=False)  # weight [out, r]
        torch.nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        torch.nn.init.zeros_(self.lora_B.weight)
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scale


class RMSNorm(torch.nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class Attention(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h, self.kv, self.d = c["heads"], c["kv_heads"], c["hidden"] // c["heads"]
        self.q_proj = torch.nn.Linear(c["hidden"], self.h * self.d, bias=False)
        self.k_proj = torch.nn.Linear(c["hidden"], self.kv * self.d, bias=False)
        self.v_proj = torch.nn.Linear(c["hidden"], self.kv * self.d, bias=False)
        self.o_proj = torch.nn.Linear(self.h * self.d, c["hidden"], bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.h, self.d).transpose(1, 2)  # [B, h, T, d]
        k = self.k_proj(x).view(b, t, self.kv, self.d).transpose(1, 2)  # [B, kv, T, d]
        v = self.v_proj(x).view(b, t, self.kv, self.d).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        k = k.repeat_interleave(self.h // self.kv, dim=1)  # HF repeat_kv: query head i uses kv head i // groups
        v = v.repeat_interleave(self.h // self.kv, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(self.d) + mask  # [B, h, T, T]
        o = torch.softmax(s, dim=-1) @ v
        return self.o_proj(o.transpose(1, 2).reshape(b, t, self.h * self.d))


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


class Mlp(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = torch.nn.Linear(c["hidden"], c["intermediate"], bias=False)
        self.up_proj = torch.nn.Linear(c["hidden"], c["intermediate"], bias=False)
        self.down_proj = torch.nn.Linear(c["intermediate"], c["hidden"], bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = Attention(c)
        self.mlp = Mlp(c)
        self.input_layernorm = RMSNorm(c["hidden"], c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(c["hidden"], c["rms_norm_eps"])

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Body(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(VOCAB, c["hidden"])
        self.layers = torch.nn.ModuleList(Layer(c) for _ in range(c["layers"]))
        self.norm = RMSNorm(c["hidden"], c["rms_norm_eps"])


class Llama(torch.nn.Module):
    """LlamaForCausalLM; state_dict names are exactly Hugging Face's (model.layers.0.self_attn.q_proj.weight)."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.model = Body(c)
        self.lm_head = torch.nn.Linear(c["hidden"], VOCAB, bias=False)
        d = c["hidden"] // c["heads"]
        self.inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, d, 2).float() / d))
        for p in self.parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, std=0.02)
        for layer in self.model.layers:  # GPT-2 style: smaller init on the residual outputs
            for p in (layer.self_attn.o_proj.weight, layer.mlp.down_proj.weight):
                torch.nn.init.normal_(p, std=0.02 / math.sqrt(2 * c["layers"]))

    def forward(self, ids):
        t = ids.shape[1]
        freqs = torch.arange(t).float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((t, t), float("-inf")).triu(1)
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        return self.lm_head(self.model.norm(x))

    def add_lora(self, r, alpha, targets):
        for layer in self.model.layers:
            for parent in (layer.self_attn, layer.mlp):
                for name in targets:
                    if hasattr(parent, name):
                        setattr(parent, name, Lora(getattr(parent, name), r, alpha))

    def lora_state(self):
        """PEFT names: base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight -> tensor."""
        return {"base_model.model." + k: v.detach().clone() for k, v in self.state_dict().items() if ".lora_" in k}


# ---------------------------------------------------------------------------------------------------- training

def train(model, params, stream_for_step, cfg, gen, label):
    """AdamW with linear warmup and cosine decay; returns the mean loss of the last 50 steps."""
    decay = [p for p in params if p.dim() >= 2]
    other = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.get("weight_decay", 0.0)},
                             {"params": other, "weight_decay": 0.0}], lr=cfg["lr"], betas=(0.9, 0.95))
    losses, t0 = [], time.time()
    for step in range(cfg["steps"]):
        lr = cfg["lr"] * min(1.0, (step + 1) / cfg["warmup"])
        lr *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / cfg["steps"]))
        for g in opt.param_groups:
            g["lr"] = lr
        xy = stream_for_step(step, gen, cfg["batch"], cfg["seq"])
        logits = model(xy[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), xy[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == cfg["steps"] - 1:
            print(f"{label} step {step:5d}/{cfg['steps']} loss {loss.item():.3f} lr {lr:.2e} "
                  f"{time.time() - t0:6.0f}s", flush=True)
    return sum(losses[-50:]) / len(losses[-50:])


# ---------------------------------------------------------------------------------------------------- output

def write_safetensors(path, tensors, metadata):
    """F32 safetensors with the given __metadata__ (string values), tensors in sorted name order."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_metadata(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)).get("__metadata__", {})


def bytes_to_unicode():
    """GPT-2's byte -> printable character table (the ByteLevel pre-tokenizer's alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tokenizer_json():
    """Byte-level BPE with no merges, laid out like TokenizerJson: <s> is prepended on encode."""
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for b, ch in sorted(bytes_to_unicode().items()):
        vocab[ch] = BYTE_OFFSET + b
    byte_level = lambda prefix: {"type": "ByteLevel", "add_prefix_space": prefix, "trim_offsets": True,
                                 "use_regex": True}
    bos = {"SpecialToken": {"id": "<s>", "type_id": 0}}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, s in enumerate(SPECIALS)],
        "normalizer": None,
        "pre_tokenizer": byte_level(False),
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<s>", "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [BOS], "tokens": ["<s>"]}}},
        "decoder": byte_level(True),
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": []},
    }


def hf_config(c):
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": VOCAB,
        "hidden_size": c["hidden"], "intermediate_size": c["intermediate"], "num_hidden_layers": c["layers"],
        "num_attention_heads": c["heads"], "num_key_value_heads": c["kv_heads"],
        "head_dim": c["hidden"] // c["heads"], "hidden_act": "silu", "max_position_embeddings": c["context"],
        "rms_norm_eps": c["rms_norm_eps"], "rope_theta": c["rope_theta"], "rope_scaling": None,
        "attention_bias": False, "mlp_bias": False, "tie_word_embeddings": False, "torch_dtype": "float32",
        "bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": 3, "initializer_range": 0.02,
    }


def adapter_config(lc):
    return {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "lorastream-demo",
            "r": lc["r"], "lora_alpha": lc["alpha"], "lora_dropout": 0.0, "target_modules": lc["targets"],
            "bias": "none", "fan_in_fan_out": False, "use_rslora": False, "use_dora": False,
            "inference_mode": True}


def fingerprint(recipe):
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def check_out_dir(out, fp):
    """Refuse a folder holding another model (or other files); a folder from this same recipe is rewritten."""
    st = os.path.join(out, "model.safetensors")
    if os.path.exists(st):
        have = read_metadata(st).get("lorastream_recipe")
        if have != fp:
            sys.exit(f"error: {out} already holds a different model (recipe {have or 'unknown'}, this run "
                     f"makes {fp}). Pass another --out, or delete {out} first if you mean to replace it.")
    elif os.path.isdir(out) and os.listdir(out):
        sys.exit(f"error: {out} is not empty and holds no lorastream demo model. Pass an empty or new --out.")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder (models/lorastream-demo)")
    ap.add_argument("--licenses-dir", default="/usr/share/common-licenses")
    ap.add_argument("--python-dir", default="/usr/lib/python3.11")
    ap.add_argument("--docs-dir", default="/usr/share/doc")
    ap.add_argument("--shell-dirs", default=",".join(SHELL_ROOTS), help="comma-separated roots to scan")
    ap.add_argument("--quick", action="store_true", help="a few steps only: checks the pipeline, not a model")
    args = ap.parse_args(argv)

    recipe = json.loads(json.dumps(RECIPE))
    if args.quick:
        recipe["base"]["steps"], recipe["lora"]["steps"], recipe["lora"]["steps_by_style"] = 20, 10, {}
    fp = fingerprint(recipe)
    check_out_dir(args.out, fp)
    dirs = {"legal": [args.licenses_dir], "python": [args.python_dir], "docs": [args.docs_dir],
            "shell": args.shell_dirs.split(",")}
    try:
        corpora = {s: collect(s, dirs, recipe["file_cap_bytes"], recipe["style_cap_bytes"]) for s in STYLES}
    except CorpusError as e:
        sys.exit(f"error: {e}. The corpora ship with Debian (base-files, python3.11, documentation packages): "
                 f"run on Debian or point --licenses-dir/--python-dir/--docs-dir/--shell-dirs at copies.")
    streams = {s: encode_docs(d) for s, d in corpora.items()}
    for s in STYLES:
        print(f"corpus {s:6s}: {len(corpora[s]):4d} files, {len(streams[s][0]):8d} tokens", flush=True)

    torch.manual_seed(recipe["seed"])
    torch.set_num_threads(recipe["threads"])
    t0 = time.time()
    model = Llama(recipe)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"base model: {n_params} parameters, recipe {fp}", flush=True)

    def mixed(step, gen, size, seq):  # the same number of rows from every style in every step
        per = size // len(STYLES)
        return torch.cat([batch(streams[s], gen, per, seq) for s in STYLES])

    gen = torch.Generator().manual_seed(recipe["seed"])
    base_loss = train(model, list(model.parameters()), mixed, recipe["base"], gen, "base")
    base_time = time.time() - t0
    base_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    os.makedirs(args.out, exist_ok=True)
    meta = {"format": "pt", "lorastream_recipe": fp}
    write_safetensors(os.path.join(args.out, "model.safetensors"), base_state, meta)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(hf_config(recipe), f, indent=2)
    with open(os.path.join(args.out, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(), f, indent=2, ensure_ascii=False)

    lc, results = recipe["lora"], {"base": {"loss": round(base_loss, 3), "seconds": round(base_time)}}
    for i, style in enumerate(STYLES):
        t1 = time.time()
        torch.manual_seed(recipe["seed"] + 1 + i)
        m = Llama(recipe)
        m.load_state_dict(base_state)
        for p in m.parameters():
            p.requires_grad_(False)
        m.add_lora(lc["r"], lc["alpha"], lc["targets"])
        params = [p for n, p in m.named_parameters() if ".lora_" in n]
        g = torch.Generator().manual_seed(recipe["seed"] + 100 + i)
        cfg = dict(lc, steps=lc["steps_by_style"].get(style, lc["steps"]))  # python's docstrings need longer
        loss = train(m, params, lambda step, gen, size, seq: batch(streams[style], gen, size, seq), cfg, g, style)
        d = os.path.join(args.out, "adapters", style)
        os.makedirs(d, exist_ok=True)
        write_safetensors(os.path.join(d, "adapter_model.safetensors"), m.lora_state(), meta)
        with open(os.path.join(d, "adapter_config.json"), "w") as f:
            json.dump(adapter_config(lc), f, indent=2)
        results[style] = {"loss": round(loss, 3), "seconds": round(time.time() - t1),
                          "files": len(corpora[style]), "tokens": len(streams[style][0])}
    print(json.dumps({"recipe": fp, "parameters": n_params, "seconds": round(time.time() - t0),
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
