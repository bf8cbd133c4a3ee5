"""Recurrent layers: the generic `RNN` over any cell, and SimpleRNN, LSTM, GRU."""

from shoal.layers.recurrent.gru import GRU, GRUCell
from shoal.layers.recurrent.lstm import LSTM, LSTMCell
from shoal.layers.recurrent.rnn import RNN, StackedRNNCells
from shoal.layers.recurrent.simple_rnn import SimpleRNN, SimpleRNNCell

__all__ = [
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "RNN",
    "SimpleRNN",
    "SimpleRNNCell",
    "StackedRNNCells",
]
