"""Neural LM inference: PyTorch against ONNX Runtime on the same static-shape batches.

    pip install onnxruntime onnx   # bench only, not a Winnow dependency
    T=2 python bench/neural_onnx.py

Needs the English neural model of bench/neural_eval.py. Exports it with the TorchScript-based
exporter (a static (64, context) shape: nn.TransformerEncoder's fast path bakes the batch
size into a dynamic export), then scores 200 dragnet pages truncated to 512 pieces in
windows of the context length, three times each, and prints min / median and the
largest difference in log-probabilities.
"""
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from winnow.models import ModelSet, normalize_lines
from bench.shared_corpora import web_texts
ms = ModelSet.load(os.path.expanduser('~/.cache/winnow/bench/models-neural/en'))
lm = ms.lms['neural-clean'].model
model = lm.model
cfg = lm.cfg
x = torch.randint(0, cfg.vocab_size, (64, cfg.max_len))
path = os.path.join(os.environ.get('TMPDIR', '/tmp'), 'winnow-neural.onnx')
torch.onnx.export(model, (x,), path, input_names=['x'], output_names=['logp'], dynamo=False, opset_version=17)
import onnxruntime as ort
so = ort.SessionOptions(); so.intra_op_num_threads = int(os.environ.get('T', '2'))
sess = ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])
# real documents: dragnet web texts truncated to 512 pieces -> windows of max_len
sp = ms.tokenizer
docs = web_texts(200, corpus='dragnet')
from winnow.models.neural import truncate_lines, _windows
wins = []
for d in docs:
    for ids in truncate_lines(sp.encode(normalize_lines(d)), 512):
        for inp, tgt in _windows(ids, sp.bos_id(), sp.eos_id(), cfg.max_len):
            wins.append(inp)
wins.sort(key=len)
batches = []
for i in range(0, len(wins), 64):
    ch = wins[i:i+64]; w = cfg.max_len  # fixed shape: the exported graph is static
    a = np.full((64, w), 0, dtype=np.int64)
    for r, s in enumerate(ch): a[r, :len(s)] = s
    batches.append(a)
torch.set_num_threads(int(os.environ.get('T', '2')))
def run_torch():
    with torch.inference_mode():
        for a in batches: model(torch.from_numpy(a))
def run_ort():
    for a in batches: sess.run(None, {'x': a})
for name, f in (('torch', run_torch), ('onnxruntime', run_ort)):
    ts = []
    for _ in range(3):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    print(f"{name}: {len(docs)} docs (<=512 pieces), {len(wins)} windows: min {min(ts):.2f}s median {sorted(ts)[1]:.2f}s -> {len(docs)/min(ts):.1f} docs/s")
a = batches[len(batches)//2]
with torch.inference_mode(): ref = model(torch.from_numpy(a)).numpy()
got = sess.run(None, {'x': a})[0]
print("max abs diff", float(np.abs(ref - got).max()))
