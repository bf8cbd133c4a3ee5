"""Callbacks for fit / evaluate / predict, with Keras 3 semantics."""

from shoal.callbacks.backup_and_restore import BackupAndRestore
from shoal.callbacks.callback import Callback
from shoal.callbacks.callback_list import CallbackList
from shoal.callbacks.csv_logger import CSVLogger
from shoal.callbacks.early_stopping import EarlyStopping
from shoal.callbacks.history import History
from shoal.callbacks.lambda_callback import LambdaCallback
from shoal.callbacks.learning_rate_scheduler import LearningRateScheduler
from shoal.callbacks.model_checkpoint import ModelCheckpoint
from shoal.callbacks.orbax_checkpoint import OrbaxCheckpoint
from shoal.callbacks.progbar_logger import ProgbarLogger
from shoal.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from shoal.callbacks.remote_monitor import RemoteMonitor
from shoal.callbacks.swap_ema_weights import SwapEMAWeights
from shoal.callbacks.tensorboard import TensorBoard
from shoal.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "ProgbarLogger",
    "BackupAndRestore",
    "CSVLogger",
    "EarlyStopping",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "OrbaxCheckpoint",
    "ReduceLROnPlateau",
    "SwapEMAWeights",
    "TensorBoard",
    "RemoteMonitor",
    "TerminateOnNaN",
]
