"""Kestra flows in an existing Dagster project: a Dagster component and a plain function.

Component (``dg`` / Components, GA since Dagster 1.12), in ``defs/<name>/defs.yaml``::

    type: kestra_dagster.components.KestraFlowComponent
    attributes:
      flows_dir: flows          # relative to this defs.yaml's folder (or absolute)

``dg check defs`` / ``dg list defs`` then show the flows' jobs, schedules and sensors. Flow files
are referenced by path and read by our own loader, so Kestra's ``{{ … }}`` expressions never go
through the component framework's Jinja templating. The module is registered for ``dg`` through
the ``dagster_dg_cli.registry_modules`` entry point.

Plain Python::

    from kestra_dagster.components import load_flows
    defs = dg.Definitions.merge(my_defs, load_flows("flows"))
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from kestra_dagster.compiler.definitions import build_definitions
from kestra_dagster.compiler.translator import KestraTranslator


def load_flows(path: str | os.PathLike, *more: str | os.PathLike,
               translator: KestraTranslator | None = None) -> dg.Definitions:
    """Every flow file under ``path`` (a directory or a file; more may follow) as ``Definitions``.

    Invalid flows do not break loading: each becomes a failing ``invalid__<file>`` job whose
    description lists the problems. ``translator`` chooses names, tags and shapes.
    """
    return build_definitions([path, *more], translator=translator)


EXAMPLE_FLOW = """\
id: hello_world
namespace: company.team
inputs:
  - id: name
    type: STRING
    defaults: world
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "Hello, {{ inputs.name }}!"
"""


class KestraFlowScaffolder(dg.Scaffolder):
    """``dg scaffold defs kestra_dagster.components.KestraFlowComponent NAME``: defs.yaml + flows/ with one flow."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        dg.scaffold_component(request, {"flows_dir": "flows"})
        flows = Path(request.target_path) / "flows"
        flows.mkdir(parents=True, exist_ok=True)
        example = flows / "hello_world.yaml"
        if not any(flows.glob("*.y*ml")):
            example.write_text(EXAMPLE_FLOW)


@dg.scaffold_with(KestraFlowScaffolder)
class KestraFlowComponent(dg.Component, dg.Resolvable, dg.Model):
    """Kestra flow files (YAML) compiled into Dagster jobs, schedules and sensors."""

    flows_dir: str = "flows"
    """Directory of flow files, relative to the folder of this component's ``defs.yaml``."""

    translator: str | None = None
    """A ``KestraTranslator`` subclass as ``package.module:ClassName`` (names, tags, shapes)."""

    def get_translator(self) -> KestraTranslator:
        """The translator this component compiles with; override in a subclass, like dagster-dbt's."""
        if not self.translator:
            return KestraTranslator()
        import importlib

        module_name, _, class_name = self.translator.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name or "KestraTranslator")
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"KestraFlowComponent: translator {self.translator!r} cannot be imported "
                             f"(expected package.module:ClassName): {exc}") from None
        if not (isinstance(cls, type) and issubclass(cls, KestraTranslator)):
            raise ValueError(f"KestraFlowComponent: translator {self.translator!r} is not a KestraTranslator subclass")
        return cls()

    def flows_path(self, context: dg.ComponentLoadContext) -> Path:
        path = Path(self.flows_dir).expanduser()
        return path if path.is_absolute() else Path(context.path) / path

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        path = self.flows_path(context)
        if not path.exists():
            raise FileNotFoundError(f"KestraFlowComponent: flows directory {path} does not exist "
                                    f"(attributes.flows_dir in {Path(context.path) / 'defs.yaml'})")
        return load_flows(path, translator=self.get_translator())


__all__ = ["KestraFlowComponent", "load_flows"]
