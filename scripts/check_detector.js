// Run the ORIGINAL tfjs NanoDet graph model on prepared input tensors, for scripts/check_detector.py.
//
// Usage (normally called by check_detector.py, which says how to install what it needs):
//   NODE_PATH=/tmp/tfjs/node_modules node scripts/check_detector.js MODEL_JSON WORKDIR
// (setup of /tmp/tfjs and the model: see the header of scripts/check_detector.py)
// WORKDIR holds input_N.f32 files (float32, little-endian, 1x3x416x416, already preprocessed);
// for each one this writes WORKDIR/tfjs_N_<output>.f32 (one per model output) and
// WORKDIR/tfjs_outputs.json (output names and shapes). The pure-JS @tensorflow/tfjs package is used
// with its cpu backend: tfjs-node's native download is not available on these machines.
'use strict';

const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

// The tfjs signature's output names, in the order of the converted model's renamed outputs.
const OUTPUTS = {
  'Identity:0': 'scores_s8',
  'Identity_1:0': 'scores_s16',
  'Identity_2:0': 'scores_s32',
  'Identity_3:0': 'boxes_s8',
  'Identity_4:0': 'boxes_s16',
  'Identity_5:0': 'boxes_s32',
};

function loadFromFiles(modelJson) {
  const spec = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const weightSpecs = [];
  const buffers = [];
  for (const group of spec.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const shard of group.paths) buffers.push(fs.readFileSync(path.join(path.dirname(modelJson), shard)));
  }
  const data = Buffer.concat(buffers);
  const weightData = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  return tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: spec.modelTopology, weightSpecs, weightData, signature: spec.signature,
    format: spec.format, generatedBy: spec.generatedBy, convertedBy: spec.convertedBy,
  }));
}

async function main() {
  const [modelJson, workdir] = process.argv.slice(2);
  if (!modelJson || !workdir) throw new Error('usage: node check_detector.js MODEL_JSON WORKDIR');
  await tf.setBackend('cpu');
  const model = await loadFromFiles(modelJson);
  const names = Object.keys(OUTPUTS);
  const shapes = {};
  const inputs = fs.readdirSync(workdir).filter((f) => /^input_\d+\.f32$/.test(f)).sort();
  for (const file of inputs) {
    const index = file.match(/\d+/)[0];
    const buf = fs.readFileSync(path.join(workdir, file));
    const pixels = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    const x = tf.tensor(pixels, [1, 3, 416, 416], 'float32');
    const started = Date.now();
    const results = await model.executeAsync(x, names);
    for (let i = 0; i < names.length; i++) {
      const values = await results[i].data();
      shapes[OUTPUTS[names[i]]] = results[i].shape;
      fs.writeFileSync(path.join(workdir, `tfjs_${index}_${OUTPUTS[names[i]]}.f32`), Buffer.from(values.buffer));
    }
    tf.dispose([x, ...results]);
    console.log(`${file}: tfjs ran in ${Date.now() - started} ms`);
  }
  fs.writeFileSync(path.join(workdir, 'tfjs_outputs.json'), JSON.stringify(shapes));
}

main().catch((err) => { console.error(err); process.exit(1); });
