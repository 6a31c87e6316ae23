# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The Python API
#
# Everything the command line does is a call into the library, and the same calls are open
# to a script or a notebook. This chapter does in Python what the other chapters do with
# commands, at two levels:
#
# 1. **one call per stage**: configure, train, load, evaluate, sample, plot: the functions
#    the command line itself calls ([`rnnlab.run`](../../rnnlab/run.py),
#    [`rnnlab.runconfig`](../../rnnlab/runconfig.py), the task packages such as
#    [`rnnlab.tasks.lm`](../../rnnlab/tasks/lm/__init__.py));
# 2. **the pieces by hand**: tokenizer, vocabulary, truncated-BPTT stream, model, trainer,
#    decoding, for when you want to change one of them.
#
# Every name used here is public (`rnnlab.__all__`) and documented in the
# [API reference](../reference/api.md).

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from guidekit import budget, fresh, size

import rnnlab
from rnnlab.tasks import lm

# %% [markdown]
# ## 1. One call per stage
#
# `make_config(task, file, flags)` builds a validated `RunConfig` from defaults, a TOML
# dict and flag values (the same three layers as `rnnlab train --config FILE --flag ...`).
# It returns the config and the set of fields that were given explicitly (the budget rule
# uses it: a `--max-time` without `--max-steps` spends the whole budget).

# %%
cfg, given = rnnlab.make_config("lm", flags={
    "data": {"data": "names", "format": "lines"},
    "model": {"model": "lstm", "hidden_size": 128},
    "train": {"max_time": budget(60), "clock": "cpu", "threads": 1},
})
print(cfg.model.model, cfg.model.hidden_size, "| given:", sorted(given))

# %% [markdown]
# A value out of range is refused with a message that names the field, the value and what
# was expected, before anything runs (the command line prints the same line as `error: ...`):

# %%
try:
    rnnlab.make_config("lm", flags={"model": {"hidden_size": 0}})
except rnnlab.RnnlabError as e:
    print("RnnlabError:", e)

# %% [markdown]
# `train(task, cfg, out)` trains into a run folder (checkpoints, history, the final
# figures) and returns the result; `load(run)` reads the best checkpoint back later, and
# the task package's functions use it: `evaluate`, `generate_texts`, `predict`, each taking
# the options of the matching subcommand as a dict.

# %%
run = Path(fresh("runs/api_names"))
result = rnnlab.train("lm", cfg, run)
print("stopped by:", result.history.stopped, "after", result.history.records[-1]["step"],
      "steps")
print("test:", result.final["test"])

# %%
loaded = rnnlab.load(run)
print(lm.evaluate(loaded, {"split": "val"}))
for temperature in (0.5, 1.0):
    texts = lm.generate_texts(loaded, {"num": 6, "temperature": temperature, "seed": 0})
    print(f"T={temperature}:", " ".join(texts["texts"]))

# %% [markdown]
# The history is one JSON object per evaluation in `RUN/metrics.jsonl`:

# %%
records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
evals = [r for r in records if "val_nll" in r]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot([r["step"] for r in evals], [r["train_loss"] for r in evals], label="train (running)")
ax.plot([r["step"] for r in evals], [r["val_nll"] for r in evals], label="validation")
ax.set(xlabel="step", ylabel="NLL (nats per character)", title="names, LSTM 128")
ax.legend()
plt.show()

# %% [markdown]
# ## 2. The pieces by hand
#
# The same job without the run folder machinery, so that any piece can be swapped. The text
# of *The Time Machine* is read from rnnlab's dataset cache (`rnnlab data path timemachine`
# prints where; `ensure` fetches it on first use).
#
# * [`CharTokenizer`](../../rnnlab/data/tokenizers.py) splits text into characters and
#   [`Vocab`](../../rnnlab/data/tokenizers.py) maps them to ids, most frequent first after
#   the four specials `<pad> <unk> <bos> <eos>`;
# * [`BpttStream`](../../rnnlab/data/batching.py) lays the id stream out as `B` rows read
#   in parallel and cuts them into `(B, T)` chunks, each continuing the previous one
#   (truncated BPTT, chapter 5);
# * [`RecurrentLM`](../../rnnlab/models/lm.py) is embedding, recurrent layers, softmax head;
#   its `forward(batch, state)` returns an `Output(logits, loss, state)`;
# * [`Trainer`](../../rnnlab/trainer.py) carries the state from chunk to chunk and detaches
#   it, clips, schedules the learning rate, evaluates and keeps the best weights.

# %%
from rnnlab.data.fetch import ensure, get_dataset

text = (ensure(get_dataset("timemachine")) / "timemachine.txt").read_text()
tokenizer = rnnlab.CharTokenizer()
cut = int(0.9 * len(text))
vocab = rnnlab.Vocab.build([tokenizer.split(text[:cut])])
train_ids = vocab.encode(tokenizer.split(text[:cut]))
val_ids = vocab.encode(tokenizer.split(text[cut:]))
print(f"{len(text):,} characters, vocabulary {len(vocab)}:", "".join(vocab.itos[4:40]))

B, T = 32, 64
train_stream = rnnlab.BpttStream(train_ids, batch_size=B, seq_len=T)
val_stream = rnnlab.BpttStream(val_ids, batch_size=8, seq_len=T)
batch = next(iter(train_stream.epoch(0)))
print("inputs", tuple(batch.inputs.shape), "targets", tuple(batch.targets.shape))
print("row 0 reads:", repr("".join(vocab.decode(batch.inputs[0, :40].tolist()))))

# %%
torch.manual_seed(0)
model = rnnlab.RecurrentLM(len(vocab), cell="gru", embedding_dim=32, hidden_size=128)
out = model(batch, None)
print("logits", tuple(out.logits.shape), f"loss {out.loss.item():.3f} nats",
      f"(uniform: ln V = {torch.log(torch.tensor(float(len(vocab)))).item():.3f})")

trainer = rnnlab.Trainer(rnnlab.TrainConfig(max_steps=size(300, 5), eval_every=size(50, 5),
                                            lr=3e-3, threads=1))
history = trainer.fit(model, train_stream, val_stream)
print("validation NLL by step:",
      {r["step"]: round(r["val_nll"], 3) for r in history.records})

# %% [markdown]
# Sampling continues a prompt token by token, carrying the recurrent state
# ([`generate`](../../rnnlab/decoding.py) with a [`DecodeConfig`](../../rnnlab/decoding.py):
# `sample` with a temperature, top-k or top-p; `greedy`; `beam_search`):

# %%
model.eval()
prompt = [vocab.encode(["<bos>"])[0], *vocab.encode(tokenizer.split("the time "))]
generator = torch.Generator().manual_seed(0)
for strategy in ("greedy", "sample"):
    new = rnnlab.generate(model, [prompt], rnnlab.DecodeConfig(
        strategy=strategy, max_new_tokens=60, temperature=0.8, stop_at_eos=False),
        generator=generator)
    print(f"{strategy:>6}: the time " + "".join(vocab.decode(new[0])))
print(rnnlab.evaluate(model, val_stream.epoch(0)))

# %% [markdown]
# ## What to look at
#
# * The curves of part 1: the validation NLL falls with the training loss and flattens as
#   the learning rate anneals over the budget; the test figure printed above is the one
#   `rnnlab train` prints.
# * The shapes in part 2: a `(B, T)` chunk of ids gives `(B, T, V)` logits; the loss of the
#   untrained model is close to $\ln V$, the NLL of a uniform guess.
# * Greedy decoding repeats itself (it always takes the most probable character, and the
#   state falls into a loop); sampling does not, at the price of odd words.
#
# **Try:** `cell="lstm"` or `cell="rnn"`; `partition="random"` in `BpttStream` (each chunk
# starts from a zero state); `rnnlab.TrainConfig(max_time=60, clock="cpu")`.
