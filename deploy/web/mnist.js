// The page's logic: a 28x28 drawing grid, onnxruntime-web's InferenceSession, the prediction.
// `ort` is the global that ort/ort.min.js defines. The model is `mnist.onnx` beside the page,
// or the one named by `?model=URL`.
'use strict';

const SIZE = 28;
const SCALE = 10; // canvas pixels per image pixel
const pixels = new Float32Array(SIZE * SIZE); // the model's input, in [0, 1] (x / 255)
const canvas = document.getElementById('digit');
const context = canvas.getContext('2d');
const statusLine = document.getElementById('status');
const output = document.getElementById('prediction');
const table = document.getElementById('probabilities');
let session = null;

function render() {
  for (let i = 0; i < pixels.length; i++) {
    const grey = Math.round(pixels[i] * 255);
    context.fillStyle = `rgb(${grey}, ${grey}, ${grey})`;
    context.fillRect((i % SIZE) * SCALE, Math.floor(i / SIZE) * SCALE, SCALE, SCALE);
  }
}

async function loadSample() {
  const image = new Image();
  image.src = 'sample-digit.png';
  await image.decode();
  const small = document.createElement('canvas');
  small.width = small.height = SIZE;
  const smallContext = small.getContext('2d', { willReadFrequently: true });
  smallContext.drawImage(image, 0, 0, SIZE, SIZE);
  const rgba = smallContext.getImageData(0, 0, SIZE, SIZE).data;
  for (let i = 0; i < pixels.length; i++) pixels[i] = rgba[4 * i] / 255;
  render();
}

async function predict() {
  if (!session) return;
  const started = performance.now();
  // (batch, 28, 28, 1) for a convnet, (batch, 784) for an MLP: symbolic dimensions become 1.
  const shape = session.inputMetadata?.[0]?.shape ?? [1, SIZE, SIZE, 1];
  const dims = shape.map((d) => (typeof d === 'number' ? d : 1));
  const input = new ort.Tensor('float32', pixels.slice(), dims);
  const results = await session.run({ [session.inputNames[0]]: input });
  const probabilities = Array.from(results[session.outputNames[0]].data);
  const digit = probabilities.indexOf(Math.max(...probabilities));
  output.textContent = String(digit);
  table.innerHTML = '<tr><th>digit</th><th>probability</th><th></th></tr>';
  probabilities.forEach((p, d) => {
    const row = table.insertRow();
    row.insertCell().textContent = String(d);
    row.insertCell().textContent = p.toFixed(4);
    row.insertCell().innerHTML = `<span class="bar" style="width:${Math.round(p * 200)}px"></span>`;
  });
  statusLine.textContent = `Ran the model in ${(performance.now() - started).toFixed(1)} ms.`;
}

function paint(event) {
  const box = canvas.getBoundingClientRect();
  const x = Math.floor(((event.clientX - box.left) / box.width) * SIZE);
  const y = Math.floor(((event.clientY - box.top) / box.height) * SIZE);
  // A soft 3x3 brush, roughly the stroke width of MNIST digits.
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      const [cx, cy] = [x + dx, y + dy];
      if (cx < 0 || cy < 0 || cx >= SIZE || cy >= SIZE) continue;
      const ink = dx === 0 && dy === 0 ? 1 : dx === 0 || dy === 0 ? 0.5 : 0.2;
      pixels[cy * SIZE + cx] = Math.min(1, pixels[cy * SIZE + cx] + ink);
    }
  }
  render();
}

canvas.addEventListener('pointerdown', (event) => {
  canvas.setPointerCapture(event.pointerId);
  paint(event);
});
canvas.addEventListener('pointermove', (event) => {
  if (event.buttons) paint(event);
});
canvas.addEventListener('pointerup', () => predict());
document.getElementById('clear').addEventListener('click', () => {
  pixels.fill(0);
  render();
  output.textContent = '…';
  table.innerHTML = '';
});
document.getElementById('sample').addEventListener('click', () => loadSample().then(predict));

async function main() {
  render();
  // Several WebAssembly threads need a cross-origin-isolated page (COOP/COEP headers).
  if (!self.crossOriginIsolated) ort.env.wasm.numThreads = 1;
  const model = new URLSearchParams(location.search).get('model') ?? 'mnist.onnx';
  session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'] });
  statusLine.textContent = 'Model loaded.';
  await loadSample();
  await predict();
}

main().catch((error) => {
  statusLine.textContent = `Error: ${error.message ?? error}`;
  output.textContent = 'error';
  console.error(error);
});
