#!/usr/bin/env python3
"""Hugging Face transformers' f32 greedy decode speed on SmolLM2-135M, for comparison with hardwire.

Loads the local GGUF file with transformers (which dequantises every tensor to f32, and builds the
tokenizer from the GGUF's own vocabulary: no hub access), runs one short greedy generate() as a
warm-up, then prefills the prompt and times N single-token greedy steps with a KV cache
(DynamicCache). Only those steps count for decode_tokens_per_s; the prefill is prompt_s.
Prints one JSON line on stdout; its others_cpu_s says how much CPU the rest of the machine
took during the timed steps (a busy machine makes the figure meaningless: rerun when it is idle).
Needs torch, transformers, gguf and accelerate (exit code 2 if not).

  python3 scripts/hf-decode-speed.py [--gguf PATH] [--threads 2] [--new-tokens 128] [--prompt TEXT]

A CPU-only environment from PyPI: 2.75 GB to download, 4.6 GB installed, about 2 minutes. PyPI's
torch needs the CUDA libraries to load (not to run); --no-deps leaves out triton, cuda-bindings
and the rest that only a GPU uses:
  python3 -m venv /tmp/hfvenv && P=/tmp/hfvenv/bin/pip
  $P install --no-deps torch==2.15.0 nvidia-cuda-runtime==13.2.86 nvidia-cuda-cupti==13.2.86 \
    nvidia-cuda-nvrtc==13.2.86 nvidia-cublas==13.4.1.3 nvidia-cufft==12.2.0.57 nvidia-cufile==1.17.1.22 \
    nvidia-cusparse==12.7.10.12 nvidia-cusolver==12.2.0.11 nvidia-nvjitlink==13.5.37 \
    nvidia-cudnn-cu13==9.26.0.51 nvidia-cusparselt-cu13==0.8.1 nvidia-nccl-cu13==2.30.7 \
    nvidia-nvshmem-cu13==3.7.2 accelerate==1.15.0 psutil
  $P install filelock typing_extensions sympy networkx jinja2 fsspec 'setuptools>=77' numpy \
    transformers==5.24.0 gguf==0.19.0
"""
import argparse, glob, inspect, json, os, sys, time
os.environ.setdefault("TQDM_DISABLE", "1")  # the GGUF dequantisation progress bar

def die(msg):
    print(f"hf-decode-speed: {msg}", file=sys.stderr)
    sys.exit(2)

try:
    import torch, transformers, gguf, accelerate  # noqa: F401 (gguf and accelerate: GGUF loading)
    from transformers import AutoModelForCausalLM, AutoTokenizer
except ImportError as e:
    die(f"{e}: install torch, transformers, gguf and accelerate (commands in this script's docstring)")

def others_cpu():
    """CPU seconds that the rest of the machine has used (all CPUs' busy time less this process's)."""
    try:
        v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    except OSError:
        return None
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK") - sum(os.times()[:2])

def default_gguf():
    found = sorted(glob.glob(os.path.expanduser("~/.cache/hardwire/smollm2/*.gguf")))
    return found[0] if found else None

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--gguf", default=default_gguf(), help="GGUF file (default: ~/.cache/hardwire/smollm2/*.gguf)")
ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
ap.add_argument("--new-tokens", type=int, default=128, help="timed single-token decode steps (default 128)")
ap.add_argument("--prompt", default="The history of the Roman Empire")
args = ap.parse_args()
if not args.gguf or not os.path.isfile(args.gguf):
    die(f"no GGUF file ({args.gguf}); pass --gguf PATH")

torch.set_num_threads(args.threads)
transformers.utils.logging.set_verbosity_error()
d, f = os.path.split(os.path.abspath(args.gguf))
tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
ids = tok(args.prompt, return_tensors="pt").input_ids
# The KV cache, updated in place; transformers 5.x renamed forward's past_key_values to cache.
cache = transformers.DynamicCache(config=model.config)
kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

with torch.inference_mode():
    warm = model.generate(ids, max_new_tokens=8, do_sample=False, use_cache=True)[0, ids.shape[1]:].tolist()
    t0 = time.perf_counter()
    out = model(input_ids=ids, use_cache=True, **{kw: cache})  # prefill: gives the first new token
    t1 = time.perf_counter()
    nxt = out.logits[:, -1, :].argmax(-1, keepdim=True)
    gen = [nxt.item()]
    t2, o2 = time.perf_counter(), others_cpu()
    for _ in range(args.new_tokens):                           # timed: one token per step, KV cache
        out = model(input_ids=nxt, use_cache=True, **{kw: cache})
        nxt = out.logits[:, -1, :].argmax(-1, keepdim=True)
        gen.append(nxt.item())
    t3, o3 = time.perf_counter(), others_cpu()

if gen[:len(warm)] != warm:
    print(f"hf-decode-speed: warning: manual loop {gen[:len(warm)]} != generate() {warm}", file=sys.stderr)
print(json.dumps({"tool": "transformers", "torch": torch.__version__, "transformers": transformers.__version__,
                  "threads": args.threads, "new_tokens": args.new_tokens,
                  "decode_tokens_per_s": round(args.new_tokens / (t3 - t2), 2),
                  "prompt_s": round(t1 - t0, 4), "first_ids": gen[:10],
                  # CPU seconds used by other processes during the timed steps: near 0 on an idle machine
                  "others_cpu_s": None if o2 is None else round(o3 - o2, 2), "decode_s": round(t3 - t2, 3)}))
