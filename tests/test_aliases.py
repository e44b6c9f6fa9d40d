"""The module paths moved by the layout by layer still import, with a DeprecationWarning
naming the new path, and give the new module itself."""

import importlib
import sys

import pytest

from reparam._aliases import MOVED


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_old_path_warns_and_is_the_new_module(old, new):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert module.__spec__.name == new  # its own spec: relative imports inside it still work
    sys.modules.pop(old, None)


def test_old_names_reach_the_moved_objects():
    sys.modules.pop("reparam.flows.fit", None)
    with pytest.warns(DeprecationWarning, match="reparam.density"):
        from reparam.flows.fit import DensityEstimator
    from reparam.density import DensityEstimator as moved

    assert DensityEstimator is moved
    with pytest.warns(DeprecationWarning, match="reparam.plots.compare"):
        from reparam.plots import variance_vs_samples
    from reparam.plots.compare import variance_vs_samples as plot

    assert variance_vs_samples is plot


def test_unknown_names_are_not_aliased():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("reparam.no_such_module")
    import reparam.plots

    with pytest.raises(AttributeError, match="no_such_plot"):
        _ = reparam.plots.no_such_plot


def test_the_old_flow_layer_name_is_bijection():
    import reparam.flows
    from reparam.flows.base import Bijection

    with pytest.warns(DeprecationWarning, match="reparam.flows.Bijection"):
        assert reparam.flows.Transform is Bijection
