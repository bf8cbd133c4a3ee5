// Classify a 28x28 handwritten digit with a shoal model exported to ONNX, in Node.js.
//
//   npm install onnxruntime-node@1.30.0
//   node predict.mjs mnist.onnx ../sample-digit.png
//
// prints `digit: 7` and the ten class probabilities. IMAGE is an 8-bit PNG (grey, grey+alpha,
// RGB or RGBA, not interlaced) or a binary/ASCII PGM, white digit on black as in MNIST; pixels
// are scaled to [0, 1] as in training (`x / 255`). The input shape is read from the model, so a
// convnet taking (batch, 28, 28, 1) and an MLP taking (batch, 784) both work.
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import * as ort from 'onnxruntime-node';

/** Grey levels (0-255) of a PNG or PGM file: {width, height, pixels: Uint8Array}. */
export function readImage(path) {
  const bytes = readFileSync(path);
  if (bytes.subarray(0, 8).equals(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]))) {
    return readPng(bytes);
  }
  if (bytes[0] === 0x50 && (bytes[1] === 0x35 || bytes[1] === 0x32)) return readPgm(bytes);
  throw new Error(`${path}: not a PNG or PGM image`);
}

function readPgm(bytes) {
  // P5 (binary) or P2 (ASCII): magic, width, height, maxval, separated by whitespace/comments.
  const fields = [];
  let i = 2;
  while (fields.length < 3) {
    while (/\s/.test(String.fromCharCode(bytes[i]))) i++;
    if (bytes[i] === 0x23) { while (bytes[i] !== 0x0a) i++; continue; } // '#' comment
    let token = '';
    while (!/\s/.test(String.fromCharCode(bytes[i]))) token += String.fromCharCode(bytes[i++]);
    fields.push(Number(token));
  }
  const [width, height, maxval] = fields;
  let values;
  if (bytes[1] === 0x35) {
    if (maxval > 255) throw new Error('16-bit PGM is not supported');
    values = bytes.subarray(i + 1, i + 1 + width * height);
  } else {
    values = bytes.subarray(i).toString('ascii').trim().split(/\s+/).map(Number);
  }
  const pixels = Uint8Array.from(values, (v) => Math.round((v * 255) / maxval));
  return { width, height, pixels };
}

function readPng(bytes) {
  let width, height, depth, colorType, interlace;
  const idat = [];
  for (let at = 8; at < bytes.length; ) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('ascii', at + 4, at + 8);
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      [width, height] = [data.readUInt32BE(0), data.readUInt32BE(4)];
      [depth, colorType, interlace] = [data[8], data[9], data[12]];
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    at += 12 + length;
  }
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType];
  if (depth !== 8 || !channels || interlace) {
    throw new Error('PNG must be 8-bit grey/RGB(A), not palette or interlaced');
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? out[y * stride + x - channels] : 0; // left
      const b = y > 0 ? out[(y - 1) * stride + x] : 0; // up
      const c = x >= channels && y > 0 ? out[(y - 1) * stride + x - channels] : 0; // up-left
      const p = a + b - c;
      const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
      const predictor = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][filter];
      out[y * stride + x] = (line[x] + predictor) & 0xff;
    }
  }
  // Grey = the mean of the colour channels; alpha is ignored.
  const colours = channels >= 3 ? 3 : 1;
  const pixels = new Uint8Array(width * height);
  for (let i = 0; i < width * height; i++) {
    let sum = 0;
    for (let k = 0; k < colours; k++) sum += out[i * channels + k];
    pixels[i] = Math.round(sum / colours);
  }
  return { width, height, pixels };
}

/** Run the model on one image; returns {digit, probabilities}. */
export async function predict(modelPath, imagePath) {
  const session = await ort.InferenceSession.create(modelPath);
  const { width, height, pixels } = readImage(imagePath);
  if (width !== 28 || height !== 28) throw new Error(`image is ${width}x${height}, expected 28x28`);
  const name = session.inputNames[0];
  // (batch, 28, 28, 1) or (batch, 784): symbolic dimensions (the batch) become 1.
  const dims = session.inputMetadata[0].shape.map((d) => (typeof d === 'number' ? d : 1));
  const input = new ort.Tensor('float32', Float32Array.from(pixels, (p) => p / 255), dims);
  const results = await session.run({ [name]: input });
  const probabilities = Array.from(results[session.outputNames[0]].data);
  const digit = probabilities.indexOf(Math.max(...probabilities));
  await session.release();
  return { digit, probabilities };
}

// Run as a program (not when imported).
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  const [modelPath, imagePath] = process.argv.slice(2);
  if (!modelPath || !imagePath) {
    console.error('usage: node predict.mjs MODEL.onnx IMAGE.png|IMAGE.pgm');
    process.exit(2);
  }
  const { digit, probabilities } = await predict(modelPath, imagePath);
  console.log(`digit: ${digit}`);
  console.log(`probabilities: ${probabilities.map((p) => p.toFixed(4)).join(' ')}`);
}
