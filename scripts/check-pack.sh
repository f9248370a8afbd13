#!/usr/bin/env bash
# Installs fer-cbam as a user does and tries it: `npm pack` (prepack builds dist/), then installs the
# tarball into empty projects, once with @tensorflow/tfjs (+ the wasm backend) and once with only
# tfjs-core + tfjs-layers + the cpu backend, and runs the `fer-cbam` command, an ESM import and a CJS
# require there. Needs the npm registry, nothing else. Run by .ci/run; `bash scripts/check-pack.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check-pack: $*" >&2; exit 1; }

tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -n 1)"
[ -f "$tarball" ] || fail "npm pack wrote no tarball"
listing=$(tar -tzf "$tarball")
for f in package/dist/index.js package/dist/index.cjs package/dist/index.d.ts package/dist/cli.js \
  package/models/realfaces/model.json package/models/realfaces/weights.bin \
  package/models/fer2013/model.json package/models/fer2013/weights.bin package/README.md package/LICENSE; do
  grep -qx "$f" <<<"$listing" || fail "$f is not in the tarball"
done
if grep -E '^package/(test|src|examples|bench|scripts|campaign)/|\.map$' <<<"$listing"; then fail "the tarball ships files users do not need (above)"; fi
bytes=$(stat -c %s "$tarball")
echo "check-pack: $(basename "$tarball"): $bytes bytes, $(wc -l <<<"$listing") files"
head -c 19 "$root/dist/cli.js" | grep -q '^#!/usr/bin/env node' || fail "dist/cli.js has no shebang"

# The published typings hold no `@internal` declaration (tsup strips them), and the root's runtime
# names are the list in docs/api-surface.txt: a change to the public surface shows in review (update
# the file with `node scripts/api-surface.mjs > docs/api-surface.txt`).
tar -xzf "$tarball" -C "$work" package/dist
if grep -l '@internal' "$work"/package/dist/*.d.ts "$work"/package/dist/*.d.cts 2>/dev/null; then
  fail "the typings above still mention @internal: tag the declaration, not only its module"
fi
# (the packed files, resolving tfjs from this repository's node_modules)
surface=$(NODE_PATH="$root/node_modules" node "$root/scripts/api-surface.mjs" "$work/package/dist/index.cjs")
if ! diff <(echo "$surface") "$root/docs/api-surface.txt" >"$work/surface.diff"; then
  cat "$work/surface.diff" >&2
  fail "the root's exports differ from docs/api-surface.txt (above: < built, > listed); if on purpose, update the list"
fi
echo "check-pack: typings without @internal; root exports $(grep -c . <<<"$surface") runtime names, as listed"

# A face to predict: a CK+ crop when the shared data is here, else a plain grey square.
face="$work/a face ü.png"
ck="$root/../shared/data/ckplus/CK+48/happy"
if [ -d "$ck" ]; then cp "$(ls "$ck"/*.png | head -n 1)" "$face"; fi

try_project() {
  local name=$1 tfjs=$2; shift 2
  local dir="$work/$name"
  mkdir -p "$dir"
  cd "$dir"
  npm init -y >/dev/null
  npm install --no-audit --no-fund --loglevel=error "$tarball" "$@" >/dev/null
  [ -f "$face" ] || node -e "require('sharp')({create:{width:64,height:64,channels:3,background:'#888'}}).png().toFile(process.argv[1])" "$face"
  local out err
  npx --no-install fer-cbam --help >"$dir/help.txt" 2>"$dir/err.txt" || fail "$name: fer-cbam --help failed: $(cat "$dir/err.txt")"
  grep -q 'Usage: fer-cbam' "$dir/help.txt" || fail "$name: --help printed no usage"
  npx --no-install fer-cbam summary --arch resnet10w16-cbam >"$dir/summary.txt" 2>"$dir/err.txt" || fail "$name: summary failed: $(cat "$dir/err.txt")"
  grep -qi 'param' "$dir/summary.txt" || fail "$name: summary printed no parameter count"
  npx --no-install fer-cbam predict "$face" >"$dir/predict.txt" 2>"$dir/err.txt" || fail "$name: predict (default model) failed: $(cat "$dir/err.txt")"
  grep -Eq 'angry|disgust|fear|happy|sad|surprise|neutral' "$dir/predict.txt" || fail "$name: predict printed no class: $(cat "$dir/predict.txt")"
  if grep -q 'Hi, looks like you are running TensorFlow.js' "$dir/err.txt" "$dir/predict.txt"; then fail "$name: the CLI printed tfjs's banner"; fi
  node --input-type=module -e "
    import '$tfjs';
    import { cbam, listPretrained, loadPretrained, resnetCbam } from 'fer-cbam';
    const m = await loadPretrained('fer2013');
    if (typeof cbam !== 'function' || resnetCbam({ depth: 10, width: 8 }).countParams() <= 0) throw new Error('ESM exports');
    if (listPretrained()[0].name !== 'realfaces' || m.outputs[0].shape[1] !== 7) throw new Error('ESM pretrained');
    const d = await loadPretrained('realfaces');
    if (d.outputs[0].shape[1] !== 7) throw new Error('ESM default pretrained');
    // Subpaths share the root's modules (one copy of each, code splitting): the same function object.
    const root = await import('fer-cbam');
    const backends = await import('fer-cbam/backends');
    const { timeSteps } = await import('fer-cbam/diagnostics');
    const { BEST_MODEL_DIR } = await import('fer-cbam/train');
    const { toFloat16Artifacts } = await import('fer-cbam/pretrained');
    const { writeFileAtomic } = await import('fer-cbam/io');
    const { linearCombination } = await import('fer-cbam/ops');
    // ONNX export from the installed package: its protobuf dependency resolves, and the file reads back.
    const onnx = await import('fer-cbam/export');
    if (onnx.readOnnxInfo(await onnx.exportOnnx(m)).outputs[0].shape[1] !== 7) throw new Error('ESM fer-cbam/export');
    if (backends.useBackend !== root.useBackend || 'timeSteps' in root) throw new Error('ESM subpaths');
    // The folders' subpaths hold the root's names too (the same objects) and their low-level helpers.
    const [dataSub, facesSub, modelsSub, visualizeSub] = await Promise.all(['data', 'faces', 'models', 'visualize'].map((n) => import('fer-cbam/' + n)));
    if (dataSub.loadFer2013 !== root.loadFer2013 || facesSub.detectFaces !== root.detectFaces || modelsSub.resnetCbam !== root.resnetCbam || visualizeSub.gradCam !== root.gradCam) throw new Error('ESM folder subpaths');
    if ('randomFlip' in root || typeof dataSub.randomFlip !== 'function' || typeof visualizeSub.jet !== 'function') throw new Error('ESM low-level helpers belong to their subpath');
    for (const f of [timeSteps, toFloat16Artifacts, writeFileAtomic, linearCombination]) if (typeof f !== 'function') throw new Error('ESM subpath exports');
    if (typeof BEST_MODEL_DIR !== 'string') throw new Error('ESM fer-cbam/train');
    // train()'s gradient worker is a file of the package (dist/train_worker.js): one step with it.
    const tf = await import('@tensorflow/tfjs-core');
    await tf.setBackend('cpu');
    const data = root.syntheticExpressions({ count: 8, seed: 1, size: 48 });
    const net = root.createModel('resnet10w4-cbam', { inputShape: [44, 44, 1] });
    const run = await root.train(net, { train: data }, { epochs: 1, batchSize: 8, workers: 1 });
    if (!Number.isFinite(run.history[0].loss)) throw new Error('ESM train with a gradient worker');
  " 2>"$dir/err.txt" || fail "$name: ESM import failed: $(cat "$dir/err.txt")"
  node -e "
    require('$tfjs');
    const f = require('fer-cbam');
    if (require('fer-cbam/backends').useBackend !== f.useBackend) throw new Error('CJS subpaths');
    for (const [sub, name] of [['diagnostics', 'timeSteps'], ['pretrained', 'toFloat16Artifacts'], ['io', 'writeFileAtomic'], ['ops', 'linearCombination'], ['train', 'loadCheckpoint'], ['export', 'exportOnnx'], ['data', 'randomFlip'], ['faces', 'findBlazeFaceWeights'], ['models', 'resolvePlacement'], ['visualize', 'jet']])
      if (typeof require('fer-cbam/' + sub)[name] !== 'function') throw new Error('CJS fer-cbam/' + sub);
    if (typeof f.cbam !== 'function' || f.resnetCbam({ depth: 10, width: 8 }).countParams() <= 0) throw new Error('CJS exports');
    f.loadPretrained('fer2013').then((m) => { if (m.outputs[0].shape[1] !== 7) throw new Error('CJS pretrained'); });
  " 2>"$dir/err.txt" || fail "$name: CJS require failed: $(cat "$dir/err.txt")"
  echo "check-pack: $name: --help, summary, predict (default model), ESM import, CJS require, subpaths, a gradient worker: ok ($(head -n 1 "$dir/predict.txt"))"
  cd "$root"
}

try_project tfjs @tensorflow/tfjs @tensorflow/tfjs@^4.22.0 @tensorflow/tfjs-backend-wasm@^4.22.0
try_project core-layers-cpu @tensorflow/tfjs-backend-cpu @tensorflow/tfjs-core@^4.22.0 @tensorflow/tfjs-layers@^4.22.0 @tensorflow/tfjs-backend-cpu@^4.22.0
echo "check-pack: ok"
