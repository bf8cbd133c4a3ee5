"""`export_model(model, filepath, format=...)`: what `Model.export` and `shoal export` call."""

from __future__ import annotations

import os

FORMATS = ("onnx", "tflite", "stablehlo")
_ALIASES = {"litert": "tflite"}  # Keras 3's name for the TFLite / LiteRT flatbuffer
_SUFFIXES = {
    ".onnx": "onnx",
    ".tflite": "tflite",
    ".litertlm": "tflite",
    ".stablehlo": "stablehlo",
    ".shlo": "stablehlo",
}


def export_model(
    model, filepath, format: str = "onnx", verbose: bool = False, input_signature=None, **kwargs
):
    """Export `model` for inference in another runtime.

    Args:
        model: a built shoal model (Functional or Sequential for ONNX; any model for
            StableHLO).
        filepath: the output file.
        format: `"onnx"`: an ONNX graph written from the layer graph (options: `opset`,
            default 17, also taken under Keras' name `opset_version`); `"tflite"` (Keras'
            name: `"litert"`): a TFLite / LiteRT flatbuffer
            (options: `quantize="dynamic"` for int8 weights, `batch_size`: an int, or None for a dynamic batch;
            default: None when `input_signature` leaves the batch unknown, else 1);
            `"stablehlo"`: a `jax.export` artifact plus `filepath + ".mlir"` (options:
            `platforms`, `mlir`).
        verbose: print where the file went.
        input_signature: StableHLO only: shapes (None = symbolic) or
            `jax.ShapeDtypeStruct`s, one per input. The ONNX graph always takes the
            model's Input shapes with a dynamic batch dimension; it takes only the specs'
            names (`InputSpec(name=...)`) for its inputs, as Keras does.

    Returns:
        The `onnx.ModelProto`, the flatbuffer bytes, or the `jax.export.Exported`.
    """
    if not isinstance(format, str) or _ALIASES.get(format.lower(), format.lower()) not in FORMATS:
        raise ValueError(
            f"export: argument 'format' must be one of {', '.join(map(repr, FORMATS))} "
            f"(or 'litert', Keras' name for 'tflite'), got {format!r}"
        )
    format = _ALIASES.get(format.lower(), format.lower())
    if format == "onnx":
        from shoal.export.onnx import export_onnx

        opset_version = kwargs.pop("opset_version", None)  # Keras' name for `opset`
        if opset_version is not None:
            if "opset" in kwargs:
                raise ValueError(
                    "export: give the ONNX opset as 'opset' or 'opset_version', not both; "
                    f"got opset={kwargs['opset']!r}, opset_version={opset_version!r}"
                )
            kwargs["opset"] = opset_version
        result = export_onnx(
            model, filepath, input_names=_signature_names(input_signature), **kwargs
        )
    elif format == "tflite":
        from shoal.export.tflite import export_tflite

        if "batch_size" not in kwargs:
            kwargs["batch_size"] = _signature_batch(input_signature)
        result = export_tflite(model, filepath, **kwargs)
    else:
        from shoal.export.stablehlo import export_stablehlo

        result = export_stablehlo(model, filepath, input_signature=input_signature, **kwargs)
    if verbose:
        print(f"Saved the {format} export of model '{model.name}' to {os.fspath(filepath)}")
    return result


def _signature_names(input_signature):
    """The names an input signature gives its inputs (Keras names the ONNX graph inputs
    after `InputSpec.name`), or None when it names none."""
    if input_signature is None:
        return None

    def flat(value):  # nested lists / tuples / dicts of specs, as Keras' tree.flatten
        if isinstance(value, dict):
            return [spec for key in sorted(value) for spec in flat(value[key])]
        if isinstance(value, (list, tuple)):
            return [spec for item in value for spec in flat(item)]
        return [value]

    names = [getattr(spec, "name", None) for spec in flat(input_signature)]
    return names if any(isinstance(n, str) and n for n in names) else None


def _signature_batch(input_signature):
    """The fixed batch size an input signature names, None if it leaves it unknown, and 1
    (TFLite's usual fixed batch) when there is no signature."""
    if input_signature is None:
        return 1
    first = input_signature[0] if isinstance(input_signature, (list, tuple)) else input_signature
    shape = getattr(first, "shape", first)
    return shape[0] if shape and isinstance(shape[0], int) else None


def format_for(filepath, format=None) -> str:
    """`format` if given, else the one the file's suffix names (.onnx, .stablehlo)."""
    if format is not None:
        return format
    suffix = os.path.splitext(os.fspath(filepath))[1].lower()
    if suffix not in _SUFFIXES:
        raise ValueError(
            f"export: cannot tell the format from the output file name {os.fspath(filepath)!r}"
            f" (suffixes {', '.join(_SUFFIXES)}); pass --format {' or '.join(FORMATS)}"
        )
    return _SUFFIXES[suffix]


def export_file(model_path, output, format=None, **kwargs):
    """Load a saved `.keras` model and export it: what `shoal export` runs."""
    from shoal.saving.api import load_model

    format = format_for(output, format)
    model = load_model(model_path, compile=False)
    return export_model(model, output, format=format, verbose=True, **kwargs)


def add_cli_parser(subparsers) -> None:
    """Register `shoal export MODEL.keras OUTPUT [--format] [--opset]` on an argparse CLI."""
    p = subparsers.add_parser(
        "export",
        help="export a saved .keras model to ONNX, TFLite or StableHLO",
        description="Load MODEL (a .keras file) and write it to OUTPUT as ONNX (.onnx), "
        "TFLite / LiteRT (.tflite) or a StableHLO jax.export artifact (.stablehlo, plus "
        "OUTPUT.mlir).",
    )
    p.add_argument("model", help="the .keras file to export")
    p.add_argument("output", help="the file to write (.onnx, .tflite or .stablehlo)")
    p.add_argument("--format", choices=FORMATS, default=None, help="default: from OUTPUT")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")
    p.add_argument("--quantize", choices=["dynamic"], default=None, help="TFLite: int8 weights")
    p.add_argument(
        "--batch-size", type=int, default=None, help="TFLite: fixed batch size (default: dynamic)"
    )
    p.set_defaults(func=_cli_export)


def _cli_export(args) -> int:
    import sys

    kwargs = {} if args.opset is None else {"opset": args.opset}
    try:
        format = format_for(args.output, args.format)
        if format != "onnx" and kwargs:
            raise ValueError("export: --opset applies to ONNX exports only")
        if format == "tflite":
            kwargs = {"quantize": args.quantize, "batch_size": args.batch_size}
        elif args.quantize or args.batch_size is not None:
            raise ValueError("export: --quantize and --batch-size apply to TFLite exports only")
        export_file(args.model, args.output, format=format, **kwargs)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    return 0
