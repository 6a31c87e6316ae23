"""The datasets rnnlab's README, configs and benchmarks use, by name: where each file comes
from (a repository pinned to a commit), its size and sha256, licence, citation, the tasks that
read it and how it splits. Names are the folders of the shared data copy, so `--data ptb`
and `../shared/data/ptb` mean the same bytes. Fetching and checking: rnnlab/data/fetch.py.

Pure data and lookups: imports neither torch nor the network (`rnnlab data list` stays fast).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

RAW = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"


@dataclass(frozen=True)
class Origin:
    """A repository at a commit; `archive`: a zip in it that holds the dataset's files."""

    repo: str
    commit: str
    prefix: str = ""  # folder of the files in the repository
    archive: str | None = None
    archive_sha256: str | None = None

    def url(self, path: str) -> str:
        return RAW.format(repo=self.repo, commit=self.commit, path=path)


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset, as it lies in the dataset's folder."""

    name: str
    size: int
    sha256: str
    path: str | None = None  # its path in the origin repository (default: prefix + name)
    origin: Origin | None = None  # another repository than the dataset's
    member: str | None = None  # its path inside the origin's archive

    @property
    def is_doc(self) -> bool:
        """A description that comes with the data (a readme, a .names file), not data."""
        return self.name.endswith((".names", ".rst", "README.1.0.txt")) or self.name in (
            "readme", "_about.txt")


def _frozen(d: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    tasks: tuple[str, ...]
    origin: Origin
    files: tuple[DataFile, ...]
    licence: str
    citation: str
    splits: str  # how rnnlab splits it
    # config field -> the file that fills it ("." = the dataset's folder); with no "data" the
    # dataset must be named with a file, NAME/FILE
    roles: Mapping[str, str] = field(default_factory=_frozen)
    # data options applied where the command line or config does not set them
    options: Mapping[str, Any] = field(default_factory=_frozen)
    # options of one file, applied when it is named (NAME/FILE)
    file_options: Mapping[str, Mapping[str, Any]] = field(default_factory=_frozen)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def file(self, name: str) -> DataFile | None:
        return next((f for f in self.files if f.name == name), None)

    def url(self, f: DataFile) -> str:
        """Where `f`'s bytes come from: the file itself, or the archive that holds it."""
        origin = f.origin or self.origin
        if f.member is not None:
            assert origin.archive is not None
            return origin.url(origin.archive)
        return origin.url(f.path or origin.prefix + f.name)

    def source(self, f: DataFile) -> str:
        """repo@commit:path (and the member inside an archive), for `rnnlab data info`."""
        origin = f.origin or self.origin
        if f.member is not None:
            return f"{origin.repo}@{origin.commit}:{origin.archive} -> {f.member}"
        return f"{origin.repo}@{origin.commit}:{f.path or origin.prefix + f.name}"


_UD = "UniversalDependencies/UD_English-"
_JB = Origin("jbrownlee/Datasets", "d20fcb6402ae34e653d4513b00f39257bb37ed7f")
_RDATASETS = Origin("vincentarelbundock/Rdatasets", "1dcc2bf5f955cc1224a3e1307256e1fe86b68dae")
_PUD = Origin(_UD + "PUD", "37788eaa1f29dbe48d7d235d59d9c1bbbbe3f165")
_MR_README = Origin("DavidLKing/cnn-text-classification-pytorch",
                    "658afec7a3cee4efde1f64ad6b6047abc7d1591e")
_TSDL = ("Hyndman, R.J., Time Series Data Library; the .names file cites the original "
         "publication")
_UD_CITE = ("Universal Dependencies 2.16 (de Marneffe, Manning, Nivre, Zeman 2021, "
            "Computational Linguistics 47(2))")
_TATOEBA = ("Tatoeba (tatoeba.org) via manythings.org/anki; attribution: "
            "www.manythings.org/anki and tatoeba.org")

DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset(
        "names", "32k US first names, one per line (makemore)", ("lm",),
        Origin("karpathy/makemore", "988aa59e4d8fefa526d06f3b453ad116258398d4"),
        (
            DataFile("names.txt", 228_145,
                     "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"),
        ),
        "MIT (repository licence, (c) 2022 Andrej Karpathy)",
        "Karpathy, makemore (2022); names from ssa.gov, 2018",
        "none given: rnnlab's seeded split of the lines (--val-fraction, --test-fraction)",
        roles={"data": "names.txt"}, options={"format": "lines"}),
    Dataset(
        "timemachine", "The Time Machine by H. G. Wells, the d2l.ai text", ("lm",),
        Origin("d2l-ai/d2l-zh", "5918a8b9e8dd92e5085c15118e76c919b04f09a7", "data/"),
        (
            DataFile("timemachine.txt", 178_979,
                     "8424dbd9532ac81f7e5f0b6add90e6952baea29158309d7d1bf3884f4e12c516"),
        ),
        "public domain (Project Gutenberg eBook #35); repository Apache-2.0",
        "Zhang, Lipton, Li, Smola, Dive into Deep Learning (d2l.ai), ch. 9",
        "none given: a contiguous 90/5/5% split of the stream (--format text)",
        roles={"data": "timemachine.txt"}, options={"format": "text"}),
    Dataset(
        "ptb", "Penn Treebank in Mikolov's preprocessing (10k words, <unk>, N)", ("lm",),
        Origin("d2l-ai/d2l-zh", "b1d7d1c0282404c3891d7eb673bfa7c8c701b359",
               archive="data/ptb.zip",
               archive_sha256="310d8f602882a5716613815ed75596e5764ea84ed04c5630eebaaf2b943ec5aa"),
        (
            DataFile("ptb.test.txt", 449_945,
                     "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
                     member="ptb/ptb.test.txt"),
            DataFile("ptb.train.txt", 5_101_618,
                     "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
                     member="ptb/ptb.train.txt"),
            DataFile("ptb.valid.txt", 399_782,
                     "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
                     member="ptb/ptb.valid.txt"),
        ),
        "Penn Treebank WSJ text (LDC99T42); repositories Apache-2.0, no licence for the data",
        "Marcus, Santorini, Marcinkiewicz 1993; Mikolov et al. 2010 (the preprocessing)",
        "given: train / valid / test files",
        roles={"data": "ptb.train.txt", "val_data": "ptb.valid.txt",
               "test_data": "ptb.test.txt"},
        options={"format": "text", "level": "word"}),
    Dataset(
        "names_by_language", "surnames in 18 languages (PyTorch char-RNN tutorials)",
        ("classify", "conditional"),
        Origin("spro/practical-pytorch", "5e79b652c199421f54e11534b6bdf6257637a49b",
               "data/names/"),
        (
            DataFile("Arabic.txt", 13_190,
                     "6f424a8dbe51cbbbabab7a57d38b617210125e4e3991f3c657cb79b8f104bafc"),
            DataFile("Chinese.txt", 1_247,
                     "49263ef55a8cb1740e841d65cad8214b2f9b5b869bc534c811746422496fa91e"),
            DataFile("Czech.txt", 3_919,
                     "145bbbd6d0816578f03388e92c264d39ef1c60df920b081d371fa5c5cc055a8e"),
            DataFile("Dutch.txt", 2_351,
                     "924f32b635170eae561f84538632138fc07d4c8bbd70ba3fb980de1ecc4d2af3"),
            DataFile("English.txt", 27_125,
                     "9cca037066d3d5989e24bc01801416162de506b5e28e15b7c092a47905d29bf2"),
            DataFile("French.txt", 2_178,
                     "81e65b36c60ed5b89a17422f6edcadbb89546f38ad69e960e64e7ba682012a95"),
            DataFile("German.txt", 5_610,
                     "7449cd590b97a733e18d613a4155decd77ec35dc5f8aadd7a82204dce4f051db"),
            DataFile("Greek.txt", 1_981,
                     "3555b5186de7f401e6d991b088e9e644ca3099116477818c25ab5793801389e6"),
            DataFile("Irish.txt", 1_858,
                     "cf8c7013256252a88d2503127b87282a11f21b2ff6db1bded68834c19a1ec058"),
            DataFile("Italian.txt", 5_657,
                     "f88414c27d0606a11a678b4859277828c2565d6cc4d9ee932deef6e94f3b35e4"),
            DataFile("Japanese.txt", 7_622,
                     "e0e717e114fec3e7eade4d9dabe0067c475f43147e36a22b47902ee76ad9e67f"),
            DataFile("Korean.txt", 423,
                     "cd54221ccb362a6cba4c78828838cf3268a0e59744767a37cf6ec4b74036b136"),
            DataFile("Polish.txt", 1_165,
                     "45bab898af2f60ed3a728bbf6980e28821011a7caa53227553b5785903a40826"),
            DataFile("Portuguese.txt", 554,
                     "50a8735f41f4f73757c8ce5b16cb0275cd86b2b214bcbc8c9805f508cb131c53"),
            DataFile("Russian.txt", 85_605,
                     "43b3e64ce351f77f1ac9e0cdf7566012d127f4371875fd25208845b5c9d6f7c3"),
            DataFile("Scottish.txt", 752,
                     "78d0252711d87d948ea86fe34826c51d2d794a8e52d15b5d6f7b6244d45d62dd"),
            DataFile("Spanish.txt", 2_284,
                     "1bcb462ed3316756a85781d68232bddae04498fdddd5d9219c53fd1fbdeba7a7"),
            DataFile("Vietnamese.txt", 339,
                     "f3f9e4164ab47601178a6e45b216464a64122f49d05541f24bf18a757253281d"),
        ),
        "MIT (repository licence, (c) 2017 Sean Robertson)",
        "Robertson, PyTorch tutorials: classifying / generating names with a character RNN",
        "none given: rnnlab's stratified seeded split (--val-fraction, --test-fraction)",
        roles={"data": "."}, options={"format": "folder", "glob": "*.txt"}),
    Dataset(
        "ud_english_ewt", "UD English Web Treebank 2.16, CoNLL-U", ("tag",),
        Origin(_UD + "EWT", "4c89b5833a70aa5ed3a00bad2f23f57992cc7df8"),
        (
            DataFile("en_ewt-ud-dev.conllu", 1_805_545,
                     "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6"),
            DataFile("en_ewt-ud-test.conllu", 1_804_515,
                     "e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd"),
            DataFile("en_ewt-ud-train.conllu", 14_203_025,
                     "3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b"),
        ),
        "CC BY-SA 4.0 (annotations); texts from the LDC English Web Treebank",
        "Silveira et al. 2014, A Gold Standard Dependency Corpus for English; " + _UD_CITE,
        "given: train / dev / test files",
        roles={"data": "en_ewt-ud-train.conllu", "val_data": "en_ewt-ud-dev.conllu",
               "test_data": "en_ewt-ud-test.conllu"}),
    Dataset(
        "tatoeba_eng_fra", "English-French sentence pairs (the d2l.ai fra.txt)",
        ("translate",),
        Origin("modelexlab/data", "adddaf33ac35572bcfeb421efec29435e7ea9332",
               archive="fra-eng.zip",
               archive_sha256="161c93f18da3a7e6df611ed961426613260de8af06ccf8c79c977afe5135ac44"),
        (
            DataFile("_about.txt", 1_441,
                     "79f39a53dbddaf7ab43c801f231089174a611f23987244056f9e3cb5aa79358b",
                     member="fra-eng/_about.txt"),
            DataFile("fra.txt", 11_669_748,
                     "0bb85dbaa1c896844649094d7eaf2e34bee34e84fe362b26ce7e8f2e12aae104",
                     member="fra-eng/fra.txt"),
        ),
        "CC-BY 2.0 (tatoeba.org terms, as _about.txt states)", _TATOEBA,
        "none given: rnnlab's split grouped by source sentence (--val-fraction, "
        "--test-fraction)",
        roles={"data": "fra.txt"}),
    Dataset(
        "timeseries", "monthly sunspots, Melbourne daily minimum temperatures, airline "
        "passengers, European stock indices (FTSE column)", ("forecast",), _JB,
        (
            DataFile("EuStockMarkets.csv", 60_865,
                     "aa5513f3ca55daf51294accae9a3f946e957ba53f405dc4fafb4e125e5c03818",
                     path="csv/datasets/EuStockMarkets.csv", origin=_RDATASETS),
            DataFile("EuStockMarkets.rst", 701,
                     "38538340fcc733d89dc2bf5e03edf1147acf477437d5cc0114a1222d0d4eda45",
                     path="doc/datasets/rst/EuStockMarkets.rst", origin=_RDATASETS),
            DataFile("airline-passengers.csv", 2_180,
                     "8cb51be753a718d9be5d76d7e238cc224792754676adc21faa59e954b0201621"),
            DataFile("airline-passengers.names", 148,
                     "d195d0deb285e0c1f64244c729b40523618ba507e5ba31ca19ce0d1aadbc9460"),
            DataFile("daily-min-temperatures.csv", 67_921,
                     "8b9de63ed6789492bf497625e7f9beb96a63d367b4b0a21754006f749fa5e5da"),
            DataFile("daily-min-temperatures.names", 142,
                     "0b7d97f84cba1f04c92560332d077e82c157267344e3c06a4474ceafc5951158"),
            DataFile("monthly-sunspots.csv", 45_039,
                     "c4ec8cc57d9f6fb6ecdb3e1f37f25b6f4badd5124c55931052b0cd2fc3bc71f3"),
            DataFile("monthly-sunspots.names", 112,
                     "5ddf46b4bd9ab847c43603576451acee1a8cb60bbb0e28db8eaa8e554c28fa4b"),
        ),
        "no licence file (jbrownlee/Datasets); R datasets package (Rdatasets)", _TSDL,
        "none given: the last --test-size values test, the --val-size before them validate",
        file_options={
            "monthly-sunspots.csv": {"column": "Sunspots", "season": 12},
            "daily-min-temperatures.csv": {"column": "Temp", "season": 365},
            "airline-passengers.csv": {"column": "Passengers", "season": 12},
            "EuStockMarkets.csv": {"column": "FTSE", "season": 1}}),
    Dataset(
        "sentiment_mr", "sentence polarity v1.0 (MR): 5,331 positive and 5,331 negative "
        "review snippets", ("classify",),
        Origin("dennybritz/cnn-text-classification-tf",
               "5a4610cd713c184ffd9e4dade7ba811ded30e71c", "data/rt-polaritydata/"),
        (
            DataFile("rt-polarity.neg", 612_290,
                     "4af43bf489620b498a0852c5a8c6a535155dec7985fdfea782b8f7756b957ccc"),
            DataFile("rt-polarity.pos", 626_168,
                     "d79ef14009bbf87cd6be21f91c3ea1a3cbcb73b34dfb4231aef7bbcd7677abc4"),
            DataFile("rt-polaritydata.README.1.0.txt", 1_682,
                     "67bc8e858b247a20eb5d6dec39d1fca89ea36112872b48ac8fddfb599dadbf49",
                     origin=_MR_README),
        ),
        "none stated by the dataset's README",
        "Pang and Lee, Seeing stars: exploiting class relationships for sentiment "
        "categorization with respect to rating scales, ACL 2005",
        "none given: 10-fold cross-validation by convention (--cv 10), else a stratified "
        "split",
        roles={"data": "."},
        options={"format": "folder", "glob": "rt-polarity.*", "encoding": "cp1252"}),
    Dataset(
        "heldout_text", "Frankenstein by Mary Shelley (Project Gutenberg #84), held out",
        ("lm",),
        Origin("gutenbergbooks/84", "8bd92d5ea00b020a3b1224f3558019e5b4024f94"),
        (
            DataFile("84-0.txt", 421_530,
                     "f572837d92b31a857df4f6d0612e54f4bd8003d134367ae6a35ef444b9a8336b"),
        ),
        "public domain in the United States (Project Gutenberg)",
        "Shelley, Frankenstein; or, the Modern Prometheus (1818), Project Gutenberg eBook #84",
        "none given: a contiguous 90/5/5% split of the stream (--format text)",
        roles={"data": "84-0.txt"}, options={"format": "text"}),
    Dataset(
        "heldout_series", "monthly shampoo sales, Boston armed robberies, Perrin Freres "
        "champagne sales, held out", ("forecast",), _JB,
        (
            DataFile("monthly-robberies.csv", 1_633,
                     "df5e8a8c2d8fbfb01dd652232863986e0a9fab2d7a30dc29c4a42f6794b0b50f"),
            DataFile("monthly-robberies.names", 140,
                     "b1596f50fee5bcbec5e1c08c5d5c0b500cededb2c4f520efd84e77ff569e20b4"),
            DataFile("monthly-shampoo-sales.csv", 519,
                     "f709eaa344b2d07039a49e2193cbff5e56206354f3a8203c0e02471beb39a451"),
            DataFile("monthly-shampoo-sales.names", 128,
                     "2e08838691143c344e72494551a96d6fd232dd0d0524c068989ce3899ee0bc76"),
            DataFile("monthly_champagne_sales.csv", 1_596,
                     "bf2179f9c4df80a355146ce80da5c29d5cd5f36918d98f8b07cb04cda59e59eb"),
            DataFile("monthly_champagne_sales.names", 138,
                     "114180e1f61743e19897e69d8eb81897caa9cbaf4de5fe6d9dfa55244ca8ec9a"),
        ),
        "no licence file (jbrownlee/Datasets)", _TSDL,
        "none given: the last --test-size values test, the --val-size before them validate",
        file_options={
            "monthly-shampoo-sales.csv": {"column": "Sales", "season": 12},
            "monthly-robberies.csv": {"column": "Robberies", "season": 12},
            "monthly_champagne_sales.csv": {"column": "Sales", "season": 12}}),
    Dataset(
        "heldout_ud", "UD English ParTUT (train/dev/test) and PUD (test) 2.16, held out",
        ("tag",),
        Origin(_UD + "ParTUT", "a098ff03232b7a180e630ee576d5b8b7abc04fa6"),
        (
            DataFile("en_partut-ud-dev.conllu", 152_380,
                     "f52fe2eeedcbb916516a7cabaeda89a618e3832ade19750e30b4f514865cdb86"),
            DataFile("en_partut-ud-test.conllu", 188_121,
                     "fdc9c5a5fd95f9b426b98cbe43fecad011cd4c33f9bf211d4673d060ee9d0e96"),
            DataFile("en_partut-ud-train.conllu", 2_386_094,
                     "d7f3fa31fd8a6536e5c1ddcf37911621e77b6d37e20e73dbad1f8fc65e56ef84"),
            DataFile("en_pud-ud-test.conllu", 1_355_907,
                     "8c23ea47522ca67cca7d1783e536aaa11e01a4b28465b9c40b7d222bf64863d2",
                     origin=_PUD),
        ),
        "ParTUT CC BY-NC-SA 4.0 (non-commercial); PUD CC BY-SA 3.0",
        "Sanguinetti and Bosco, ParTUT; Zeman et al., CoNLL 2017 shared task (PUD); "
        + _UD_CITE,
        "given: ParTUT train / dev / test; PUD is a test file only",
        roles={"data": "en_partut-ud-train.conllu", "val_data": "en_partut-ud-dev.conllu",
               "test_data": "en_partut-ud-test.conllu"}),
    Dataset(
        "heldout_pairs", "English-Swedish sentence pairs (manythings.org, 2023), held out",
        ("translate",),
        Origin("emilolio/translation-transformer", "bc1be102ca7c455ca4bfb6ed46a93f4d8263d9a2"),
        (
            DataFile("_about.txt", 1_441,
                     "fd28e858f358b8ef5a9010d4f8a8b68a76aa7b800fce7c9076df2ecb7e715293"),
            DataFile("swe.txt", 3_434_715,
                     "de3ddba6b19460583c54b900d4d53d0023b34510bc31e3b0d39f7174bb55a6e7"),
        ),
        "CC-BY 2.0 (tatoeba.org terms, as _about.txt states)", _TATOEBA,
        "none given: rnnlab's split grouped by source sentence",
        roles={"data": "swe.txt"}),
    Dataset(
        "heldout_labeled", "SMS Spam Collection v.1: 5,574 messages, ham or spam, held out",
        ("classify",),
        Origin("pratik-kale20/dataset", "1e9486e6e0c67a39e4ad8ebe157cfe57dda3c3f2",
               archive="smsspamcollection.zip",
               archive_sha256="1587ea43e58e82b14ff1f5425c88e17f8496bfcdb67a583dbff9eefaf9963ce3"),
        (
            DataFile("SMSSpamCollection", 477_907,
                     "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d",
                     member="SMSSpamCollection"),
            DataFile("readme", 5_868,
                     "8753cd2d3cab68f80c8257851b8c2037778c267f55accb6fd1b5a2e32d36a84e",
                     member="readme"),
        ),
        "free, with the authors' copyright and no warranty (readme, section 4)",
        "Almeida, Gomez Hidalgo, Yamakami, Contributions to the study of SMS spam "
        "filtering: new collection and results, DocEng 2011",
        "none given: rnnlab's stratified seeded split",
        roles={"data": "SMSSpamCollection"},
        options={"format": "tsv", "label_column": 0}),
)}


def find(word: str) -> tuple[Dataset, DataFile | None] | None:
    """The dataset (and file) a word names: NAME or NAME/FILE; None if it names none."""
    name, _, rest = word.partition("/")
    ds = DATASETS.get(name)
    if ds is None:
        return None
    if not rest:
        return ds, None
    f = ds.file(rest)
    return (ds, f) if f is not None else None
