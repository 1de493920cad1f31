#!/usr/bin/env bash
# The GPU check (issue 16, item 7) on a machine with an NVIDIA GPU and a Python that has PyTorch
# with CUDA, but not this project's venv (a lent device machine: Python 3.12, torch 2.11, no
# network). Two steps:
#
#   ai-service/bench/gpu_check.sh wheels   # here, with network: the packages that machine lacks,
#                                          # as Python 3.12 wheels in .whl/ (about 32 MB; ignored)
#   ai-service/bench/gpu_check.sh run      # there, from the repository root: install .whl/ into
#                                          # /tmp/site, run tests/test_cuda.py, then bench.gpu
#
# `run` writes its logs and bench.gpu's JSON to $OUT (or ai-service/bench-results/).
set -uo pipefail
cd "$(dirname "$0")/../.."

# What the XTTS engine, the checkpoint builder and the bench import beyond torch, numpy, scipy and
# the like (found by running bench.gpu against only the device image's packages), at the versions
# ai-service/requirements.txt pins. transformers, tokenizers and huggingface_hub replace the
# image's newer ones (transformers 5 breaks XTTS generation).
WHEELS=(
  coqui-tts==0.28.0 coqui-tts-trainer==0.4.0 coqpit-config==0.2.5 torchcodec==0.17.0
  transformers==4.57.3 tokenizers==0.22.2 huggingface_hub==0.36.2
  librosa==0.11.0 soundfile==0.14.0 cffi==2.1.1 soxr==1.1.0 ko-speech-tools==0.1.0
  num2words==0.5.14 anyascii==0.3.3
  pydantic==2.14.4 pydantic_core==2.50.5 pydantic-settings==2.16.3 python-dotenv==1.2.4
  typing-inspection==0.4.5 annotated-types==0.8.0
)

case "${1:-}" in
wheels)
  platforms=()
  for p in manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_24 \
    manylinux_2_17 manylinux2014 manylinux1; do platforms+=(--platform "${p}_x86_64"); done
  mkdir -p .whl
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${platforms[@]}" --platform any -d .whl "${WHEELS[@]}"
  du -sh .whl
  ;;
run)
  out=${OUT:-$PWD/ai-service/bench-results}
  mkdir -p "$out"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
  cd ai-service
  timeout "${TEST_TIMEOUT:-180}" python3 -m pytest -q -p no:cacheprovider -rs tests/test_cuda.py \
    2>&1 | tee "$out/test_cuda.log"
  tests=${PIPESTATUS[0]}
  timeout "${BENCH_TIMEOUT:-360}" python3 -m bench.gpu --out "$out/gpu.json" "${@:2}" \
    2>&1 | tee "$out/bench_gpu.log"
  bench=${PIPESTATUS[0]}
  echo "gpu_check: tests exit $tests, bench exit $bench"
  [[ $tests == 0 && $bench == 0 ]]
  ;;
*)
  echo "usage: $0 wheels|run [bench.gpu options]" >&2
  exit 2
  ;;
esac
