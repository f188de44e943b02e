"""Names a spec's `model.name` may take, per task, checked when the spec is loaded.

- this project's own architectures (`resnet50_fullconv`, the small CPU nets, ...), listed in
  OWN and built by `tasks/<task>/models.py`;
- `torchvision/<name>`: any torchvision model of the task's kind (classification, segmentation,
  detection, video), built with weights=None (and weights_backbone=None);
- `timm/<name>` (classification): any timm architecture, built with pretrained=False.

The bare names of the first release (`resnet50`, `fcn_resnet50`, ...) stay valid: they are
the same builders as their `torchvision/` names. torchvision and timm are imported only when
a spec names one of their models.
"""

from __future__ import annotations

from .errors import UserError

OWN = {
    "classification": ("resnet18", "resnet34", "resnet50", "resnet50_fullconv", "resnet_small"),
    "segmentation": ("unet", "fcn_resnet50", "deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"),
    "detection": ("cascadercnn_fpn", "fasterrcnn_resnet18_fpn", "fasterrcnn_resnet50_fpn", "fasterrcnn_small_fpn"),
    "action_recognition": ("r3d_18", "mc3_18", "r2plus1d_18", "tiny3d"),
}
TORCHVISION_MODULES = {"classification": "", "segmentation": "segmentation", "detection": "detection", "action_recognition": "video"}
LIBRARIES = {"classification": ("torchvision", "timm"), "segmentation": ("torchvision",), "detection": ("torchvision",),
             "action_recognition": ("torchvision",)}


def torchvision_names(task: str) -> list[str]:
    import torchvision

    sub = TORCHVISION_MODULES[task]
    module = getattr(torchvision.models, sub) if sub else torchvision.models
    return sorted(torchvision.models.list_models(module=module))


def timm_names() -> list[str]:
    import timm

    return sorted(timm.list_models())


def library_names(task: str, library: str) -> list[str]:
    if library not in LIBRARIES[task]:
        return []
    return torchvision_names(task) if library == "torchvision" else timm_names()


def all_names(task: str) -> dict[str, list[str]]:
    """Every buildable name by origin (for `viprepro models`)."""
    names = {"viprepro": sorted(OWN[task])}
    for library in LIBRARIES[task]:
        names[library] = [f"{library}/{name}" for name in library_names(task, library)]
    return names


def check(task: str, name: str, *, path=None) -> None:
    """Refuse a model name this task cannot build, naming where to look."""
    if name in OWN[task]:
        return
    library, _, bare = name.partition("/")
    if bare and library in LIBRARIES[task]:
        if bare in library_names(task, library):
            return
        problem = f"{library} has no {task} model '{bare}'"
    elif bare:
        problem = f"unknown model library '{library}' for {task} (known: {', '.join(LIBRARIES[task])})"
    else:
        problem = (f"unknown {task} model '{name}' (own: {', '.join(OWN[task])}; or "
                   f"{' / '.join(f'{lib}/<name>' for lib in LIBRARIES[task])})")
    raise UserError(f"{problem}; `viprepro models --task {task}` lists every buildable name", path=path, where="key 'model.name'")
