"""Every registered family exports to ONNX, torch.export and plain Python source.

Networks are untrained and built for a small (1, 8, 8) input: the point is
that each family's modules survive each export path, not its accuracy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snas.runtime.plugins import get_plugin_manager

FAMILIES = sorted(get_plugin_manager().components("family"))
SHAPE = (1, 8, 8)
CLASSES = 3


def _model(manager, family: str) -> torch.nn.Module:
    fam = manager.get_family(family)
    space = fam.space()
    space = space.at_level(space.min_level)  # the smallest networks: export cost grows with depth
    arch = space.sample(np.random.default_rng(7))
    model = fam.build(arch, SHAPE, CLASSES).eval()
    with torch.no_grad():  # non-trivial normalization statistics, so buffers matter
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
    return model


def _exporter(manager, name: str):
    cls = manager.get_exporter(name)
    return cls(cls.Options())


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_family_exports_to_onnx_pt2_and_python(family, manager, tmp_path):
    import onnxruntime as ort

    from snas_plugins.exporters.python import import_model_file

    model = _model(manager, family)
    x = torch.randn(4, *SHAPE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x)
        expected_one = model(x[:1])
    meta = {"input_shape": list(SHAPE), "num_classes": CLASSES, "architecture": {"family": family},
            "class_names": ["a", "b", "c"], "normalization": {"mean": [0.0], "std": [1.0]}}

    onnx_file, = _exporter(manager, "onnx").export(model, x, tmp_path, meta)
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    assert np.abs(session.run(None, {name: x.numpy()})[0] - expected.numpy()).max() <= 1e-4
    assert np.abs(session.run(None, {name: x[:1].numpy()})[0] - expected_one.numpy()).max() <= 1e-4

    pt2_file, = _exporter(manager, "pt2").export(model, x, tmp_path, meta)
    loaded = torch.export.load(str(pt2_file)).module()
    with torch.no_grad():
        assert (loaded(x) - expected).abs().max() <= 1e-5
        assert (loaded(x[:1]) - expected_one).abs().max() <= 1e-5

    model_py, weights = _exporter(manager, "python").export(model, x, tmp_path, meta)
    network = import_model_file(model_py).load(weights)
    with torch.no_grad():
        assert torch.equal(network(x), expected)
        assert torch.equal(network(x[:1]), expected_one)
    assert "snas" not in {line.split()[1].split(".")[0] for line in model_py.read_text().splitlines()
                          if line.startswith(("import ", "from "))}
