"""manifest.json files written by hwq conform to the published JSON Schema."""

import json
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from jschon import JSON, JSONSchema, create_catalog

from hwq.ir.manifest import to_manifest
from tests.factories import ENCODINGS, cnn, mlp

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def schema():
    create_catalog("2020-12")
    text = resources.files("hwq.ir").joinpath("manifest.schema.json").read_text()
    return JSONSchema(json.loads(text))


def valid(schema, manifest) -> bool:
    return schema.evaluate(JSON(json.loads(json.dumps(manifest)))).valid


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.ir")), ids=lambda p: p.stem)
def test_shipped_manifests_conform(schema, path):
    with zipfile.ZipFile(path) as zf:
        assert valid(schema, json.loads(zf.read("manifest.json")))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_generated_manifests_conform(schema, encoding):
    for build in (mlp, cnn):
        manifest, _ = to_manifest(build(np.random.default_rng(0), encoding, "csr"))
        assert valid(schema, manifest)


def test_schema_rejects_what_the_loader_rejects(schema):
    manifest, _ = to_manifest(mlp(np.random.default_rng(0), "int8", "none"))
    for mutate in (lambda m: m.update(schema_version=2),
                   lambda m: m["layers"][1].update(name="a-b"),
                   lambda m: m["layers"][1].update(kind="lstm"),
                   lambda m: m["layers"][1]["weight"]["values"].update(type="zstd"),
                   lambda m: m["tensors"]["fc1.bias"].update(dtype="object"),
                   lambda m: m["layers"][1]["quant"].update(bits=17)):
        bad = json.loads(json.dumps(manifest))
        mutate(bad)
        assert not valid(schema, bad)
