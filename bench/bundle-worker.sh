#!/usr/bin/env bash
# Bundle the bench worker so that it runs on plain node (no loader in the measured process).
npx esbuild bench/worker.ts --bundle --platform=node --format=esm --target=node20 --outfile=bench/out/worker.mjs --log-level=warning \
  "--banner:js=import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
