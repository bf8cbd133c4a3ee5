// shoal's ONNX exports in onnxruntime-node. tests/test_deploy_runtimes.py writes the models,
// their inputs and the outputs of `model.predict` to a folder and runs
//   SHOAL_DEPLOY_CASES=FOLDER node --test mnist.test.mjs
// here; each case must match predict within rtol 1e-5 (atol 1e-6 for values near zero).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';

const HERE = dirname(fileURLToPath(import.meta.url));
const DEPLOY = join(HERE, '..', '..', 'deploy');
const RTOL = 1e-5;
const ATOL = 1e-6;
const ARRAYS = { float32: Float32Array, int32: Int32Array, int64: BigInt64Array };

const folder = process.env.SHOAL_DEPLOY_CASES;
const cases = folder ? JSON.parse(readFileSync(join(folder, 'cases.json'), 'utf8')) : null;

test('the case folder is given', () => {
  assert.ok(folder, 'set SHOAL_DEPLOY_CASES (pytest tests/test_deploy_runtimes.py does)');
});

for (const c of cases?.models ?? []) {
  test(`${c.name}: onnxruntime-node equals model.predict`, async (t) => {
    const session = await ort.InferenceSession.create(join(folder, c.file));
    assert.deepEqual(session.inputNames, c.inputs.map((i) => i.name));
    assert.deepEqual(session.outputNames, c.outputs.map((o) => o.name));
    const feeds = {};
    for (const i of c.inputs) {
      const data = i.type === 'int64' ? i.data.map(BigInt) : i.data;
      feeds[i.name] = new ort.Tensor(i.type, ARRAYS[i.type].from(data), i.dims);
    }
    const results = await session.run(feeds);
    for (const o of c.outputs) {
      const got = results[o.name];
      assert.deepEqual(got.dims, o.dims, `${o.name}: shape`);
      let worst = 0;
      got.data.forEach((value, k) => {
        const excess = Math.abs(value - o.data[k]) - (ATOL + RTOL * Math.abs(o.data[k]));
        assert.ok(excess <= 0, `${o.name}[${k}]: ${value} vs predict ${o.data[k]}`);
        worst = Math.max(worst, Math.abs(value - o.data[k]));
      });
      t.diagnostic(`${c.name}/${o.name}: largest difference ${worst}`);
    }
    await session.release();
  });
}

if (cases?.digit) {
  test('deploy/node/predict.mjs prints the digit predict gives', () => {
    // The program as a user runs it: its own folder, onnxruntime-node in node_modules beside it.
    const app = mkdtempSync(join(tmpdir(), 'shoal-predict-'));
    try {
      copyFileSync(join(DEPLOY, 'node', 'predict.mjs'), join(app, 'predict.mjs'));
      symlinkSync(join(HERE, 'node_modules'), join(app, 'node_modules'), 'dir');
      for (const image of ['sample-digit.png', 'sample-digit.pgm']) {
        const stdout = execFileSync(
          process.execPath,
          [join(app, 'predict.mjs'), join(folder, cases.digit.file), join(DEPLOY, image)],
          { encoding: 'utf8' },
        );
        const match = stdout.match(/^digit: (\d)$/m);
        assert.ok(match, `no 'digit: N' line in ${JSON.stringify(stdout)}`);
        assert.equal(Number(match[1]), cases.digit.expected, `${image}: ${stdout}`);
      }
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });
}
