"""viprepro: rerun VIPriors challenge submissions end to end and check their claims."""

__version__ = "0.1.0"

import os as _os

# No weights from any hub: Hugging Face's client (imported by timm) reads this when it is
# first imported, so it is set before anything can import it. The jobs also point every
# weight cache at an empty folder (audit.forbid_weight_downloads).
_os.environ["HF_HUB_OFFLINE"] = "1"
