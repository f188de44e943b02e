"""Names a spec's `model.name` may take, per task, checked when the spec is loaded.

- this project's own architectures (`resnet50_fullconv`, the small CPU nets, ...), listed in
  the task's `model_names.own` and built by `tasks/<task>/models.py`;
- `<library>/<name>` for each of the task's `model_names.libraries`: `torchvision/<name>`, any
  torchvision model of the task's kind (`model_names.torchvision_module`), built with
  weights=None (and weights_backbone=None); `timm/<name>`, any timm architecture, built with
  pretrained=False.

The bare names of the first release (`resnet50`, `fcn_resnet50`, ...) stay valid: they are
the same builders as their `torchvision/` names. torchvision and timm are imported only when
a spec names one of their models.
"""

from __future__ import annotations

from viprepro.errors import UserError


def _declared(task: str):
    from viprepro.tasks import get_task

    return get_task(task).model_names


def torchvision_names(task: str) -> list[str]:
    import torchvision

    sub = _declared(task).torchvision_module
    module = getattr(torchvision.models, sub) if sub else torchvision.models
    return sorted(torchvision.models.list_models(module=module))


def timm_names() -> list[str]:
    import timm

    return sorted(timm.list_models())


def library_names(task: str, library: str) -> list[str]:
    if library not in _declared(task).libraries:
        return []
    return torchvision_names(task) if library == "torchvision" else timm_names()


def all_names(task: str) -> dict[str, list[str]]:
    """Every buildable name by origin (for `viprepro models`)."""
    declared = _declared(task)
    names = {"viprepro": sorted(declared.own)}
    for library in declared.libraries:
        names[library] = [f"{library}/{name}" for name in library_names(task, library)]
    return names


def check(task: str, name: str, *, path=None) -> None:
    """Refuse a model name this task cannot build, naming where to look."""
    declared = _declared(task)
    if name in declared.own:
        return
    library, _, bare = name.partition("/")
    if bare and library in declared.libraries:
        if bare in library_names(task, library):
            return
        problem = f"{library} has no {task} model '{bare}'"
    elif bare:
        problem = f"unknown model library '{library}' for {task} (known: {', '.join(declared.libraries)})"
    else:
        problem = (
            f"unknown {task} model '{name}' (own: {', '.join(declared.own)}; or "
            f"{' / '.join(f'{lib}/<name>' for lib in declared.libraries)})"
        )
    raise UserError(f"{problem}; `viprepro models --task {task}` lists every buildable name", path=path, where="key 'model.name'")
