"""Export trained models to other runtimes: ONNX and StableHLO."""

from shoal.export.api import export_model
from shoal.export.stablehlo import export_stablehlo, load_stablehlo


def export_onnx(model, filepath=None, **kwargs):
    """Write `model` as an ONNX graph (needs the `onnx` package: `pip install shoal[export]`)."""
    from shoal.export.onnx import export_onnx as _export_onnx

    return _export_onnx(model, filepath, **kwargs)


__all__ = ["export_model", "export_onnx", "export_stablehlo", "load_stablehlo"]
