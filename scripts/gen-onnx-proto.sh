#!/usr/bin/env bash
# Regenerates src/export/onnx_pb.ts (the ONNX protobuf messages as TypeScript) from
# src/export/onnx.proto, ONNX's own onnx/onnx.proto at tag v1.22.0 (commit
# 2bb50465112feca9003e1ed654d77f01ff1415ca, Apache-2.0), with buf and protoc-gen-es, fetched from the npm
# registry by npx at the pinned versions (they are not devDependencies: this runs only when the .proto
# changes). The generated file is committed, so building and testing need neither tool.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/proto"
cp src/export/onnx.proto "$work/proto/onnx.proto"
cat > "$work/buf.gen.yaml" <<'YAML'
version: v2
inputs:
  - directory: proto
plugins:
  - local: protoc-gen-es
    out: gen
    opt: target=ts
YAML
(cd "$work" && npx -y -p @bufbuild/buf@1.75.0 -p @bufbuild/protoc-gen-es@2.17.0 buf generate)
# Without the doc comments protoc-gen-es copies from the .proto (three quarters of its 2,150 lines):
# src/export/onnx.proto, committed beside it, is where a reader finds each field documented. Only
# the JSDoc blocks go; the header, the licence line and the /*@__PURE__*/ annotations stay.
node -e '
const fs = require("node:fs");
const [from, to] = process.argv.slice(1);
const text = fs
  .readFileSync(from, "utf8")
  .replace(/^[ \t]*\/\*\*[\s\S]*?\*\/[ \t]*\n/gm, "")
  .replace(/\n\n+(?=[ \t]+\S)/g, "\n") // members of a type or enum, one per line
  .replace(/\n{3,}/g, "\n\n");
fs.writeFileSync(to, text);
' "$work/gen/onnx_pb.ts" src/export/onnx_pb.ts
npx biome check --write src/export/onnx_pb.ts
echo "wrote src/export/onnx_pb.ts"
