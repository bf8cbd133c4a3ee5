"""`TensorBoard`: log metrics, weight histograms and the model for TensorBoard (Keras 3).

The event files are written by `shoal.callbacks.event_file`, without TensorFlow.
"""

from __future__ import annotations

import logging
import os
import time
import warnings

import numpy as np

from shoal.callbacks.callback import Callback
from shoal.callbacks.event_file import EventFileWriter
from shoal.callbacks.monitor_callback import learning_rate_of, to_float


class TensorBoard(Callback):
    """Write logs for TensorBoard: epoch metrics, weight histograms and images, the model.

    Epoch metrics go to `log_dir/train` as `epoch_<name>` (with `epoch_learning_rate`) and
    validation metrics to `log_dir/validation` as `epoch_<name>`, at step = epoch. Each
    evaluation also writes `evaluation_<name>_vs_iterations` to `validation` at step =
    optimizer iterations. View with `tensorboard --logdir=path_to_your_logs`.

    Args:
        log_dir: the directory for the event files.
        histogram_freq: every this many epochs, write a histogram of every weight (0: never).
        write_graph: write the model's JSON config (TensorBoard's Keras-model graph view).
        write_images: with `histogram_freq`, also write each weight as an image
            (min-max normalized to 0..255).
        write_steps_per_second: also log training steps per second.
        update_freq: `"epoch"`, `"batch"`, or an integer N: also write `batch_<name>`
            scalars every N training batches (each write reads the logs back from the device).
        profile_batch: a batch or a `(start, stop)` pair of batches to profile with
            `jax.profiler` into `log_dir/train` (0: off).
        embeddings_freq: every this many epochs, save the weights for TensorBoard's
            projector (for models with `Embedding` layers; 0: never).
        embeddings_metadata: a metadata file name, or a dict of layer name -> file name.

    Example:
        >>> tensorboard_callback = TensorBoard(log_dir="./logs")
        >>> # model.fit(x, y, epochs=2, callbacks=[tensorboard_callback])
    """

    _primary_only = True  # with several processes, only process 0 writes

    def __init__(
        self,
        log_dir="logs",
        histogram_freq=0,
        write_graph=True,
        write_images=False,
        write_steps_per_second=False,
        update_freq="epoch",
        profile_batch=0,
        embeddings_freq=0,
        embeddings_metadata=None,
    ):
        super().__init__()
        if (
            update_freq != "epoch"
            and update_freq != "batch"
            and (
                isinstance(update_freq, bool)
                or not isinstance(update_freq, (int, np.integer))
                or update_freq <= 0
            )
        ):
            raise ValueError(
                "TensorBoard: argument `update_freq` must be 'epoch', 'batch' or a positive "
                f"integer; got update_freq={update_freq!r}"
            )
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._init_profile_batch(profile_batch)
        self._global_train_batch = 0
        self._ended_train_batches = 0  # fused executions run begin hooks ahead of ends
        self._global_test_batch = 0
        self._previous_epoch_iterations = 0
        self._batch_start_time = 0.0
        self._epoch_start_time = 0.0
        self._writers: dict[str, EventFileWriter] = {}

    # -- writers ---------------------------------------------------------------
    def set_model(self, model):
        self._model = model
        self._log_write_dir = self.log_dir
        self._train_dir = os.path.join(self._log_write_dir, "train")
        self._val_dir = os.path.join(self._log_write_dir, "validation")
        self._close_writers()
        self._writers = {}
        if self.write_graph:
            self._write_keras_model_summary()
        if self.embeddings_freq:
            self._configure_embeddings()

    @property
    def _train_writer(self) -> EventFileWriter:
        if "train" not in self._writers:
            self._writers["train"] = EventFileWriter(self._train_dir)
        return self._writers["train"]

    @property
    def _val_writer(self) -> EventFileWriter:
        if "val" not in self._writers:
            self._writers["val"] = EventFileWriter(self._val_dir)
        return self._writers["val"]

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()

    def _write_keras_model_summary(self):
        if type(self.model).__name__ not in ("Functional", "Sequential"):
            return
        try:
            json_string = self.model.to_json()
        except Exception as exc:  # a model that cannot serialize must not stop training
            warnings.warn(f"Model failed to serialize as JSON. Ignoring... {exc}", stacklevel=2)
            return
        self._train_writer.text_tensor("keras", json_string, "graph_keras_model", b"1", step=0)

    def _configure_embeddings(self):
        metadata = self.embeddings_metadata
        if isinstance(metadata, dict):
            metadata = dict(metadata)
        lines = []
        for layer in self.model.layers:
            if type(layer).__name__ != "Embedding":
                continue
            lines.append("embeddings {")
            name = "layer_with_weights-0/embeddings/.ATTRIBUTES/VARIABLE_VALUE"
            lines.append(f'  tensor_name: "{name}"')
            path = None
            if isinstance(metadata, str):
                path = metadata
            elif metadata and layer.name in metadata:
                path = metadata.pop(layer.name)
            if path is not None:
                lines.append(f'  metadata_path: "{path}"')
            lines.append("}")
        if metadata and not isinstance(metadata, str):
            raise ValueError(
                "Unrecognized `Embedding` layer names passed to TensorBoard argument "
                f"`embeddings_metadata`: {list(metadata.keys())}"
            )
        os.makedirs(self._log_write_dir, exist_ok=True)
        with open(os.path.join(self._log_write_dir, "projector_config.pbtxt"), "w") as f:
            f.write("\n".join(lines) + ("\n" if lines else ""))

    # -- profiling ---------------------------------------------------------------
    def _init_profile_batch(self, profile_batch):
        message = (
            "TensorBoard: argument `profile_batch` must be a non-negative integer or a 2-tuple "
            "of positive integers (a range of batches to profile); got "
            f"profile_batch={profile_batch!r}"
        )
        if isinstance(profile_batch, str):
            try:
                profile_batch = [int(p) for p in profile_batch.split(",")]
            except ValueError:
                raise ValueError(message) from None
            if len(profile_batch) == 1:
                profile_batch = profile_batch[0]
        if isinstance(profile_batch, (int, np.integer)) and not isinstance(profile_batch, bool):
            self._start_batch = self._stop_batch = int(profile_batch)
        elif isinstance(profile_batch, (tuple, list)) and len(profile_batch) == 2:
            self._start_batch, self._stop_batch = (int(p) for p in profile_batch)
        else:
            raise ValueError(message)
        if self._start_batch < 0 or self._stop_batch < self._start_batch:
            raise ValueError(message)
        self._is_tracing = False
        self._should_trace = not (self._start_batch == 0 and self._stop_batch == 0)

    def _start_trace(self):
        import jax

        try:
            jax.profiler.start_trace(self._train_dir)
            self._is_tracing = True
        except Exception as e:  # profiler errors must not be fatal
            logging.error("Failed to start profiler: %s", e)

    def _stop_trace(self):
        import jax

        try:
            jax.profiler.stop_trace()
        except Exception as e:
            logging.error("Failed to stop profiler: %s", e)
        finally:
            self._is_tracing = False

    # -- hooks -------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._global_train_batch = 0
        self._ended_train_batches = 0  # fused executions run begin hooks ahead of ends
        self._previous_epoch_iterations = 0

    def on_train_end(self, logs=None):
        if self._is_tracing:
            self._stop_trace()
        self._close_writers()

    def on_test_end(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "iterations") and logs:
            step = int(
                to_float(
                    optimizer.iterations.numpy()
                    if hasattr(optimizer.iterations, "numpy")
                    else optimizer.iterations
                )
            )
            for name, value in logs.items():
                self._val_writer.scalar(f"evaluation_{name}_vs_iterations", value, step)

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start_time = time.time()
        if self._should_trace and self._global_train_batch == self._start_batch:
            self._start_trace()

    def _batch_due(self) -> bool:
        return self.update_freq != "epoch" and self._ended_train_batches % self.update_freq == 0

    def on_train_batch_end(self, batch, logs=None):
        self._ended_train_batches += 1
        if self._batch_due():
            step = self._ended_train_batches
            if self.write_steps_per_second:
                elapsed = max(time.time() - self._batch_start_time, 1e-12)
                self._train_writer.scalar("batch_steps_per_second", 1.0 / elapsed, step)
            if isinstance(logs, dict):
                for name, value in logs.items():
                    if np.ndim(value) == 0:
                        self._train_writer.scalar(f"batch_{name}", value, step)
        if self._is_tracing and self._global_train_batch >= self._stop_batch:
            self._stop_trace()

    def on_test_batch_begin(self, batch, logs=None):
        self._global_test_batch += 1

    def _iterations(self) -> float:
        iterations = self.model.optimizer.iterations
        return to_float(iterations.numpy() if hasattr(iterations, "numpy") else iterations)

    def on_epoch_begin(self, epoch, logs=None):
        if self.write_steps_per_second:
            self._previous_epoch_iterations = self._iterations()
            self._epoch_start_time = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self._log_epoch_metrics(epoch, logs)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            self._log_embeddings(epoch)

    # -- summaries ---------------------------------------------------------------
    def _collect_learning_rate(self, logs):
        optimizer = getattr(self.model, "optimizer", None)
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        if hasattr(optimizer, "optimizers"):
            for opt in optimizer.optimizers:
                logs[f"learning_rate_{opt.name}"] = learning_rate_of(opt)
        elif optimizer is not None and hasattr(optimizer, "learning_rate"):
            logs["learning_rate"] = learning_rate_of(optimizer)
        return logs

    def _log_epoch_metrics(self, epoch, logs):
        if not logs:
            return
        train_logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val_logs = {k: v for k, v in logs.items() if k.startswith("val_")}
        train_logs = self._collect_learning_rate(train_logs)
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._epoch_start_time, 1e-12)
            steps = self._iterations() - self._previous_epoch_iterations
            train_logs["steps_per_second"] = steps / elapsed
        for name, value in train_logs.items():
            self._train_writer.scalar(f"epoch_{name}", value, epoch)
        for name, value in val_logs.items():
            self._val_writer.scalar(f"epoch_{name[4:]}", value, epoch)

    def _log_weights(self, epoch):
        writer = self._train_writer
        for layer in self.model.layers:
            for weight in layer.weights:
                name = weight.path.replace(":", "_")
                value = np.asarray(weight.numpy())
                writer.histogram(f"{name}/histogram", value, epoch)
                if self.write_images:
                    self._log_weight_as_image(value, f"{name}/image", epoch)
        writer.flush()

    def _log_weight_as_image(self, weight, tag, epoch):
        from shoal.backend import config

        w_img = np.squeeze(weight)
        shape = w_img.shape
        if len(shape) == 1:  # a bias
            w_img = w_img.reshape(1, shape[0], 1, 1)
        elif len(shape) == 2:  # a dense kernel, shown wide
            if shape[0] > shape[1]:
                w_img = w_img.T
            w_img = w_img.reshape(1, *w_img.shape, 1)
        elif len(shape) == 3:  # a 1-D conv kernel: one image per output channel
            if config.image_data_format() == "channels_last":
                w_img = np.transpose(w_img, (2, 0, 1))
            w_img = w_img.reshape(*w_img.shape, 1)
        if w_img.ndim != 4 or w_img.shape[-1] not in (1, 3, 4):
            return  # 3-D kernels and the like have no image form
        lo, hi = float(w_img.min()), float(w_img.max())
        scaled = (w_img - lo) / (hi - lo) if hi > lo else np.zeros_like(w_img)
        pixels = np.round(scaled * 255).astype(np.uint8)
        for i in range(min(3, pixels.shape[0])):  # tf.summary.image's max_outputs
            self._train_writer.image(tag if i == 0 else f"{tag}/{i}", pixels[i], epoch)

    def _log_embeddings(self, epoch):
        path = os.path.join(
            self._log_write_dir, "train", f"keras_embedding.ckpt-{epoch}.weights.h5"
        )
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.model.save_weights(path)
