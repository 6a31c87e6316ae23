"""rnnlab: sequence modeling with recurrent neural networks, from counting Markov chains to
LSTMs, trained with backpropagation through time on a laptop CPU."""

from rnnlab.batching import BpttStream, PaddedBatches, Scaler, SeriesBatch, pad_batch, windows
from rnnlab.checkpoint import load_checkpoint, load_model, save_checkpoint
from rnnlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from rnnlab.decoding import DecodeConfig, beam_search, generate, transform_logits
from rnnlab.errors import RnnlabError
from rnnlab.metrics import evaluate
from rnnlab.models import build_lm
from rnnlab.models.base import LMBatch, Output, State
from rnnlab.models.cells import ElmanCell, GRUCell, LSTMCell
from rnnlab.models.forecaster import Forecaster
from rnnlab.models.lm import RecurrentLM
from rnnlab.models.ngram import NGramLM
from rnnlab.models.recurrent import Recurrent
from rnnlab.models.window import WindowLM
from rnnlab.tokenizers import CharTokenizer, Tokenizer, Vocab, WordTokenizer
from rnnlab.trainer import History, Trainer

__version__ = "0.1.0"

__all__ = [
    "BpttStream", "CharTokenizer", "DataConfig", "DecodeConfig", "ElmanCell", "Forecaster",
    "GRUCell", "History", "LMBatch", "LSTMCell", "ModelConfig", "NGramLM", "Output",
    "PaddedBatches", "Recurrent", "RecurrentLM", "RnnlabError", "RunConfig", "Scaler",
    "SeriesBatch", "State", "Tokenizer", "TrainConfig", "Trainer",
    "Vocab", "WindowLM", "WordTokenizer", "beam_search", "build_lm", "evaluate", "generate",
    "load_checkpoint", "load_model", "pad_batch", "save_checkpoint", "transform_logits",
    "windows",
]
