"""ARPA backoff files (the text format of SRILM and KenLM) <-> backoff tables + itos.

Shapes: M_n number of n-grams of order n, n the order, V vocabulary, R rows per chunk.

    \\data\\
    ngram 1=M_1
    ...
    \\1-grams:
    log10 p <TAB> w <TAB> log10 bow
    ...
    \\end\\

This module knows tables and files only: a table of order n is (keys (M_n,) sorted int64 =
index of the (n-1)-gram prefix in table n-1 * V + last token, natural-log p (M_n,),
natural-log bow (M_n,)), as `ngram_counts` builds them; `NGramLM.from_arpa` / `to_arpa` turn
them into a model and back. Natural logs inside, log10 in the file. `<s>`, `</s>`, `<unk>` are
rnnlab's `<bos>`, `<eos>`, `<unk>`; a whitespace character inside a token is written
`<U+0020>` (`arpa_word`) and read back as the character. `# ...` lines before `\\data\\` are
comments (KenLM's rule; SRILM skips anything there): rnnlab writes what the file's tokens
alone do not say (`read_comments`). A probability of 0 (mle) is written
as -99, SRILM's convention, and read back as 0. `<s>` is never predicted, whatever the file
says (KenLM writes 0 for it).

Memory: writing unpacks and formats R = WRITE_ROWS n-grams at a time (O(R n) beside the
tables); reading streams the file line by line into compact arrays (int32 ids and float64
log10 values, 4 n + 16 bytes per n-gram), then holds them as int64 (8 n + 16 bytes) while
the trie of each order is built into the tables (24 bytes per n-gram). Nothing is ever
(contexts x V); V enters as the unigram rows only.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np

from rnnlab.data.tokenizers import BOS, BOS_ID, EOS, PAD_ID, SPECIALS, UNK
from rnnlab.errors import RnnlabError, expect
from rnnlab.models.ngram_counts import Table, backoff_log_probs, lookup

ARPA_NAMES = {BOS: "<s>", EOS: "</s>", UNK: "<unk>"}
FROM_ARPA = {"<s>": BOS, "</s>": EOS, "<unk>": UNK}
ESCAPED = re.compile(r"<U\+([0-9A-F]{4,6})>")


def arpa_word(token: str) -> str:
    """A token as an ARPA word: `<s>`, `</s>`, `<unk>` for rnnlab's specials, and every
    whitespace character (a character model's space) as `<U+0020>`, since ARPA fields are
    whitespace-separated. Feed KenLM's `lmplz` text spelled the same way."""
    token = ARPA_NAMES.get(token, token)
    return "".join(f"<U+{ord(c):04X}>" if c.isspace() else c for c in token)


def from_arpa_word(word: str) -> str:
    """The inverse of `arpa_word`."""
    word = FROM_ARPA.get(word, word)
    return ESCAPED.sub(lambda m: chr(int(m.group(1), 16)) if chr(int(m.group(1), 16)).isspace()
                       else m.group(0), word)
LN10 = float(np.log(10.0))
ZERO_LOG10 = -99.0
WRITE_ROWS = 2**16  # n-grams formatted per chunk: a few MB of strings at any model size



class HasTables(Protocol):
    vocab_size: int

    def tables(self) -> list[Table]: ...


def _tokens(tables: list[Table], n: int, rows: np.ndarray, V: int) -> np.ndarray:
    """Token ids (R, n) of the n-grams at `rows` of table n, unpacked from the trie keys."""
    out = np.empty((len(rows), n), dtype=np.int64)
    idx = rows
    for m in range(n, 0, -1):
        keys = tables[m - 1][0][idx]
        out[:, m - 1] = keys % V if m > 1 else keys
        idx = keys // V
    return out


def write_arpa_tables(tables: list[Table], path: str, itos: Sequence[str],
                      comments: Sequence[str] = ()) -> list[int]:
    """Write backoff `tables` (orders 1..N) to `path`; `itos[i]` is the string of token id i.
    `comments` become `# ...` lines before `\\data\\` (KenLM and SRILM skip them). Returns
    the n-grams written per order."""
    V = len(tables[0][0])
    expect(len(itos) == V, f"itos must have vocab_size={V} entries, got {len(itos)}")
    names = np.array([arpa_word(t) for t in itos], dtype=object)

    def chunks(n: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(rows, tokens (R, n), kept mask) over table n, <pad> n-grams dropped: <pad> is not
        a word; n-grams over <s> only (add-k/mle contexts) stay as contexts."""
        for s in range(0, len(tables[n - 1][0]), WRITE_ROWS):
            rows = np.arange(s, min(s + WRITE_ROWS, len(tables[n - 1][0])))
            toks = _tokens(tables, n, rows, V)
            yield rows, toks, ~np.any(toks == PAD_ID, axis=1)

    N = len(tables)
    counts = [sum(int(k.sum()) for _, _, k in chunks(n)) for n in range(1, N + 1)]
    with open(path, "w", encoding="utf-8") as f:
        for line in comments:
            f.write(f"# {line}\n")
        f.write("\\data\\\n")
        for n, c in enumerate(counts, start=1):
            f.write(f"ngram {n}={c}\n")
        for n in range(1, N + 1):
            _, logp, logbow = tables[n - 1]
            f.write(f"\n\\{n}-grams:\n")
            for rows, toks, keep in chunks(n):
                lp = np.maximum(logp[rows] / LN10, ZERO_LOG10)
                lp[toks[:, -1] == BOS_ID] = ZERO_LOG10
                text = [" ".join(ws) for ws in names[toks[keep]].tolist()]
                if n < N:
                    bow = (logbow[rows] / LN10)[keep].tolist()
                    body = [f"{p:.7g}\t{w}\t{b:.7g}" for p, w, b in
                            zip(lp[keep].tolist(), text, bow, strict=True)]
                else:
                    body = [f"{p:.7g}\t{w}" for p, w in zip(lp[keep].tolist(), text, strict=True)]
                if body:
                    f.write("\n".join(body))
                    f.write("\n")
        f.write("\n\\end\\\n")
    return counts


def write_arpa(model: HasTables, path: str, itos: Sequence[str]) -> list[int]:
    """Write a model with `tables()` (an NGramLM) to `path`; `itos[i]` is token id i's string.
    Returns the n-grams written per order."""
    return write_arpa_tables(model.tables(), path, itos)


def read_comments(path: str) -> list[str]:
    """The `# ...` lines before `\\data\\`, without the `# ` (what `comments` wrote)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("\\data\\"):
                break
            if line.startswith("#"):
                out.append(line[1:].strip())
    return out


def _parse(path: str) -> tuple[list[str], list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Stream the file -> (itos, per order (token ids (M_n, n), log10 p, log10 bow)).

    The 1-grams come first in every ARPA file, so they fix the ids that later sections use."""
    declared: list[int] = []
    raw: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    itos = list(SPECIALS)
    stoi = {w: i for i, w in enumerate(itos)}
    n, toks, lps, bows = 0, array("i"), array("d"), array("d")

    def close() -> None:
        if n:
            raw.append((np.frombuffer(toks, np.int32).reshape(-1, n).astype(np.int64),
                        np.frombuffer(lps, np.float64).copy(),
                        np.frombuffer(bows, np.float64).copy()))

    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if not fields or fields[0] == "\\data\\":
                continue
            head = fields[0]
            if head == "ngram" and n == 0 and not raw:
                declared.append(int(line.split("=")[1]))
            elif head.startswith("\\") and head.endswith("-grams:"):
                close()
                n, toks, lps, bows = len(raw) + 1, array("i"), array("d"), array("d")
            elif head == "\\end\\":
                break
            elif n:
                words = fields[1 : n + 1]
                if n == 1:
                    w = from_arpa_word(words[0])
                    if w not in stoi:
                        stoi[w] = len(itos)
                        itos.append(w)
                try:
                    toks.extend([stoi[from_arpa_word(w)] for w in words])
                except KeyError as e:
                    raise RnnlabError(
                        f"{path}: {n}-gram word {e} missing from the 1-grams; an ARPA file "
                        "lists every word as a 1-gram"
                    ) from None
                lps.append(float(head))
                bows.append(float(fields[n + 1]) if len(fields) > n + 1 else 0.0)
    close()
    if not raw or [len(r[1]) for r in raw] != declared:
        raise RnnlabError(
            f"{path} is not a valid ARPA file: header counts {declared}, sections "
            f"{[len(r[1]) for r in raw]}; expected a \\data\\ header and matching sections"
        )
    return itos, raw


def read_arpa(path: str) -> tuple[list[Table], list[str]]:
    """Read an ARPA file -> (backoff tables per order, natural logs; itos). Build a model from
    them with `NGramLM.from_arpa(path)`."""
    itos, raw = _parse(path)
    V, order = len(itos), len(raw)
    _add_missing_prefixes(raw)
    tables = [_unigram_table(raw[0], V)]
    for n in range(2, order + 1):
        toks, lp, bow = raw[n - 1]
        raw[n - 1] = None  # type: ignore[call-overload]  # freed as soon as it is a table
        prefix = _find(tables, toks[:, :-1], V)
        keys = prefix * V + toks[:, -1]
        sort = np.argsort(keys, kind="stable")
        logp = np.where(lp <= ZERO_LOG10, -np.inf, lp * LN10)[sort]
        logp[toks[sort, -1] == BOS_ID] = -np.inf
        tables.append((keys[sort], logp, (bow * LN10)[sort]))
        added = np.isnan(logp)
        if added.any():
            # A prefix the file omitted scores what backing off from it would give.
            h, w = toks[sort][added, :-1], toks[sort][added, -1]
            lower = backoff_log_probs(tables[: n - 1], h[:, 1:], w, V)
            logp[added] = tables[n - 2][2][prefix[sort][added]] + lower
    return tables, itos


def _add_missing_prefixes(raw: list[Table]) -> None:
    """Pruned (SRILM) files may hold "a b c" without "a b"; add such prefixes, probability
    NaN until computed, so that the trie of every order is prefix-closed."""
    for n in range(len(raw), 1, -1):
        toks = raw[n - 1][0]
        lower, lp, bow = raw[n - 2]
        rows = np.ascontiguousarray(toks[:, :-1])
        have = np.ascontiguousarray(lower)
        as_void = np.dtype((np.void, 8 * (n - 1)))
        new = ~np.isin(rows.view(as_void).ravel(), have.view(as_void).ravel())
        if new.any():
            expect(n > 2, "every word of an ARPA n-gram must be a 1-gram")
            extra = np.unique(rows[new], axis=0)
            raw[n - 2] = (
                np.concatenate([lower, extra]),
                np.concatenate([lp, np.full(len(extra), np.nan)]),
                np.concatenate([bow, np.zeros(len(extra))]),
            )


def _unigram_table(entry: Table, V: int) -> Table:
    toks, lp, bow = entry
    logp = np.full(V, -np.inf)
    logbow = np.zeros(V)
    logp[toks[:, 0]] = np.where(lp <= ZERO_LOG10, -np.inf, lp * LN10)
    logbow[toks[:, 0]] = bow * LN10
    logp[[PAD_ID, BOS_ID]] = -np.inf
    return np.arange(V, dtype=np.int64), logp, logbow


def _find(tables: list[Table], toks: np.ndarray, V: int) -> np.ndarray:
    """Index of each n-gram toks (M, n) in tables[n-1], -1 if absent."""
    idx = toks[:, 0].copy()
    for j in range(1, toks.shape[1]):
        idx = lookup(tables[j][0], idx, toks[:, j], V)
    return idx
