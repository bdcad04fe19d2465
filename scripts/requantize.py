"""Rewrites a GGUF model with its 4- and 5-bit weights (Q4_1, Q4_K, Q5_*) requantised to Q4_0.

Usage: python requantize.py INPUT.gguf OUTPUT.gguf

Q4_0 is the faster 4-bit format on CPUs: llama.cpp repacks Q4_0 weights at load into an
interleaved layout its AVX2 kernels multiply fastest, which it does not do for Q4_1, and
candle (under mistral.rs) has its fastest kernels for it too. Every other tensor (the Q8_0
embeddings, the f32 norms) and every metadata key is copied unchanged, except the file type.
Needs the `gguf` package (llama.cpp's own GGUF reader and writer, with numpy).
"""

import sys

import gguf
from gguf import GGMLQuantizationType, GGUFValueType


# The 4- and 5-bit formats rewritten as Q4_0 (the 6- and 8-bit tensors, which quantised
# models keep for their most sensitive weights, stay as they are).
SOURCES = (
    GGMLQuantizationType.Q4_1,
    GGMLQuantizationType.Q4_K,
    GGMLQuantizationType.Q5_0,
    GGMLQuantizationType.Q5_1,
    GGMLQuantizationType.Q5_K,
)


def main(source: str, target: str) -> None:
    reader = gguf.GGUFReader(source)
    architecture = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(target, arch=architecture)
    for field in reader.fields.values():
        # The header's own counters, and the architecture the writer adds itself.
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        value = field.contents()
        if field.name == "general.file_type":
            value = int(gguf.LlamaFileType.MOSTLY_Q4_0)
        kind = field.types[0]
        sub_kind = field.types[-1] if kind == GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, value, kind, sub_type=sub_kind)

    changed = 0
    for tensor in reader.tensors:
        data, kind = tensor.data, tensor.tensor_type
        if kind in SOURCES and tensor.shape[0] % 32 == 0:
            weights = gguf.quants.dequantize(data, kind)
            data, kind = gguf.quants.quantize(weights, GGMLQuantizationType.Q4_0), GGMLQuantizationType.Q4_0
            changed += 1
        writer.add_tensor(tensor.name, data, raw_dtype=kind)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"requantised {changed} of {len(reader.tensors)} tensors to Q4_0: {target}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
