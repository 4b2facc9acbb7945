"""Where the example suite's cassette bytes go: metadata, first requests (by part, with how much of each is
distinct across cassettes), later requests' deltas, and recorded answers (chat, llama.cpp's `timings`,
embeddings). The figures behind README's "Why cassettes are not a third of vcrpy's": run
`python bench/cassette_breakdown.py` from anywhere."""

import collections
import glob
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
tot = collections.Counter()
first_parts = collections.Counter()
distinct = collections.defaultdict(set)
n_steps = 0
for f in glob.glob(str(ROOT / "cassettes" / "**" / "*.yaml"), recursive=True):
    text = Path(f).read_text(encoding="utf-8")
    tot["all"] += len(text.encode())
    d = yaml.safe_load(text)
    md = yaml.safe_dump(d.get("metadata"), sort_keys=False, width=1000)
    tot["metadata"] += len(md.encode())
    for it in d["interactions"]:
        n_steps += 1
        req = it["request"]
        resp = it["response"]
        body = req.get("body")
        rb = resp.get("body")
        rbs = rb if isinstance(rb, str) else json.dumps(rb)
        kind = "emb" if "embeddings" in req["uri"] else "chat"
        tot["resp_" + kind] += len(rbs.encode())
        try:
            j = json.loads(rbs)
            if "timings" in j:
                tot["resp_timings"] += len(json.dumps(j["timings"]))
        except Exception:
            pass
        if isinstance(body, dict) and "delta" in body:
            tot["req_delta"] += len(body["delta"].encode())
        else:
            bs = body if isinstance(body, str) else json.dumps(body)
            tot["req_full"] += len(bs.encode())
            try:
                b = json.loads(bs)
                if isinstance(b, dict):
                    for k, v in b.items():
                        s = json.dumps(v)
                        if k == "messages":
                            for m in v:
                                s2 = json.dumps(m)
                                r = m.get("role")
                                first_parts["msg_" + r] += len(s2)
                                distinct["msg_" + r].add(s2)
                        else:
                            first_parts[k] += len(s)
                            distinct[k].add(s)
            except Exception as e:
                print("x", e)
print("steps", n_steps, "cassettes", len(glob.glob(str(ROOT / "cassettes" / "**" / "*.yaml"), recursive=True)))
for k, v in tot.most_common():
    print(f"{k:15} {v:8} {v / n_steps:8.0f}/step")
print("first-request parts (total, distinct):")
for k, v in first_parts.most_common():
    print(f"  {k:20} {v:8} {sum(len(x) for x in distinct[k]):8}")
