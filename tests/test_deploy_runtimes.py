"""shoal's exports in the runtimes docs/deploy.md deploys them to, checked against `predict`:

- ONNX in onnxruntime-node: tests/node/mnist.test.mjs, one `node --test` run over every model
  here, plus the example program deploy/node/predict.mjs on the sample digit;
- the example page deploy/web/ (onnxruntime-web, WebAssembly) in headless Chromium: the digit
  it shows, read back from the page;
- the C program deploy/c/mnist.c, compiled with `cc` against the ONNX Runtime C API and linked
  with the libonnxruntime that onnxruntime-node ships;
- the StableHLO export compiled by IREE's native `iree-compile` and run by its native C runtime
  `iree-run-module` (no Python in the loop), directly and through deploy/iree/predict.sh.

The runtimes are installed by .ci/run (`npm ci` in tests/node, Debian's chromium, the
iree-base-* wheels of the test extra); a missing one fails with the command that installs it.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import shoal
from shoal import layers as L
from shoal.cli import build_mnist_convnet
from shoal.datasets import mnist

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"
DEPLOY = ROOT / "deploy"
SAMPLE_INDEX = 8003  # deploy/sample-digit.*: the first 7 of the held-out part of the sample
RTOL, ATOL = 1e-5, 1e-6


def _images(x):
    return (x.astype("float32") / 255.0)[..., None]


def _randomize(model, seed):
    """Seeded weights, drawn in NumPy (initializers' sampling would compile for each shape)."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        fan_in = int(np.prod(v.shape[:-1])) if len(v.shape) > 1 else 0
        std = 1.0 / np.sqrt(fan_in) if fan_in else 0.1
        v.assign(rng.normal(0.0, std, v.shape).astype(v.dtype))
    return model


def _mnist_mlp():
    """Trained for one epoch on the sample's training split, so the sample digit reads as 7."""
    (x, y), _ = mnist.load_sample_split(num_train=8000)
    model = shoal.Sequential(
        [
            shoal.Input((28, 28, 1)),
            L.Flatten(),
            L.Dense(32, activation="relu"),
            L.Dense(10, activation="softmax"),
        ]
    )
    _randomize(model, seed=0)
    model.compile(
        optimizer=shoal.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        steps_per_execution=1,
    )
    model.fit(_images(x), y, batch_size=64, epochs=1, verbose=0)
    return model


def _text_lstm():
    return shoal.Sequential(
        [
            shoal.Input((6,), dtype="int32"),
            L.Embedding(12, 4, mask_zero=True),
            L.LSTM(5),
            L.Dense(1, activation="sigmoid"),
        ]
    )


@pytest.fixture(scope="module")
def models():
    """name -> (model, input batch, predict's output). The convnet and the LSTM keep seeded
    random weights (training them would only cost time)."""
    from shoal import initializers

    x, _ = mnist.load_sample()
    digits = _images(x[[SAMPLE_INDEX, 0, 1]])
    tokens = np.array([[3, 7, 1, 0, 0, 0], [11, 2, 5, 9, 4, 8], [6, 0, 0, 0, 0, 0]], "int32")
    zeros = initializers.get("zeros")
    with pytest.MonkeyPatch.context() as patch:  # build with zeros: _randomize overwrites
        patch.setattr(initializers, "get", lambda identifier: zeros)
        built = {
            "mnist_mlp": (_mnist_mlp(), digits),
            "mnist_convnet": (_randomize(build_mnist_convnet(), seed=1), digits),
            "text_lstm": (_randomize(_text_lstm(), seed=2), tokens),
        }
    return {name: (m, x, m.predict(x, verbose=0)) for name, (m, x) in built.items()}


def _tensor_json(name, array):
    array = np.asarray(array)
    return {
        "name": name,
        "type": str(array.dtype),
        "dims": list(array.shape),
        "data": array.ravel().tolist(),  # float32 -> float64 -> JSON is exact
    }


@pytest.fixture(scope="module")
def onnx_cases(models, tmp_path_factory):
    """A folder of .onnx exports and cases.json (inputs and predict's outputs) for Node."""
    folder = tmp_path_factory.mktemp("onnx_cases")
    cases = []
    for name, (model, x, expected) in models.items():
        proto = model.export(folder / f"{name}.onnx", format="onnx")
        (inp,), (out,) = proto.graph.input, proto.graph.output
        cases.append(
            {
                "name": name,
                "file": f"{name}.onnx",
                "inputs": [_tensor_json(inp.name, x)],
                "outputs": [_tensor_json(out.name, expected)],
            }
        )
    digit = int(np.argmax(models["mnist_mlp"][2][0]))
    document = {"models": cases, "digit": {"file": "mnist_mlp.onnx", "expected": digit}}
    (folder / "cases.json").write_text(json.dumps(document))
    return folder


def _node_modules(package):
    path = NODE_DIR / "node_modules" / package
    if not path.is_dir():
        pytest.fail(
            f"{path} is missing: run `ONNXRUNTIME_NODE_INSTALL=skip npm ci` in tests/node "
            "(.ci/run does)"
        )
    return path


def test_sample_digit_files_are_the_held_out_seven():
    x, y = mnist.load_sample()
    assert y[SAMPLE_INDEX] == 7
    pgm = (DEPLOY / "sample-digit.pgm").read_bytes()
    assert pgm == b"P5\n28 28\n255\n" + x[SAMPLE_INDEX].tobytes()
    assert (DEPLOY / "sample-digit.png").read_bytes().startswith(b"\x89PNG")


def test_onnxruntime_node(onnx_cases, models):
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not on PATH (install Node >= 20: apt-get install nodejs npm)")
    _node_modules("onnxruntime-node")
    proc = subprocess.run(
        [node, "--test", "--test-reporter=tap", "mnist.test.mjs"],
        cwd=NODE_DIR,
        env={**os.environ, "SHOAL_DEPLOY_CASES": str(onnx_cases)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    # One test per model, the folder check and the predict.mjs program: none skipped.
    assert re.search(rf"^# pass {len(models) + 2}$", proc.stdout, re.M), report
    assert re.search(r"^# fail 0$", proc.stdout, re.M), report
    # predict.mjs agreed with predict on a digit predict gets right.
    assert models["mnist_mlp"][2][0].argmax() == 7


class _DeployHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder a user assembles for deploy/web (docs/deploy.md), from its parts."""

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
    }

    def __init__(self, *args, routes, **kwargs):
        self.routes = routes
        super().__init__(*args, **kwargs)

    def translate_path(self, path):
        path = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, target in self.routes.items():
            if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
                rest = path[len(prefix) :]
                return str(target / rest) if rest else str(target)
        return str(DEPLOY / "web" / "missing")

    def log_message(self, *args):
        pass


def test_web_page_in_headless_chromium(onnx_cases, models, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("headless Chromium is missing: apt-get install chromium (.ci/run does)")
    dist = _node_modules("onnxruntime-web") / "dist"
    routes = {
        "/ort/": dist,
        "/mnist.onnx": onnx_cases / "mnist_mlp.onnx",
        "/sample-digit.png": DEPLOY / "sample-digit.png",
        "/": DEPLOY / "web",
    }
    handler = functools.partial(_DeployHandler, routes=routes)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        # The DOM is dumped when the virtual-time budget runs out; work the browser does off
        # the page's clock (WASM compilation, image decoding) can still be in flight on a
        # loaded machine, leaving the page at "Model loaded.". Such a run is repeated (up to
        # 3 runs); every assertion below holds for the run that finished.
        for attempt in range(3):
            proc = subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",  # CI runs as root
                    "--disable-gpu",
                    "--no-first-run",
                    f"--user-data-dir={tmp_path / f'profile{attempt}'}",
                    # Virtual time runs the page's promises (model load, inference) to completion.
                    "--virtual-time-budget=60000",
                    "--dump-dom",
                    url,
                ],
                capture_output=True,
                text=True,
                timeout=240,
            )
            status = re.search(r'<p id="status">(.*?)</p>', proc.stdout, re.S)
            if proc.returncode != 0 or not status or status.group(1) != "Model loaded.":
                break
    finally:
        server.shutdown()
        server.server_close()
    dom = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert status and status.group(1).startswith("Ran the model"), dom[-3000:]
    shown = re.search(r'<output id="prediction"[^>]*>(.*?)</output>', dom, re.S).group(1)
    expected = models["mnist_mlp"][2][0]
    assert shown == str(expected.argmax()) == "7", dom[-3000:]
    cells = re.findall(r"<tr><td>(\d)</td><td>([0-9.]+)</td>", dom)
    assert [int(d) for d, _ in cells] == list(range(10))
    np.testing.assert_allclose([float(p) for _, p in cells], expected, atol=6e-5)


# The ONNX Runtime C API header is published only in ONNX Runtime's release archives and NuGet
# packages, which CI cannot reach; npm's onnxruntime-node ships the library without it. This
# declares the part of the ABI that deploy/c/mnist.c uses: `OrtApi` is a table of function
# pointers whose order never changes (ONNX Runtime only appends), so the members the program
# calls sit at fixed indices (those of API version 1, given in the comments) and the others
# are `void *` filler. Users compile against the real header (docs/deploy.md).
ORT_ABI_SUBSET = """\
#include <stddef.h>
#include <stdint.h>
#define ORT_API_VERSION 1
typedef char ORTCHAR_T;
typedef struct OrtEnv OrtEnv;
typedef struct OrtStatus OrtStatus;
typedef struct OrtMemoryInfo OrtMemoryInfo;
typedef struct OrtSession OrtSession;
typedef struct OrtValue OrtValue;
typedef struct OrtRunOptions OrtRunOptions;
typedef struct OrtTypeInfo OrtTypeInfo;
typedef struct OrtTensorTypeAndShapeInfo OrtTensorTypeAndShapeInfo;
typedef struct OrtSessionOptions OrtSessionOptions;
typedef struct OrtAllocator OrtAllocator;
typedef enum { ORT_LOGGING_LEVEL_WARNING = 2 } OrtLoggingLevel;
typedef enum { OrtArenaAllocator = 1 } OrtAllocatorType;
typedef enum { OrtMemTypeDefault = 0 } OrtMemType;
typedef enum { ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT = 1 } ONNXTensorElementDataType;
typedef struct OrtApi {
  void *unused_0_1[2];
  const char *(*GetErrorMessage)(const OrtStatus *);                          /* 2 */
  OrtStatus *(*CreateEnv)(OrtLoggingLevel, const char *, OrtEnv **);           /* 3 */
  void *unused_4_6[3];
  OrtStatus *(*CreateSession)(const OrtEnv *, const ORTCHAR_T *, const OrtSessionOptions *,
                              OrtSession **);                                 /* 7 */
  void *unused_8[1];
  OrtStatus *(*Run)(OrtSession *, const OrtRunOptions *, const char *const *,
                    const OrtValue *const *, size_t, const char *const *, size_t,
                    OrtValue **);                                             /* 9 */
  OrtStatus *(*CreateSessionOptions)(OrtSessionOptions **);                   /* 10 */
  void *unused_11_32[22];
  OrtStatus *(*SessionGetInputTypeInfo)(const OrtSession *, size_t, OrtTypeInfo **); /* 33 */
  void *unused_34_35[2];
  OrtStatus *(*SessionGetInputName)(const OrtSession *, size_t, OrtAllocator *,
                                    char **);                                 /* 36 */
  OrtStatus *(*SessionGetOutputName)(const OrtSession *, size_t, OrtAllocator *,
                                     char **);                                /* 37 */
  void *unused_38_48[11];
  OrtStatus *(*CreateTensorWithDataAsOrtValue)(const OrtMemoryInfo *, void *, size_t,
                                               const int64_t *, size_t,
                                               ONNXTensorElementDataType,
                                               OrtValue **);                  /* 49 */
  void *unused_50[1];
  OrtStatus *(*GetTensorMutableData)(OrtValue *, void **);                    /* 51 */
  void *unused_52_54[3];
  OrtStatus *(*CastTypeInfoToTensorInfo)(const OrtTypeInfo *,
                                         const OrtTensorTypeAndShapeInfo **); /* 55 */
  void *unused_56_60[5];
  OrtStatus *(*GetDimensionsCount)(const OrtTensorTypeAndShapeInfo *, size_t *); /* 61 */
  OrtStatus *(*GetDimensions)(const OrtTensorTypeAndShapeInfo *, int64_t *, size_t); /* 62 */
  void *unused_63[1];
  OrtStatus *(*GetTensorShapeElementCount)(const OrtTensorTypeAndShapeInfo *, size_t *); /* 64 */
  OrtStatus *(*GetTensorTypeAndShape)(const OrtValue *, OrtTensorTypeAndShapeInfo **); /* 65 */
  void *unused_66_68[3];
  OrtStatus *(*CreateCpuMemoryInfo)(OrtAllocatorType, OrtMemType, OrtMemoryInfo **); /* 69 */
  void *unused_70_75[6];
  OrtStatus *(*AllocatorFree)(OrtAllocator *, void *);                        /* 76 */
  void *unused_77[1];
  OrtStatus *(*GetAllocatorWithDefaultOptions)(OrtAllocator **);              /* 78 */
  void *unused_79_91[13];
  void (*ReleaseEnv)(OrtEnv *);                                               /* 92 */
  void (*ReleaseStatus)(OrtStatus *);                                         /* 93 */
  void (*ReleaseMemoryInfo)(OrtMemoryInfo *);                                 /* 94 */
  void (*ReleaseSession)(OrtSession *);                                       /* 95 */
  void (*ReleaseValue)(OrtValue *);                                           /* 96 */
  void *unused_97[1];
  void (*ReleaseTypeInfo)(OrtTypeInfo *);                                     /* 98 */
  void (*ReleaseTensorTypeAndShapeInfo)(OrtTensorTypeAndShapeInfo *);         /* 99 */
  void (*ReleaseSessionOptions)(OrtSessionOptions *);                         /* 100 */
} OrtApi;
_Static_assert(offsetof(OrtApi, Run) == 9 * sizeof(void *), "OrtApi layout");
_Static_assert(offsetof(OrtApi, CreateTensorWithDataAsOrtValue) == 49 * sizeof(void *), "");
_Static_assert(offsetof(OrtApi, GetTensorShapeElementCount) == 64 * sizeof(void *), "");
_Static_assert(offsetof(OrtApi, GetAllocatorWithDefaultOptions) == 78 * sizeof(void *), "");
_Static_assert(offsetof(OrtApi, ReleaseSessionOptions) == 100 * sizeof(void *), "");
typedef struct OrtApiBase {
  const OrtApi *(*GetApi)(uint32_t version);
  const char *(*GetVersionString)(void);
} OrtApiBase;
const OrtApiBase *OrtGetApiBase(void);
"""


def test_c_program_on_the_onnxruntime_c_api(onnx_cases, models, tmp_path):
    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip("links the linux-x64 libonnxruntime that onnxruntime-node ships")
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.fail("no C compiler: apt-get install gcc")
    library = _node_modules("onnxruntime-node") / "bin/napi-v6/linux/x64/libonnxruntime.so.1"
    (tmp_path / "onnxruntime_c_api.h").write_text(ORT_ABI_SUBSET)
    program = tmp_path / "mnist"
    build = subprocess.run(
        [
            compiler,
            "-O2",
            "-std=c99",
            "-Wall",
            "-Werror",
            f"-I{tmp_path}",
            str(DEPLOY / "c" / "mnist.c"),
            "-o",
            str(program),
            str(library),
            f"-Wl,-rpath,{library.parent}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr
    run = subprocess.run(
        [str(program), str(onnx_cases / "mnist_mlp.onnx"), str(DEPLOY / "sample-digit.pgm")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    digit = re.search(r"^digit: (\d)$", run.stdout, re.M)
    probabilities = re.search(r"^probabilities:(.*)$", run.stdout, re.M)
    expected = models["mnist_mlp"][2][0]
    assert digit and int(digit.group(1)) == expected.argmax() == 7, run.stdout
    np.testing.assert_allclose(
        [float(p) for p in probabilities.group(1).split()], expected, rtol=RTOL, atol=ATOL
    )


def _iree_tool(module, relative):
    """A native executable inside an IREE wheel (the console scripts are Python wrappers)."""
    spec = importlib.util.find_spec(module)
    if spec is None:
        pytest.fail(f"{module} is missing: pip install -e '.[test]' (iree-base-compiler/runtime)")
    return str(Path(next(iter(spec.submodule_search_locations))) / relative)


@pytest.mark.parametrize("name", ["mnist_convnet", "mnist_mlp", "text_lstm"])
def test_iree_native_compile_and_run(models, name, tmp_path):
    compiler = _iree_tool("iree.compiler", "_mlir_libs/iree-compile")
    runner = _iree_tool("iree._runtime_libs", "iree-run-module")
    model, x, expected = models[name]
    # IREE's CPU backend compiles static shapes: a symbolic batch lowers the Flatten to a
    # stablehlo.dynamic_reshape, which it rejects.
    model.export(tmp_path / "model.stablehlo", format="stablehlo", input_signature=[x.shape])
    vmfb, inputs, outputs = tmp_path / "model.vmfb", tmp_path / "x.npy", tmp_path / "y.npy"
    subprocess.run(
        [
            compiler,
            "--iree-input-type=stablehlo",
            "--iree-hal-target-device=local",
            "--iree-hal-local-target-device-backends=llvm-cpu",
            "--iree-llvmcpu-target-cpu=host",
            str(tmp_path / "model.stablehlo.mlir"),
            "-o",
            str(vmfb),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    np.save(inputs, x)
    proc = subprocess.run(
        [
            runner,
            "--device=local-sync",
            f"--module={vmfb}",
            "--function=main",
            f"--input=@{inputs}",
            f"--output=@{outputs}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    np.testing.assert_allclose(np.load(outputs), expected, rtol=RTOL, atol=ATOL)


def test_iree_predict_script(models, tmp_path):
    """deploy/iree/predict.sh as a user runs it: its digit and the probabilities it parses
    from iree-run-module's printout (6 significant digits) equal predict's."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("deploy/iree/predict.sh is a bash script")
    model, x, expected = models["mnist_mlp"]
    model.export(tmp_path / "mnist.stablehlo", format="stablehlo", input_signature=[(1, 28, 28, 1)])
    env = {
        **os.environ,
        "IREE_COMPILE": _iree_tool("iree.compiler", "_mlir_libs/iree-compile"),
        "IREE_RUN_MODULE": _iree_tool("iree._runtime_libs", "iree-run-module"),
    }
    proc = subprocess.run(
        [
            bash,
            str(DEPLOY / "iree" / "predict.sh"),
            str(tmp_path / "mnist.stablehlo.mlir"),
            str(DEPLOY / "sample-digit.pgm"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    digit = re.search(r"^digit: (\d)$", proc.stdout, re.M)
    probabilities = re.search(r"^probabilities: (.*)$", proc.stdout, re.M)
    assert digit and int(digit.group(1)) == expected[0].argmax() == 7, proc.stdout
    np.testing.assert_allclose(
        [float(p) for p in probabilities.group(1).split()], expected[0], rtol=RTOL, atol=ATOL
    )
