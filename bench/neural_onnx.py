"""Neural LM inference: PyTorch against ONNX Runtime on the same packed batches.

    pip install onnxruntime onnx   # bench only, not a Winnow dependency
    python bench/neural_speed.py --onnx

The transformer body (embeddings, blocks, final norm: packed ids, positions and mask in,
hidden states out) is exported with the TorchScript-based exporter at a static shape
(rows, context): nn.TransformerEncoder's fast path bakes the batch size into the graph.
The adaptive softmax picks each target's cluster with data-dependent indexing, which a
static graph would have to compute for every cluster, so it runs in PyTorch for both.
Both score the same padded batches; the script prints docs/s per CPU-second (min /
median) of the body alone and of body + targets, and the largest log-probability gap.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time

import numpy as np


def compare(lm, tokenizer, texts: list[str], repeats: int = 5, rows: int = 8) -> None:
    import onnxruntime as ort
    import torch

    from winnow.models import normalize_lines
    from winnow.models.neural import truncate_lines

    cfg, model = lm.cfg, lm.model
    threads = int(os.environ.get("WINNOW_NEURAL_THREADS", "1"))
    torch.set_num_threads(threads)
    lines = [ln for t in texts for ln in truncate_lines(tokenizer.encode(normalize_lines(t)), cfg.max_doc_tokens)]
    batches, tokens, kept = [], 0, 0
    for b in lm.batches(lines, rows, width=cfg.max_len):
        tokens += int((b.y >= 0).sum())
        if b.x.shape[0] == rows:  # the static graph takes full batches only
            batches.append(b)
            kept += int((b.y >= 0).sum())
    docs = len(texts) * kept / tokens  # documents' worth of tokens in the full batches

    class Body(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, x, pos, mask):
            return self.m.hidden(x, pos=pos, mask=mask)

    path = os.path.join(tempfile.gettempdir(), "winnow-neural-body.onnx")
    b0 = batches[0]
    # Not under inference_mode: there nn.TransformerEncoder takes its fused fast path, an
    # operator the exporter does not know.
    torch.onnx.export(Body().eval(), (b0.x, b0.pos, b0.mask), path, input_names=["x", "pos", "mask"],
                      output_names=["h"], dynamo=False, opset_version=17)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feeds = [{"x": b.x.numpy(), "pos": b.pos.numpy(), "mask": b.mask.numpy()} for b in batches]

    def torch_body():
        with torch.inference_mode():
            return [model.hidden(b.x, pos=b.pos, mask=b.mask) for b in batches]

    def ort_body():
        return [torch.from_numpy(sess.run(None, f)[0]) for f in feeds]

    def targets(hs):
        with torch.inference_mode():
            return [model.target_logprob(h[b.y >= 0], b.y[b.y >= 0]) for h, b in zip(hs, batches)]

    print(f"\nONNX Runtime vs PyTorch, {len(batches)} full packed batches of {rows} x {cfg.max_len} "
          f"({threads} thread(s)): docs/s per CPU-second, min / median\n\n| backend | body | body + targets |"
          f"\n|---|---|---|")
    results = {}
    for name, body in (("PyTorch", torch_body), ("ONNX Runtime", ort_body)):
        body()
        t_body, t_all = [], []
        for _ in range(repeats):
            start = time.process_time()
            hs = body()
            mid = time.process_time()
            results[name] = targets(hs)
            t_body.append(mid - start)
            t_all.append(time.process_time() - start)
        print(f"| {name} | {docs / max(t_body):.1f} / {docs / statistics.median(t_body):.1f} | "
              f"{docs / max(t_all):.1f} / {docs / statistics.median(t_all):.1f} |")
    gap = max(float(np.abs(a.numpy() - b.numpy()).max()) for a, b in zip(results["PyTorch"], results["ONNX Runtime"]))
    print(f"\nlargest |log p| difference per token: {gap:.2e}")
